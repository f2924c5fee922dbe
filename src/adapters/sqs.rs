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
//! parallel, their entries retried as [`sqs_batch`] says within the margin. An entry SQS
//! refuses as the sender's fault (the message was deleted, or its handle is no longer valid) is
//! dropped from the heartbeat: the message may be delivered again and the merge absorbs it.
//! Quick runs make no heartbeat calls at all, and neither does a block closed at half the
//! timeout (the pipeline's limit from a queue) and written within the following sixth. The
//! timeout must be at least [`MIN_VISIBILITY_TIMEOUT_SECS`], so that the margin leaves time for
//! an extension and its retries.
//!
//! Drain mode ends when every receiver has had an empty long poll (long polling has no false
//! empty responses; with `wait_secs` 0, short polls, the queue's visible count is checked
//! too); follow mode polls until [`Source::finish`] is called. Deletes are DeleteMessageBatch
//! calls of 10, several in parallel, retried as [`sqs_batch`] says, then reported. A message
//! counts as deleted (or extended) only when the batch answer lists it as `Successful`.
//! Messages received but never handed to the pipeline (a `--max-messages` cap, a shutdown) are
//! made visible again at the end.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry as VisibilityEntry, DeleteMessageBatchRequestEntry,
    QueueAttributeName,
};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::aws::{describe_sdk_error, RequestCounter};
use super::sqs_batch::{self, Answer, EntryOutcome, Settled};
use super::{AckOutcome, Batch, Message, Receipt, Source, SourceError};

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

/// The shortest visibility timeout the heartbeat can keep up with: SQS counts in whole seconds,
/// so at 1 s nothing would be left for the extension and its retries.
pub const MIN_VISIBILITY_TIMEOUT_SECS: u64 = 2;
/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_TIMEOUT_SECS: u64 = 43_200;

/// The messages in flight, by receipt handle: when each is to be extended next.
type InFlightMap = Arc<Mutex<HashMap<String, Instant>>>;

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
        let heartbeat = heartbeat_loop(client.clone(), settings.clone(), inflight.clone());
        let (_, rx) = mpsc::channel(1);
        let mut source = SqsSource {
            budget: Arc::new(AtomicU64::new(settings.max_messages.unwrap_or(u64::MAX))),
            client,
            settings,
            rx,
            pending: Vec::new(),
            tasks: JoinSet::new(),
            heartbeat: tokio::spawn(heartbeat),
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

    /// After every receiver had an empty poll: is the queue drained? Yes after a *long* poll,
    /// which queries every SQS server (the end costs no other request). A short poll samples a
    /// subset of the servers, so with `wait_secs` 0 the queue's visible count is asked (one
    /// GetQueueAttributes) and the receivers start again while it shows messages.
    async fn looks_drained(&mut self) -> bool {
        if self.settings.wait_secs > 0
            || self.rechecks >= MAX_RECHECKS
            || self.budget.load(Ordering::SeqCst) == 0
        {
            return true;
        }
        self.rechecks += 1;
        let count = QueueAttributeName::ApproximateNumberOfMessages;
        let ask = self
            .client
            .get_queue_attributes()
            .queue_url(&self.settings.queue_url);
        let visible = ask
            .attribute_names(count.clone())
            .send()
            .await
            .ok()
            .and_then(|out| out.attributes?.get(&count)?.parse::<u64>().ok())
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
    let extend_after = Timing::of(&settings).extend_after;
    while !stop.load(Ordering::Relaxed) {
        // Reserve up to 10 messages of the run's budget.
        let reserve = |b: u64| Some(b - b.min(10));
        let requested = budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, reserve)
            .map_or(0, |b| b.min(10));
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
                let why = describe_sdk_error(&e);
                let _ = tx
                    .send(Err(SourceError::Queue {
                        queue: settings.queue_url.clone(),
                        operation: "ReceiveMessage",
                        message: format!(
                            "{why} (the writer needs sqs:ReceiveMessage on the queue)"
                        ),
                    }))
                    .await;
                return;
            }
        };
        let msgs = out.messages.unwrap_or_default();
        let unused = requested.saturating_sub(msgs.len() as u64);
        budget.fetch_add(unused, Ordering::SeqCst);
        if msgs.is_empty() {
            if settings.follow {
                continue;
            }
            return;
        }
        let batch = to_messages(msgs);
        let due = sent_at + extend_after;
        let handles = batch.iter().map(|m| (m.receipt.handle.clone(), due));
        inflight.lock().expect("inflight lock").extend(handles);
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
    /// A message is extended this long after its receive or last extension was sent (after the
    /// half timeout at which a block from a queue is closed).
    extend_after: Duration,
    /// What is left of the timeout then, for the extension and its retries.
    margin: Duration,
}

impl Timing {
    fn of(settings: &SqsSettings) -> Timing {
        let secs = settings.visibility_timeout_secs;
        let timeout = Duration::from_secs(secs.max(MIN_VISIBILITY_TIMEOUT_SECS));
        let margin = (timeout / 3).max(Duration::from_secs(1));
        Timing {
            extend_after: timeout.saturating_sub(margin),
            margin,
        }
    }
}

/// Keeps the messages in flight invisible (see the module docs).
async fn heartbeat_loop(client: aws_sdk_sqs::Client, settings: SqsSettings, inflight: InFlightMap) {
    let timing = Timing::of(&settings);
    let timeout = i32::try_from(settings.visibility_timeout_secs).unwrap_or(i32::MAX);
    loop {
        let next = inflight
            .lock()
            .expect("inflight lock")
            .values()
            .min()
            .copied();
        tokio::time::sleep_until(
            next.unwrap_or_else(|| Instant::now() + timing.extend_after)
                .into(),
        )
        .await;
        let horizon = Instant::now() + timing.margin / 4;
        let due: Vec<String> = inflight
            .lock()
            .expect("inflight lock")
            .iter()
            .filter(|&(_, &due)| due <= horizon)
            .map(|(h, _)| h.clone())
            .collect();
        if due.is_empty() {
            continue;
        }
        tracing::debug!(
            messages = due.len(),
            "extending the visibility of messages still being written"
        );
        let settled = change_visibility(&client, &settings, &due, timeout, true).await;
        reschedule(&inflight, settled, timing);
    }
}

/// Schedules each message by its own extension; one SQS refused as the sender's fault leaves
/// the heartbeat, one still failing after the retries is tried again soon.
fn reschedule(inflight: &InFlightMap, settled: Vec<(String, Settled)>, timing: Timing) {
    let mut map = inflight.lock().expect("inflight lock");
    let soon = Instant::now() + timing.margin / 4;
    for (handle, s) in settled {
        let Some(due) = map.get_mut(&handle) else {
            continue;
        };
        match s.outcome {
            EntryOutcome::Done => *due = s.sent_at + timing.extend_after,
            EntryOutcome::Failed {
                sender_fault: true,
                why,
            } => {
                map.remove(&handle);
                tracing::warn!(why, "SQS refused a visibility extension; the message may be delivered again (the merge absorbs duplicates)");
            }
            EntryOutcome::Failed { why, .. } => {
                *due = soon;
                tracing::warn!(
                    why,
                    "a visibility extension failed after retries; trying again shortly"
                );
            }
        }
    }
}

/// The heartbeat's calls make one attempt each, bounded by half the margin a due message has
/// left (at least 500 ms): [`sqs_batch`] retries them itself, quickly enough to stay inside
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

/// Sends `items` in batches of 10, `concurrency` batches at a time, each batch's entries
/// retried as [`sqs_batch`] says: every item with its outcome, in any order. `call` sends one
/// request of the given entries (id, receipt handle).
async fn in_batches<T, O, E, Fut>(
    (queue, operation): (&str, &str),
    items: &[T],
    concurrency: usize,
    handle: fn(&T) -> &str,
    call: impl Fn(Vec<(String, &str)>) -> Fut,
) -> Vec<(T, Settled)>
where
    T: Clone,
    O: Into<Answer>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
{
    let batch = |chunk: &[T]| {
        let chunk = chunk.to_vec();
        let call = &call;
        async move {
            let settled = sqs_batch::send(queue, operation, chunk.len(), |ids| {
                let entries = ids
                    .iter()
                    .filter_map(|&i| Some((i.to_string(), handle(chunk.get(i)?))));
                let sent = call(entries.collect());
                async move {
                    sent.await
                        .map(Into::into)
                        .map_err(|e| describe_sdk_error(&e))
                }
            })
            .await;
            chunk.into_iter().zip(settled).collect::<Vec<_>>()
        }
    };
    stream::iter(items.chunks(10).map(batch))
        .buffer_unordered(concurrency.max(1))
        .flat_map(stream::iter)
        .collect()
        .await
}

/// Sets the visibility timeout of `handles` (each attempt as the heartbeat's, when `heartbeat`).
async fn change_visibility(
    client: &aws_sdk_sqs::Client,
    settings: &SqsSettings,
    handles: &[String],
    timeout: i32,
    heartbeat: bool,
) -> Vec<(String, Settled)> {
    let queue = &settings.queue_url;
    let operation = (queue.as_str(), "ChangeMessageVisibilityBatch");
    let concurrency = settings.delete_concurrency;
    in_batches(operation, handles, concurrency, String::as_str, |entries| {
        let entries = entries.into_iter().filter_map(|(id, handle)| {
            let entry = VisibilityEntry::builder().id(id).receipt_handle(handle);
            entry.visibility_timeout(timeout).build().ok()
        });
        let call = client.change_message_visibility_batch().queue_url(queue);
        let mut call = call.set_entries(Some(entries.collect())).customize();
        if heartbeat {
            call = call.config_override(heartbeat_override(settings));
        }
        call.send()
    })
    .await
}

impl Source for SqsSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let max = max.max(1);
        if self.pending.is_empty() && !self.receivers_done {
            // Follow mode hands back `Idle` after a quiet second; `Duration::MAX` never elapses.
            let wait = if self.settings.follow {
                Duration::from_secs(1)
            } else {
                Duration::MAX
            };
            let next = tokio::time::timeout(wait, self.rx.recv());
            let Ok(next) = next.await else {
                return Ok(Batch::Idle);
            };
            match next {
                Some(msgs) => self.pending.extend(msgs?),
                None if self.settings.follow || self.looks_drained().await => {
                    self.receivers_done = true;
                }
                None => {
                    self.spawn_receivers();
                    return Ok(Batch::Idle);
                }
            }
        }
        // Take whatever else is ready without waiting; the next call's recv() sees the end and
        // decides whether the queue is drained.
        while self.pending.len() < max {
            match self.rx.try_recv() {
                Ok(msgs) => self.pending.extend(msgs?),
                Err(_) => break,
            }
        }
        let end = if self.receivers_done {
            Batch::Drained
        } else {
            Batch::Idle
        };
        Ok(super::take_batch(&mut self.pending, max, end))
    }

    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        let queue = &self.settings.queue_url;
        let operation = (queue.as_str(), "DeleteMessageBatch");
        let concurrency = self.settings.delete_concurrency;
        let handle: fn(&Receipt) -> &str = |r| &r.handle;
        let settled = in_batches(operation, &receipts, concurrency, handle, |entries| {
            let entries = entries.into_iter().filter_map(|(id, handle)| {
                let entry = DeleteMessageBatchRequestEntry::builder().id(id);
                entry.receipt_handle(handle).build().ok()
            });
            let call = self.client.delete_message_batch().queue_url(queue);
            call.set_entries(Some(entries.collect())).send()
        })
        .await;
        self.forget(&receipts);
        let mut outcome = AckOutcome::default();
        for (receipt, s) in settled {
            match s.outcome {
                EntryOutcome::Done => outcome.deleted += 1,
                EntryOutcome::Failed { why, .. } => outcome.failed.push((receipt, why)),
            }
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
        let handles: Vec<String> = receipts.into_iter().map(|r| r.handle).collect();
        let settled = change_visibility(&self.client, &self.settings, &handles, 0, false).await;
        for (_, s) in settled {
            if let EntryOutcome::Failed { why, .. } = s.outcome {
                tracing::warn!(queue = %self.settings.queue_url, error = %why, "could not change visibility; the messages come back when their visibility runs out");
                break;
            }
        }
    }

    async fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Receivers finish their current poll (at most `wait_secs`); whatever they bring is
        // given back.
        let mut unhanded: Vec<Receipt> = self.pending.drain(..).map(|m| m.receipt).collect();
        while let Some(item) = self.rx.recv().await {
            unhanded.extend(item.into_iter().flatten().map(|m| m.receipt));
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
