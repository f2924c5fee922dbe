//! Deterministic simulation of the delivery rules: every kept message's line reaches its day
//! file exactly once, sorted, and no message is deleted before its line is durable, whatever
//! crashes, re-deliveries, slow writes, throttling and concurrent writers do.
//!
//! Each schedule is drawn from one seed (SplitMix64): a few dozen messages over 1–3 days (some
//! bodies sent twice), 1–3 writers running the real [`drain`] concurrently on one queue model and
//! one object store model (through the real [`ObjectDayStore`]), on tokio's paused clock. Writers
//! crash (their future is dropped at a random simulated time); fresh writers then run until the
//! queue is empty. After each schedule: every kept line is in its day file once, each day file
//! is strictly sorted, every delete happened while its line was already in the committed object
//! (checked by the models as it happens), the queue is empty, and the dead-letter queue is
//! empty unless the schedule made one day's writes fail persistently.
//!
//! The models are semantic, not HTTP: [`SqsModel`] has visibility timeouts on simulated time,
//! receive counts, a DLQ after maxReceiveCount, receipt handles that go stale on a re-receive
//! (deleting with one fails), partial delete failures and throttled receives and deletes;
//! [`S3Model`] has atomic conditional PUTs (`If-Match`/`If-None-Match: *`, 412 on a mismatch),
//! injected 503s, slow calls and lost PUT answers (the write happened; the writer sees a timeout,
//! or the 412 its SDK's retry met). Left out: the SDK's HTTP layer, its retries and the SQS/S3
//! wire formats (the emulator tests cover those), the SQS adapter's heartbeat and prefetch, FIFO
//! queues, multipart uploads, S3 eventual listing, the Lambda runtime, and quarantine (every
//! message is kept). Replay is deterministic as far as tokio's current-thread scheduler is: the
//! merge runs on a blocking thread and the conflict backoff's jitter is not seeded.
//!
//! `SIM_SEED=n` replays one schedule with a trace; `SIM_SEEDS=a..b` runs the ignored long run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::api::sim::{
    drain, AckOutcome, Batch, Body, Condition, DaySettings, DestError, DrainOptions, Fetched,
    Message, ObjectDayStore, ObjectStore, Progress, PutError, QuarantineStore, Receipt, Recorded,
    Source, SourceError, Spooled,
};
use crate::support::api::{classify_bytes, Outcome, Rules};
use tokio::time::Instant;

/// SplitMix64: every random choice of a schedule comes from one of these.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// In `0..n`, as an index.
    fn pick(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).expect("below n")
    }
    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The fault rates of one schedule (percent per call).
#[derive(Debug, Clone, Copy)]
struct Faults {
    receive_throttle: u64,
    delete_fail: u64,
    s3_503: u64,
    lost_answer: u64,
    slow: u64,
    /// This day's PUTs always fail (503): its messages must end in the DLQ.
    poisoned_day: Option<usize>,
}

/// One queued message.
#[derive(Debug)]
struct Queued {
    id: String,
    body: String,
    visible_at: Instant,
    receives: u32,
    /// The handle of the latest receive; older ones are stale.
    handle: Option<String>,
}

/// Everything the models share: the queue, the objects, the history's verdicts, the dice.
#[derive(Debug)]
struct World {
    rng: Rng,
    faults: Faults,
    visibility: Duration,
    max_receives: u32,
    queue: Vec<Queued>,
    dlq: Vec<Queued>,
    handles: u64,
    /// Key → (version, body): the committed objects.
    objects: BTreeMap<String, (u64, Vec<u8>)>,
    /// Message id → (object key, line): what each message must have made durable.
    expected: BTreeMap<String, (String, Vec<u8>)>,
    /// Deletes of messages whose line was not committed: the rule broken, as it happened.
    early_deletes: Vec<String>,
    trace: Option<Vec<String>>,
    /// When the schedule began (the trace shows simulated time since).
    start: Instant,
}

type Shared = Arc<Mutex<World>>;

impl World {
    fn log(&mut self, event: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            t.push(format!(
                "{:>10.3}s {}",
                (Instant::now() - self.start).as_secs_f64(),
                event()
            ));
        }
    }

    fn committed(&self, key: &str, line: &[u8]) -> bool {
        self.objects
            .get(key)
            .is_some_and(|(_, body)| body.split(|b| *b == b'\n').any(|l| l == line))
    }
}

/// The SQS model behind [`Source`]; one per writer, all on one queue.
#[derive(Debug)]
struct SqsModel(Shared);

fn queue_error(operation: &'static str, message: &str) -> SourceError {
    SourceError::Queue {
        queue: "sim".into(),
        operation,
        message: message.into(),
    }
}

impl Source for SqsModel {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let mut w = self.0.lock().unwrap();
        let w = &mut *w;
        if w.rng.chance(w.faults.receive_throttle) {
            w.log(|| "receive: throttled".into());
            return Err(queue_error("ReceiveMessage", "ThrottlingException"));
        }
        let now = Instant::now();
        let mut out = Vec::new();
        let mut i = 0;
        while i < w.queue.len() && out.len() < max.min(10) {
            if w.queue[i].visible_at > now {
                i += 1;
                continue;
            }
            if w.queue[i].receives >= w.max_receives {
                let q = w.queue.remove(i);
                let id = q.id.clone();
                w.dlq.push(q);
                w.log(|| format!("{id} -> DLQ"));
                continue;
            }
            w.handles += 1;
            let handle = format!("h{}", w.handles);
            let q = &mut w.queue[i];
            q.receives += 1;
            q.visible_at = now + w.visibility;
            q.handle = Some(handle.clone());
            out.push(Message {
                id: q.id.clone(),
                body: bytes::Bytes::from(q.body.clone()),
                receipt: Receipt {
                    id: q.id.clone(),
                    handle,
                },
                received_at: "2026-12-01T00:00:00Z".into(),
            });
            i += 1;
        }
        let ids: Vec<_> = out.iter().map(|m| m.receipt.handle.clone()).collect();
        w.log(|| format!("receive {ids:?}"));
        Ok(if out.is_empty() {
            Batch::Drained
        } else {
            Batch::Messages(out)
        })
    }

    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        let mut w = self.0.lock().unwrap();
        let mut outcome = AckOutcome::default();
        for r in receipts {
            let rate = w.faults.delete_fail;
            if w.rng.chance(rate) {
                outcome.failed.push((r, "ThrottlingException".into()));
                continue;
            }
            let Some(i) = w
                .queue
                .iter()
                .position(|q| q.id == r.id && q.handle.as_deref() == Some(&r.handle))
            else {
                w.log(|| format!("delete {} {}: stale handle", r.id, r.handle));
                outcome.failed.push((r, "ReceiptHandleIsInvalid".into()));
                continue;
            };
            let (key, line) = w.expected[&r.id].clone();
            if !w.committed(&key, &line) {
                w.early_deletes.push(r.id.clone());
            }
            w.queue.remove(i);
            w.log(|| format!("delete {}", r.id));
            outcome.deleted += 1;
        }
        outcome
    }

    async fn abandon(&mut self, receipts: Vec<Receipt>) {
        self.release(receipts).await;
    }

    async fn release(&mut self, receipts: Vec<Receipt>) {
        let mut w = self.0.lock().unwrap();
        let now = Instant::now();
        for r in receipts {
            if let Some(q) = w
                .queue
                .iter_mut()
                .find(|q| q.id == r.id && q.handle.as_deref() == Some(&r.handle))
            {
                q.visible_at = now;
            }
        }
    }

    async fn finish(&mut self) {}

    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    fn deletes(&self) -> bool {
        true
    }
}

/// The S3 model behind [`ObjectStore`].
#[derive(Debug, Clone)]
struct S3Model(Shared);

fn s3_error(key: &str, message: &str) -> DestError {
    DestError::Store {
        location: format!("sim://{key}"),
        message: message.into(),
    }
}

impl S3Model {
    async fn maybe_slow(&self) {
        let delay = {
            let mut w = self.0.lock().unwrap();
            let slow = w.faults.slow;
            if w.rng.chance(slow) {
                // Now and then longer than the visibility timeout.
                Duration::from_millis(w.rng.below(45_000))
            } else {
                Duration::from_millis(w.rng.below(50))
            }
        };
        tokio::time::sleep(delay).await;
    }

    /// A PUT of `bytes`; `condition: None` is unconditional (only planted mistakes use it).
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Option<Condition<'_>>,
    ) -> Result<(), PutError> {
        self.maybe_slow().await;
        let mut w = self.0.lock().unwrap();
        let w = &mut *w;
        let poisoned = w
            .faults
            .poisoned_day
            .is_some_and(|d| key.ends_with(&day_name(d)));
        if poisoned || w.rng.chance(w.faults.s3_503) {
            w.log(|| format!("put {key}: 503"));
            return Err(PutError::Failed(s3_error(key, "503 SlowDown")));
        }
        let current = w.objects.get(key).map(|(v, _)| *v);
        let allowed = match condition {
            Some(Condition::IfMatch(v)) => current.map(|c| c.to_string()).as_deref() == Some(v),
            Some(Condition::IfAbsent) => current.is_none(),
            None => true,
        };
        if !allowed {
            w.log(|| format!("put {key} {condition:?}: 412 (at {current:?})"));
            return Err(PutError::Conflict("PreconditionFailed".into()));
        }
        let version = current.unwrap_or(0) + 1;
        w.objects.insert(key.to_owned(), (version, bytes));
        w.log(|| format!("put {key} {condition:?}: now v{version}"));
        if w.rng.chance(w.faults.lost_answer) {
            // The write happened; the answer did not arrive. Either the writer sees the
            // timeout, or its SDK retried the same conditional PUT and met a 412.
            return Err(if w.rng.chance(50) {
                PutError::Failed(s3_error(key, "timeout (answer lost)"))
            } else {
                PutError::Conflict("PreconditionFailed (retry after a lost answer)".into())
            });
        }
        Ok(())
    }

    fn version(&self, key: &str) -> Option<String> {
        let w = self.0.lock().unwrap();
        w.objects.get(key).map(|(v, _)| v.to_string())
    }
}

fn spooled_bytes(data: Spooled) -> Vec<u8> {
    match data {
        Spooled::Memory(v) => v,
        Spooled::File(f, _) => std::fs::read(f.path()).unwrap(),
    }
}

impl ObjectStore for S3Model {
    fn location(&self, key: &str) -> String {
        format!("sim://{key}")
    }

    async fn get(&self, key: &str, if_version: Option<&str>) -> Result<Fetched, DestError> {
        self.maybe_slow().await;
        let mut w = self.0.lock().unwrap();
        let rate = w.faults.s3_503;
        if w.rng.chance(rate) {
            w.log(|| format!("get {key}: 503"));
            return Err(s3_error(key, "503 SlowDown"));
        }
        let Some((version, data)) = w.objects.get(key).cloned() else {
            return Ok(Fetched::Missing);
        };
        let version = version.to_string();
        if if_version.is_some_and(|v| v != version) {
            return Ok(Fetched::Changed);
        }
        let body: Body = Box::new(std::io::Cursor::new(data));
        Ok(Fetched::Found { version, body })
    }

    async fn put(
        &self,
        key: &str,
        data: Spooled,
        condition: Condition<'_>,
    ) -> Result<(), PutError> {
        self.put_bytes(key, spooled_bytes(data), Some(condition))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, DestError> {
        let w = self.0.lock().unwrap();
        Ok(w.objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// Quarantine records in memory (no simulated message is quarantined).
#[derive(Debug, Default)]
struct NoQuarantine;

impl QuarantineStore for NoQuarantine {
    async fn put_record(&self, name: &str, _line: Vec<u8>) -> Result<Recorded, DestError> {
        Ok(Recorded::Created(name.into()))
    }
    fn location(&self) -> String {
        "sim-quarantine".into()
    }
}

/// A mistake planted around the models, to show the simulator catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plant {
    None,
    /// The source deletes each message as it is received.
    AckOnReceive,
    /// The object store drops the PUT's condition.
    Unconditional,
    /// After a 412, the PUT is retried against the new version without reading it again.
    RetryWithoutReread,
}

/// A source wrapper that acknowledges on receive ([`Plant::AckOnReceive`]).
#[derive(Debug)]
struct Planted<S> {
    inner: S,
    plant: Plant,
}

impl<S: Source> Source for Planted<S> {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let batch = self.inner.next_batch(max).await?;
        if self.plant == Plant::AckOnReceive {
            if let Batch::Messages(msgs) = &batch {
                let receipts = msgs.iter().map(|m| m.receipt.clone()).collect();
                self.inner.ack(receipts).await;
            }
        }
        Ok(batch)
    }
    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        self.inner.ack(receipts).await
    }
    async fn abandon(&mut self, receipts: Vec<Receipt>) {
        self.inner.abandon(receipts).await;
    }
    async fn release(&mut self, receipts: Vec<Receipt>) {
        self.inner.release(receipts).await;
    }
    async fn finish(&mut self) {
        self.inner.finish().await;
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        self.inner.requests()
    }
    fn deletes(&self) -> bool {
        self.inner.deletes()
    }
}

/// An object store wrapper with a planted PUT mistake.
#[derive(Debug, Clone)]
struct PlantedS3 {
    inner: S3Model,
    plant: Plant,
}

impl ObjectStore for PlantedS3 {
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
    async fn get(&self, key: &str, if_version: Option<&str>) -> Result<Fetched, DestError> {
        self.inner.get(key, if_version).await
    }
    async fn put(
        &self,
        key: &str,
        data: Spooled,
        condition: Condition<'_>,
    ) -> Result<(), PutError> {
        let bytes = spooled_bytes(data);
        match self.plant {
            Plant::Unconditional => self.inner.put_bytes(key, bytes, None).await,
            Plant::RetryWithoutReread => {
                match self
                    .inner
                    .put_bytes(key, bytes.clone(), Some(condition))
                    .await
                {
                    Err(PutError::Conflict(_)) => {
                        let version = self.inner.version(key);
                        let condition = Condition::from_version(version.as_deref());
                        self.inner.put_bytes(key, bytes, Some(condition)).await
                    }
                    other => other,
                }
            }
            _ => self.inner.put_bytes(key, bytes, Some(condition)).await,
        }
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, DestError> {
        self.inner.list(prefix).await
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        self.inner.requests()
    }
}

fn day_name(d: usize) -> String {
    format!("2026112{}", 5 + d)
}

/// Runs schedule `seed` with `plant`; `Err` says which rule broke.
fn run_schedule(seed: u64, plant: Plant, trace: bool) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (result, log) = rt.block_on(schedule(seed, plant, trace));
    if let Some(log) = log {
        for l in log {
            eprintln!("{l}");
        }
    }
    result
}

#[allow(clippy::too_many_lines)]
async fn schedule(
    seed: u64,
    plant: Plant,
    trace: bool,
) -> (Result<(), String>, Option<Vec<String>>) {
    let mut rng = Rng(seed);
    let days = 1 + rng.pick(3);
    let persistent = rng.chance(10);
    // A schedule with a poisoned day has no other faults and no crashes: with the low
    // maxReceiveCount it needs, they could send a healthy message to the DLQ too.
    let transient = u64::from(!persistent);
    let faults = Faults {
        receive_throttle: transient * rng.below(4),
        delete_fail: transient * rng.below(10),
        s3_503: transient * rng.below(8),
        lost_answer: transient * rng.below(10),
        slow: transient * rng.below(6),
        poisoned_day: persistent.then(|| rng.pick(days)),
    };
    let messages = 3 + rng.below(30);
    let rules = Rules::default();
    let mut queue = Vec::new();
    let mut expected = BTreeMap::new();
    let start = Instant::now();
    for i in 0..messages {
        let day = rng.pick(days);
        let d = day_name(day);
        let body = format!(
            r#"{{"timestamp": "{}-{}-{}T{:02}:{:02}:00+00:00", "hostname": "futel-prod-back", "event": {{"Event": "UserEvent", "Channel": "SIP/k-{i}", "UserEvent": "e"}}}}"#,
            &d[..4],
            &d[4..6],
            &d[6..],
            rng.below(24),
            rng.below(60),
        );
        let mut line = Vec::new();
        let Outcome::Keep { day: key } = classify_bytes(body.as_bytes(), &rules, &mut line) else {
            panic!("seed {seed}: the simulated body is not kept: {body}");
        };
        let copies = if rng.chance(15) { 2 } else { 1 };
        for c in 0..copies {
            let id = format!("m{i}.{c}");
            expected.insert(id.clone(), (format!("events/{key}"), line.clone()));
            queue.push(Queued {
                id,
                body: body.clone(),
                visible_at: start,
                receives: 0,
                handle: None,
            });
        }
    }
    let world: Shared = Arc::new(Mutex::new(World {
        rng: Rng(rng.next()),
        faults,
        visibility: Duration::from_secs(30),
        max_receives: if persistent { 4 } else { 1000 },
        queue,
        dlq: Vec::new(),
        handles: 0,
        objects: BTreeMap::new(),
        expected: expected.clone(),
        early_deletes: Vec::new(),
        trace: trace.then(Vec::new),
        start,
    }));
    let store = ObjectDayStore::with_objects(
        PlantedS3 {
            inner: S3Model(world.clone()),
            plant,
        },
        DaySettings {
            prefix: "events/".into(),
            conflict_attempts: 3,
            spool_memory_bytes: 1 << 20,
            temp_dir: None,
            sort_memory_bytes: 1 << 20,
        },
    );
    let writers = 1 + rng.below(3);
    let opts = DrainOptions {
        block_messages: 1 + rng.pick(8),
        day_concurrency: 2,
        max_failed_blocks: 2,
        ..DrainOptions::default()
    };
    let progress = Progress::default();
    // Round 0: concurrent writers, each maybe crashing at a random simulated time; then fresh
    // writers, one round per visibility timeout, until the queue is empty.
    let mut rounds = 0;
    loop {
        let crash_at: Vec<Option<Duration>> = (0..writers)
            .map(|_| {
                (rounds == 0 && !persistent && rng.chance(50))
                    .then(|| Duration::from_millis(rng.below(40_000)))
            })
            .collect();
        let runs = crash_at.into_iter().map(|crash| {
            let mut source = Planted {
                inner: SqsModel(world.clone()),
                plant,
            };
            let (store, opts, rules, progress) = (&store, &opts, &rules, &progress);
            async move {
                let run = drain(
                    &mut source,
                    store,
                    &NoQuarantine,
                    rules,
                    opts,
                    progress,
                    std::future::pending(),
                );
                match crash {
                    Some(at) => drop(tokio::time::timeout(at, run).await),
                    None => drop(run.await),
                }
            }
        });
        futures::future::join_all(runs).await;
        if world.lock().unwrap().queue.is_empty() || rounds > 300 {
            break;
        }
        rounds += 1;
        tokio::time::sleep(Duration::from_secs(31)).await;
    }
    let mut w = world.lock().unwrap();
    let log = w.trace.take();
    let poisoned = faults
        .poisoned_day
        .map(|d| format!("events/{}", day_name(d)));
    (check(&w, &expected, poisoned.as_deref()), log)
}

/// The rules, on the history and the end state.
fn check(
    w: &World,
    expected: &BTreeMap<String, (String, Vec<u8>)>,
    poisoned: Option<&str>,
) -> Result<(), String> {
    if !w.early_deletes.is_empty() {
        return Err(format!("deleted before durable: {:?}", w.early_deletes));
    }
    if !w.queue.is_empty() {
        return Err(format!("{} messages left in the queue", w.queue.len()));
    }
    // Only a day whose writes always fail sends messages to the DLQ.
    if let Some(q) = w
        .dlq
        .iter()
        .find(|q| Some(w.expected[&q.id].0.as_str()) != poisoned)
    {
        return Err(format!(
            "{} is in the DLQ, but its day's writes never failed for good",
            q.id
        ));
    }
    for (key, (_, body)) in &w.objects {
        let lines: Vec<&[u8]> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        if !lines.windows(2).all(|p| p[0] < p[1]) {
            return Err(format!("{key} is not strictly sorted"));
        }
        if !body.is_empty() && !body.ends_with(b"\n") {
            return Err(format!("{key} does not end in a newline"));
        }
    }
    let dead: Vec<&str> = w.dlq.iter().map(|q| q.id.as_str()).collect();
    for (id, (key, line)) in expected {
        if dead.contains(&id.as_str()) {
            continue;
        }
        if !w.committed(key, line) {
            return Err(format!("{id}'s line is missing from {key}"));
        }
    }
    Ok(())
}

/// Runs `seeds`, returning the first failing seed and why.
fn run_seeds(seeds: std::ops::Range<u64>, plant: Plant) -> Option<(u64, String)> {
    seeds
        .into_iter()
        .find_map(|s| run_schedule(s, plant, false).err().map(|e| (s, e)))
}

fn seeds_from_env() -> Option<std::ops::Range<u64>> {
    let v = std::env::var("SIM_SEEDS").ok()?;
    let (a, b) = v.split_once("..")?;
    Some(a.parse().ok()?..b.parse().ok()?)
}

/// The CI run: many seeded schedules; every one keeps the rules. `SIM_SEED=n` replays one
/// schedule with its trace instead.
#[test]
fn simulation_keeps_the_delivery_rules() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        if let Err(e) = run_schedule(seed, Plant::None, true) {
            panic!("seed {seed}: {e}");
        }
        return;
    }
    if let Some((seed, e)) = run_seeds(0..CI_SEEDS, Plant::None) {
        panic!("seed {seed}: {e} (replay: SIM_SEED={seed} cargo test --test it simulation -- --nocapture)");
    }
}

const CI_SEEDS: u64 = 10_000;

/// The long run over `SIM_SEEDS=a..b` (default 0..100000).
#[test]
#[ignore = "long: SIM_SEEDS=a..b cargo test --test it simulation_long -- --ignored"]
fn simulation_long() {
    let seeds = seeds_from_env().unwrap_or(0..100_000);
    if let Some((seed, e)) = run_seeds(seeds, Plant::None) {
        panic!("seed {seed}: {e} (replay: SIM_SEED={seed})");
    }
}

/// Each planted mistake is caught within the CI budget.
#[test]
fn simulation_catches_planted_mistakes() {
    for plant in [
        Plant::AckOnReceive,
        Plant::Unconditional,
        Plant::RetryWithoutReread,
    ] {
        let caught = run_seeds(0..CI_SEEDS, plant);
        eprintln!("{plant:?}: {caught:?}");
        assert!(
            caught.is_some(),
            "{plant:?} was not caught in {CI_SEEDS} schedules"
        );
    }
}
