//! The drain pipeline: source → classify → durable writes → acknowledge.
//!
//! Messages are taken in blocks (at most `block_messages`, or whatever arrived within
//! `flush_secs` in follow mode). For each block:
//!
//! 1. every body is classified by the core; kept lines are grouped by day;
//! 2. every quarantine record is created (one object or file per record, named by its identity,
//!    at most [`QUARANTINE_CONCURRENCY`] at once; a record already there counts as written) and
//!    every day is merged into its day file, days concurrently (at most `day_concurrency`);
//! 3. only then are messages acknowledged (deleted): dropped ones always, quarantined ones if
//!    *their* record was written, kept ones if *their* day's merge succeeded. Messages of a
//!    failed write are abandoned: they stay in the queue and come back after their visibility
//!    timeout, and the run reports a failure (non-zero exit).
//!
//! Each flush's counts go to the caller's observer ([`drain_observed`]; `drain --metrics emf`
//! prints them as CloudWatch metrics); summed, they equal the report's.
//!
//! The failure brake: after `max_failed_blocks` consecutive blocks in which every write (every
//! day and the quarantine) failed, the run stops receiving, gives back the messages received but
//! not yet handed out (`Source::finish`), and reports the cause; so an outage of the destination
//! does not cycle the whole backlog toward the dead-letter queue. A block with nothing to write
//! neither counts nor resets the count.
//!
//! A quarantine record's `body` is minimised unless the options ask for raw bodies
//! ([`BodyPolicy`]); its identity (message id and body) makes a re-delivered or re-run message
//! find its record already there instead of adding a second one.
//!
//! Killed at any point, a rerun converges to the same archive: a line that was written but whose
//! message was not deleted is written again, and the merge's set union absorbs it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

use crate::adapters::{
    Batch, DayStore, DestError, Message, QuarantineStore, Receipt, Recorded, Source, SourceError,
};
use crate::core::{
    classify_bytes, merge, BodyPolicy, DayKey, MergeStats, Outcome, QuarantineReason,
    QuarantineRecord, Rules,
};
use crate::metrics::FlushCounts;
use crate::report::{Failure, Report};

/// How a drain runs.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Most messages in one block (one flush).
    pub block_messages: usize,
    /// In follow mode, flush a block this long after its first message arrived.
    pub flush_secs: Option<u64>,
    /// Day files merged at once.
    pub day_concurrency: usize,
    /// Stop after this many messages.
    pub max_messages: Option<u64>,
    /// Write nothing, delete nothing; release received messages at the end.
    pub dry_run: bool,
    /// Identifies this run in the logs.
    pub run_id: String,
    /// Stop receiving after this many consecutive blocks in which every write failed.
    pub max_failed_blocks: u32,
    /// How quarantine records keep a body: minimised (the default) or raw.
    pub quarantine_body: BodyPolicy,
}

/// A run id: UTC time and randomness, sortable and unique enough for object names.
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    format!("{now}-{:08x}", fastrand::u32(..))
}

/// Live counters for progress display (read by the CLI while the run goes on).
#[derive(Debug, Default)]
pub struct Progress {
    pub received: AtomicU64,
    pub kept: AtomicU64,
    pub dropped: AtomicU64,
    pub quarantined: AtomicU64,
    pub deleted: AtomicU64,
}

/// The run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Quarantine records created at once in one block.
pub const QUARANTINE_CONCURRENCY: usize = 8;

#[derive(Default)]
struct DayBatch {
    lines: Vec<Vec<u8>>,
    receipts: Vec<Receipt>,
}

/// One quarantine record of a block, with every delivery it stands for.
struct PendingRecord {
    line: Vec<u8>,
    receipts: Vec<Receipt>,
}

/// One block, classified.
#[derive(Default)]
struct Classified {
    days: BTreeMap<DayKey, DayBatch>,
    done: Vec<Receipt>,
    /// By record name: a message delivered twice within the block is one record.
    quarantine: BTreeMap<String, PendingRecord>,
}

/// Classifies messages into the block in hand as they arrive, so a block holds formatted lines
/// and receipts, never the raw bodies (except those of quarantined messages).
fn classify_into(
    c: &mut Classified,
    msgs: &[Message],
    rules: &Rules,
    body_policy: &BodyPolicy,
    report: &mut Report,
) {
    let mut line = Vec::with_capacity(256);
    for m in msgs {
        line.clear();
        match classify_bytes(&m.body, rules, &mut line) {
            Outcome::Keep { day } => {
                report.kept += 1;
                let d = c.days.entry(day).or_default();
                d.lines.push(line.clone());
                d.receipts.push(m.receipt.clone());
            }
            Outcome::Drop { reason, value } => {
                report.dropped += 1;
                *report
                    .dropped_by
                    .entry(reason.as_str().to_owned())
                    .or_default()
                    .entry(value)
                    .or_default() += 1;
                c.done.push(m.receipt.clone());
            }
            Outcome::Quarantine { reason } => {
                report.quarantined += 1;
                add_quarantine(c, m, reason, body_policy, report);
            }
        }
    }
}

impl Classified {
    /// Adds another part of the same block (order does not matter: a day's lines are sorted
    /// before they are written, and a record is one record however many parts saw it).
    fn absorb(&mut self, other: Classified) {
        for (day, batch) in other.days {
            let d = self.days.entry(day).or_default();
            d.lines.extend(batch.lines);
            d.receipts.extend(batch.receipts);
        }
        self.done.extend(other.done);
        for (name, rec) in other.quarantine {
            match self.quarantine.entry(name) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(rec);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    o.get_mut().receipts.extend(rec.receipts);
                }
            }
        }
    }
}

/// Batches smaller than this are classified on the pipeline's task (a queue's batches of 10):
/// handing them to another thread would cost more than it saves.
const PARALLEL_MIN_BATCH: usize = 256;

/// Classifies large batches on the blocking pool, as many at once as there are cores, so a
/// local run uses every core; results are merged into the block in hand as they finish.
struct Classifier {
    rules: Arc<Rules>,
    policy: Arc<BodyPolicy>,
    workers: usize,
    pending: std::collections::VecDeque<tokio::task::JoinHandle<(Classified, Report)>>,
}

impl Classifier {
    fn new(rules: &Rules, policy: &BodyPolicy) -> Classifier {
        Classifier {
            rules: Arc::new(rules.clone()),
            policy: Arc::new(policy.clone()),
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            pending: std::collections::VecDeque::new(),
        }
    }

    /// Classifies `msgs` into `block`, now or on another thread.
    async fn add(&mut self, msgs: Vec<Message>, block: &mut Classified, report: &mut Report) {
        if msgs.len() < PARALLEL_MIN_BATCH || self.workers < 2 {
            classify_into(block, &msgs, &self.rules, &self.policy, report);
            return;
        }
        while self.pending.len() >= self.workers {
            self.join_one(block, report).await;
        }
        let (rules, policy) = (self.rules.clone(), self.policy.clone());
        self.pending.push_back(tokio::task::spawn_blocking(move || {
            let mut part = Classified::default();
            let mut counts = Report::default();
            classify_into(&mut part, &msgs, &rules, &policy, &mut counts);
            (part, counts)
        }));
    }

    async fn join_one(&mut self, block: &mut Classified, report: &mut Report) {
        if let Some(task) = self.pending.pop_front() {
            let (part, counts) = task.await.expect("classification does not panic");
            block.absorb(part);
            report.add_counts(&counts);
        }
    }

    /// Waits for every batch still being classified.
    async fn finish(&mut self, block: &mut Classified, report: &mut Report) {
        while !self.pending.is_empty() {
            self.join_one(block, report).await;
        }
    }
}

fn show_progress(progress: &Progress, report: &Report) {
    progress.received.store(report.received, Ordering::Relaxed);
    progress.kept.store(report.kept, Ordering::Relaxed);
    progress.dropped.store(report.dropped, Ordering::Relaxed);
    progress
        .quarantined
        .store(report.quarantined, Ordering::Relaxed);
}

fn add_quarantine(
    c: &mut Classified,
    m: &Message,
    reason: QuarantineReason,
    body_policy: &BodyPolicy,
    report: &mut Report,
) {
    let code = reason.code();
    *report.quarantined_by.entry(code.to_string()).or_default() += 1;
    let raw = String::from_utf8_lossy(&m.body);
    let body = body_policy.apply(&raw);
    let rec = QuarantineRecord::<&str> {
        reason: &code,
        message_id: &m.id,
        received_at: &m.received_at,
        body: &body,
    };
    c.quarantine
        .entry(rec.name())
        .or_insert_with(|| PendingRecord {
            line: rec.line(),
            receipts: Vec::new(),
        })
        .receipts
        .push(m.receipt.clone());
}

/// Drains `source` into `days` (and `quarantine`) until the source is drained, `max_messages`
/// is reached, or `shutdown` resolves (then the block in hand is finished first).
pub async fn drain<S, D, Q>(
    source: &mut S,
    days: &D,
    quarantine: &Q,
    rules: &Rules,
    opts: &DrainOptions,
    progress: &Progress,
    shutdown: impl Future<Output = ()>,
) -> Result<Report, PipelineError>
where
    S: Source,
    D: DayStore,
    Q: QuarantineStore,
{
    let stores = Stores { days, quarantine };
    drain_observed(source, stores, rules, opts, progress, shutdown, &mut |_| {}).await
}

/// Where a drain writes.
#[derive(Debug, Clone, Copy)]
pub struct Stores<'a, D, Q> {
    pub days: &'a D,
    pub quarantine: &'a Q,
}

/// The report's counters at the start of a flush.
#[derive(Debug, Clone, Copy)]
struct Mark {
    received: u64,
    kept: u64,
    dropped: u64,
    quarantined: u64,
    deleted: u64,
    failures: usize,
    conflict_retries: u64,
}

impl Mark {
    fn of(report: &Report, conflict_retries: u64) -> Mark {
        Mark {
            received: report.received,
            kept: report.kept,
            dropped: report.dropped,
            quarantined: report.quarantined,
            deleted: report.deleted,
            failures: report.failures.len(),
            conflict_retries,
        }
    }

    /// What changed since this mark.
    fn since(&self, now: &Mark, duration_secs: f64) -> FlushCounts {
        FlushCounts {
            received: now.received - self.received,
            kept: now.kept - self.kept,
            dropped: now.dropped - self.dropped,
            quarantined: now.quarantined - self.quarantined,
            deleted: now.deleted - self.deleted,
            failures: (now.failures - self.failures) as u64,
            conflict_retries: now.conflict_retries - self.conflict_retries,
            duration_secs,
        }
    }
}

/// [`drain`], calling `on_flush` with what each flush did (a block written, or a failure
/// outside any block), once the flush is over. Summed, the calls equal the report's counts.
pub async fn drain_observed<S, D, Q>(
    source: &mut S,
    stores: Stores<'_, D, Q>,
    rules: &Rules,
    opts: &DrainOptions,
    progress: &Progress,
    shutdown: impl Future<Output = ()>,
    on_flush: &mut (dyn FnMut(&FlushCounts) + Send),
) -> Result<Report, PipelineError>
where
    S: Source,
    D: DayStore,
    Q: QuarantineStore,
{
    let Stores { days, quarantine } = stores;
    let started = Instant::now();
    // A store may outlive the run (the Lambda function keeps one): count this run's retries.
    let retries_at_start = days.conflict_retries();
    let mut report = Report::new(opts.dry_run);
    report.from_queue = source.deletes();
    let mut brake = Brake::new(opts.max_failed_blocks);
    let mut classifier = Classifier::new(rules, &opts.quarantine_body);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stopping = false;
    let mut drained = false;
    let mut block_no = 0u32;
    let mut released: Vec<Receipt> = Vec::new();
    while !drained && !stopping {
        let Some(block_cap) = block_cap(opts, report.received) else {
            break;
        };
        let quarantined_before = report.quarantined;
        let mark = Mark::of(&report, days.conflict_retries());
        let mut flush_started: Option<Instant> = None;
        let mut block = Classified::default();
        let mut in_block = 0usize;
        let mut deadline: Option<tokio::time::Instant> = None;
        while in_block < block_cap {
            let flush_at = deadline;
            tokio::select! {
                biased;
                () = &mut shutdown, if !stopping => {
                    tracing::info!("shutdown requested: finishing the block in hand");
                    stopping = true;
                    break;
                }
                () = async { tokio::time::sleep_until(flush_at.expect("guarded")).await }, if flush_at.is_some() => break,
                batch = source.next_batch(block_cap - in_block) => match batch {
                    Err(e) if report.received == 0 => return Err(e.into()),
                    Err(e) => {
                        // Finish what is in hand; what was not received stays in the queue.
                        tracing::error!(error = %e, "receiving failed; finishing the block in hand");
                        report.failures.push(Failure { what: "source".into(), error: e.to_string(), messages: 0 });
                        stopping = true;
                        break;
                    }
                    Ok(batch) => match batch {
                    Batch::Messages(msgs) => {
                        flush_started.get_or_insert_with(Instant::now);
                        if deadline.is_none() {
                            deadline = opts.flush_secs.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
                        }
                        report.received += msgs.len() as u64;
                        in_block += msgs.len();
                        classifier.add(msgs, &mut block, &mut report).await;
                        show_progress(progress, &report);
                    }
                    Batch::Idle => {}
                    Batch::Drained => {
                        drained = true;
                        break;
                    }
                    },
                },
            }
        }
        classifier.finish(&mut block, &mut report).await;
        show_progress(progress, &report);
        if in_block == 0 {
            if report.failures.len() > mark.failures {
                on_flush(&mark.since(&Mark::of(&report, days.conflict_retries()), 0.0));
            }
            continue;
        }
        block_no += 1;
        let writes = block.days.len()
            + usize::from(report.quarantined > quarantined_before && !opts.dry_run);
        let failures_before = report.failures.len();
        tracing::debug!(run_id = %opts.run_id, block_no, messages = in_block, "writing a block");
        let to_ack = write_block(block, days, quarantine, opts, source, &mut report).await;
        if opts.dry_run {
            released.extend(to_ack);
        } else {
            acknowledge(source, to_ack, &mut report, progress).await;
        }
        if let Some(stop) = brake.after_block(writes, &report.failures[failures_before..]) {
            tracing::error!(error = %stop.error, "stopping: every write is failing");
            report.failures.push(stop);
            stopping = true;
        }
        let took = flush_started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        on_flush(&mark.since(&Mark::of(&report, days.conflict_retries()), took));
    }
    if !released.is_empty() {
        source.release(released).await;
    }
    source.finish().await;
    report.requests = source.requests();
    report.requests.extend(days.requests());
    report.conflict_retries = days.conflict_retries() - retries_at_start;
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The most messages the next block may take, `None` once `max_messages` are in.
fn block_cap(opts: &DrainOptions, received: u64) -> Option<usize> {
    let budget = opts.max_messages.map_or(usize::MAX, |m| {
        usize::try_from(m.saturating_sub(received)).unwrap_or(usize::MAX)
    });
    (budget > 0).then(|| opts.block_messages.max(1).min(budget))
}

/// Deletes the messages whose outcome is durable; a delete that fails is a failure of the run
/// (the message comes back and merges idempotently), never a loss.
async fn acknowledge<S: Source>(
    source: &mut S,
    to_ack: Vec<Receipt>,
    report: &mut Report,
    progress: &Progress,
) {
    if to_ack.is_empty() {
        return;
    }
    let n = to_ack.len() as u64;
    let outcome = source.ack(to_ack).await;
    report.deleted += outcome.deleted;
    progress.deleted.store(report.deleted, Ordering::Relaxed);
    if let Some((_, first)) = outcome.failed.first() {
        report.failures.push(Failure {
            what: "delete".into(),
            error: format!(
                "{} of {n} deletes failed (first: {first}); those messages will be delivered again and merge idempotently",
                outcome.failed.len()
            ),
            messages: outcome.failed.len() as u64,
        });
    }
}

/// The failure brake: counts consecutive blocks in which every write failed.
#[derive(Debug)]
struct Brake {
    limit: u32,
    failed_blocks: u32,
}

impl Brake {
    fn new(limit: u32) -> Brake {
        Brake {
            limit: limit.max(1),
            failed_blocks: 0,
        }
    }

    /// After a block that attempted `writes` (its days and its quarantine) and added `failures`
    /// to the report: the failure that stops the run, when this block reaches the limit. A block
    /// with nothing to write brings no news about the destination: it neither counts nor resets.
    fn after_block(&mut self, writes: usize, failures: &[Failure]) -> Option<Failure> {
        if writes == 0 {
            return None;
        }
        let days = failures
            .iter()
            .filter(|f| f.what.starts_with("day "))
            .count();
        let quarantine = usize::from(failures.iter().any(|f| f.what == "quarantine"));
        if days + quarantine < writes {
            self.failed_blocks = 0;
            return None;
        }
        self.failed_blocks += 1;
        (self.failed_blocks >= self.limit).then(|| self.failure(failures))
    }

    /// What stops the run; `last` holds the last block's failures (the cause).
    fn failure(&self, last: &[Failure]) -> Failure {
        let cause = last
            .iter()
            .find(|f| f.what.starts_with("day ") || f.what == "quarantine")
            .map_or_else(String::new, |f| format!(" (last: {}: {})", f.what, f.error));
        Failure {
            what: "brake".into(),
            error: format!(
                "stopped receiving after {} consecutive blocks in which every write failed{cause}; \
                 the messages in hand were given back to the queue: fix the cause and run again \
                 (--max-failed-blocks sets how many such blocks stop a run)",
                self.failed_blocks
            ),
            messages: 0,
        }
    }
}

/// Writes one block; returns the receipts that may be acknowledged.
async fn write_block<S: Source, D: DayStore, Q: QuarantineStore>(
    c: Classified,
    days: &D,
    quarantine: &Q,
    opts: &DrainOptions,
    source: &mut S,
    report: &mut Report,
) -> Vec<Receipt> {
    let Classified {
        days: day_batches,
        done,
        quarantine: records,
    } = c;
    let mut to_ack = done;
    let mut abandon = Vec::new();

    let dry_run = opts.dry_run;
    let quarantine_writes = stream::iter(records)
        .map(|(name, rec)| async move {
            let res = if dry_run {
                None
            } else {
                Some(quarantine.put_record(&name, rec.line).await)
            };
            (res, rec.receipts)
        })
        .buffer_unordered(QUARANTINE_CONCURRENCY)
        .collect::<Vec<_>>();
    let merges = stream::iter(day_batches)
        .map(|(day, mut batch)| async move {
            merge::sort_new_lines(&mut batch.lines);
            let lines = Arc::new(std::mem::take(&mut batch.lines));
            let res = if opts.dry_run {
                days.preview_day(day, lines).await
            } else {
                days.merge_day(day, lines).await
            };
            (day, res, batch.receipts)
        })
        .buffer_unordered(opts.day_concurrency.max(1))
        .collect::<Vec<(DayKey, Result<MergeStats, _>, Vec<Receipt>)>>();
    let (quarantine_results, merge_results) = tokio::join!(quarantine_writes, merges);

    if !quarantine_results.is_empty() && !dry_run {
        report.quarantine_location = Some(quarantine.location());
    }
    let mut failed: Vec<DestError> = Vec::new();
    let mut failed_messages = 0u64;
    for (res, receipts) in quarantine_results {
        match res {
            None => {}
            Some(Ok(Recorded::Created(location))) => {
                tracing::debug!(%location, "quarantine record written");
                report.quarantine_written += 1;
            }
            Some(Ok(Recorded::AlreadyThere(location))) => {
                tracing::debug!(%location, "quarantine record already there");
                report.quarantine_already_there += 1;
            }
            Some(Err(e)) => {
                failed_messages += receipts.len() as u64;
                failed.push(e);
                abandon.extend(receipts);
                continue;
            }
        }
        to_ack.extend(receipts);
    }
    if let Some(first) = failed.first() {
        tracing::error!(error = %first, records = failed.len(), "quarantine writes failed");
        report.failures.push(Failure {
            what: "quarantine".into(),
            error: format!(
                "{} of the block's quarantine records could not be written (first: {first})",
                failed.len()
            ),
            messages: failed_messages,
        });
    }
    for (day, res, receipts) in merge_results {
        match res {
            Ok(stats) => {
                tracing::info!(%day, new_lines = stats.new_lines, total_lines = stats.total_lines, "day merged");
                let d = report.days.entry(day.to_string()).or_default();
                d.new_lines += stats.new_lines;
                d.total_lines = stats.total_lines;
                to_ack.extend(receipts);
            }
            Err(e) => {
                tracing::error!(%day, error = %e, "day merge failed; its messages stay in the queue");
                report.failures.push(Failure {
                    what: format!("day {day}"),
                    error: e.to_string(),
                    messages: receipts.len() as u64,
                });
                abandon.extend(receipts);
            }
        }
    }
    if !abandon.is_empty() {
        source.abandon(abandon).await;
    }
    to_ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dir::DirStore;
    use crate::adapters::AckOutcome;
    use std::sync::Mutex;

    fn failed(what: &str) -> Failure {
        Failure {
            what: what.into(),
            error: "SlowDown".into(),
            messages: 1,
        }
    }

    #[test]
    fn the_brake_stops_at_the_limit_of_consecutive_blocks_whose_writes_all_failed() {
        let two_days = [failed("day 20261201"), failed("day 20261202")];
        let mut brake = Brake::new(3);
        assert!(brake.after_block(2, &two_days).is_none());
        assert!(brake.after_block(2, &two_days).is_none());
        let stop = brake
            .after_block(2, &two_days)
            .expect("the third block stops the run");
        assert_eq!(stop.what, "brake");
        assert!(
            stop.error.starts_with("stopped receiving after 3 consecutive blocks in which every write failed (last: day 20261201: SlowDown)"),
            "{}",
            stop.error
        );
    }

    #[test]
    fn a_block_with_one_write_that_succeeded_resets_the_brake() {
        let mut brake = Brake::new(2);
        assert!(brake.after_block(1, &[failed("day 20261201")]).is_none());
        // Two days, one failed; a delete failure is no write failure.
        assert!(brake
            .after_block(2, &[failed("day 20261201"), failed("delete")])
            .is_none());
        assert!(brake.after_block(1, &[failed("day 20261201")]).is_none());
        assert!(brake.after_block(1, &[failed("day 20261201")]).is_some());
    }

    #[test]
    fn the_quarantine_counts_as_a_write_and_a_block_without_writes_changes_nothing() {
        let mut brake = Brake::new(2);
        assert!(brake.after_block(1, &[failed("quarantine")]).is_none());
        assert!(brake.after_block(0, &[]).is_none(), "only dropped messages");
        // A day written, the quarantine failed: not every write failed.
        assert!(brake.after_block(2, &[failed("quarantine")]).is_none());
        assert!(brake.after_block(1, &[failed("quarantine")]).is_none());
        let stop = brake
            .after_block(
                2,
                &[
                    failed("day 20261201"),
                    failed("quarantine"),
                    failed("quarantine"),
                ],
            )
            .expect("every write failed, twice in a row");
        assert!(
            stop.error.contains("(last: day 20261201: SlowDown)"),
            "{}",
            stop.error
        );
        assert!(
            Brake::new(0).after_block(1, &[failed("day 1")]).is_some(),
            "at least 1"
        );
    }

    /// Messages handed out once; what is acknowledged and abandoned is recorded.
    #[derive(Default)]
    struct VecSource {
        pending: Vec<Message>,
        acked: Vec<String>,
        abandoned: Vec<String>,
    }

    impl Source for VecSource {
        async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
            if self.pending.is_empty() {
                return Ok(Batch::Drained);
            }
            let rest = self.pending.split_off(max.min(self.pending.len()));
            Ok(Batch::Messages(std::mem::replace(&mut self.pending, rest)))
        }
        async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
            self.acked.extend(receipts.iter().map(|r| r.handle.clone()));
            AckOutcome {
                deleted: receipts.len() as u64,
                failed: Vec::new(),
            }
        }
        async fn abandon(&mut self, receipts: Vec<Receipt>) {
            self.abandoned
                .extend(receipts.into_iter().map(|r| r.handle));
        }
        async fn release(&mut self, _receipts: Vec<Receipt>) {}
        async fn finish(&mut self) {}
        fn requests(&self) -> BTreeMap<String, u64> {
            BTreeMap::new()
        }
        fn deletes(&self) -> bool {
            true
        }
    }

    /// Records what is put, how many puts overlap, and fails the records whose body says so.
    #[derive(Default)]
    struct CountingQuarantine {
        in_flight: AtomicU64,
        most: AtomicU64,
        puts: Mutex<Vec<String>>,
    }

    impl QuarantineStore for CountingQuarantine {
        async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.puts.lock().unwrap().push(name.to_owned());
            if String::from_utf8_lossy(&line).contains("fail me") {
                return Err(DestError::Store {
                    location: name.to_owned(),
                    message: "refused".into(),
                });
            }
            Ok(Recorded::Created(name.to_owned()))
        }
        fn location(&self) -> String {
            "test".into()
        }
    }

    fn message(id: &str, handle: &str, body: &str) -> Message {
        Message {
            id: id.into(),
            body: body.as_bytes().to_vec(),
            receipt: Receipt {
                id: id.into(),
                handle: handle.into(),
            },
            received_at: "2026-11-27T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn a_blocks_records_go_out_eight_at_once_each_acknowledged_on_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let days = DirStore::new(tmp.path());
        let quarantine = CountingQuarantine::default();
        let mut pending: Vec<Message> = (0..20)
            .map(|i| message(&format!("m{i}"), &format!("h{i}"), &format!("not json {i}")))
            .collect();
        // The same message delivered twice in the block is one record...
        pending.push(message("m0", "h0-again", "not json 0"));
        // ...and a record that cannot be written leaves only its own message behind.
        pending.push(message("bad", "h-bad", "fail me"));
        let mut source = VecSource {
            pending,
            ..VecSource::default()
        };
        let report = drain(
            &mut source,
            &days,
            &quarantine,
            &Rules::default(),
            &DrainOptions::default(),
            &Progress::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert_eq!(
            quarantine.most.load(Ordering::SeqCst),
            QUARANTINE_CONCURRENCY as u64,
            "the bound is reached and never passed"
        );
        let puts = quarantine.puts.lock().unwrap().clone();
        assert_eq!(puts.len(), 21, "one put per record: {puts:?}");
        assert_eq!(report.quarantined, 22);
        assert_eq!(report.quarantine_written, 20);
        assert_eq!(source.abandoned, ["h-bad"]);
        assert_eq!(source.acked.len(), 21);
        assert!(source.acked.contains(&"h0-again".to_owned()));
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.failures[0].messages, 1);
        assert!(report.failures[0]
            .error
            .contains("1 of the block's quarantine records"));
    }

    #[tokio::test]
    async fn every_flush_is_observed_and_the_flushes_sum_to_the_report() {
        let tmp = tempfile::tempdir().unwrap();
        let days = DirStore::new(tmp.path());
        let quarantine = CountingQuarantine::default();
        let mut pending: Vec<Message> = (0..7)
            .map(|i| {
                message(
                    &format!("k{i}"),
                    &format!("hk{i}"),
                    &format!(r#"{{"n": {i}}}"#),
                )
            })
            .collect();
        pending.extend((0..3).map(|i| message(&format!("q{i}"), &format!("hq{i}"), "not json")));
        pending.push(message("bad", "h-bad", "fail me"));
        let mut source = VecSource {
            pending,
            ..VecSource::default()
        };
        let opts = DrainOptions {
            block_messages: 3,
            ..DrainOptions::default()
        };
        let mut flushes = Vec::new();
        let report = drain_observed(
            &mut source,
            Stores {
                days: &days,
                quarantine: &quarantine,
            },
            &Rules::default(),
            &opts,
            &Progress::default(),
            std::future::pending(),
            &mut |f| flushes.push(*f),
        )
        .await
        .unwrap();
        assert_eq!(flushes.len(), 4, "11 messages in blocks of 3: {flushes:?}");
        assert!(flushes
            .iter()
            .all(|f| f.received <= 3 && f.duration_secs >= 0.0));
        let sum = |f: fn(&FlushCounts) -> u64| flushes.iter().map(f).sum::<u64>();
        assert_eq!(sum(|f| f.received), report.received);
        assert_eq!(report.received, 11);
        assert_eq!(sum(|f| f.kept), report.kept);
        assert_eq!(sum(|f| f.dropped), report.dropped);
        assert_eq!(sum(|f| f.quarantined), report.quarantined);
        assert_eq!(report.kept + report.dropped + report.quarantined, 11);
        assert_eq!(sum(|f| f.deleted), report.deleted);
        assert_eq!(
            report.deleted, 10,
            "all but the record that could not be written"
        );
        assert_eq!(sum(|f| f.failures), report.failures.len() as u64);
        assert_eq!(report.failures.len(), 1);
        assert_eq!(sum(|f| f.conflict_retries), 0);
    }

    /// Day files in memory; merging a day in `failing` fails.
    #[derive(Default)]
    struct MemDays {
        files: Mutex<BTreeMap<DayKey, std::collections::BTreeSet<Vec<u8>>>>,
        failing: std::collections::BTreeSet<DayKey>,
    }

    impl DayStore for MemDays {
        async fn merge_day(
            &self,
            day: DayKey,
            lines: Arc<Vec<Vec<u8>>>,
        ) -> Result<MergeStats, DestError> {
            if self.failing.contains(&day) {
                return Err(DestError::Store {
                    location: day.to_string(),
                    message: "SlowDown".into(),
                });
            }
            let mut files = self.files.lock().unwrap();
            let file = files.entry(day).or_default();
            let before = file.len() as u64;
            file.extend(lines.iter().cloned());
            Ok(MergeStats {
                new_lines: file.len() as u64 - before,
                total_lines: file.len() as u64,
                ..MergeStats::default()
            })
        }
        async fn preview_day(
            &self,
            _day: DayKey,
            _lines: Arc<Vec<Vec<u8>>>,
        ) -> Result<MergeStats, DestError> {
            Ok(MergeStats::default())
        }
        fn requests(&self) -> BTreeMap<String, u64> {
            BTreeMap::new()
        }
        async fn list_days(&self) -> Result<Vec<DayKey>, DestError> {
            Ok(self.files.lock().unwrap().keys().copied().collect())
        }
        async fn open_day(
            &self,
            _day: DayKey,
        ) -> Result<Option<crate::adapters::DayReader>, DestError> {
            Ok(None)
        }
        async fn rewrite_day(&self, _day: DayKey) -> Result<Option<MergeStats>, DestError> {
            Ok(None)
        }
    }

    /// Drains `bodies` (receipt handles are their indexes) into a [`MemDays`] whose `failing`
    /// days fail.
    async fn drain_sample(
        bodies: &[&str],
        failing: std::collections::BTreeSet<DayKey>,
        block_messages: usize,
    ) -> (MemDays, VecSource, Report) {
        let days = MemDays {
            failing,
            ..MemDays::default()
        };
        let mut source = VecSource {
            pending: bodies
                .iter()
                .enumerate()
                .map(|(i, b)| message(&format!("m{i}"), &i.to_string(), b))
                .collect(),
            ..VecSource::default()
        };
        let opts = DrainOptions {
            block_messages,
            max_failed_blocks: u32::MAX,
            ..DrainOptions::default()
        };
        let report = drain(
            &mut source,
            &days,
            &CountingQuarantine::default(),
            &Rules::default(),
            &opts,
            &Progress::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
        (days, source, report)
    }

    /// The delivery rule, on every body of the sample with every choice of failing days: a
    /// message of a day whose write failed is never deleted (it is given back), a dropped one
    /// always is, a kept one is deleted exactly when its day was written, a quarantined one
    /// when its record was.
    #[tokio::test]
    async fn a_failed_days_messages_are_never_deleted_and_dropped_ones_always_are() {
        let rules = Rules::default();
        let bodies: Vec<&str> = include_str!("../examples/messages.jsonl").lines().collect();
        let outcomes: Vec<Outcome> = bodies
            .iter()
            .map(|b| classify_bytes(b.as_bytes(), &rules, &mut Vec::new()))
            .collect();
        let all_days: Vec<DayKey> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Keep { day } => Some(*day),
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(all_days.len() >= 2, "the sample spans several days");
        assert!(outcomes.iter().any(|o| matches!(o, Outcome::Drop { .. })));
        let mut archives = Vec::new();
        let mut counts = Vec::new();
        for mask in 0..(1u32 << all_days.len().min(4)) {
            let failing: std::collections::BTreeSet<DayKey> = all_days
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, d)| *d)
                .collect();
            for block_messages in [7, 1000] {
                let (days, source, report) =
                    drain_sample(&bodies, failing.clone(), block_messages).await;
                let acked: std::collections::BTreeSet<usize> =
                    source.acked.iter().map(|h| h.parse().unwrap()).collect();
                let abandoned: std::collections::BTreeSet<usize> = source
                    .abandoned
                    .iter()
                    .map(|h| h.parse().unwrap())
                    .collect();
                assert!(acked.is_disjoint(&abandoned));
                for (i, o) in outcomes.iter().enumerate() {
                    let (deleted, given_back) = (acked.contains(&i), abandoned.contains(&i));
                    match o {
                        Outcome::Keep { day } if failing.contains(day) => {
                            assert!(!deleted && given_back, "message {i} of failed day {day}");
                        }
                        Outcome::Keep { .. }
                        | Outcome::Drop { .. }
                        | Outcome::Quarantine { .. } => {
                            assert!(
                                deleted && !given_back,
                                "message {i} ({o:?}), failing {failing:?}"
                            );
                        }
                    }
                }
                if failing.is_empty() {
                    // Blocks of 7 are classified inline, blocks of 1000 in parallel parts.
                    archives.push(days.files.lock().unwrap().clone());
                    counts.push((
                        report.kept,
                        report.dropped,
                        report.quarantined,
                        report.dropped_by.clone(),
                        report.quarantined_by.clone(),
                    ));
                }
                let written: usize = days
                    .files
                    .lock()
                    .unwrap()
                    .keys()
                    .filter(|d| failing.contains(d))
                    .count();
                assert_eq!(written, 0, "nothing reaches a failing day");
                assert_eq!(report.deleted, acked.len() as u64);
            }
        }
        assert_eq!(archives.len(), 2);
        assert_eq!(
            archives[0], archives[1],
            "inline and parallel classification agree"
        );
        assert_eq!(counts[0], counts[1]);
    }
}
