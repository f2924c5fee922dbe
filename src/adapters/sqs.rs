//! SQS as a message source.
//!
//! `receivers` tasks long-poll the queue (ReceiveMessage, 10 messages a call, `wait_secs`,
//! `visibility_timeout_secs` on every call) and pass batches to the pipeline through a bounded
//! channel, so receiving overlaps writing and stops when the pipeline falls behind.
//!
//! The heartbeat keeps every message received and not yet deleted or abandoned invisible while
//! it is being written: each message is extended (ChangeMessageVisibilityBatch, back to the full
//! visibility timeout) when a third of its timeout (at least 1 s) is left since *its own*
//! receive or last extension, counted from when that request was sent (a conservative clock:
//! SQS started the timeout a little later). Messages due within a quarter of that margin go
//! along, so batches fill up. Due messages go out in batches of 10, several batches in
//! parallel; entries that fail for a reason that may pass (a throttle, a server error, a lost
//! answer) are retried with backoff within the same pass, inside the margin. An entry SQS
//! refuses as the sender's fault (the message was deleted, or its handle is no longer valid) is
//! dropped from the heartbeat: the message may be delivered again and the merge absorbs it.
//! Quick runs make no heartbeat calls at all, and neither does a block closed at half the
//! timeout (the pipeline's limit from a queue) and written within the following sixth. The
//! timeout must be at least [`MIN_VISIBILITY_TIMEOUT_SECS`], so that the margin leaves time for
//! an extension and its retries.
//!
//! Drain mode ends when every receiver has had an empty long poll (long polling has no false
//! empty responses; with `wait_secs` 0, short polls, the queue's visible count is checked
//! too); follow mode polls until
//! [`Source::finish`] is called. Deletes are DeleteMessageBatch calls of 10, several in
//! parallel; failed entries are retried as [`sqs_batch`] says (not those SQS refuses as the
//! sender's fault), then reported. A message counts as deleted (or extended) only when the batch
//! answer lists it as `Successful`; an entry the answer does not account for (none listed, or an
//! id the request did not send) fails too. Messages received
//! but never handed to the pipeline (a `--max-messages` cap, a shutdown) are made visible again
//! at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, QueueAttributeName,
};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::aws::{describe_sdk_error, RequestCounter};
use super::sqs_batch::{self, Answer, EntryOutcome};
use super::{AckOutcome, Batch, Message, Receipt, Source, SourceError};

/// How the queue is read.
#[derive(Debug, Clone)]
pub struct SqsSettings {
    pub queue_url: String,
    /// Long-poll wait of each ReceiveMessage (0..=20).
    pub wait_secs: u64,
    /// Receives in flight at once.
    pub receivers: usize,
    /// Visibility timeout set on every receive and by the heartbeat.
    pub visibility_timeout_secs: u64,
    /// Keep polling after empty receives (follow mode).
    pub follow: bool,
    /// Receive at most this many messages in the run.
    pub max_messages: Option<u64>,
    /// DeleteMessageBatch calls in flight at once.
    pub delete_concurrency: usize,
}

/// The shortest visibility timeout the heartbeat can keep up with. A message is extended when a
/// third of its timeout, and at least 1 s, is left; SQS counts in whole seconds, so at 1 s
/// nothing would be left for the extension and its retries.
pub const MIN_VISIBILITY_TIMEOUT_SECS: u64 = 2;
/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_TIMEOUT_SECS: u64 = 43_200;

#[derive(Debug)]
struct InFlight {
    /// When to extend it next (see [`Timing`]).
    due: Instant,
}

type InFlightMap = Arc<Mutex<HashMap<String, InFlight>>>;

/// Reads an SQS queue.
#[derive(Debug)]
pub struct SqsSource {
    client: aws_sdk_sqs::Client,
    settings: SqsSettings,
    rx: mpsc::Receiver<Result<Vec<Message>, SourceError>>,
    pending: Vec<Message>,
    tasks: JoinSet<()>,
    heartbeat: tokio::task::JoinHandle<()>,
    inflight: InFlightMap,
    stop: Arc<AtomicBool>,
    counter: RequestCounter,
    receivers_done: bool,
    budget: Arc<AtomicU64>,
    rechecks: u32,
}

/// How many times a drain that looks finished checks the queue's depth and receives again.
const MAX_RECHECKS: u32 = 3;

impl SqsSource {
    /// Starts the receivers and the heartbeat.
    pub fn start(
        client: aws_sdk_sqs::Client,
        settings: SqsSettings,
        counter: RequestCounter,
    ) -> SqsSource {
        let inflight: InFlightMap = Arc::default();
        let heartbeat = tokio::spawn(heartbeat_loop(
            client.clone(),
            settings.clone(),
            inflight.clone(),
        ));
        let (_, rx) = mpsc::channel(1);
        let mut source = SqsSource {
            budget: Arc::new(AtomicU64::new(settings.max_messages.unwrap_or(u64::MAX))),
            client,
            settings,
            rx,
            pending: Vec::new(),
            tasks: JoinSet::new(),
            heartbeat,
            inflight,
            stop: Arc::new(AtomicBool::new(false)),
            counter,
            receivers_done: false,
            rechecks: 0,
        };
        source.spawn_receivers();
        source
    }

    fn spawn_receivers(&mut self) {
        let receivers = self.settings.receivers.max(1);
        let (tx, rx) = mpsc::channel(receivers * 4);
        for _ in 0..receivers {
            self.tasks.spawn(receive_loop(
                self.client.clone(),
                self.settings.clone(),
                tx.clone(),
                self.inflight.clone(),
                self.stop.clone(),
                self.budget.clone(),
            ));
        }
        self.rx = rx;
        self.receivers_done = false;
    }

    /// After every receiver had an empty poll: is the queue drained? An empty *long* poll
    /// (`wait_secs` > 0) is the answer: long polling queries every SQS server, so it has no
    /// false empty responses, and the end costs one long poll and no other request. A short
    /// poll samples a subset of the servers, so with `wait_secs` 0 the queue's visible count
    /// is asked (one GetQueueAttributes) and the receivers start again while it shows messages.
    async fn looks_drained(&mut self) -> bool {
        if self.settings.wait_secs > 0
            || self.rechecks >= MAX_RECHECKS
            || self.budget.load(Ordering::SeqCst) == 0
        {
            return true;
        }
        self.rechecks += 1;
        let visible = self
            .client
            .get_queue_attributes()
            .queue_url(&self.settings.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .ok()
            .and_then(|out| {
                out.attributes?
                    .get(&QueueAttributeName::ApproximateNumberOfMessages)?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        if visible > 0 {
            tracing::info!(visible, "every receiver had an empty poll but the queue still shows messages; receiving again");
        }
        visible == 0
    }

    fn forget(&self, receipts: &[Receipt]) {
        let mut map = self.inflight.lock().expect("inflight lock");
        for r in receipts {
            map.remove(&r.handle);
        }
    }

    async fn change_visibility(&self, receipts: Vec<Receipt>, timeout_secs: i32) {
        let chunks: Vec<Vec<Receipt>> = receipts.chunks(10).map(<[Receipt]>::to_vec).collect();
        let calls = chunks.into_iter().map(|chunk| {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.handle)
                        .visibility_timeout(timeout_secs)
                        .build()
                        .ok()
                })
                .collect();
            let client = self.client.clone();
            let url = self.settings.queue_url.clone();
            async move {
                if let Err(e) = client.change_message_visibility_batch().queue_url(&url).set_entries(Some(entries)).send().await {
                    tracing::warn!(queue = %url, error = %describe_sdk_error(&e), "could not change visibility; the messages come back when their visibility runs out");
                }
            }
        });
        let calls: Vec<_> = calls.collect();
        stream::iter(calls)
            .buffer_unordered(self.settings.delete_concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }
}

async fn receive_loop(
    client: aws_sdk_sqs::Client,
    settings: SqsSettings,
    tx: mpsc::Sender<Result<Vec<Message>, SourceError>>,
    inflight: InFlightMap,
    stop: Arc<AtomicBool>,
    budget: Arc<AtomicU64>,
) {
    let wait_time_secs = i32::try_from(settings.wait_secs.min(20)).unwrap_or(20);
    let visibility = i32::try_from(settings.visibility_timeout_secs).unwrap_or(i32::MAX);
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // Reserve up to 10 messages of the run's budget.
        let requested = match budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| Some(b - b.min(10)))
        {
            Ok(b) => b.min(10),
            Err(_) => 0,
        };
        if requested == 0 {
            return;
        }
        // The visibility timeout runs from (a little after) now: the heartbeat's clock.
        let sent_at = Instant::now();
        let result = client
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(i32::try_from(requested).unwrap_or(10))
            .wait_time_seconds(wait_time_secs)
            .visibility_timeout(visibility)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                budget.fetch_add(requested, Ordering::SeqCst);
                let message = describe_sdk_error(&e);
                let _ = tx
                    .send(Err(SourceError::Queue {
                        queue: settings.queue_url.clone(),
                        operation: "ReceiveMessage",
                        message: format!(
                            "{message} (the writer needs sqs:ReceiveMessage on the queue)"
                        ),
                    }))
                    .await;
                return;
            }
        };
        let msgs = out.messages.unwrap_or_default();
        let got = msgs.len() as u64;
        budget.fetch_add(requested - got.min(requested), Ordering::SeqCst);
        if msgs.is_empty() {
            if settings.follow {
                continue;
            }
            return;
        }
        let batch = to_messages(msgs);
        {
            let mut map = inflight.lock().expect("inflight lock");
            let due = sent_at + Timing::of(&settings).extend_after;
            for m in &batch {
                map.insert(m.receipt.handle.clone(), InFlight { due });
            }
        }
        if tx.send(Ok(batch)).await.is_err() {
            return;
        }
    }
}

/// Received SQS messages as the pipeline's, stamped with the time of receipt.
fn to_messages(msgs: Vec<aws_sdk_sqs::types::Message>) -> Vec<Message> {
    let received_at = super::received_now();
    msgs.into_iter()
        .map(|m| {
            let id = m.message_id.unwrap_or_default();
            let handle = m.receipt_handle.unwrap_or_default();
            Message {
                receipt: Receipt {
                    id: id.clone(),
                    handle,
                },
                id,
                body: m.body.unwrap_or_default().into_bytes().into(),
                received_at: received_at.clone(),
            }
        })
        .collect()
}

/// When the heartbeat acts, from the visibility timeout.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// A message is extended this long after its receive or last extension was sent: when a
    /// third of its timeout (at least 1 s) is left. That is after the half timeout at which a
    /// block from a queue is closed, so a block written quickly needs no extension at all.
    extend_after: Duration,
    /// What is left of the timeout then, for the extension and its retries.
    margin: Duration,
}

impl Timing {
    fn of(settings: &SqsSettings) -> Timing {
        let timeout = Duration::from_secs(
            settings
                .visibility_timeout_secs
                .max(MIN_VISIBILITY_TIMEOUT_SECS),
        );
        let margin = (timeout / 3).max(Duration::from_secs(1));
        Timing {
            extend_after: timeout.saturating_sub(margin),
            margin,
        }
    }
}

/// Keeps the messages in flight invisible: sleeps until the next message is due, extends every
/// message due by then or within a quarter of the margin (so batches fill up), and schedules
/// each by the time of its own extension.
async fn heartbeat_loop(client: aws_sdk_sqs::Client, settings: SqsSettings, inflight: InFlightMap) {
    let timing = Timing::of(&settings);
    loop {
        let wake = {
            let map = inflight.lock().expect("inflight lock");
            map.values()
                .map(|f| f.due)
                .min()
                .unwrap_or_else(|| Instant::now() + timing.extend_after)
        };
        tokio::time::sleep_until(wake.into()).await;
        let horizon = Instant::now() + timing.margin / 4;
        let due: Vec<String> = {
            let map = inflight.lock().expect("inflight lock");
            map.iter()
                .filter(|(_, f)| f.due <= horizon)
                .map(|(h, _)| h.clone())
                .collect()
        };
        if due.is_empty() {
            continue;
        }
        tracing::debug!(
            messages = due.len(),
            "extending the visibility of messages still being written"
        );
        let outcomes: Vec<Extended> = stream::iter(due.chunks(10).map(<[String]>::to_vec))
            .map(|chunk| extend_batch(&client, &settings, chunk))
            .buffer_unordered(settings.delete_concurrency.max(1))
            .flat_map(stream::iter)
            .collect()
            .await;
        reschedule(&inflight, outcomes, timing);
    }
}

/// What became of one message's extension.
#[derive(Debug)]
enum Extended {
    /// Extended by the request sent at this instant.
    At(String, Instant),
    /// SQS refused it as the sender's fault (deleted meanwhile, or the handle expired).
    Refused(String, String),
    /// Still failing after the retries of this pass.
    Failed(String, String),
}

/// Schedules each message by its own extension; a refused one leaves the heartbeat, a failed
/// one is tried again soon (well before its timeout runs out).
fn reschedule(inflight: &InFlightMap, outcomes: Vec<Extended>, timing: Timing) {
    let mut map = inflight.lock().expect("inflight lock");
    let soon = Instant::now() + timing.margin / 4;
    for outcome in outcomes {
        match outcome {
            Extended::At(handle, sent_at) => {
                if let Some(f) = map.get_mut(&handle) {
                    f.due = sent_at + timing.extend_after;
                }
            }
            Extended::Refused(handle, why) => {
                if map.remove(&handle).is_some() {
                    tracing::warn!(why, "SQS refused a visibility extension; the message may be delivered again (the merge absorbs duplicates)");
                }
            }
            Extended::Failed(handle, why) => {
                if let Some(f) = map.get_mut(&handle) {
                    tracing::warn!(
                        why,
                        "a visibility extension failed after retries; trying again shortly"
                    );
                    f.due = soon;
                }
            }
        }
    }
}

/// The heartbeat's calls make one attempt each, bounded by half the margin a due message has
/// left (at least 500 ms): [`extend_batch`] retries them itself, quickly enough to stay inside
/// that margin, where the SDK's standard backoff (and a read timeout sized for long polls)
/// could not.
fn heartbeat_override(settings: &SqsSettings) -> aws_sdk_sqs::config::Builder {
    let attempt = (Timing::of(settings).margin / 2).max(Duration::from_millis(500));
    aws_sdk_sqs::config::Builder::default()
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(attempt)
                .build(),
        )
}

/// Extends up to 10 messages with one ChangeMessageVisibilityBatch, its entries retried as
/// [`sqs_batch`] does.
async fn extend_batch(
    client: &aws_sdk_sqs::Client,
    settings: &SqsSettings,
    handles: Vec<String>,
) -> Vec<Extended> {
    let timeout = i32::try_from(settings.visibility_timeout_secs).unwrap_or(i32::MAX);
    let settled = sqs_batch::send(
        &settings.queue_url,
        "ChangeMessageVisibilityBatch",
        handles.len(),
        |ids| {
            let entries: Vec<_> = ids
                .iter()
                .filter_map(|&i| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handles.get(i)?)
                        .visibility_timeout(timeout)
                        .build()
                        .ok()
                })
                .collect();
            let call = client
                .change_message_visibility_batch()
                .queue_url(&settings.queue_url)
                .set_entries(Some(entries))
                .customize()
                .config_override(heartbeat_override(settings))
                .send();
            async move {
                call.await
                    .map(Answer::from)
                    .map_err(|e| describe_sdk_error(&e))
            }
        },
    )
    .await;
    handles
        .into_iter()
        .zip(settled)
        .map(|(handle, s)| match s.outcome {
            EntryOutcome::Done => Extended::At(handle, s.sent_at),
            EntryOutcome::Failed {
                sender_fault: true,
                why,
            } => Extended::Refused(handle, why),
            EntryOutcome::Failed {
                sender_fault: false,
                why,
            } => Extended::Failed(handle, why),
        })
        .collect()
}

/// One DeleteMessageBatch of up to 10 messages, its entries retried as [`sqs_batch`] does: how
/// many were deleted, and the ones that were not, with why.
async fn delete_batch(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    chunk: Vec<Receipt>,
) -> (u64, Vec<(Receipt, String)>) {
    let settled = sqs_batch::send(queue_url, "DeleteMessageBatch", chunk.len(), |ids| {
        let entries: Vec<_> = ids
            .iter()
            .filter_map(|&i| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&chunk.get(i)?.handle)
                    .build()
                    .ok()
            })
            .collect();
        let call = client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send();
        async move {
            call.await
                .map(Answer::from)
                .map_err(|e| describe_sdk_error(&e))
        }
    })
    .await;
    let mut deleted = 0;
    let mut failed = Vec::new();
    for (receipt, s) in chunk.into_iter().zip(settled) {
        match s.outcome {
            EntryOutcome::Done => deleted += 1,
            EntryOutcome::Failed { why, .. } => failed.push((receipt, why)),
        }
    }
    (deleted, failed)
}

impl Source for SqsSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let max = max.max(1);
        if self.pending.is_empty() && !self.receivers_done {
            let wait = if self.settings.follow {
                Some(Duration::from_secs(1))
            } else {
                None
            };
            let next = match wait {
                Some(w) => match tokio::time::timeout(w, self.rx.recv()).await {
                    Ok(v) => v,
                    Err(_) => return Ok(Batch::Idle),
                },
                None => self.rx.recv().await,
            };
            match next {
                Some(Ok(msgs)) => self.pending.extend(msgs),
                Some(Err(e)) => return Err(e),
                None => {
                    if self.settings.follow || self.looks_drained().await {
                        self.receivers_done = true;
                    } else {
                        self.spawn_receivers();
                        return Ok(Batch::Idle);
                    }
                }
            }
        }
        // Take whatever else is ready without waiting.
        while self.pending.len() < max {
            match self.rx.try_recv() {
                Ok(Ok(msgs)) => self.pending.extend(msgs),
                Ok(Err(e)) => return Err(e),
                // The next call's recv() sees the end and decides whether the queue is drained.
                Err(mpsc::error::TryRecvError::Empty | mpsc::error::TryRecvError::Disconnected) => {
                    break
                }
            }
        }
        if self.pending.is_empty() {
            return Ok(if self.receivers_done {
                Batch::Drained
            } else {
                Batch::Idle
            });
        }
        let rest = if self.pending.len() > max {
            self.pending.split_off(max)
        } else {
            Vec::new()
        };
        Ok(Batch::Messages(std::mem::replace(&mut self.pending, rest)))
    }

    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        let calls: Vec<_> = receipts
            .chunks(10)
            .map(|chunk| delete_batch(&self.client, &self.settings.queue_url, chunk.to_vec()))
            .collect();
        let results: Vec<(u64, Vec<(Receipt, String)>)> = stream::iter(calls)
            .buffer_unordered(self.settings.delete_concurrency.max(1))
            .collect()
            .await;
        self.forget(&receipts);
        let mut outcome = AckOutcome::default();
        for (deleted, failed) in results {
            outcome.deleted += deleted;
            outcome.failed.extend(failed);
        }
        if let Some((_, first)) = outcome.failed.first() {
            tracing::warn!(queue = %self.settings.queue_url, failed = outcome.failed.len(), %first, "some deletes failed");
        }
        outcome
    }

    async fn abandon(&mut self, receipts: Vec<Receipt>) {
        self.forget(&receipts);
    }

    async fn release(&mut self, receipts: Vec<Receipt>) {
        self.forget(&receipts);
        self.change_visibility(receipts, 0).await;
    }

    async fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Receivers finish their current poll (at most `wait_secs`); whatever they bring is
        // given back.
        let mut unhanded: Vec<Receipt> = self.pending.drain(..).map(|m| m.receipt).collect();
        while let Some(item) = self.rx.recv().await {
            if let Ok(msgs) = item {
                unhanded.extend(msgs.into_iter().map(|m| m.receipt));
            }
        }
        while self.tasks.join_next().await.is_some() {}
        self.heartbeat.abort();
        if !unhanded.is_empty() {
            tracing::info!(
                messages = unhanded.len(),
                "making messages received but not processed visible again"
            );
            self.release(unhanded).await;
        }
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }

    fn deletes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(secs: u64) -> (Duration, Duration) {
        let t = Timing::of(&SqsSettings {
            visibility_timeout_secs: secs,
            ..SqsSettings::default()
        });
        (t.extend_after, t.margin)
    }

    #[test]
    fn extensions_leave_a_third_of_the_timeout_and_at_least_a_second() {
        let ms = Duration::from_millis;
        assert_eq!(timing(2), (ms(1000), ms(1000)));
        assert_eq!(timing(3), (ms(2000), ms(1000)));
        assert_eq!(timing(120), (ms(80_000), ms(40_000)));
        for secs in MIN_VISIBILITY_TIMEOUT_SECS..=600 {
            let (after, margin) = timing(secs);
            let timeout = Duration::from_secs(secs);
            assert_eq!(after + margin, timeout, "{secs}");
            assert!(margin >= ms(1000), "{secs}: time for the extension");
            // A block from a queue closes at half the timeout: no extension before that.
            assert!(after >= timeout / 2, "{secs}");
        }
    }
}
