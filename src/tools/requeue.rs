//! `requeue`: sends quarantined message bodies back to a queue.
//!
//! Reads a quarantine object (`s3://BUCKET/KEY`) or file, JSON lines of
//! `{"reason", "message_id", "received_at", "body"}`, streamed, and sends each `body` unchanged
//! with SendMessageBatch: at most 10 entries and 256 KiB of bodies per call. Entries the queue
//! reports as failed are sent again (up to 4 attempts in all, with backoff); what still fails is
//! listed with its message id and the queue's error.
//!
//! Invariants: a body is sent byte for byte as it was quarantined (the next drain classifies it
//! again, so requeue a quarantine only after fixing what put it there); the quarantine itself is
//! never changed or deleted; `--dry-run` reads and prints but sends nothing. Exit status 1 when
//! any body could not be sent or any record could not be read, so a script can keep the
//! quarantine object for another try.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clap::Args;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::plural;
use crate::adapters::aws::describe_sdk_error;
use crate::cli::{exit, AwsArgs, AwsContext, ConfigFile, UsageError};

const AFTER_HELP: &str = "\
Examples:
  # see what would be sent
  s3-event-writer requeue --from s3://logpublish/events/quarantine/20261127T222759Z-ab12cd-0001.jsonl \\
      --to https://sqs.us-west-2.amazonaws.com/123456789012/events --dry-run

  # send a local quarantine file's bodies back
  s3-event-writer requeue --from /srv/archive/quarantine/20261127T222759Z-ab12cd-0001.jsonl --to $QUEUE_URL

Bodies are sent unchanged, 10 per SendMessageBatch call; failed entries are retried 3 times.
The quarantine object is not changed: delete it yourself once the bodies are back.

Exit status:
  0  every body was sent (or, with --dry-run, read)
  1  some bodies could not be sent, or some records could not be read
  2  usage error
  3  the quarantine object or the queue could not be used at all";

/// Arguments of `requeue`.
#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RequeueArgs {
    /// The quarantine object (s3://BUCKET/KEY) or file.
    #[arg(long, value_name = "s3://BUCKET/KEY|FILE")]
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

/// One quarantine record (only `body` is required).
#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message_id: String,
    body: String,
}

/// SQS's limits on one SendMessageBatch call.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;
/// Attempts per entry, the first included.
const ATTEMPTS: u32 = 4;

/// What happened.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    sent: u64,
    /// (message id or line, why)
    failed: Vec<(String, String)>,
    /// (line, why)
    unreadable: Vec<(u64, String)>,
    calls: u64,
}

async fn open(
    from: &str,
    ctx: &AwsContext,
) -> anyhow::Result<Box<dyn AsyncBufRead + Unpin + Send>> {
    if let Some(rest) = from.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty() && !k.ends_with('/'))
            .ok_or_else(|| {
                UsageError(anyhow::anyhow!(
                    "--from {from}: write s3://BUCKET/KEY naming one quarantine object"
                ))
            })?;
        let out = ctx
            .s3()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read {from}: {}", describe_sdk_error(&e)))?;
        Ok(Box::new(tokio::io::BufReader::with_capacity(
            1 << 20,
            out.body.into_async_read(),
        )))
    } else {
        let f = tokio::fs::File::open(from)
            .await
            .with_context(|| format!("cannot open the quarantine file {from}"))?;
        Ok(Box::new(tokio::io::BufReader::with_capacity(1 << 20, f)))
    }
}

/// Sends one batch, retrying failed entries; records the outcome.
async fn send_batch(sqs: &aws_sdk_sqs::Client, queue: &str, batch: Vec<Record>, tally: &mut Tally) {
    // Entry ids are the positions in the batch; they stay the same across retries.
    let mut pending: Vec<(usize, Record)> = batch.into_iter().enumerate().collect();
    let mut why: Vec<String> = vec![String::new(); BATCH_ENTRIES];
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            let ms = 100u64 << (attempt - 2);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(ms / 2..=ms))).await;
        }
        let entries: Vec<SendMessageBatchRequestEntry> = pending
            .iter()
            .map(|(i, r)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&r.body)
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        tally.calls += 1;
        let result = sqs
            .send_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await;
        match result {
            Ok(out) => {
                let ok: std::collections::HashSet<&str> = out
                    .successful()
                    .iter()
                    .map(aws_sdk_sqs::types::SendMessageBatchResultEntry::id)
                    .collect();
                for f in out.failed() {
                    if let Ok(i) = f.id().parse::<usize>() {
                        if let Some(w) = why.get_mut(i) {
                            *w = format!(
                                "{}{}",
                                f.code(),
                                f.message().map(|m| format!(": {m}")).unwrap_or_default()
                            );
                        }
                    }
                }
                let before = pending.len();
                pending.retain(|(i, _)| !ok.contains(i.to_string().as_str()));
                tally.sent += (before - pending.len()) as u64;
            }
            Err(e) => {
                let message = describe_sdk_error(&e);
                for (i, _) in &pending {
                    why[*i].clone_from(&message);
                }
            }
        }
        if pending.is_empty() {
            return;
        }
    }
    for (i, r) in pending {
        let id = if r.message_id.is_empty() {
            format!("entry {i}")
        } else {
            r.message_id
        };
        tally.failed.push((id, std::mem::take(&mut why[i])));
    }
}

/// Runs `requeue`; the value is the exit status.
pub async fn run(args: RequeueArgs) -> anyhow::Result<i32> {
    if !(args.to.starts_with("https://") || args.to.starts_with("http://")) {
        return Err(UsageError(anyhow::anyhow!(
            "--to {}: give the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
            args.to
        ))
        .into());
    }
    let file = ConfigFile::default();
    let needs_aws = !args.dry_run || args.from.starts_with("s3://");
    let ctx = AwsContext::load(&args.aws.settings(&file), needs_aws).await;
    let mut reader = open(&args.from, &ctx).await?;
    let sqs = (!args.dry_run).then(|| ctx.sqs(0));
    let mut tally = Tally::default();
    let mut batch: Vec<Record> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .await
            .with_context(|| format!("reading {} failed", args.from))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Record = match serde_json::from_slice(&buf) {
            Ok(r) => r,
            Err(e) => {
                tally.unreadable.push((line_no, e.to_string()));
                continue;
            }
        };
        tally.records += 1;
        if args.dry_run {
            println!(
                "would send {} ({}, {}): {}",
                if record.message_id.is_empty() {
                    format!("line {line_no}")
                } else {
                    record.message_id.clone()
                },
                record.reason,
                plural(record.body.len() as u64, "byte", "bytes"),
                preview(&record.body)
            );
            continue;
        }
        let size = record.body.len();
        if !batch.is_empty() && (batch.len() == BATCH_ENTRIES || batch_bytes + size > BATCH_BYTES) {
            let sqs = sqs.as_ref().expect("a client when sending");
            send_batch(sqs, &args.to, std::mem::take(&mut batch), &mut tally).await;
            batch_bytes = 0;
        }
        batch_bytes += size;
        batch.push(record);
    }
    if !batch.is_empty() {
        let sqs = sqs.as_ref().expect("a client when sending");
        send_batch(sqs, &args.to, batch, &mut tally).await;
    }
    let mut s = String::new();
    if args.dry_run {
        let _ = writeln!(
            s,
            "dry run: would send {} to {}",
            plural(tally.records, "body", "bodies"),
            args.to
        );
    } else {
        let _ = writeln!(
            s,
            "read {} from {}: sent {}, failed {} ({})",
            plural(tally.records, "record", "records"),
            args.from,
            tally.sent,
            tally.failed.len(),
            plural(
                tally.calls,
                "SendMessageBatch call",
                "SendMessageBatch calls"
            )
        );
    }
    for (id, why) in tally.failed.iter().take(20) {
        let _ = writeln!(s, "  FAILED {id}: {why}");
    }
    if tally.failed.len() > 20 {
        let _ = writeln!(s, "  ... and {} more failed", tally.failed.len() - 20);
    }
    for (line, why) in tally.unreadable.iter().take(20) {
        let _ = writeln!(s, "  line {line} is not a quarantine record: {why}");
    }
    if tally.unreadable.len() > 20 {
        let _ = writeln!(
            s,
            "  ... and {} more unreadable lines",
            tally.unreadable.len() - 20
        );
    }
    eprint!("{s}");
    Ok(if tally.failed.is_empty() && tally.unreadable.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}

/// The start of a body on one line, for the dry run.
fn preview(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect();
    if body.chars().count() > 100 {
        format!("{one_line}…")
    } else {
        one_line
    }
}
