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
//! The pipeline is two blocks deep: while one block is written and acknowledged, the next is
//! received and classified (so receiving never waits for S3, and deletes overlap receives);
//! a block is written only once the block before it is written and acknowledged, so writes
//! never overlap and a day file has one writer per run.
//!
//! Each flush's counts go to the caller's observer ([`drain`]'s `on_flush`; `drain --metrics emf`
//! prints them as CloudWatch metrics); summed, they equal the report's.
//!
//! The failure brake: after `max_failed_blocks` consecutive blocks in which every write (every
//! day and the quarantine) failed, the run stops receiving, gives back the messages received but
//! not yet handed out (`Source::finish`), and reports the cause; so an outage of the destination
//! does not cycle the whole backlog toward the dead-letter queue; the block received while the
//! last failing write was under way is given back too (`Source::release`), unwritten and not
//! counted. A block with nothing to write neither counts nor resets the count.
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

use futures::future::OptionFuture;
use futures::stream::{self, StreamExt};

use crate::adapters::{
    Batch, DayStore, DestError, Message, QuarantineStore, Receipt, Recorded, Source, SourceError,
    WritePolicy,
};
use crate::core::{
    classify_bytes, merge, BodyPolicy, DayKey, MergeStats, Outcome, QuarantineRecord, Rules,
};
use crate::metrics::FlushCounts;
use crate::report::{Failure, FailureKind, Report};

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
                report.count_drop(reason.as_str(), &value, 1);
                c.done.push(m.receipt.clone());
            }
            Outcome::Quarantine { reason } => {
                report.quarantined += 1;
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
        }
    }
}

impl Classified {
    /// Every receipt of the block: its days', its dropped messages' and its records'.
    fn into_receipts(self) -> Vec<Receipt> {
        let days = self.days.into_values().flat_map(|d| d.receipts);
        let records = self.quarantine.into_values().flat_map(|r| r.receipts);
        self.done.into_iter().chain(days).chain(records).collect()
    }

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
            match self.quarantine.get_mut(&name) {
                Some(mine) => mine.receipts.extend(rec.receipts),
                None => drop(self.quarantine.insert(name, rec)),
            }
        }
    }
}

/// Batches smaller than this are classified (and days with fewer new lines sorted) on the
/// pipeline's task (a queue's batches of 10): handing them to another thread would cost more
/// than it saves.
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
    /// Classifies `msgs` into `block`, now or on another thread.
    async fn add(&mut self, msgs: Vec<Message>, block: &mut Classified, report: &mut Report) {
        if msgs.len() < PARALLEL_MIN_BATCH || self.workers < 2 {
            classify_into(block, &msgs, &self.rules, &self.policy, report);
            return;
        }
        self.wait(self.workers - 1, block, report).await;
        let (rules, policy) = (self.rules.clone(), self.policy.clone());
        self.pending.push_back(tokio::task::spawn_blocking(move || {
            let mut part = Classified::default();
            let mut counts = Report::default();
            classify_into(&mut part, &msgs, &rules, &policy, &mut counts);
            (part, counts)
        }));
    }

    /// Waits until at most `left` batches are still being classified (0: every one is in).
    async fn wait(&mut self, left: usize, block: &mut Classified, report: &mut Report) {
        while self.pending.len() > left {
            let Some(task) = self.pending.pop_front() else {
                break;
            };
            let (part, counts) = task.await.expect("classification does not panic");
            block.absorb(part);
            report.add_counts(&counts);
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Stores<'a, D, Q> {
    pub days: &'a D,
    pub quarantine: &'a Q,
}

type OnFlush<'f> = &'f mut (dyn FnMut(&FlushCounts) + Send);

/// Drains `source` into the stores until the source is drained, `max_messages` is reached, or
/// `shutdown` resolves (then the block in hand is finished first), calling `on_flush` with what
/// each flush did (a block written, or a failure outside any block), once the flush is over.
/// At most two blocks are in hand (both received, neither deleted: the source's heartbeat keeps
/// both invisible).
pub async fn drain<S, D, Q>(
    source: &mut S,
    stores: Stores<'_, D, Q>,
    rules: &Rules,
    opts: &DrainOptions,
    progress: &Progress,
    shutdown: impl Future<Output = ()>,
    on_flush: OnFlush<'_>,
) -> Result<Report, SourceError>
where
    S: Source,
    D: DayStore,
    Q: QuarantineStore,
{
    let Stores { days, quarantine } = stores;
    let mut report = Report::new(opts.dry_run);
    report.from_queue = source.deletes();
    let mut run = Run {
        source,
        days,
        opts,
        progress,
        on_flush,
        classifier: Classifier {
            rules: Arc::new(rules.clone()),
            policy: Arc::new(opts.quarantine_body.clone()),
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            pending: std::collections::VecDeque::new(),
        },
        report,
        brake: Brake::new(opts.max_failed_blocks),
        started: Instant::now(),
        retries_at_start: days.conflict_retries(),
        released: Vec::new(),
        stopping: false,
        drained: false,
        braked: false,
        block_no: 0,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let mut writing = None;
    while !run.drained && !run.stopping {
        let Some(cap) = block_cap(opts, run.report.received) else {
            run.report.max_messages_reached = true;
            break;
        };
        let mut block = Block::default();
        let filled = run
            .fill(&mut block, cap, shutdown.as_mut(), &mut writing)
            .await;
        let (classified, counts) = (&mut block.classified, &mut block.counts);
        run.classifier.wait(0, classified, counts).await;
        filled?;
        // The previous block's writes end before this one's begin.
        if let Some(written) = writing.take() {
            run.settle(written.await).await;
        }
        if run.braked {
            run.give_back(block).await;
            break;
        }
        if let Some(closed) = run.close(&block) {
            let write = write_block(block.classified, days, quarantine, opts);
            writing = Some(Box::pin(async move { (write.await, closed) }));
        }
    }
    if let Some(written) = writing.take() {
        run.settle(written.await).await;
    }
    Ok(run.finish().await)
}

/// One block being filled: its messages classified, and its own counts, which join the report
/// when the block is closed (a block given back leaves no trace in the report).
#[derive(Default)]
struct Block {
    classified: Classified,
    counts: Report,
    started: Option<Instant>,
    /// Receive failures while this block was being filled.
    source_failures: u64,
}

/// A closed block whose writes are under way: what its flush needs once they are over.
struct Closed {
    flush: FlushCounts,
    /// Its days, and its quarantine if it has records: what the brake counts.
    writes: usize,
    started: Option<Instant>,
    retries_at_start: u64,
}

type RecordWrite = Option<Result<Recorded, DestError>>;

/// What one block's writes came to; nothing is acknowledged yet.
struct Written {
    done: Vec<Receipt>,
    /// Each record's write (`None`: a dry run), with the deliveries it stands for.
    records: Vec<(RecordWrite, Vec<Receipt>)>,
    merges: Vec<(DayKey, Result<MergeStats, DestError>, Vec<Receipt>)>,
    quarantine_location: Option<String>,
}

/// One drain's state between blocks.
struct Run<'a, S, D> {
    source: &'a mut S,
    days: &'a D,
    opts: &'a DrainOptions,
    progress: &'a Progress,
    on_flush: OnFlush<'a>,
    classifier: Classifier,
    report: Report,
    brake: Brake,
    started: Instant,
    /// A store may outlive the run (the Lambda function keeps one): count this run's retries.
    retries_at_start: u64,
    /// Dry run: receipts given back at the end instead of acknowledged.
    released: Vec<Receipt>,
    stopping: bool,
    drained: bool,
    /// The failure brake stopped the run.
    braked: bool,
    block_no: u32,
}

impl<S: Source, D: DayStore> Run<'_, S, D> {
    /// Receives and classifies into `block` until it holds `cap` messages, its time is up (follow
    /// mode), the source is drained, or the run stops. The block before it, being written in
    /// the meantime, is settled (acknowledged) as soon as its writes are over.
    async fn fill<W: Future<Output = (Written, Closed)>>(
        &mut self,
        block: &mut Block,
        cap: usize,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
        writing: &mut Option<std::pin::Pin<Box<W>>>,
    ) -> Result<(), SourceError> {
        let mut deadline: Option<tokio::time::Instant> = None;
        while block_len(block) < cap {
            let flush_at = deadline;
            tokio::select! {
                biased;
                () = shutdown.as_mut(), if !self.stopping => {
                    tracing::info!("shutdown requested: finishing the blocks in hand");
                    self.stopping = true;
                    return Ok(());
                }
                w = async { writing.as_mut().expect("guarded").as_mut().await }, if writing.is_some() => {
                    *writing = None;
                    self.settle(w).await;
                    if self.braked {
                        return Ok(());
                    }
                }
                () = async { tokio::time::sleep_until(flush_at.expect("guarded")).await }, if flush_at.is_some() => return Ok(()),
                batch = self.source.next_batch(cap - block_len(block)) => match batch {
                    Err(e) if self.report.received == 0 && block_len(block) == 0 => return Err(e),
                    Err(e) => {
                        // Finish what is in hand; what was not received stays in the queue.
                        tracing::error!(error = %e, "receiving failed; finishing the blocks in hand");
                        let failure = Failure::new(FailureKind::Source, e.to_string(), 0);
                        self.report.add_failure(failure);
                        block.source_failures += 1;
                        self.stopping = true;
                        return Ok(());
                    }
                    Ok(Batch::Messages(msgs)) => {
                        block.started.get_or_insert_with(Instant::now);
                        let flush_secs = self.opts.flush_secs.map(Duration::from_secs);
                        deadline = deadline.or(flush_secs.map(|d| tokio::time::Instant::now() + d));
                        block.counts.received += msgs.len() as u64;
                        self.classifier
                            .add(msgs, &mut block.classified, &mut block.counts)
                            .await;
                        self.show_progress(&block.counts);
                    }
                    Ok(Batch::Idle) => {}
                    Ok(Batch::Drained) => {
                        self.drained = true;
                        return Ok(());
                    }
                },
            }
        }
        Ok(())
    }

    /// Closes a filled block: its counts join the report. `None` when it holds no message (a
    /// receive failure alone is still a flush).
    fn close(&mut self, block: &Block) -> Option<Closed> {
        let c = &block.counts;
        // The block's own counts: no deletes, failures or retries yet, but its receive failures.
        let mut flush = FlushCounts::of_report(c);
        flush.failures = block.source_failures;
        if c.received == 0 {
            if block.source_failures > 0 {
                (self.on_flush)(&flush);
            }
            return None;
        }
        self.report.received += c.received;
        self.report.add_counts(c);
        self.show_progress(&Report::default());
        self.block_no += 1;
        let writes =
            block.classified.days.len() + usize::from(c.quarantined > 0 && !self.opts.dry_run);
        tracing::debug!(run_id = %self.opts.run_id, block_no = self.block_no, messages = c.received, "writing a block");
        Some(Closed {
            flush,
            writes,
            started: block.started,
            retries_at_start: self.days.conflict_retries(),
        })
    }

    /// A block's writes are over: counts them, abandons the messages of failed writes, deletes
    /// (acknowledges) the rest, consults the brake and reports the flush.
    async fn settle(&mut self, (written, closed): (Written, Closed)) {
        let deleted_before = self.report.deleted;
        // This block's failures are collected apart, for the brake, then added to the report
        // (which lists only the first ones).
        let listed = std::mem::take(&mut self.report.failures);
        let (to_ack, abandon) = record_writes(written, &mut self.report);
        if !abandon.is_empty() {
            self.source.abandon(abandon).await;
        }
        if self.opts.dry_run {
            self.released.extend(to_ack);
        } else if !to_ack.is_empty() {
            // A delete that fails is a failure of the run (the message comes back and merges
            // idempotently), never a loss.
            let n = to_ack.len();
            let outcome = self.source.ack(to_ack).await;
            self.report.deleted += outcome.deleted;
            let deleted = self.report.deleted;
            self.progress.deleted.store(deleted, Ordering::Relaxed);
            if let Some((_, first)) = outcome.failed.first() {
                let failed = outcome.failed.len();
                let error = format!("{failed} of {n} deletes failed (first: {first}); those messages will be delivered again and merge idempotently");
                let failure = Failure::new(FailureKind::Delete, error, failed as u64);
                self.report.failures.push(failure);
            }
        }
        let mut failures = std::mem::replace(&mut self.report.failures, listed);
        if let Some(stop) = self.brake.after_block(closed.writes, &failures) {
            tracing::error!(error = %stop.error, "stopping: every write is failing");
            failures.push(stop);
            self.stopping = true;
            self.braked = true;
        }
        let mut flush = closed.flush;
        flush.deleted = self.report.deleted - deleted_before;
        flush.failures += failures.len() as u64;
        for f in failures {
            self.report.add_failure(f);
        }
        flush.conflict_retries = self.days.conflict_retries() - closed.retries_at_start;
        flush.duration_secs = closed.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        (self.on_flush)(&flush);
    }

    /// The brake stopped the run while `block` was in hand: its messages go back to the queue
    /// now (visible again) instead of being written into a destination that keeps failing.
    async fn give_back(&mut self, block: Block) {
        let receipts = block.classified.into_receipts();
        if !receipts.is_empty() {
            tracing::info!(messages = receipts.len(), "giving back the block in hand");
            self.source.release(receipts).await;
        }
        self.show_progress(&Report::default());
    }

    async fn finish(mut self) -> Report {
        if !self.released.is_empty() {
            self.source
                .release(std::mem::take(&mut self.released))
                .await;
        }
        self.source.finish().await;
        let mut report = self.report;
        report.requests = self.source.requests();
        report.requests.extend(self.days.requests());
        report.conflict_retries = self.days.conflict_retries() - self.retries_at_start;
        report.elapsed_secs = self.started.elapsed().as_secs_f64();
        report
    }

    /// The live counters: the report's and those of the block being filled.
    fn show_progress(&self, block: &Report) {
        let (r, p) = (&self.report, self.progress);
        p.received
            .store(r.received + block.received, Ordering::Relaxed);
        p.kept.store(r.kept + block.kept, Ordering::Relaxed);
        p.dropped
            .store(r.dropped + block.dropped, Ordering::Relaxed);
        p.quarantined
            .store(r.quarantined + block.quarantined, Ordering::Relaxed);
    }
}

fn block_len(block: &Block) -> usize {
    usize::try_from(block.counts.received).unwrap_or(usize::MAX)
}

/// The most messages the next block may take, `None` once `max_messages` are in.
fn block_cap(opts: &DrainOptions, received: u64) -> Option<usize> {
    let budget = opts.max_messages.map_or(usize::MAX, |m| {
        usize::try_from(m.saturating_sub(received)).unwrap_or(usize::MAX)
    });
    (budget > 0).then(|| opts.block_messages.max(1).min(budget))
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
    /// to the report: the failure that stops the run (naming the last cause), when this block
    /// reaches the limit. A block with nothing to write brings no news about the destination:
    /// it neither counts nor resets.
    fn after_block(&mut self, writes: usize, failures: &[Failure]) -> Option<Failure> {
        if writes == 0 {
            return None;
        }
        let days = failures
            .iter()
            .filter(|f| matches!(f.kind, FailureKind::Day(_)))
            .count();
        let quarantine = usize::from(failures.iter().any(|f| f.kind == FailureKind::Quarantine));
        if days + quarantine < writes {
            self.failed_blocks = 0;
            return None;
        }
        self.failed_blocks += 1;
        if self.failed_blocks < self.limit {
            return None;
        }
        let cause = failures
            .iter()
            .find(|f| matches!(f.kind, FailureKind::Day(_) | FailureKind::Quarantine))
            .map_or_else(String::new, |f| format!(" (last: {}: {})", f.kind, f.error));
        let error = format!(
            "stopped receiving after {} consecutive blocks in which every write failed{cause}; \
             the messages in hand were given back to the queue: fix the cause and run again \
             (--max-failed-blocks sets how many such blocks stop a run)",
            self.failed_blocks
        );
        Some(Failure::new(FailureKind::Brake, error, 0))
    }
}

/// Writes one block: its quarantine records and its days, concurrently. Touches neither the
/// source nor the report, so it can run while the next block is being filled.
async fn write_block<D: DayStore, Q: QuarantineStore>(
    c: Classified,
    days: &D,
    quarantine: &Q,
    opts: &DrainOptions,
) -> Written {
    let dry_run = opts.dry_run;
    let quarantine_writes = stream::iter(c.quarantine)
        .map(|(name, rec)| async move {
            let put = (!dry_run).then(|| quarantine.put_record(&name, rec.line));
            (OptionFuture::from(put).await, rec.receipts)
        })
        .buffer_unordered(QUARANTINE_CONCURRENCY)
        .collect::<Vec<_>>();
    let merges = stream::iter(c.days)
        .map(|(day, batch)| async move {
            let lines = Arc::new(sorted(batch.lines).await);
            let policy = if dry_run {
                WritePolicy::Preview
            } else {
                WritePolicy::NewLinesOnly
            };
            let res = days.merge_day(day, lines, policy).await;
            (day, res.map(Option::unwrap_or_default), batch.receipts)
        })
        .buffer_unordered(opts.day_concurrency.max(1))
        .collect::<Vec<_>>();
    let (records, merges) = tokio::join!(quarantine_writes, merges);
    // Where the records went, for the report (a failed write still names the place).
    let quarantine_location = (!records.is_empty() && !dry_run).then(|| quarantine.location());
    Written {
        done: c.done,
        records,
        merges,
        quarantine_location,
    }
}

/// `lines` sorted and de-duplicated. A large day is sorted on the blocking pool, so the days of a
/// large block (a local run's one block) are sorted on every core at once rather than one
/// after another on the pipeline's task.
async fn sorted(mut lines: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let small = lines.len() < PARALLEL_MIN_BATCH;
    let sort = move || {
        merge::sort_new_lines(&mut lines);
        lines
    };
    if small {
        return sort();
    }
    let sorting = tokio::task::spawn_blocking(sort);
    sorting.await.expect("sorting does not panic")
}

/// Counts a block's writes into the report; returns the receipts that may be acknowledged and
/// those to abandon (their write failed: they stay in the queue).
fn record_writes(written: Written, report: &mut Report) -> (Vec<Receipt>, Vec<Receipt>) {
    if written.quarantine_location.is_some() {
        report.quarantine_location = written.quarantine_location;
    }
    let (mut to_ack, mut abandon) = (written.done, Vec::new());
    let (mut failed, mut failed_messages): (Vec<DestError>, u64) = (Vec::new(), 0);
    for (res, receipts) in written.records {
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
        report.failures.push(Failure::new(
            FailureKind::Quarantine,
            format!(
                "{} of the block's quarantine records could not be written (first: {first})",
                failed.len()
            ),
            failed_messages,
        ));
    }
    for (day, res, receipts) in written.merges {
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
                report.failures.push(Failure::new(
                    FailureKind::Day(day),
                    e.to_string(),
                    receipts.len() as u64,
                ));
                abandon.extend(receipts);
            }
        }
    }
    (to_ack, abandon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dir::DirStore;
    use crate::adapters::AckOutcome;
    use std::sync::Mutex;

    fn failed(kind: FailureKind) -> Failure {
        Failure {
            kind,
            error: "SlowDown".into(),
            messages: 1,
        }
    }

    fn failed_day(day: &str) -> Failure {
        failed(FailureKind::Day(day.parse().unwrap()))
    }

    #[test]
    fn the_brake_stops_at_the_limit_of_consecutive_blocks_whose_writes_all_failed() {
        let two_days = [failed_day("20261201"), failed_day("20261202")];
        let mut brake = Brake::new(3);
        assert!(brake.after_block(2, &two_days).is_none());
        assert!(brake.after_block(2, &two_days).is_none());
        let stop = brake
            .after_block(2, &two_days)
            .expect("the third block stops the run");
        assert_eq!(stop.kind, FailureKind::Brake);
        assert!(
            stop.error.starts_with("stopped receiving after 3 consecutive blocks in which every write failed (last: day 20261201: SlowDown)"),
            "{}",
            stop.error
        );
    }

    #[test]
    fn a_block_with_one_write_that_succeeded_resets_the_brake() {
        let mut brake = Brake::new(2);
        assert!(brake.after_block(1, &[failed_day("20261201")]).is_none());
        // Two days, one failed; a delete failure is no write failure.
        assert!(brake
            .after_block(2, &[failed_day("20261201"), failed(FailureKind::Delete)])
            .is_none());
        assert!(brake.after_block(1, &[failed_day("20261201")]).is_none());
        assert!(brake.after_block(1, &[failed_day("20261201")]).is_some());
    }

    #[test]
    fn the_quarantine_counts_as_a_write_and_a_block_without_writes_changes_nothing() {
        let mut brake = Brake::new(2);
        assert!(brake
            .after_block(1, &[failed(FailureKind::Quarantine)])
            .is_none());
        assert!(brake.after_block(0, &[]).is_none(), "only dropped messages");
        // A day written, the quarantine failed: not every write failed.
        assert!(brake
            .after_block(2, &[failed(FailureKind::Quarantine)])
            .is_none());
        assert!(brake
            .after_block(1, &[failed(FailureKind::Quarantine)])
            .is_none());
        let stop = brake
            .after_block(
                2,
                &[
                    failed_day("20261201"),
                    failed(FailureKind::Quarantine),
                    failed(FailureKind::Quarantine),
                ],
            )
            .expect("every write failed, twice in a row");
        assert!(
            stop.error.contains("(last: day 20261201: SlowDown)"),
            "{}",
            stop.error
        );
        assert!(
            Brake::new(0)
                .after_block(1, &[failed_day("20261201")])
                .is_some(),
            "at least 1"
        );
    }

    /// The brake counts the failures as the pipeline records them (`record_writes`), by their
    /// kind, not by their text: a block whose days and quarantine all failed counts, a block
    /// with one day written resets the count.
    #[test]
    fn the_brake_counts_the_failures_the_pipeline_records() {
        fn refused<T>() -> Result<T, DestError> {
            Err(DestError::Store {
                location: "test".into(),
                message: "SlowDown".into(),
            })
        }
        let receipts = |h: &str| {
            vec![Receipt {
                id: h.into(),
                handle: h.into(),
            }]
        };
        let block = |second_day: Result<MergeStats, DestError>| Written {
            done: Vec::new(),
            records: vec![(Some(refused()), receipts("q"))],
            merges: vec![
                ("20261201".parse().unwrap(), refused(), receipts("a")),
                ("20261202".parse().unwrap(), second_day, receipts("b")),
            ],
            quarantine_location: Some("test".into()),
        };
        let mut brake = Brake::new(2);
        let mut after = |written: Written| {
            let mut report = Report::default();
            let (acked, _) = record_writes(written, &mut report);
            (acked.len(), brake.after_block(3, &report.failures))
        };
        assert!(
            matches!(after(block(refused())), (0, None)),
            "one failed block"
        );
        assert!(
            matches!(after(block(Ok(MergeStats::default()))), (1, None)),
            "a day written resets the count"
        );
        assert!(matches!(after(block(refused())), (0, None)));
        let (_, stop) = after(block(refused()));
        let stop = stop.expect("two failed blocks in a row stop the run");
        assert_eq!(stop.kind, FailureKind::Brake);
        assert!(
            stop.error.contains(
                "(last: quarantine: 1 of the block's quarantine records could not be written"
            ),
            "{}",
            stop.error
        );
    }

    /// What a source and a store did, in order (shared by both in a test).
    type Log = Arc<Mutex<Vec<String>>>;

    fn log(log: &Log, event: String) {
        log.lock().unwrap().push(event);
    }

    /// Messages handed out once; what is acknowledged, abandoned and released is recorded.
    #[derive(Default)]
    struct VecSource {
        pending: Vec<Message>,
        acked: Vec<String>,
        abandoned: Vec<String>,
        released: Vec<String>,
        log: Log,
    }

    impl Source for VecSource {
        async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
            if self.pending.is_empty() {
                return Ok(Batch::Drained);
            }
            let rest = self.pending.split_off(max.min(self.pending.len()));
            log(&self.log, format!("receive {}", self.pending.len()));
            Ok(Batch::Messages(std::mem::replace(&mut self.pending, rest)))
        }
        async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
            log(&self.log, format!("delete {}", receipts.len()));
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
        async fn release(&mut self, receipts: Vec<Receipt>) {
            log(&self.log, format!("release {}", receipts.len()));
            self.released.extend(receipts.into_iter().map(|r| r.handle));
        }
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
            body: body.as_bytes().to_vec().into(),
            receipt: Receipt {
                id: id.into(),
                handle: handle.into(),
            },
            received_at: "2026-11-27T00:00:00Z".into(),
        }
    }

    /// A day's new lines are sorted and de-duplicated the same way on both sides of the
    /// hand-over to the blocking pool (inline below `PARALLEL_MIN_BATCH` lines, on the pool from
    /// it), duplicates and all.
    #[tokio::test(start_paused = true)]
    async fn days_are_sorted_alike_inline_and_on_the_blocking_pool() {
        for n in [
            PARALLEL_MIN_BATCH - 1,
            PARALLEL_MIN_BATCH,
            4 * PARALLEL_MIN_BATCH,
        ] {
            // Descending, every third line given twice.
            let lines: Vec<Vec<u8>> = (0..n)
                .rev()
                .flat_map(|i| {
                    let l = format!("{{\"timestamp\": \"{i:06}\"}}").into_bytes();
                    if i % 3 == 0 {
                        vec![l.clone(), l]
                    } else {
                        vec![l]
                    }
                })
                .collect();
            let got = sorted(lines.clone()).await;
            let mut want = lines;
            want.sort();
            want.dedup();
            assert_eq!(got.len(), n, "{n} distinct lines");
            assert_eq!(got, want, "{n} lines");
        }
    }

    #[tokio::test(start_paused = true)]
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
            Stores {
                days: &days,
                quarantine: &quarantine,
            },
            &Rules::default(),
            &DrainOptions::default(),
            &Progress::default(),
            std::future::pending(),
            &mut |_| {},
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

    #[tokio::test(start_paused = true)]
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
        let report = drain(
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

    #[tokio::test(start_paused = true)]
    async fn the_report_says_when_max_messages_stopped_the_run() {
        for (max, received, reached) in [
            (Some(3), 3, true),
            (Some(5), 5, true),
            (Some(6), 5, false),
            (None, 5, false),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let days = DirStore::new(tmp.path());
            let mut source = VecSource {
                pending: (0..5)
                    .map(|i| message(&format!("m{i}"), &format!("h{i}"), r#"{"n": 1}"#))
                    .collect(),
                ..VecSource::default()
            };
            let opts = DrainOptions {
                block_messages: 2,
                max_messages: max,
                ..DrainOptions::default()
            };
            let report = drain(
                &mut source,
                Stores {
                    days: &days,
                    quarantine: &CountingQuarantine::default(),
                },
                &Rules::default(),
                &opts,
                &Progress::default(),
                std::future::pending(),
                &mut |_| {},
            )
            .await
            .unwrap();
            assert_eq!(report.received, received, "{max:?}");
            assert_eq!(report.max_messages_reached, reached, "{max:?}");
        }
    }

    /// Day files in memory; merging a day in `failing` fails.
    #[derive(Default)]
    struct MemDays {
        files: Mutex<BTreeMap<DayKey, std::collections::BTreeSet<Vec<u8>>>>,
        failing: std::collections::BTreeSet<DayKey>,
        /// How long a merge takes.
        write_ms: u64,
        log: Log,
    }

    impl DayStore for MemDays {
        async fn merge_day(
            &self,
            day: DayKey,
            lines: Arc<Vec<Vec<u8>>>,
            policy: WritePolicy,
        ) -> Result<Option<MergeStats>, DestError> {
            match policy {
                WritePolicy::Preview => return Ok(Some(MergeStats::default())),
                WritePolicy::Always => return Ok(None),
                WritePolicy::NewLinesOnly => {}
            }
            log(&self.log, format!("write {day}"));
            tokio::time::sleep(Duration::from_millis(self.write_ms)).await;
            log(&self.log, format!("written {day}"));
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
            Ok(Some(MergeStats {
                new_lines: file.len() as u64 - before,
                total_lines: file.len() as u64,
                ..MergeStats::default()
            }))
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
    }

    /// Drains `source` into `days` with the default rules and a counting quarantine.
    async fn drain_into(
        source: &mut VecSource,
        days: &MemDays,
        opts: &DrainOptions,
        shutdown: impl Future<Output = ()>,
    ) -> Report {
        drain(
            source,
            Stores {
                days,
                quarantine: &CountingQuarantine::default(),
            },
            &Rules::default(),
            opts,
            &Progress::default(),
            shutdown,
            &mut |_| {},
        )
        .await
        .unwrap()
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
        let report = drain_into(&mut source, &days, &opts, std::future::pending()).await;
        (days, source, report)
    }

    /// The delivery rule, on every body of the sample with every choice of failing days: a
    /// message of a day whose write failed is never deleted (it is given back), a dropped one
    /// always is, a kept one is deleted exactly when its day was written, a quarantined one
    /// when its record was.
    #[tokio::test(start_paused = true)]
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

    /// `n` messages whose bodies are kept lines of one day (handles are their indexes), a
    /// store whose merges take 50 ms, and a log both write to.
    fn one_day(n: usize, failing: bool) -> (VecSource, MemDays, DayKey) {
        let rules = Rules::default();
        let (body, day) = include_str!("../examples/messages.jsonl")
            .lines()
            .find_map(
                |b| match classify_bytes(b.as_bytes(), &rules, &mut Vec::new()) {
                    Outcome::Keep { day } => Some((b, day)),
                    _ => None,
                },
            )
            .expect("the sample keeps a line");
        let shared = Log::default();
        let source = VecSource {
            pending: (0..n)
                .map(|i| message(&format!("m{i}"), &i.to_string(), body))
                .collect(),
            log: shared.clone(),
            ..VecSource::default()
        };
        let days = MemDays {
            failing: if failing {
                [day].into()
            } else {
                std::collections::BTreeSet::new()
            },
            write_ms: 50,
            log: shared,
            ..MemDays::default()
        };
        (source, days, day)
    }

    /// The pipelined drain: each block is received while the one before it is being written,
    /// and a block's write starts only after the block before it is written and deleted, so
    /// at most two blocks are in hand and the day file has one writer at a time.
    #[tokio::test(start_paused = true)]
    async fn the_next_block_is_received_while_the_one_before_is_written_and_deleted() {
        let (mut source, days, day) = one_day(9, false);
        let opts = DrainOptions {
            block_messages: 3,
            ..DrainOptions::default()
        };
        let mut flushes = Vec::new();
        let report = drain(
            &mut source,
            Stores {
                days: &days,
                quarantine: &CountingQuarantine::default(),
            },
            &Rules::default(),
            &opts,
            &Progress::default(),
            std::future::pending(),
            &mut |f| flushes.push(*f),
        )
        .await
        .unwrap();
        let log = source.log.lock().unwrap().clone();
        let (w, d) = (format!("write {day}"), format!("written {day}"));
        assert_eq!(
            log,
            [
                "receive 3",
                &w,
                "receive 3",
                &d,
                "delete 3",
                &w,
                "receive 3",
                &d,
                "delete 3",
                &w,
                &d,
                "delete 3"
            ],
            "receives overlap writes; writes follow the deletes before them"
        );
        assert_eq!((report.received, report.deleted), (9, 9));
        assert_eq!(
            flushes
                .iter()
                .map(|f| (f.received, f.deleted))
                .collect::<Vec<_>>(),
            [(3, 3), (3, 3), (3, 3)],
            "each flush counts its own block, though the next one was received meanwhile"
        );
        let in_hand = log.iter().fold((0i64, 0i64), |(now, most), e| {
            let n: i64 = e.rsplit(' ').next().unwrap().parse().unwrap_or(0);
            let now = match e.split(' ').next().unwrap() {
                "receive" => now + n,
                "delete" => now - n,
                _ => now,
            };
            (now, most.max(now))
        });
        assert_eq!(in_hand, (0, 6), "at most two blocks in hand, none left");
    }

    /// A regression guard for the pipelined brake: the block received while the last failing
    /// write was under way is given back (visible again), not written, and not counted.
    #[tokio::test(start_paused = true)]
    async fn the_brake_gives_back_the_block_received_during_the_last_failed_write() {
        let (mut source, days, _) = one_day(9, true);
        let opts = DrainOptions {
            block_messages: 3,
            max_failed_blocks: 1,
            ..DrainOptions::default()
        };
        let report = drain_into(&mut source, &days, &opts, std::future::pending()).await;
        assert_eq!(
            source.abandoned,
            ["0", "1", "2"],
            "the failed block stays in flight"
        );
        assert_eq!(
            source.released,
            ["3", "4", "5"],
            "the block in hand goes back"
        );
        assert!(source.acked.is_empty());
        assert_eq!(source.pending.len(), 3, "nothing more is received");
        assert_eq!(report.received, 3, "a block given back is not counted");
        assert_eq!(report.kept, 3);
        let kinds: Vec<FailureKind> = report.failures.iter().map(|f| f.kind).collect();
        assert_eq!(kinds.last(), Some(&FailureKind::Brake), "{kinds:?}");
        assert_eq!(kinds.len(), 2, "{kinds:?}");
    }

    /// A shutdown while a block is being written and the next one filled finishes both (the
    /// blocks in hand), then stops.
    #[tokio::test(start_paused = true)]
    async fn a_shutdown_finishes_both_blocks_in_hand() {
        let (mut source, days, _) = one_day(12, false);
        let opts = DrainOptions {
            block_messages: 3,
            ..DrainOptions::default()
        };
        let report = drain_into(
            &mut source,
            &days,
            &opts,
            tokio::time::sleep(Duration::from_millis(75)),
        )
        .await;
        assert_eq!(report.received, report.deleted);
        assert_eq!(source.acked.len() as u64, report.received);
        assert!(
            (3..12).contains(&report.received),
            "stopped before the end: {}",
            report.received
        );
        assert_eq!(source.pending.len() as u64, 12 - report.received);
        assert!(source.released.is_empty() && source.abandoned.is_empty());
    }

    /// A `--follow`-like run of many blocks, each with a drop of a new value and a failed day:
    /// the report lists the first `MAX_DROP_VALUES` values and `MAX_FAILURES` failures and
    /// counts the rest, every total exact.
    #[tokio::test(start_paused = true)]
    async fn a_long_run_keeps_the_reports_lists_bounded_and_its_counts_exact() {
        use crate::report::{MAX_DROP_VALUES, MAX_FAILURES};
        let blocks = MAX_DROP_VALUES.max(MAX_FAILURES) + 200;
        let day: DayKey = "20261127".parse().unwrap();
        let days = MemDays {
            failing: [day].into(),
            ..MemDays::default()
        };
        let pending = (0..blocks)
            .flat_map(|i| {
                [
                    message(
                        &format!("d{i}"),
                        &format!("hd{i}"),
                        &format!(r#"{{"timestamp": "2026-11-27T00:00:00+00:00", "hostname": "dev-{i}", "event": {{"Event": "UserEvent", "Channel": "SIP/x", "UserEvent": "e"}}}}"#),
                    ),
                    message(
                        &format!("k{i}"),
                        &format!("hk{i}"),
                        &format!(r#"{{"timestamp": "2026-11-27T00:00:00+00:00", "hostname": "futel-prod-back", "event": {{"Event": "UserEvent", "Channel": "SIP/k-{i}", "UserEvent": "e"}}}}"#),
                    ),
                ]
            })
            .collect();
        let mut source = VecSource {
            pending,
            ..VecSource::default()
        };
        let opts = DrainOptions {
            block_messages: 2,
            max_failed_blocks: u32::MAX,
            ..DrainOptions::default()
        };
        let mut flush_failures = 0;
        let report = drain(
            &mut source,
            Stores {
                days: &days,
                quarantine: &CountingQuarantine::default(),
            },
            &Rules::default(),
            &opts,
            &Progress::default(),
            std::future::pending(),
            &mut |f| flush_failures += f.failures,
        )
        .await
        .unwrap();
        let blocks = blocks as u64;
        assert_eq!((report.kept, report.dropped), (blocks, blocks));
        let hosts = &report.dropped_by["hostname"];
        assert_eq!(hosts.len(), MAX_DROP_VALUES);
        assert_eq!(
            report.dropped_by_other["hostname"],
            blocks - MAX_DROP_VALUES as u64
        );
        assert_eq!(
            hosts.values().sum::<u64>() + report.dropped_by_other["hostname"],
            report.dropped
        );
        assert_eq!(report.failures.len(), MAX_FAILURES);
        assert_eq!(report.failures_not_listed, blocks - MAX_FAILURES as u64);
        assert_eq!(report.failure_count(), blocks);
        assert_eq!(flush_failures, blocks, "every failure reaches the flushes");
        assert_eq!(report.left_behind(), blocks, "one kept message per block");
        assert!(!report.succeeded());
        let summary = report.summary(3);
        assert!(
            summary.contains(&format!(
                "dropped by hostname: {blocks} (dev-0 1, dev-1 1, dev-10 1, ... {} more values, {} of values not listed)",
                MAX_DROP_VALUES - 3,
                blocks - MAX_DROP_VALUES as u64
            )),
            "{summary}"
        );
        assert!(
            summary.contains(&format!(
                "FAILED {} more times, not listed ({} messages)",
                blocks - MAX_FAILURES as u64,
                blocks - MAX_FAILURES as u64
            )),
            "{summary}"
        );
    }
}
