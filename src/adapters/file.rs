//! A file (or stdin) as a message source: one body per line.
//!
//! A reader thread fills batches ahead of the pipeline through a bounded channel, so reading
//! overlaps classification and writing, and [`Source::next_batch`] is cancel-safe. Blank lines
//! are skipped (a queue never delivers an empty body); a trailing `\r` is removed. Nothing is
//! deleted: acknowledging is a no-op and the report's `deleted` stays 0.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use tokio::sync::mpsc;

use super::{AckOutcome, Batch, Message, Receipt, Source, SourceError};

/// Bodies per batch sent by the reader thread.
const CHUNK: usize = 1024;

/// Reads bodies from a file or stdin.
#[derive(Debug)]
pub struct FileSource {
    rx: mpsc::Receiver<Result<Vec<Message>, SourceError>>,
    pending: Vec<Message>,
    done: bool,
}

impl FileSource {
    /// Opens a file source; the reader thread starts at once.
    pub fn open(path: &Path) -> Result<FileSource, SourceError> {
        let file = File::open(path).map_err(|error| SourceError::Open {
            path: path.display().to_string(),
            error,
        })?;
        Ok(Self::from_reader(path.display().to_string(), file))
    }

    /// Reads standard input.
    pub fn stdin() -> FileSource {
        Self::from_reader("stdin".to_owned(), io::stdin())
    }

    /// Reads any byte stream; `name` prefixes message ids (`name:LINE`).
    pub fn from_reader<R: Read + Send + 'static>(name: String, reader: R) -> FileSource {
        let (tx, rx) = mpsc::channel(4);
        std::thread::spawn(move || {
            read_loop(&name, BufReader::with_capacity(1 << 20, reader), &tx);
        });
        FileSource {
            rx,
            pending: Vec::new(),
            done: false,
        }
    }
}

fn read_loop<R: BufRead>(
    name: &str,
    mut reader: R,
    tx: &mpsc::Sender<Result<Vec<Message>, SourceError>>,
) {
    let received_at = jiff::Timestamp::now().to_string();
    let mut line_no = 0u64;
    let mut batch = Vec::with_capacity(CHUNK);
    let mut scratch = Vec::new();
    loop {
        match next_line(&mut reader, &mut scratch) {
            Ok(None) => break,
            Ok(Some(mut buf)) => {
                line_no += 1;
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                batch.push(Message {
                    // Nothing is deleted from a file: its receipts are empty (no allocation).
                    receipt: Receipt::default(),
                    id: format!("{name}:{line_no}"),
                    body: buf,
                    received_at: received_at.clone(),
                });
                if batch.len() == CHUNK && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err()
                {
                    return;
                }
            }
            Err(error) => {
                let _ = tx.blocking_send(Err(SourceError::Read {
                    path: name.to_owned(),
                    line: line_no + 1,
                    error,
                }));
                return;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(batch));
    }
}

/// The next line without its `\n`, copied once into a buffer of its own size: straight from
/// the reader's buffer when the whole line is in it (almost always, with 1 MiB reads), else
/// through `scratch`. `None` at the end.
fn next_line<R: BufRead>(reader: &mut R, scratch: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    let available = reader.fill_buf()?;
    if available.is_empty() {
        return Ok(None);
    }
    if let Some(end) = memchr::memchr(b'\n', available) {
        let line = available[..end].to_vec();
        reader.consume(end + 1);
        return Ok(Some(line));
    }
    scratch.clear();
    reader.read_until(b'\n', scratch)?;
    if scratch.last() == Some(&b'\n') {
        scratch.pop();
    }
    Ok(Some(scratch.as_slice().to_vec()))
}

impl Source for FileSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        let max = max.max(1);
        while self.pending.len() < max && !self.done {
            // Wait only when nothing is in hand; otherwise take what is ready.
            let next = if self.pending.is_empty() {
                self.rx.recv().await
            } else {
                match self.rx.try_recv() {
                    Ok(v) => Some(v),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(Ok(msgs)) => self.pending.extend(msgs),
                Some(Err(e)) => return Err(e),
                None => self.done = true,
            }
        }
        if self.pending.is_empty() {
            return Ok(Batch::Drained);
        }
        let rest = if self.pending.len() > max {
            self.pending.split_off(max)
        } else {
            Vec::new()
        };
        Ok(Batch::Messages(std::mem::replace(&mut self.pending, rest)))
    }

    async fn ack(&mut self, _receipts: Vec<Receipt>) -> AckOutcome {
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
    fn lines_are_whole_on_both_sides_of_the_read_buffer() {
        // Lines shorter than, equal to and longer than the buffer, and a last line without \n.
        let text = b"abc\n12345678\n123456789012345678901\n\nxy\r\nend";
        for capacity in [1, 3, 8, 9, 64] {
            let mut reader = BufReader::with_capacity(capacity, &text[..]);
            let mut scratch = Vec::new();
            let mut lines = Vec::new();
            while let Some(line) = next_line(&mut reader, &mut scratch).unwrap() {
                lines.push(String::from_utf8(line).unwrap());
            }
            assert_eq!(
                lines,
                [
                    "abc",
                    "12345678",
                    "123456789012345678901",
                    "",
                    "xy\r",
                    "end"
                ],
                "capacity {capacity}"
            );
        }
    }

    #[tokio::test]
    async fn blank_lines_are_skipped_and_ids_name_the_line() {
        let mut src = FileSource::from_reader("f".into(), &b"a\n\n  \nb\r\nc"[..]);
        let batches = all(&mut src, 10).await;
        let msgs: Vec<_> = batches.into_iter().flatten().collect();
        let ids: Vec<_> = msgs.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["f:1", "f:4", "f:5"]);
        assert_eq!(msgs[1].body, b"b");
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
        assert_eq!(last.body, b"2499");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = FileSource::open(Path::new("/nonexistent/msgs.jsonl")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/msgs.jsonl"), "{err}");
    }
}
