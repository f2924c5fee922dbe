//! Deterministic simulation of the delivery rules: every kept message's line reaches its day
//! file exactly once, sorted, and no message is deleted before its line (or its quarantine
//! record) is durable, whatever crashes, re-deliveries, slow writes, throttling and concurrent
//! writers do.
//!
//! Each schedule is drawn from one seed (SplitMix64): a few dozen messages over 1–3 days (some
//! bodies sent twice, some dropped by the rules, some quarantined), 1–3 writers on one queue
//! model and one object store model, on tokio's paused clock: a quarter of them the Lambda
//! handler ([`handle_batch`], fed 10 messages at a time), the others the real [`drain`] through
//! the real [`ObjectDayStore`]. Writers crash (their future is dropped at a random simulated
//! time); fresh writers then run until the queue is empty.
//!
//! Determinism: every model call takes a *turn* ([`turn`]) when its latency is over (a latency
//! drawn from the caller's own dice), where its effect happens and its answer is given. Turns
//! are taken at even milliseconds (S3's and SQS's apart), in the order (tick, writer and call);
//! a tick is reached only when nothing else can run and no merge is in flight on a blocking
//! thread (tokio's paused clock does not advance while a `spawn_blocking` task runs). So the
//! models' state, the dice and what each writer sees next follow from the seed alone, however
//! the blocking threads are scheduled. Crashes fall on odd milliseconds, between turns. The
//! pipeline's own randomness (the conflict backoff's jitter, the run id) comes from
//! `fastrand`'s generator of the runtime thread, seeded per schedule and drawn in turn order.
//!
//! The models are semantic, not HTTP: [`SqsModel`] has visibility timeouts on simulated time,
//! a heartbeat like the SQS adapter's (each message held by a writer is extended when a third of
//! its timeout is left; a failed extension is tried again a quarter of that margin later),
//! receive counts, a DLQ after maxReceiveCount, receipt handles that go stale on a re-receive
//! (deleting with one fails), failed deletes and extensions, and throttled receives;
//! [`S3Model`] has atomic conditional PUTs (`If-Match`/`If-None-Match: *`, 412 on a mismatch),
//! 503s, slow calls (some longer than the visibility timeout) and lost PUT answers (the write
//! happened; the writer sees a timeout, or the 412 its SDK's retry met); quarantine records are
//! created only if absent, with 503s and lost answers too.
//!
//! After each schedule (see [`check`]): no delete happened before its message's line or record
//! was committed, and no message came back while a live writer held it unless an extension of
//! it had failed (both checked by the models as it happens); each kept line is in its day file
//! once; each day file is strictly sorted and ends in a newline; every quarantined message has
//! exactly one record; the queue is empty; a message is in the DLQ only if the schedule made
//! its day's writes fail persistently or the failure brake gave it back unwritten (its receive
//! counted all the same: see the seed 461 test); each writer that finished reports the deletes
//! the queue saw.
//!
//! Left out (the emulator tests cover them): the SDK's HTTP layer and its retries; the SQS
//! adapter's own code (receivers, prefetch, batching; the heartbeat here copies its timing);
//! multipart uploads; reads broken mid-body; FIFO queues.
//!
//! `SIM_SEED=n` replays one schedule with its trace; `SIM_SEEDS=a..b` runs the ignored long run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::support::api::lambda::{handle_batch, Record};
use crate::support::api::sim::{
    drain, AckOutcome, Batch, Body, Condition, DaySettings, DayStore, DestError, DrainOptions,
    Fetched, Message, ObjectDayStore, ObjectStore, Progress, PutError, QuarantineStore, Receipt,
    Recorded, Source, SourceError, Spooled, Stores,
};
use crate::support::api::{classify_bytes, BodyPolicy, Outcome, Rules, SortOptions};
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
    extend_fail: u64,
    s3_503: u64,
    lost_answer: u64,
    slow: u64,
    /// This day's PUTs always fail (503): its messages must end in the DLQ.
    poisoned_day: Option<usize>,
}

/// The visibility timeout of the simulated queue, and the heartbeat's timing as the SQS
/// adapter has it: extend when a third is left; retry a failed extension a quarter of that
/// third later (and extend along what is due within that quarter).
const VISIBILITY: Duration = Duration::from_secs(30);
const EXTEND_AFTER: Duration = Duration::from_secs(20);
const RETRY_EXTEND: Duration = Duration::from_millis(2_500);
/// The Lambda function's timeout: shorter than the visibility timeout, ending on an odd
/// millisecond (between turns, as crashes do).
const LAMBDA_TIMEOUT: Duration = Duration::from_millis(25_001);

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

/// What a message must have made durable before it may be deleted.
#[derive(Debug, Clone)]
enum Expect {
    /// Its line, in this day object.
    Line(String, Vec<u8>),
    /// Its quarantine record.
    Record,
    /// Nothing: the rules drop it.
    Nothing,
}

/// A message received by a live writer and neither deleted nor given up: the heartbeat keeps
/// it invisible.
#[derive(Debug)]
struct Held {
    id: String,
    writer: String,
    /// When the heartbeat extends it next.
    due: Instant,
}

/// (tick, caller): the order in which turns are taken.
type Slot = (Instant, String);

/// Everything the models share: the queue, the objects, the history's verdicts, the dice.
#[derive(Debug)]
struct World {
    rng: Rng,
    seed: u64,
    /// Calls made so far, by caller (see [`World::latency`]).
    calls: BTreeMap<String, u64>,
    faults: Faults,
    max_receives: u32,
    queue: Vec<Queued>,
    dlq: Vec<Queued>,
    handles: u64,
    /// Handle → the writer holding it (see [`Held`]).
    held: BTreeMap<String, Held>,
    /// Handles whose extension failed: their message may come back while held.
    extend_failed: BTreeSet<String>,
    /// Messages given back unwritten (by the brake): each such receive counts toward the DLQ.
    given_back: BTreeSet<String>,
    /// Key → (version, body): the committed objects.
    objects: BTreeMap<String, (u64, Vec<u8>)>,
    /// Quarantine records by name.
    records: BTreeMap<String, Vec<u8>>,
    /// Message id → what it must have made durable before its delete.
    expected: BTreeMap<String, Expect>,
    /// Deletes by writer, as the queue saw them.
    deletes: BTreeMap<String, u64>,
    /// The rules broken, as it happened.
    violations: Vec<String>,
    /// The turns waiting to be taken, with the waker of their task once it waits.
    turns: BTreeMap<Slot, Option<Waker>>,
    trace: Option<Vec<String>>,
    /// When the schedule began: ticks and the trace count from here.
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

    fn has_record(&self, id: &str) -> bool {
        self.records.values().any(|r| record_id(r) == id)
    }

    /// The first tick after `t` and after now: S3's ticks are the milliseconds since the start
    /// that are 0 mod 4, SQS's those 2 mod 4 (see [`turn`]).
    fn tick_after(&self, t: Instant, s3: bool) -> Instant {
        let t = t.max(Instant::now());
        let mut ms = u64::try_from((t - self.start).as_millis()).expect("short schedules") + 1;
        while ms % 4 != if s3 { 0 } else { 2 } {
            ms += 1;
        }
        self.start + Duration::from_millis(ms)
    }

    /// The latency of `who`'s next call: S3's sometimes longer than the visibility timeout.
    /// Drawn from the caller's own dice (the schedule's seed, the caller, its count of calls),
    /// so it does not depend on how calls of one instant are ordered.
    fn latency(&mut self, who: &str, s3: bool) -> Duration {
        let n = self.calls.entry(who.to_owned()).or_default();
        *n += 1;
        let caller = who.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut dice = Rng(self.seed ^ caller ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if s3 && dice.chance(self.faults.slow) {
            Duration::from_millis(dice.below(45_000))
        } else {
            Duration::from_millis(dice.below(if s3 { 50 } else { 20 }))
        }
    }

    /// Wakes the first waiting turn if its tick has come.
    fn wake_head(&mut self) {
        let now = Instant::now();
        if let Some(((at, _), waker)) = self.turns.iter_mut().next() {
            if *at <= now {
                if let Some(w) = waker.take() {
                    w.wake();
                }
            }
        }
    }
}

/// The message id a quarantine record names.
fn record_id(line: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(line).expect("a record is JSON");
    v["message_id"]
        .as_str()
        .expect("a record names its message")
        .to_owned()
}

/// A turn, held: the caller's critical section. Dropping it ends the section (or gives up a turn
/// not yet taken, when a crash drops the caller) and lets the next one go.
struct Turn {
    world: Shared,
    slot: Slot,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut w = self.world.lock().unwrap();
        w.turns.remove(&self.slot);
        w.wake_head();
    }
}

/// Waits for `who`'s turn at the first tick after `not_before`: when every earlier (tick,
/// caller) has had its turn. Every turn of a tick is registered before the tick is reached (a
/// tick is after now), so the order is complete when the first one is taken.
///
/// S3 calls and SQS calls take turns at different ticks. A GET's answer is followed by a merge
/// on a blocking thread, which may finish before or after the writer's task looks again; the
/// clock does not advance until it has finished, so by the next SQS tick every merge of an S3
/// tick is over, and a receive the pipeline gives up when a write ends (a `select!`) is given
/// up at the same point of every replay.
async fn turn(world: &Shared, who: &str, not_before: Instant, s3: bool) -> Turn {
    let slot = {
        let mut w = world.lock().unwrap();
        let slot = (w.tick_after(not_before, s3), who.to_owned());
        let previous = w.turns.insert(slot.clone(), None);
        assert!(previous.is_none(), "two turns in one slot: {slot:?}");
        slot
    };
    let turn = Turn {
        world: world.clone(),
        slot,
    };
    tokio::time::sleep_until(turn.slot.0).await;
    std::future::poll_fn(|cx| {
        let mut w = turn.world.lock().unwrap();
        let (head, _) = w.turns.first_key_value().expect("this turn is registered");
        if *head == turn.slot {
            return Poll::Ready(());
        }
        assert!(
            head.0 == turn.slot.0,
            "the turn {head:?} was not taken at its tick"
        );
        *w.turns.get_mut(&turn.slot).expect("registered") = Some(cx.waker().clone());
        Poll::Pending
    })
    .await;
    turn
}

/// One model call by `who`: its effect and answer at the first tick after its latency.
/// Dropped before its effect, it never happened.
async fn call<R>(world: &Shared, who: &str, s3: bool, effect: impl FnOnce(&mut World) -> R) -> R {
    let latency = world.lock().unwrap().latency(who, s3);
    let t = turn(world, who, Instant::now() + latency, s3).await;
    let r = effect(&mut t.world.lock().unwrap());
    drop(t);
    r
}

/// The SQS model behind [`Source`]; one per writer, all on one queue. Dropped (a crash), its
/// writer's messages are no longer held: they come back after their timeout.
#[derive(Debug)]
struct SqsModel {
    world: Shared,
    writer: String,
    /// Tells the heartbeat a receive brought messages.
    received: Arc<tokio::sync::Notify>,
}

impl Drop for SqsModel {
    fn drop(&mut self) {
        let mut w = self.world.lock().unwrap();
        w.held.retain(|_, h| h.writer != self.writer);
    }
}

fn queue_error(operation: &'static str, message: &str) -> SourceError {
    SourceError::Queue {
        queue: "sim".into(),
        operation,
        message: message.into(),
    }
}

/// Receives up to `max` visible messages for `writer` (see [`SqsModel`]).
fn receive(
    w: &mut World,
    writer: &str,
    max: usize,
    heartbeat: bool,
) -> Result<Vec<Message>, SourceError> {
    if w.rng.chance(w.faults.receive_throttle) {
        w.log(|| format!("{writer} receive: throttled"));
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
        if let Some(old) = w.queue[i].handle.clone() {
            if let Some(h) = w.held.remove(&old) {
                if !w.extend_failed.contains(&old) {
                    w.violations.push(format!(
                        "{} came back while {} held it and its extensions succeeded",
                        h.id, h.writer
                    ));
                }
            }
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
        q.visible_at = now + VISIBILITY;
        q.handle = Some(handle.clone());
        let id = q.id.clone();
        out.push(Message {
            id: id.clone(),
            body: bytes::Bytes::from(q.body.clone()),
            receipt: Receipt {
                id: id.clone(),
                handle: handle.clone(),
            },
            received_at: "2026-12-01T00:00:00Z".into(),
        });
        if heartbeat {
            w.held.insert(
                handle,
                Held {
                    id,
                    writer: writer.to_owned(),
                    due: now + EXTEND_AFTER,
                },
            );
        }
        i += 1;
    }
    let ids: Vec<_> = out.iter().map(|m| m.receipt.handle.clone()).collect();
    w.log(|| format!("{writer} receive {ids:?}"));
    Ok(out)
}

/// Deletes `receipts` for `writer`; each delete must find its line or record committed.
fn delete(w: &mut World, writer: &str, receipts: Vec<Receipt>) -> AckOutcome {
    let mut outcome = AckOutcome::default();
    let receipts = in_order(receipts);
    for r in receipts {
        w.held.remove(&r.handle);
        if w.rng.chance(w.faults.delete_fail) {
            w.log(|| format!("{writer} delete {}: throttled", r.handle));
            outcome.failed.push((r, "ThrottlingException".into()));
            continue;
        }
        let Some(i) = w
            .queue
            .iter()
            .position(|q| q.id == r.id && q.handle.as_deref() == Some(&r.handle))
        else {
            w.log(|| format!("{writer} delete {} {}: stale handle", r.id, r.handle));
            outcome.failed.push((r, "ReceiptHandleIsInvalid".into()));
            continue;
        };
        let durable = match &w.expected[&r.id] {
            Expect::Line(key, line) => w.committed(key, line),
            Expect::Record => w.has_record(&r.id),
            Expect::Nothing => true,
        };
        if !durable {
            w.violations
                .push(format!("{} deleted before it was durable", r.id));
        }
        w.queue.remove(i);
        w.log(|| format!("{writer} delete {}", r.id));
        outcome.deleted += 1;
        *w.deletes.entry(writer.to_owned()).or_default() += 1;
    }
    outcome
}

/// Receipts in one order: the pipeline lists a block's days as their writes finish, and a
/// merge on a blocking thread may finish before or after another day's answer of the same tick.
fn in_order(mut receipts: Vec<Receipt>) -> Vec<Receipt> {
    receipts.sort_by(|a, b| (&a.id, &a.handle).cmp(&(&b.id, &b.handle)));
    receipts
}

impl Source for SqsModel {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let who = format!("{}/sqs", self.writer);
        let writer = &self.writer;
        let out = call(&self.world, &who, false, |w| receive(w, writer, max, true)).await?;
        if out.is_empty() {
            return Ok(Batch::Drained);
        }
        self.received.notify_one();
        Ok(Batch::Messages(out))
    }

    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        let who = format!("{}/sqs", self.writer);
        let writer = &self.writer;
        call(&self.world, &who, false, |w| delete(w, writer, receipts)).await
    }

    /// Stops extending them (as the adapter does): they come back after their timeout.
    async fn abandon(&mut self, receipts: Vec<Receipt>) {
        let who = format!("{}/sqs", self.writer);
        let writer = &self.writer;
        call(&self.world, &who, false, |w| {
            for r in in_order(receipts) {
                w.log(|| format!("{writer} abandon {}", r.id));
                w.held.remove(&r.handle);
            }
        })
        .await;
    }

    async fn release(&mut self, receipts: Vec<Receipt>) {
        let who = format!("{}/sqs", self.writer);
        let writer = &self.writer;
        call(&self.world, &who, false, |w| {
            let now = Instant::now();
            for r in in_order(receipts) {
                w.log(|| format!("{writer} release {}", r.id));
                w.given_back.insert(r.id.clone());
                w.held.remove(&r.handle);
                if let Some(q) = w
                    .queue
                    .iter_mut()
                    .find(|q| q.id == r.id && q.handle.as_deref() == Some(&r.handle))
                {
                    q.visible_at = now;
                }
            }
        })
        .await;
    }

    async fn finish(&mut self) {}

    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    fn deletes(&self) -> bool {
        true
    }
}

/// The heartbeat of `writer`'s messages, as the SQS adapter's: each held message is extended
/// back to the full timeout when a third of it is left (with the others due within a quarter of
/// that third); a failed extension is tried again a quarter of the third later. `passes`
/// bounds the passes that extend anything (a planted mistake: a heartbeat that stops).
async fn heartbeat(world: Shared, writer: String, received: Arc<tokio::sync::Notify>, passes: u32) {
    let who = format!("{writer}/hb");
    let mut done = 0;
    loop {
        let due = {
            let w = world.lock().unwrap();
            w.held
                .values()
                .filter(|h| h.writer == writer)
                .map(|h| h.due)
                .min()
        };
        let Some(due) = due else {
            received.notified().await;
            continue;
        };
        let t = turn(&world, &who, due, false).await;
        extend_due(&mut t.world.lock().unwrap(), &writer, &mut done, passes);
        drop(t);
    }
}

/// One pass of `writer`'s heartbeat (see [`heartbeat`]).
fn extend_due(w: &mut World, writer: &str, done: &mut u32, passes: u32) {
    {
        let now = Instant::now();
        let horizon = now + RETRY_EXTEND;
        let handles: Vec<String> = w
            .held
            .iter()
            .filter(|(_, h)| h.writer == writer && h.due <= horizon)
            .map(|(k, _)| k.clone())
            .collect();
        if handles.is_empty() {
            return;
        }
        if *done >= passes {
            // Stopped: what is due is never extended.
            for h in &handles {
                w.held.get_mut(h).expect("held").due = now + VISIBILITY * 1000;
            }
            return;
        }
        *done += 1;
        for h in handles {
            if w.rng.chance(w.faults.extend_fail) {
                w.log(|| format!("{writer} extend {h}: throttled"));
                w.extend_failed.insert(h.clone());
                w.held.get_mut(&h).expect("held").due = now + RETRY_EXTEND;
                continue;
            }
            let current = w
                .queue
                .iter_mut()
                .find(|q| q.handle.as_deref() == Some(h.as_str()));
            if let Some(q) = current {
                q.visible_at = now + VISIBILITY;
                w.held.get_mut(&h).expect("held").due = now + EXTEND_AFTER;
                w.log(|| format!("{writer} extend {h}"));
            } else {
                // Deleted, or received again with another handle: SQS refuses it.
                w.held.remove(&h);
                w.log(|| format!("{writer} extend {h}: refused"));
            }
        }
    }
}

/// A Lambda function fed by the queue (an event source mapping): batches of up to 10
/// messages, each handed to the real [`handle_batch`]; the records it does not list as failed
/// are deleted, the failed ones come back after their timeout. No heartbeat: the function's
/// timeout is shorter than the visibility timeout, so an invocation still running then is
/// killed (dropped).
async fn lambda_writer<D: DayStore, Q: QuarantineStore>(
    world: &Shared,
    writer: &str,
    days: &D,
    quarantine: &Q,
    rules: &Rules,
) {
    let who = format!("{writer}/sqs");
    let policy = BodyPolicy::default();
    loop {
        let Ok(msgs) = call(world, &who, false, |w| receive(w, writer, 10, false)).await else {
            continue;
        };
        if msgs.is_empty() {
            return;
        }
        let records: Vec<Record> = msgs
            .iter()
            .map(|m| Record {
                message_id: m.id.clone(),
                body: String::from_utf8(m.body.to_vec()).expect("simulated bodies are UTF-8"),
            })
            .collect();
        let invocation = handle_batch(&records, days, quarantine, rules, &policy, "sim");
        let Ok(outcome) = tokio::time::timeout(LAMBDA_TIMEOUT, invocation).await else {
            continue;
        };
        let done: Vec<Receipt> = msgs
            .into_iter()
            .filter(|m| !outcome.failed.contains(&m.id))
            .map(|m| m.receipt)
            .collect();
        if !done.is_empty() {
            call(world, &who, false, |w| delete(w, writer, done)).await;
        }
    }
}

/// The S3 model behind [`ObjectStore`]: one per writer, all on one bucket.
#[derive(Debug, Clone)]
struct S3Model {
    world: Shared,
    writer: String,
}

fn s3_error(key: &str, message: &str) -> DestError {
    DestError::Store {
        location: format!("sim://{key}"),
        message: message.into(),
    }
}

/// A PUT of `bytes` (see [`S3Model`]); `condition: None` is unconditional (only planted
/// mistakes use it).
fn put_object(
    w: &mut World,
    key: &str,
    bytes: Vec<u8>,
    condition: Option<Condition<'_>>,
) -> Result<(), PutError> {
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

impl S3Model {
    fn who(&self, key: &str) -> String {
        format!("{}/s3/{key}", self.writer)
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Option<Condition<'_>>,
    ) -> Result<(), PutError> {
        call(&self.world, &self.who(key), true, |w| {
            put_object(w, key, bytes, condition)
        })
        .await
    }

    fn version(&self, key: &str) -> Option<String> {
        let w = self.world.lock().unwrap();
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
        let got = call(&self.world, &self.who(key), true, |w| {
            if w.rng.chance(w.faults.s3_503) {
                w.log(|| format!("get {key}: 503"));
                return Err(s3_error(key, "503 SlowDown"));
            }
            let got = w.objects.get(key).cloned();
            w.log(|| format!("get {key}: {:?}", got.as_ref().map(|g| g.0)));
            Ok(got)
        })
        .await?;
        let Some((version, data)) = got else {
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
        let w = self.world.lock().unwrap();
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

/// Quarantine records in the bucket model: created only if absent, with the S3 faults.
#[derive(Debug)]
struct QuarantineModel {
    world: Shared,
    writer: String,
}

impl QuarantineStore for QuarantineModel {
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        let who = format!("{}/q/{name}", self.writer);
        call(&self.world, &who, true, |w| {
            if w.rng.chance(w.faults.s3_503) {
                w.log(|| format!("record {name}: 503"));
                return Err(s3_error(name, "503 SlowDown"));
            }
            if w.records.contains_key(name) {
                w.log(|| format!("record {name}: already there"));
                return Ok(Recorded::AlreadyThere(name.into()));
            }
            w.records.insert(name.to_owned(), line);
            w.log(|| format!("record {name}: created"));
            if w.rng.chance(w.faults.lost_answer) {
                return Err(s3_error(name, "timeout (answer lost)"));
            }
            Ok(Recorded::Created(name.into()))
        })
        .await
    }
    fn location(&self) -> String {
        "sim://quarantine/".into()
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
    /// The heartbeat extends once, then stops.
    StoppedHeartbeat,
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

/// What one schedule came to: the broken rule if any, and its trace when asked for.
type Ran = (Result<(), String>, Option<Vec<String>>);

/// Runs schedule `seed` with `plant`, keeping its trace if `trace`.
fn run_schedule(seed: u64, plant: Plant, trace: bool) -> Ran {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // The pipeline's own randomness (backoff jitter, run id) is drawn on this thread.
    fastrand::seed(seed);
    rt.block_on(schedule(seed, plant, trace))
}

/// A kept event of `day` at `hour:minute`, from channel `i`.
fn kept_body(day: &str, hour: u64, minute: u64, i: u64) -> String {
    format!(
        r#"{{"timestamp": "{}-{}-{}T{hour:02}:{minute:02}:00+00:00", "hostname": "futel-prod-back", "event": {{"Event": "UserEvent", "Channel": "SIP/k-{i}", "UserEvent": "e"}}}}"#,
        &day[..4],
        &day[4..6],
        &day[6..],
    )
}

#[allow(clippy::too_many_lines)]
async fn schedule(seed: u64, plant: Plant, trace: bool) -> Ran {
    // Ticks count from an instant on the timer's millisecond grid.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let start = Instant::now();
    let mut rng = Rng(seed);
    let days = 1 + rng.pick(3);
    let persistent = rng.chance(10);
    // A schedule with a poisoned day has no other faults and no crashes: with the low
    // maxReceiveCount it needs, they could send a healthy message to the DLQ too.
    let transient = u64::from(!persistent);
    let faults = Faults {
        receive_throttle: transient * rng.below(4),
        delete_fail: transient * rng.below(10),
        extend_fail: transient * rng.below(4),
        s3_503: transient * rng.below(8),
        lost_answer: transient * rng.below(10),
        slow: transient * rng.below(6),
        poisoned_day: persistent.then(|| rng.pick(days)),
    };
    let messages = 3 + rng.below(30);
    let rules = Rules::default();
    let mut queue = Vec::new();
    let mut expected = BTreeMap::new();
    for i in 0..messages {
        let day = rng.pick(days);
        let d = day_name(day);
        let body = match rng.below(20) {
            0 => format!("not json {i}"),
            1 => kept_body(&d, 1, 2, i).replace("futel-prod-back", "dev-box"),
            _ => kept_body(&d, rng.below(24), rng.below(60), i),
        };
        let mut line = Vec::new();
        let expect = match classify_bytes(body.as_bytes(), &rules, &mut line) {
            Outcome::Keep { day: key } => Expect::Line(format!("events/{key}"), line),
            Outcome::Quarantine { .. } => Expect::Record,
            Outcome::Drop { .. } => Expect::Nothing,
        };
        let copies = if rng.chance(15) { 2 } else { 1 };
        for c in 0..copies {
            let id = format!("m{i}.{c}");
            expected.insert(id.clone(), expect.clone());
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
        seed,
        calls: BTreeMap::new(),
        faults,
        max_receives: if persistent { 4 } else { 1000 },
        queue,
        dlq: Vec::new(),
        handles: 0,
        held: BTreeMap::new(),
        extend_failed: BTreeSet::new(),
        given_back: BTreeSet::new(),
        objects: BTreeMap::new(),
        records: BTreeMap::new(),
        expected,
        deletes: BTreeMap::new(),
        violations: Vec::new(),
        turns: BTreeMap::new(),
        trace: trace.then(Vec::new),
        start,
    }));
    let settings = DaySettings {
        prefix: "events/".into(),
        conflict_attempts: 3,
        spool_memory_bytes: 1 << 16,
        sort: SortOptions {
            memory_budget_bytes: 1 << 16,
            spill_dir: None,
        },
    };
    let writers = 1 + rng.below(3);
    let opts = DrainOptions {
        block_messages: 1 + rng.pick(8),
        day_concurrency: 2,
        max_failed_blocks: 2,
        run_id: "sim".into(),
        ..DrainOptions::default()
    };
    let passes = if plant == Plant::StoppedHeartbeat {
        1
    } else {
        u32::MAX
    };
    // Round 0: concurrent writers, each maybe crashing at a random simulated time (an odd
    // millisecond: between turns); then fresh writers, one round per visibility timeout,
    // until the queue is empty.
    let mut rounds = 0;
    loop {
        let crash_at: Vec<Option<Instant>> = (0..writers)
            .map(|_| {
                (rounds == 0 && !persistent && rng.chance(50))
                    .then(|| start + Duration::from_millis(2 * rng.below(20_000) + 1))
            })
            .collect();
        let lambdas: Vec<bool> = (0..writers).map(|_| rng.chance(25)).collect();
        let runs = crash_at.into_iter().enumerate().map(|(n, crash)| {
            let lambda = lambdas[n];
            let writer = format!("r{rounds}{}{n}", if lambda { "l" } else { "w" });
            let received = Arc::new(tokio::sync::Notify::new());
            let mut source = Planted {
                inner: SqsModel {
                    world: world.clone(),
                    writer: writer.clone(),
                    received: received.clone(),
                },
                plant,
            };
            let store = ObjectDayStore::with_objects(
                PlantedS3 {
                    inner: S3Model {
                        world: world.clone(),
                        writer: writer.clone(),
                    },
                    plant,
                },
                settings.clone(),
            );
            let quarantine = QuarantineModel {
                world: world.clone(),
                writer: writer.clone(),
            };
            let (opts, rules, world) = (&opts, &rules, world.clone());
            async move {
                let progress = Progress::default();
                let run = async {
                    if lambda {
                        lambda_writer(&world, &writer, &store, &quarantine, rules).await;
                        return None;
                    }
                    let beat = heartbeat(world.clone(), writer.clone(), received, passes);
                    let mut no_observer = |_: &_| {};
                    tokio::select! {
                        biased;
                        report = drain(
                            &mut source,
                            Stores { days: &store, quarantine: &quarantine },
                            rules,
                            opts,
                            &progress,
                            std::future::pending(),
                            &mut no_observer,
                        ) => Some(report),
                        () = beat => unreachable!("the heartbeat runs until the drain ends"),
                    }
                };
                let report = match crash {
                    Some(at) => tokio::time::timeout_at(at, run).await.ok().flatten(),
                    None => run.await,
                };
                // A writer that finished reports the deletes the queue saw.
                if let Some(Ok(report)) = report {
                    let mut w = world.lock().unwrap();
                    let deleted = w.deletes.get(&writer).copied().unwrap_or(0);
                    if report.deleted != deleted {
                        w.violations.push(format!(
                            "{writer} reports {} deletes, the queue saw {deleted}",
                            report.deleted
                        ));
                    }
                }
            }
        });
        futures::future::join_all(runs).await;
        if world.lock().unwrap().queue.is_empty() || rounds > 300 {
            break;
        }
        rounds += 1;
        tokio::time::sleep(VISIBILITY + Duration::from_secs(1)).await;
    }
    let mut w = world.lock().unwrap();
    let log = w.trace.take();
    let poisoned = faults
        .poisoned_day
        .map(|d| format!("events/{}", day_name(d)));
    (check(&w, poisoned.as_deref()), log)
}

/// The rules, on the history and the end state.
fn check(w: &World, poisoned: Option<&str>) -> Result<(), String> {
    if let Some(v) = w.violations.first() {
        return Err(v.clone());
    }
    if !w.queue.is_empty() {
        return Err(format!("{} messages left in the queue", w.queue.len()));
    }
    // Only a day whose writes always fail sends messages to the DLQ: its own, and those the
    // brake gave back unwritten (received with them, their receives count too).
    if let Some(q) = w.dlq.iter().find(|q| {
        let failing =
            matches!(&w.expected[&q.id], Expect::Line(key, _) if Some(key.as_str()) == poisoned);
        !failing && !w.given_back.contains(&q.id)
    }) {
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
    let dead: BTreeSet<&str> = w.dlq.iter().map(|q| q.id.as_str()).collect();
    let mut records: BTreeMap<String, usize> = BTreeMap::new();
    for r in w.records.values() {
        *records.entry(record_id(r)).or_default() += 1;
    }
    for (id, expect) in &w.expected {
        match expect {
            Expect::Line(key, line) if !dead.contains(id.as_str()) && !w.committed(key, line) => {
                return Err(format!("{id}'s line is missing from {key}"));
            }
            Expect::Record if !dead.contains(id.as_str()) && records.get(id) != Some(&1) => {
                return Err(format!(
                    "{id} has {} quarantine records, not one",
                    records.get(id).unwrap_or(&0)
                ));
            }
            _ => {}
        }
    }
    if let Some(id) = records
        .keys()
        .find(|id| !matches!(w.expected.get(id.as_str()), Some(Expect::Record)))
    {
        return Err(format!("{id} has a quarantine record but is not bad"));
    }
    Ok(())
}

/// Runs `seeds` on every core (each schedule on one thread), returning the first failing seed
/// and why.
fn run_seeds(seeds: std::ops::Range<u64>, plant: Plant) -> Option<(u64, String)> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let failed = Mutex::new(None::<(u64, String)>);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let first = failed.lock().unwrap().as_ref().map_or(u64::MAX, |f| f.0);
                if seed >= seeds.end || seed > first {
                    return;
                }
                if let Err(e) = run_schedule(seed, plant, false).0 {
                    let mut f = failed.lock().unwrap();
                    if f.as_ref().is_none_or(|f| seed < f.0) {
                        *f = Some((seed, e));
                    }
                }
            });
        }
    });
    failed.into_inner().unwrap()
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
        let (result, trace) = run_schedule(seed, Plant::None, true);
        for l in trace.unwrap_or_default() {
            eprintln!("{l}");
        }
        if let Err(e) = result {
            panic!("seed {seed}: {e}");
        }
        return;
    }
    if let Some((seed, e)) = run_seeds(0..CI_SEEDS, Plant::None) {
        panic!("seed {seed}: {e} (replay: SIM_SEED={seed} cargo test --test it simulation_keeps -- --nocapture)");
    }
}

const CI_SEEDS: u64 = 10_000;

/// The long run over `SIM_SEEDS=a..b` (default 0..100000).
#[test]
#[ignore = "long: SIM_SEEDS=a..b cargo test --release --test it simulation_long -- --ignored"]
fn simulation_long() {
    let seeds = seeds_from_env().unwrap_or(0..100_000);
    let started = std::time::Instant::now();
    let n = seeds.end - seeds.start;
    if let Some((seed, e)) = run_seeds(seeds, Plant::None) {
        panic!("seed {seed}: {e} (replay: SIM_SEED={seed})");
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / secs;
    eprintln!("{n} schedules in {secs:.0} s ({rate:.0}/s)");
}

/// A seed replays the same schedule: the same history of model events, event for event, with
/// the same simulated times (merges on blocking threads, crashes, backoff jitter included).
#[test]
fn simulation_replays_a_seed_event_for_event() {
    for seed in 0..100 {
        let (first, a) = run_schedule(seed, Plant::None, true);
        let (second, b) = run_schedule(seed, Plant::None, true);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.len() > 5, "seed {seed}: a history of {} events", a.len());
        assert_eq!(a, b, "seed {seed}: two runs, two histories");
        assert_eq!(first, second);
    }
}

/// Each planted mistake is caught within the CI budget, at the schedule DEVELOPMENT.md names.
#[test]
fn simulation_catches_planted_mistakes() {
    for (plant, schedules) in [
        (Plant::AckOnReceive, 1),
        (Plant::Unconditional, 1),
        (Plant::RetryWithoutReread, 1),
        (Plant::StoppedHeartbeat, 351),
    ] {
        let caught = run_seeds(0..CI_SEEDS, plant);
        eprintln!("{plant:?}: {caught:?}");
        let Some((seed, _)) = caught else {
            panic!("{plant:?} was not caught in {CI_SEEDS} schedules");
        };
        assert_eq!(
            seed + 1,
            schedules,
            "{plant:?}: schedules to the first catch"
        );
    }
}

/// Seed 461, a finding: during a persistent outage of one day, each run's failure brake gives
/// back the block in hand unwritten (`Source::release`), but SQS counted that receive, so after
/// maxReceiveCount runs a message of that block reaches the DLQ though its own write never
/// failed (here m14.0, whose outcome needs no day write). The check allows it (a message the
/// brake gave back); this test pins the behaviour.
#[test]
fn simulation_seed_461_a_block_the_brake_gives_back_counts_toward_the_dlq() {
    let (result, trace) = run_schedule(461, Plant::None, true);
    assert_eq!(result, Ok(()));
    let trace = trace.unwrap();
    let has = |event: &str| trace.iter().any(|l| l.ends_with(event));
    assert!(has("release m14.0"), "given back unwritten");
    assert!(has("m14.0 -> DLQ"), "then dead-lettered");
}
