//! The PBX's metrics log as a message source (`backfill`): each metrics line becomes the event
//! message the PBX would have published ([`crate::core::metrics_log`]), and goes through the
//! same pipeline as a queue message.
//!
//! Invariants:
//! - lines are read in order, in chunks a few ahead of the pipeline, on the reader thread of a
//!   [`FileSource`]: the runtime's threads never wait on the file;
//! - [`super::Source::next_batch`] is cancel-safe (chunks wait in a channel, messages over a call's
//!   `max` for the call after) and waits for `max` messages or the end of the log;
//! - a line that is not a metrics line (or not UTF-8) is not a message: it is counted and its
//!   number kept ([`FileSource::skipped`]); blank lines are not lines of the log;
//! - a message's id is `PATH:LINE`; nothing is deleted (acknowledging is a no-op).

use std::path::Path;

use super::file::{open_file, FileSource};
use super::SourceError;
use crate::core::metrics_log::message_of_line;

/// Opens the log as a [`FileSource`]; `tz` is the zone of its times, `hostname` goes into
/// every event. The lines that are not metrics lines are its [`FileSource::skipped`].
pub fn open(
    path: &Path,
    tz: jiff::tz::TimeZone,
    hostname: String,
) -> Result<FileSource, SourceError> {
    let name = path.display().to_string();
    let mut source = FileSource::with_lines(name, open_file(path)?, move |line, body, skipped| {
        let body = match std::str::from_utf8(&body) {
            Ok(text) if text.trim().is_empty() => return None,
            Ok(text) => message_of_line(text, &tz, &hostname).ok(),
            Err(_) => None,
        };
        if body.is_none() {
            skipped.push(line);
        }
        Some(body?.into_bytes().into())
    });
    source.fill = true;
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Batch, Source};
    use std::path::PathBuf;
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
        let mut source = open(&path, tz, "h".into()).unwrap();
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
            let mut source = open(&path, tz(), "h".into()).unwrap();
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
        let mut source = open(&path, tz(), "h".into()).unwrap();
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
