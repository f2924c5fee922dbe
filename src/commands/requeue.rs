//! `requeue`: sends quarantined message bodies back to a queue.
//!
//! Reads quarantine records, streamed, through [`crate::records`] (both layouts; shared with
//! `quarantine list|show`) from one object (`s3://BUCKET/KEY`) or file, or from every `*.jsonl`
//! object under a prefix (`s3://BUCKET/PREFIX/`) or file in a directory, in name order. Each
//! `body` is sent unchanged with SendMessageBatch: at most 10 entries and 256 KiB of bodies per
//! call. Entries that fail are sent again as [`sqs_batch`] says (up to 4 attempts in all, with
//! backoff), except those the queue refuses as the sender's fault (an invalid body); what still
//! fails is listed with its message id and the queue's error.
//!
//! Invariants: a body is sent byte for byte as it was quarantined (minimised or raw: a minimised
//! body keeps every field the classifier reads, so it is classified as the raw one was; the next
//! drain classifies it again, so requeue only after fixing what put it there); a record met
//! twice (the same message id and body, e.g. in an old per-run file and a new record) is sent
//! once; the quarantine itself is never changed or deleted; `--dry-run` reads and prints but
//! sends nothing. Exit status 1 when any body could not be sent or any record could not be
//! read, so a script can keep the quarantine for another try.

use std::collections::HashSet;
use std::fmt::Write as _;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clap::Args;
use futures::future::OptionFuture;

use super::plural;
use crate::adapters::aws::describe_sdk_error;
use crate::adapters::sqs_batch::{self, Answer, EntryOutcome};
use crate::core::quarantine::record_name;
use crate::core::QuarantineRecord;
use crate::records::{inputs, preview, RecordLines};
use crate::settings::{AwsArgs, UsageError};
use crate::wiring::Wiring;

const AFTER_HELP: &str = "\
Examples:
  # see what would be sent from the whole quarantine
  s3-event-writer requeue --from s3://logpublish/events/quarantine/ \\
      --to https://sqs.us-west-2.amazonaws.com/123456789012/events --dry-run

  # send one record (or an older per-run file) back
  s3-event-writer requeue --from s3://logpublish/events/quarantine/3f2a9c0d51e8b7a46c1d2e3f40516273.jsonl --to $QUEUE_URL

  # send a local quarantine directory's bodies back
  s3-event-writer requeue --from /srv/archive/quarantine --to $QUEUE_URL

Bodies are sent unchanged, 10 per SendMessageBatch call; failed entries are retried 3 times
(not those SQS refuses as invalid); a record found twice (same message id and body) is sent once. The quarantine is not changed:
delete the records yourself once the bodies are back.

Exit status:
  0  every body was sent (or, with --dry-run, read)
  1  some bodies could not be sent, or some records could not be read
  2  usage error
  3  the quarantine object or the queue could not be used at all";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RequeueArgs {
    /// A quarantine object (s3://BUCKET/KEY) or file, or every *.jsonl under a prefix
    /// (s3://BUCKET/PREFIX/) or in a directory.
    #[arg(long, value_name = "s3://BUCKET/KEY|s3://BUCKET/PREFIX/|FILE|DIR")]
    pub from: String,
    /// The queue URL the bodies go to.
    #[arg(long, value_name = "QUEUE_URL")]
    pub to: String,
    /// Read and print what would be sent; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// SQS's limits on one SendMessageBatch call.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, Default)]
struct Tally {
    records: u64,
    sent: u64,
    /// (message id or line, why)
    failed: Vec<(String, String)>,
    /// (where: object or file and line, why)
    unreadable: Vec<(String, String)>,
    /// Records met again (same message id and body), not sent twice.
    duplicates: u64,
    calls: u64,
}

/// Where records go: printed (dry run) or sent in batches.
#[derive(Default)]
struct Sender<'a> {
    sqs: Option<aws_sdk_sqs::Client>,
    queue: &'a str,
    batch: Vec<QuarantineRecord>,
    seen: HashSet<String>,
    tally: Tally,
}

impl Sender<'_> {
    async fn push(&mut self, record: QuarantineRecord, line: &str) {
        self.tally.records += 1;
        if !self
            .seen
            .insert(record_name(&record.message_id, &record.body))
        {
            self.tally.duplicates += 1;
            return;
        }
        if self.sqs.is_none() {
            let id = if record.message_id.is_empty() {
                line
            } else {
                &record.message_id
            };
            let size = plural(record.body.len() as u64, "byte", "bytes");
            let body = preview(&record.body, 100);
            println!("would send {id} ({}, {size}): {body}", record.reason);
            return;
        }
        let batch_bytes: usize = self.batch.iter().map(|r| r.body.len()).sum();
        if self.batch.len() == BATCH_ENTRIES || batch_bytes + record.body.len() > BATCH_BYTES {
            self.send().await;
        }
        self.batch.push(record);
    }

    /// Sends the batch, if any, its entries retried as [`sqs_batch`] does; records the outcome.
    async fn send(&mut self) {
        let (Some(sqs), false) = (&self.sqs, self.batch.is_empty()) else {
            return;
        };
        let (queue, batch) = (self.queue, std::mem::take(&mut self.batch));
        let tally = &mut self.tally;
        let calls = &mut tally.calls;
        let settled = sqs_batch::send(queue, "SendMessageBatch", batch.len(), |ids| {
            *calls += 1;
            let entries: Vec<_> = ids
                .iter()
                .filter_map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&batch.get(i)?.body)
                        .build()
                        .ok()
                })
                .collect();
            let call = sqs
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send();
            async move {
                call.await
                    .map(Answer::from)
                    .map_err(|e| describe_sdk_error(&e))
            }
        })
        .await;
        for (i, (r, s)) in batch.into_iter().zip(settled).enumerate() {
            match s.outcome {
                EntryOutcome::Done => tally.sent += 1,
                EntryOutcome::Failed { why, .. } => {
                    let id = if r.message_id.is_empty() {
                        format!("entry {i}")
                    } else {
                        r.message_id
                    };
                    tally.failed.push((id, why));
                }
            }
        }
    }
}

pub async fn run(args: RequeueArgs) -> anyhow::Result<i32> {
    if !(args.to.starts_with("https://") || args.to.starts_with("http://")) {
        return Err(UsageError::new(format!(
            "--to {}: give the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
            args.to
        ))
        .into());
    }
    let ctx = Wiring::new(&args.aws.resolve()?);
    let inputs = inputs(&args.from, &ctx).await?;
    let mut sender = Sender {
        sqs: OptionFuture::from((!args.dry_run).then(|| ctx.sqs(0))).await,
        queue: &args.to,
        ..Sender::default()
    };
    for input in &inputs {
        let mut lines = RecordLines::open(input, &ctx).await?;
        while let Some((at, line)) = lines.next().await? {
            match line {
                Ok(record) => sender.push(record, &at).await,
                Err(why) => sender.tally.unreadable.push((at, why)),
            }
        }
    }
    sender.send().await;
    let tally = sender.tally;
    eprint!("{}", summary(&args, inputs.len(), &tally));
    Ok(super::exit_status(
        tally.failed.is_empty() && tally.unreadable.is_empty(),
    ))
}

fn summary(args: &RequeueArgs, inputs: usize, tally: &Tally) -> String {
    let whence = if inputs == 1 && !args.from.ends_with('/') {
        args.from.clone()
    } else {
        let objects = plural(inputs as u64, "object", "objects");
        format!("{objects} in {}", args.from)
    };
    let duplicates = match tally.duplicates {
        0 => String::new(),
        n => format!("; {} met again, sent once", plural(n, "record", "records")),
    };
    let records = plural(tally.records, "record", "records");
    let mut s = if args.dry_run {
        let bodies = plural(tally.records - tally.duplicates, "body", "bodies");
        let to = &args.to;
        format!("dry run: would send {bodies} to {to} (read {records} from {whence}{duplicates})\n")
    } else {
        let calls = plural(
            tally.calls,
            "SendMessageBatch call",
            "SendMessageBatch calls",
        );
        let (sent, failed) = (tally.sent, tally.failed.len());
        format!(
            "read {records} from {whence}: sent {sent}, failed {failed} ({calls}){duplicates}\n"
        )
    };
    for (id, why) in tally.failed.iter().take(20) {
        let _ = writeln!(s, "  FAILED {id}: {why}");
    }
    if tally.failed.len() > 20 {
        let _ = writeln!(s, "  ... and {} more failed", tally.failed.len() - 20);
    }
    for (at, why) in tally.unreadable.iter().take(20) {
        let _ = writeln!(s, "  {at} is not a quarantine record: {why}");
    }
    if tally.unreadable.len() > 20 {
        let more = tally.unreadable.len() - 20;
        let _ = writeln!(s, "  ... and {more} more unreadable lines");
    }
    s
}
