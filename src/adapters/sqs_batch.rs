//! SQS batch calls (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch) and
//! their retries: one policy for every batch the writer and its tools send.
//!
//! A batch's entries are named by their index in it (`"0"` to `"9"`), the same across retries.
//! An entry is done only when an answer lists it as `Successful` (and not also as `Failed`). An
//! entry that failed for a reason that may pass (a throttle, a server error, an answer that did
//! not report on it, a call that failed as a whole) is sent again, up to [`ATTEMPTS`] calls in
//! all with [`BACKOFF`] between them; an entry SQS refuses as the sender's fault (`SenderFault`:
//! an invalid body, a receipt handle no longer valid) is not, as no retry would change the
//! answer. Nothing in an answer reaches a panic: an id the request did not send matches no entry.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchOutput;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::BatchResultErrorEntry;

use super::retry::Backoff;

/// Calls per entry, the first included.
pub const ATTEMPTS: u32 = 4;

/// The pause before an entry is sent again: 100, 200, 400 ms, at least half of that (short
/// enough for the heartbeat to retry inside its margin).
pub const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    cap: Duration::from_millis(400),
    floor: 2,
};

/// What a batch call's answer says of one entry of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// SQS listed it as successful.
    Done,
    /// Not done: SQS listed it as failed (`why` is its code and message, `sender_fault` as SQS
    /// said), or the call failed, or the answer did not say.
    Failed { sender_fault: bool, why: String },
}

impl EntryOutcome {
    /// A failure another attempt may mend.
    fn transient(why: String) -> EntryOutcome {
        let sender_fault = false;
        EntryOutcome::Failed { sender_fault, why }
    }
}

/// The final outcome of one entry, and when the call that settled it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub outcome: EntryOutcome,
    pub sent_at: Instant,
}

/// The part of a batch call's answer that says what became of each entry.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The ids of the entries listed as successful.
    pub successful: Vec<String>,
    pub failed: Vec<BatchResultErrorEntry>,
}

/// Every batch call's output lists its entries the same way.
macro_rules! answer_from {
    ($($output:ty),+) => {$(
        impl From<$output> for Answer {
            fn from(out: $output) -> Answer {
                let successful = out.successful.into_iter().map(|e| e.id).collect();
                Answer { successful, failed: out.failed }
            }
        }
    )+};
}

answer_from!(
    SendMessageBatchOutput,
    DeleteMessageBatchOutput,
    ChangeMessageVisibilityBatchOutput
);

/// Sends a batch of `entries` entries with `call`, which sends the entries whose indexes it is
/// given (each with its index as id) and returns the answer, or why the call failed as a whole.
/// Retries as the module doc says; returns one outcome per entry, in order.
pub async fn send<F, Fut>(queue: &str, operation: &str, entries: usize, mut call: F) -> Vec<Settled>
where
    F: FnMut(&[usize]) -> Fut,
    Fut: Future<Output = Result<Answer, String>>,
{
    let outcome = EntryOutcome::transient(format!("{operation} on {queue}: not sent"));
    let not_sent = Settled {
        outcome,
        sent_at: Instant::now(),
    };
    let mut settled = vec![not_sent; entries];
    let mut pending: Vec<usize> = (0..entries).collect();
    for attempt in 1..=ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        if attempt > 1 {
            let (entries, attempt) = (pending.len(), attempt - 1);
            tracing::debug!(
                queue,
                operation,
                entries,
                attempt,
                "sending failed batch entries again"
            );
            BACKOFF.pause(attempt).await;
        }
        let sent_at = Instant::now();
        let outcomes = match call(&pending).await {
            Ok(Answer { successful, failed }) => {
                let successful = successful.iter().map(String::as_str);
                entry_outcomes(queue, operation, &pending, successful, &failed)
            }
            Err(why) => vec![EntryOutcome::transient(why); pending.len()],
        };
        let mut again = Vec::new();
        for (i, outcome) in pending.into_iter().zip(outcomes) {
            let transient =
                matches!(&outcome, EntryOutcome::Failed { sender_fault, .. } if !sender_fault);
            if transient {
                again.push(i);
            }
            if let Some(slot) = settled.get_mut(i) {
                *slot = Settled { outcome, sent_at };
            }
        }
        pending = again;
    }
    settled
}

/// Maps the answer of a batch call onto the entries it `sent` (their indexes in the batch, which
/// are their ids): one outcome per entry of `sent`, in order. Only an entry SQS listed as
/// successful, and not as failed, is done: a message is acknowledged only when SQS said so. An id
/// the request did not send (not one of `sent`, not a number) matches no entry and never panics:
/// it is named, with the queue, in the error of every entry the answer left without an outcome,
/// and those entries are failures SQS does not blame on the sender (worth another attempt). An
/// id listed twice counts once (its first failure, if any).
pub fn entry_outcomes<'a>(
    queue: &str,
    operation: &str,
    sent: &[usize],
    successful: impl IntoIterator<Item = &'a str>,
    failed: &[BatchResultErrorEntry],
) -> Vec<EntryOutcome> {
    let mut outcomes: Vec<Option<EntryOutcome>> = vec![None; sent.len()];
    let mut unknown: Vec<String> = Vec::new();
    // The entry an id names: exactly the text that was sent (not `01`, not `+1`).
    let position = |id: &str| {
        let i = id.parse::<usize>().ok().filter(|i| i.to_string() == id)?;
        sent.iter().position(|&s| s == i)
    };
    // Failures first: an entry listed both ways is not done.
    let failures = failed.iter().map(|f| {
        let why = match f.message.as_deref() {
            Some(m) => format!("{}: {m}", f.code),
            None => f.code.clone(),
        };
        let sender_fault = f.sender_fault;
        (f.id.as_str(), EntryOutcome::Failed { sender_fault, why })
    });
    let successes = successful.into_iter().map(|id| (id, EntryOutcome::Done));
    for (id, outcome) in failures.chain(successes) {
        match position(id).and_then(|p| outcomes.get_mut(p)) {
            Some(slot) => {
                slot.get_or_insert(outcome);
            }
            None => unknown.push(format!("{id:?}")),
        }
    }
    let mut why = format!("{operation} on {queue}: SQS's answer did not report on this entry");
    if !unknown.is_empty() {
        let unknown = unknown.join(", ");
        why = format!("{why}; it named entries the request did not send: {unknown}");
    }
    let unreported = EntryOutcome::transient(why);
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| unreported.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/events";

    fn failed_entry(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .sender_fault(sender_fault)
            .code("ReceiptHandleIsInvalid")
            .message("bad handle")
            .build()
            .unwrap()
    }

    /// The outcomes of a DeleteMessageBatch of `sent` entries.
    fn outcomes(
        sent: usize,
        successful: &[&str],
        failed: &[BatchResultErrorEntry],
    ) -> Vec<EntryOutcome> {
        let sent: Vec<usize> = (0..sent).collect();
        entry_outcomes(
            QUEUE,
            "DeleteMessageBatch",
            &sent,
            successful.iter().copied(),
            failed,
        )
    }

    fn refused() -> EntryOutcome {
        EntryOutcome::Failed {
            sender_fault: true,
            why: "ReceiptHandleIsInvalid: bad handle".into(),
        }
    }

    /// The error of an entry the answer did not report on.
    fn unreported(outcome: &EntryOutcome) -> &str {
        match outcome {
            EntryOutcome::Failed {
                sender_fault: false,
                why,
            } => why,
            other => panic!("not an unreported entry: {other:?}"),
        }
    }

    #[test]
    fn a_batch_answer_maps_onto_the_entries_by_their_ids() {
        assert_eq!(
            outcomes(3, &["2", "0"], &[failed_entry("1", true)]),
            [EntryOutcome::Done, refused(), EntryOutcome::Done]
        );
        // A retry sends some entries of the batch, under their first ids.
        assert_eq!(
            entry_outcomes(QUEUE, "DeleteMessageBatch", &[1, 4], ["4"], &[]),
            [
                EntryOutcome::Failed {
                    sender_fault: false,
                    why: format!(
                        "DeleteMessageBatch on {QUEUE}: SQS's answer did not report on this entry"
                    )
                },
                EntryOutcome::Done
            ]
        );
    }

    /// An id the request did not send cannot be matched to a message: no panic (an id out of
    /// range used to index the request's receipts), and no entry counted as done without SQS
    /// saying so (a non-numeric id used to be skipped, its entry counted deleted). The entries
    /// left without an outcome fail with an error naming the queue and the id.
    #[test]
    fn an_id_the_request_did_not_send_is_an_error_naming_it_and_deletes_nothing() {
        let out_of_range = outcomes(2, &["0"], &[failed_entry("7", true)]);
        assert_eq!(out_of_range[0], EntryOutcome::Done);
        assert_eq!(
            unreported(&out_of_range[1]),
            format!("DeleteMessageBatch on {QUEUE}: SQS's answer did not report on this entry; it named entries the request did not send: \"7\"")
        );
        let not_a_number = outcomes(2, &["first", "+1"], &[failed_entry("-1", false)]);
        for o in &not_a_number {
            let why = unreported(o);
            assert!(why.contains(QUEUE), "{why}");
            assert!(why.ends_with("\"-1\", \"first\", \"+1\""), "{why}");
        }
        let nothing = outcomes(1, &[], &[]);
        assert!(
            unreported(&nothing[0]).ends_with("did not report on this entry"),
            "{nothing:?}"
        );
        // In the batch but not in this call (a retry of entry 1 only).
        let not_resent = entry_outcomes(QUEUE, "DeleteMessageBatch", &[1], ["0"], &[]);
        assert!(unreported(&not_resent[0]).ends_with("did not send: \"0\""));
    }

    /// An id listed twice counts once: its message is not failed twice, nor a second message
    /// counted done in its place; listed both as done and as failed, it is failed.
    #[test]
    fn a_duplicate_id_counts_once_and_a_failure_wins() {
        let twice_done = outcomes(2, &["0", "0"], &[]);
        assert_eq!(twice_done[0], EntryOutcome::Done);
        unreported(&twice_done[1]);
        assert_eq!(
            outcomes(
                2,
                &["1", "0"],
                &[failed_entry("1", true), failed_entry("1", false)]
            ),
            [EntryOutcome::Done, refused()]
        );
    }

    fn entry(id: &str, code: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .sender_fault(sender_fault)
            .code(code)
            .build()
            .unwrap()
    }

    /// A fake SQS for [`send`]: entry 0 always succeeds, entry 1 is refused as the sender's
    /// fault, entry 2 is throttled every time, entry 3 is throttled once; every answer also
    /// names an entry the batch does not have. Records the indexes each call sent.
    #[tokio::test(start_paused = true)]
    async fn only_failures_that_may_pass_are_sent_again_up_to_the_limit() {
        let mut calls: Vec<Vec<usize>> = Vec::new();
        let settled = send(QUEUE, "SendMessageBatch", 4, |ids| {
            calls.push(ids.to_vec());
            let first = calls.len() == 1;
            let mut answer = Answer::default();
            for &i in ids {
                match i {
                    1 => answer
                        .failed
                        .push(entry("1", "InvalidMessageContents", true)),
                    2 => answer.failed.push(entry("2", "RequestThrottled", false)),
                    3 if first => answer.failed.push(entry("3", "RequestThrottled", false)),
                    _ => answer.successful.push(i.to_string()),
                }
            }
            answer.successful.push("99".into());
            async move { Ok(answer) }
        })
        .await;
        assert_eq!(calls, [vec![0, 1, 2, 3], vec![2, 3], vec![2], vec![2]]);
        let outcomes: Vec<EntryOutcome> = settled.into_iter().map(|s| s.outcome).collect();
        let failed = |sender_fault, why: &str| EntryOutcome::Failed {
            sender_fault,
            why: why.into(),
        };
        assert_eq!(
            outcomes,
            [
                EntryOutcome::Done,
                failed(true, "InvalidMessageContents"),
                failed(false, "RequestThrottled"),
                EntryOutcome::Done,
            ]
        );
    }

    /// A call that fails as a whole is retried for every entry; the last error is each entry's.
    #[tokio::test(start_paused = true)]
    async fn a_failed_call_is_retried_and_its_error_reported() {
        let mut calls = 0;
        let settled = send(QUEUE, "DeleteMessageBatch", 2, |_| {
            calls += 1;
            let n = calls;
            async move { Err(format!("call {n} failed")) }
        })
        .await;
        assert_eq!(calls, ATTEMPTS);
        for s in settled {
            assert_eq!(
                s.outcome,
                EntryOutcome::Failed {
                    sender_fault: false,
                    why: format!("call {ATTEMPTS} failed")
                }
            );
        }
        // An empty batch makes no call.
        let mut calls = 0;
        let none = send(QUEUE, "DeleteMessageBatch", 0, |_| {
            calls += 1;
            async { Ok(Answer::default()) }
        })
        .await;
        assert!(none.is_empty());
        assert_eq!(calls, 0);
    }

    #[test]
    fn the_backoff_is_100_200_400_ms_at_least_half() {
        let ms = Duration::from_millis;
        for (retry, cap) in [(1, 100), (2, 200), (3, 400), (9, 400)] {
            for _ in 0..500 {
                let d = BACKOFF.delay(retry);
                assert!(d >= ms(cap / 2) && d <= ms(cap), "{retry}: {d:?}");
            }
        }
    }
}
