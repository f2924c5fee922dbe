//! The PBX's metrics log as a message source (`backfill`): each metrics line becomes the event
//! message the PBX would have published ([`crate::core::metrics_log`]), and goes through the
//! same pipeline as a queue message.
//!
//! Invariants:
//! - lines are read in order, at most one batch ahead, with no await point in
//!   [`Source::next_batch`], so it is cancel-safe;
//! - a line that is not a metrics line (or not UTF-8) is not a message: it is counted and its
//!   number kept ([`MetricsLogSource::skipped`]); blank lines are not lines of the log;
//! - a message's id is `PATH:LINE`; nothing is deleted (acknowledging is a no-op).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{AckOutcome, Batch, Message, Receipt, Source, SourceError};
use crate::core::metrics_log::message_of_line;

/// What one line of the log was.
enum LineRead {
    End,
    /// Blank, or not a metrics line.
    NoMessage,
    Message(Message),
}

/// Reads a metrics log.
#[derive(Debug)]
pub struct MetricsLogSource {
    path: PathBuf,
    reader: BufReader<File>,
    tz: jiff::tz::TimeZone,
    hostname: String,
    line: u64,
    skipped: Vec<u64>,
    done: bool,
    buf: Vec<u8>,
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
        Ok(MetricsLogSource {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 20, file),
            tz,
            hostname,
            line: 0,
            skipped: Vec::new(),
            done: false,
            buf: Vec::new(),
        })
    }

    /// Line numbers of the lines that are not metrics lines, in order.
    pub fn skipped(&self) -> &[u64] {
        &self.skipped
    }

    /// What the next line is.
    fn read_line(&mut self, received_at: &std::sync::Arc<str>) -> Result<LineRead, SourceError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|error| SourceError::Read {
                path: self.path.display().to_string(),
                line: self.line + 1,
                error,
            })?;
        if n == 0 {
            return Ok(LineRead::End);
        }
        self.line += 1;
        let Ok(text) = std::str::from_utf8(&self.buf) else {
            self.skipped.push(self.line);
            return Ok(LineRead::NoMessage);
        };
        if text.trim().is_empty() {
            return Ok(LineRead::NoMessage);
        }
        let Ok(body) = message_of_line(text, &self.tz, &self.hostname) else {
            self.skipped.push(self.line);
            return Ok(LineRead::NoMessage);
        };
        let id = format!("{}:{}", self.path.display(), self.line);
        Ok(LineRead::Message(Message {
            receipt: Receipt {
                id: id.clone(),
                handle: String::new(),
            },
            id,
            body: body.into_bytes().into(),
            received_at: received_at.clone(),
        }))
    }
}

impl Source for MetricsLogSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        if self.done {
            return Ok(Batch::Drained);
        }
        let received_at = super::received_now();
        let mut batch = Vec::new();
        while batch.len() < max.max(1) {
            match self.read_line(&received_at)? {
                LineRead::End => {
                    self.done = true;
                    break;
                }
                LineRead::NoMessage => {}
                LineRead::Message(m) => batch.push(m),
            }
        }
        Ok(if batch.is_empty() {
            Batch::Drained
        } else {
            Batch::Messages(batch)
        })
    }

    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        let _ = receipts;
        AckOutcome::default()
    }

    async fn abandon(&mut self, _receipts: Vec<Receipt>) {}

    async fn release(&mut self, _receipts: Vec<Receipt>) {}

    async fn finish(&mut self) {}

    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    fn deletes(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
