//! The PBX's metrics log as a message source (`backfill`): each metrics line becomes the event
//! message the PBX would have published ([`crate::core::metrics_log`]), and goes through the
//! same pipeline as a queue message.
//!
//! Invariants:
//! - lines are read in order, in chunks a few ahead of the pipeline, on a reader thread of their
//!   own: the runtime's threads never wait on the file;
//! - [`Source::next_batch`] is cancel-safe: chunks wait in a channel, and messages over a call's
//!   `max` wait for the call after;
//! - a line that is not a metrics line (or not UTF-8) is not a message: it is counted and its
//!   number kept ([`MetricsLogSource::skipped`]); blank lines are not lines of the log;
//! - a message's id is `PATH:LINE`; nothing is deleted (acknowledging is a no-op).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::{Batch, Message, Receipt, Source, SourceError};
use crate::core::metrics_log::message_of_line;

/// One batch's read: its messages, the lines skipped on the way, and whether the log ended.
#[derive(Debug, Default)]
struct ReadBatch {
    messages: Vec<Message>,
    skipped: Vec<u64>,
    end: bool,
}

/// The open log, owned by whichever thread is reading it.
#[derive(Debug)]
struct LogReader {
    path: PathBuf,
    reader: BufReader<File>,
    tz: jiff::tz::TimeZone,
    hostname: String,
    line: u64,
    buf: Vec<u8>,
}

/// Messages per chunk sent by the reader thread.
const CHUNK: usize = 1024;

/// Reads a metrics log.
#[derive(Debug)]
pub struct MetricsLogSource {
    rx: mpsc::Receiver<Result<ReadBatch, SourceError>>,
    /// Read, not yet returned.
    pending: Vec<Message>,
    skipped: Vec<u64>,
    done: bool,
}

impl MetricsLogSource {
    /// Opens the log; `tz` is the zone of its times, `hostname` goes into every event.
    pub fn open(
        path: &Path,
        tz: jiff::tz::TimeZone,
        hostname: String,
    ) -> Result<MetricsLogSource, SourceError> {
        let file = File::open(path).map_err(|error| SourceError::Open {
            path: path.display().to_string(),
            error,
        })?;
        let mut reader = LogReader {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 20, file),
            tz,
            hostname,
            line: 0,
            buf: Vec::new(),
        };
        let (tx, rx) = mpsc::channel(4);
        std::thread::spawn(move || loop {
            let read = reader.read_batch(CHUNK);
            let last = !matches!(&read, Ok(batch) if !batch.end);
            if tx.blocking_send(read).is_err() || last {
                return;
            }
        });
        Ok(MetricsLogSource {
            rx,
            pending: Vec::new(),
            skipped: Vec::new(),
            done: false,
        })
    }

    /// Line numbers of the lines that are not metrics lines, in order, among the batches read
    /// so far (at the end of a run: the whole log).
    pub fn skipped(&self) -> &[u64] {
        &self.skipped
    }
}

impl LogReader {
    /// Reads lines until `max` messages or the end of the log (blocking).
    fn read_batch(&mut self, max: usize) -> Result<ReadBatch, SourceError> {
        let received_at = super::received_now();
        let mut batch = ReadBatch::default();
        while batch.messages.len() < max {
            self.buf.clear();
            let read = self.reader.read_until(b'\n', &mut self.buf);
            let n = read.map_err(|error| SourceError::Read {
                path: self.path.display().to_string(),
                line: self.line + 1,
                error,
            })?;
            if n == 0 {
                batch.end = true;
                break;
            }
            self.line += 1;
            let body = match std::str::from_utf8(&self.buf) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => message_of_line(text, &self.tz, &self.hostname).ok(),
                Err(_) => None,
            };
            let Some(body) = body else {
                batch.skipped.push(self.line);
                continue;
            };
            let id = format!("{}:{}", self.path.display(), self.line);
            batch.messages.push(Message {
                receipt: Receipt {
                    id: id.clone(),
                    handle: String::new(),
                },
                id,
                body: body.into_bytes().into(),
                received_at: received_at.clone(),
            });
        }
        Ok(batch)
    }
}

impl Source for MetricsLogSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let max = max.max(1);
        while self.pending.len() < max && !self.done {
            let Some(read) = self.rx.recv().await else {
                self.done = true;
                break;
            };
            let read = read?;
            self.done = read.end;
            self.skipped.extend(read.skipped);
            self.pending.extend(read.messages);
        }
        Ok(super::take_batch(&mut self.pending, max, Batch::Drained))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn metrics_lines_become_messages_and_other_lines_are_skipped_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics");
        std::fs::write(
            &path,
            "2022-04-04 22:45:55,436 UNIQUEID=1.2, CHANNEL=SIP/630-1, CALLERID(number)=+15035550100, name=filterdial\n\
             not a metrics line\n\
             \n\
             2022-04-04 22:46:00,1 CHANNEL=SIP/630-2, name=operator\n",
        )
        .unwrap();
        let tz = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
        let mut source = MetricsLogSource::open(&path, tz, "h".into()).unwrap();
        let Batch::Messages(batch) = source.next_batch(10).await.unwrap() else {
            panic!("expected messages");
        };
        assert_eq!(batch.len(), 2);
        assert!(batch[0].id.ends_with(":1") && batch[1].id.ends_with(":4"));
        let body = String::from_utf8(batch[0].body.to_vec()).unwrap();
        assert!(body.contains("2022-04-04T22:45:55-07:00"), "{body}");
        assert!(
            !body.contains("5035550100"),
            "the caller number never reaches a message"
        );
        assert_eq!(source.skipped(), [2]);
        assert!(matches!(
            source.next_batch(10).await.unwrap(),
            Batch::Drained
        ));
    }

    /// A log of `n` metrics lines, one a second from midnight.
    fn large_log(dir: &Path, n: u32) -> PathBuf {
        use std::fmt::Write as _;
        let path = dir.join("metrics");
        let mut text = String::new();
        for i in 0..n {
            let (h, m, s) = (i / 3600 % 24, i / 60 % 60, i % 60);
            writeln!(
                text,
                "2022-04-04 {h:02}:{m:02}:{s:02},1 UNIQUEID=1.{i}, CHANNEL=SIP/630-{i}, name=operator"
            )
            .unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn tz() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("America/Los_Angeles").unwrap()
    }

    /// On a current-thread runtime, a task spawned before a large batch is read runs while it
    /// is read: the read does not hold the runtime's only thread.
    #[test]
    fn reading_a_batch_leaves_the_runtime_to_other_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let path = large_log(dir.path(), 50_000);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut source = MetricsLogSource::open(&path, tz(), "h".into()).unwrap();
            let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = ran.clone();
            let other = tokio::spawn(async move {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let Batch::Messages(batch) = source.next_batch(50_000).await.unwrap() else {
                panic!("expected messages");
            };
            assert!(
                ran.load(std::sync::atomic::Ordering::SeqCst),
                "the other task did not run while a batch of {} was read",
                batch.len()
            );
            assert_eq!(batch.len(), 50_000);
            other.await.unwrap();
        });
    }

    /// A call dropped while its batch is being read loses nothing: the next calls return that
    /// batch, at most `max` messages at a time, and every line comes once, in order.
    #[tokio::test]
    async fn a_cancelled_read_is_the_next_calls_batch() {
        use futures::FutureExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = large_log(dir.path(), 100_000);
        let mut source = MetricsLogSource::open(&path, tz(), "h".into()).unwrap();
        assert!(
            source.next_batch(100_000).now_or_never().is_none(),
            "the read is still under way"
        );
        let mut lines = Vec::new();
        while let Batch::Messages(batch) = source.next_batch(30_000).await.unwrap() {
            assert!(batch.len() <= 30_000);
            lines.extend(
                batch
                    .iter()
                    .map(|m| m.id.rsplit(':').next().unwrap().parse::<u64>().unwrap()),
            );
        }
        assert_eq!(lines, (1..=100_000).collect::<Vec<u64>>());
        assert!(matches!(
            source.next_batch(1).await.unwrap(),
            Batch::Drained
        ));
    }
}
