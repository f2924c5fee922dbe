//! A file (or stdin, or the PBX's metrics log) as a message source: one body per line.
//!
//! A reader thread fills batches ahead of the pipeline through a bounded channel, so reading
//! overlaps classification and writing, and [`Source::next_batch`] is cancel-safe. Blank lines
//! are skipped (a queue never delivers an empty body); a trailing `\r` is removed. Nothing is
//! deleted: acknowledging is a no-op and the report's `deleted` stays 0.
//!
//! The file is read in large blocks (1 MiB) and each body is a slice of its block
//! (`Lines`): no copy and no allocation per line. Only a line cut by the end of a block is
//! copied, once, to the front of the next block.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use jiff::tz::TimeZone;
use tokio::sync::mpsc;

use super::{Batch, Message, Receipt, Source, SourceError};
use crate::core::metrics_log::message_of_line;

/// Bodies per batch sent by the reader thread.
const CHUNK: usize = 1024;

/// Bytes asked of the reader at once.
const READ_BYTES: usize = 1 << 20;

/// What the reader thread sends: messages, and the numbers of the lines that were not messages.
type Chunk = Result<(Vec<Message>, Vec<u64>), SourceError>;

/// Reads bodies from a file or stdin (or lines made messages otherwise: `with_lines`).
#[derive(Debug)]
pub struct FileSource {
    rx: mpsc::Receiver<Chunk>,
    pending: Vec<Message>,
    skipped: Vec<u64>,
    /// Wait for `max` messages (or the end) instead of returning what is ready.
    fill: bool,
    done: bool,
}

fn open_file(path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|error| SourceError::Open {
        path: path.display().to_string(),
        error,
    })
}

impl FileSource {
    /// Opens a file source; the reader thread starts at once.
    pub fn open(path: &Path) -> Result<FileSource, SourceError> {
        let file = open_file(path)?;
        Ok(Self::from_reader(path.display().to_string(), file))
    }

    pub fn stdin() -> FileSource {
        Self::from_reader("stdin".to_owned(), io::stdin())
    }

    /// Reads any byte stream; `name` prefixes message ids (`name:LINE`).
    pub fn from_reader<R: Read + Send + 'static>(name: String, reader: R) -> FileSource {
        Self::with_lines(name, reader, |_, body, _| Some(body))
    }

    /// The PBX's metrics log (`backfill`): each metrics line becomes the event message the PBX
    /// would have published ([`crate::core::metrics_log`]); `tz` is the zone of its times,
    /// `hostname` goes into every event. A line that is not a metrics line (or not UTF-8) is no
    /// message: its number is kept ([`FileSource::skipped`]). Waits for `max` messages or the
    /// end of the log.
    pub fn metrics_log(
        path: &Path,
        tz: TimeZone,
        hostname: String,
    ) -> Result<FileSource, SourceError> {
        let name = path.display().to_string();
        let mut source = Self::with_lines(name, open_file(path)?, move |line, body, skipped| {
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

    /// The numbers of the lines that were not messages, in order, among the batches read so
    /// far (at the end of a run: the whole stream).
    pub fn skipped(&self) -> &[u64] {
        &self.skipped
    }

    /// Reads `reader` on a thread of its own: `body` makes each line that is not blank (its
    /// number, and its bytes without the `\n` and a trailing `\r`) the body of the message
    /// `name:LINE`, or else may list its number in `skipped`. `name` names the stream in errors.
    fn with_lines<R, F>(name: String, reader: R, body: F) -> FileSource
    where
        R: Read + Send + 'static,
        F: FnMut(u64, Bytes, &mut Vec<u64>) -> Option<Bytes> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(4);
        std::thread::spawn(move || {
            read_loop(&name, Lines::new(reader, READ_BYTES), &tx, body);
        });
        FileSource {
            rx,
            pending: Vec::new(),
            skipped: Vec::new(),
            fill: false,
            done: false,
        }
    }
}

fn read_loop<R: Read>(
    name: &str,
    mut lines: Lines<R>,
    tx: &mpsc::Sender<Chunk>,
    mut to_body: impl FnMut(u64, Bytes, &mut Vec<u64>) -> Option<Bytes>,
) {
    let received_at = super::received_now();
    let mut line_no = 0u64;
    let (mut batch, mut skipped) = (Vec::with_capacity(CHUNK), Vec::new());
    loop {
        let mut body = match lines.next_line() {
            Ok(Some(body)) => body,
            Ok(None) => break,
            Err(error) => {
                let _ = tx.blocking_send(Err(SourceError::Read {
                    path: name.to_owned(),
                    line: line_no + 1,
                    error,
                }));
                return;
            }
        };
        line_no += 1;
        if body.last() == Some(&b'\r') {
            body.truncate(body.len() - 1);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Some(body) = to_body(line_no, body, &mut skipped) else {
            continue;
        };
        batch.push(Message {
            // Nothing is deleted from a file: its receipts are empty (no allocation).
            receipt: Receipt::default(),
            id: line_id(name, line_no),
            body,
            received_at: received_at.clone(),
        });
        if batch.len() == CHUNK {
            let chunk = (std::mem::take(&mut batch), std::mem::take(&mut skipped));
            if tx.blocking_send(Ok(chunk)).is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() || !skipped.is_empty() {
        let _ = tx.blocking_send(Ok((batch, skipped)));
    }
}

/// A message id, `name:LINE` (built without the formatting machinery, which was 4 % of a local
/// run: it is one per line).
fn line_id(name: &str, line_no: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(line_no);
    let mut id = String::with_capacity(name.len() + 1 + digits.len());
    id.push_str(name);
    id.push(':');
    id.push_str(digits);
    id
}

/// Lines of a byte stream, each a slice of a shared read block. A block is freed when the
/// last line cut from it is dropped.
struct Lines<R> {
    reader: R,
    /// Read and not yet handed out: the start of the next line, then more.
    buf: BytesMut,
    /// How much of `buf` is known to hold no `\n`.
    scanned: usize,
    read_bytes: usize,
    eof: bool,
}

impl<R: Read> Lines<R> {
    fn new(reader: R, read_bytes: usize) -> Self {
        Lines {
            reader,
            buf: BytesMut::new(),
            scanned: 0,
            read_bytes: read_bytes.max(1),
            eof: false,
        }
    }

    /// The next line without its `\n`; `None` at the end. A last line without `\n` counts.
    fn next_line(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                let end = self.scanned + i;
                let mut line = self.buf.split_to(end + 1);
                line.truncate(end);
                self.scanned = 0;
                return Ok(Some(line.freeze()));
            }
            self.scanned = self.buf.len();
            if self.eof {
                self.scanned = 0;
                return Ok((!self.buf.is_empty()).then(|| self.buf.split().freeze()));
            }
            self.fill()?;
        }
    }

    /// Reads one more block after what is in hand (a new allocation once the block in hand is
    /// shared by lines handed out: only the unfinished line is copied into it).
    fn fill(&mut self) -> io::Result<()> {
        let start = self.buf.len();
        self.buf.reserve(self.read_bytes);
        self.buf.resize(start + self.read_bytes, 0);
        loop {
            match self.reader.read(&mut self.buf[start..]) {
                Ok(n) => {
                    self.buf.truncate(start + n);
                    self.eof = n == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            }
        }
    }
}

impl Source for FileSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let max = max.max(1);
        while self.pending.len() < max && !self.done {
            // Wait when nothing is in hand (or when filling); otherwise take what is ready.
            let next = if self.pending.is_empty() || self.fill {
                self.rx.recv().await
            } else {
                match self.rx.try_recv() {
                    Ok(v) => Some(v),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(chunk) => {
                    let (msgs, skipped) = chunk?;
                    self.pending.extend(msgs);
                    self.skipped.extend(skipped);
                }
                None => self.done = true,
            }
        }
        Ok(super::take_batch(&mut self.pending, max, Batch::Drained))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(src: &mut FileSource, max: usize) -> Vec<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            match src.next_batch(max).await.unwrap() {
                Batch::Messages(m) => {
                    assert!(m.len() <= max);
                    out.push(m);
                }
                Batch::Idle => {}
                Batch::Drained => return out,
            }
        }
    }

    #[test]
    fn line_ids_are_name_colon_line_number() {
        assert_eq!(line_id("messages.jsonl", 1), "messages.jsonl:1");
        assert_eq!(line_id("stdin", u64::MAX), "stdin:18446744073709551615");
        assert_eq!(line_id("", 0), ":0");
    }

    /// Reads every line of `text` through [`Lines`] with `read_bytes`, the reader giving at
    /// most `trickle` bytes a call.
    fn split(text: &[u8], read_bytes: usize, trickle: usize) -> Vec<String> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut lines = Lines::new(Trickle(text, trickle), read_bytes);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(String::from_utf8(line.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn lines_are_whole_on_both_sides_of_the_read_block() {
        // Lines shorter than, equal to and longer than the block, an empty line, a \r\n, a
        // \n exactly at a block's end, and a last line without \n.
        let text = b"abc\n12345678\n123456789012345678901\n\nxy\r\nend";
        let want = [
            "abc",
            "12345678",
            "123456789012345678901",
            "",
            "xy\r",
            "end",
        ];
        for read_bytes in [1, 3, 4, 8, 9, 13, 64, READ_BYTES] {
            for trickle in [1, 2, 7, usize::MAX] {
                assert_eq!(
                    split(text, read_bytes, trickle),
                    want,
                    "read_bytes {read_bytes}, trickle {trickle}"
                );
            }
        }
        assert!(split(b"", 8, usize::MAX).is_empty());
        assert_eq!(split(b"\n", 8, usize::MAX), [""]);
        assert_eq!(
            split(b"a\n", 8, usize::MAX),
            ["a"],
            "no empty line after the last \\n"
        );
    }

    /// Every line of a large input at the default block size, whichever line straddles a
    /// block's end.
    #[test]
    fn lines_straddling_blocks_at_the_default_size_are_whole() {
        let lines: Vec<String> = (0..3000)
            .map(|i| format!("{i}:{}", "x".repeat(i * 7 % 1500)))
            .collect();
        let text = lines.join("\n") + "\n";
        assert!(text.len() > 2 * READ_BYTES, "spans several blocks");
        assert_eq!(split(text.as_bytes(), READ_BYTES, usize::MAX), lines);
        assert_eq!(split(text.as_bytes(), READ_BYTES, 100_000), lines);
    }

    /// A read error is reported, not taken for the end.
    #[test]
    fn a_read_error_is_an_error() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = Lines::new(Broken, 8).next_line().unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[tokio::test]
    async fn blank_lines_are_skipped_and_ids_name_the_line() {
        let mut src = FileSource::from_reader("f".into(), &b"a\n\n  \nb\r\nc"[..]);
        let batches = all(&mut src, 10).await;
        let msgs: Vec<_> = batches.into_iter().flatten().collect();
        let ids: Vec<_> = msgs.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["f:1", "f:4", "f:5"]);
        assert_eq!(msgs[1].body, &b"b"[..]);
    }

    #[tokio::test]
    async fn batches_respect_max() {
        let text: String = (0..2500).fold(String::new(), |mut s, i| {
            s.push_str(&i.to_string());
            s.push('\n');
            s
        });
        let mut src = FileSource::from_reader("f".into(), io::Cursor::new(text.into_bytes()));
        let batches = all(&mut src, 700).await;
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 2500);
        let last = batches.last().unwrap().last().unwrap();
        assert_eq!(last.body, &b"2499"[..]);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = FileSource::open(Path::new("/nonexistent/msgs.jsonl")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/msgs.jsonl"), "{err}");
    }

    mod metrics_log {
        use super::super::*;
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
            let mut source = FileSource::metrics_log(&path, tz, "h".into()).unwrap();
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
                let mut source = FileSource::metrics_log(&path, tz(), "h".into()).unwrap();
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
            let mut source = FileSource::metrics_log(&path, tz(), "h".into()).unwrap();
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
}
