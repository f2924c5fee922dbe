//! Merging new lines into a day file, streaming.
//!
//! A day file is the sorted (by bytes), de-duplicated union of its existing lines and the new
//! ones. Existing lines are kept byte for byte except that trailing white space is stripped and
//! blank lines are dropped; every output line ends in `\n`.
//!
//! [`merge_sorted`] reads the existing file once, line by line, and never holds more than the
//! current and previous line of it: memory is the new lines plus two line buffers, whatever the
//! size of the day. If the existing file turns out not to be sorted it stops with
//! [`MergeError::Unsorted`]; the caller then discards the partial output and runs
//! [`merge_unsorted`] on a fresh reader, an external merge sort whose memory is bounded by
//! [`SortOptions::memory_budget_bytes`] (sorted runs spill to temporary files).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

/// What a merge produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Distinct non-blank lines of the existing file.
    pub existing_lines: u64,
    /// Lines of the output that were not in the existing file.
    pub new_lines: u64,
    /// Lines of the output.
    pub total_lines: u64,
    /// Bytes of the output.
    pub bytes: u64,
}

/// Why [`merge_sorted`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("reading or writing failed: {0}")]
    Io(#[from] io::Error),
    /// The existing file is not sorted: line `line` (1-based, counting every line read) sorts
    /// before the one above it. The output written so far is incomplete.
    #[error("the existing day file is not sorted (line {line} sorts before the line above it)")]
    Unsorted { line: u64 },
}

/// Python's `str.isspace` for the characters that can end a line: ASCII white space, the ASCII
/// separators 0x1c..=0x1f, and Unicode white space.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Strips trailing white space (as Python's `str.rstrip()` would) from a line's bytes.
pub fn trim_line_end(mut line: &[u8]) -> &[u8] {
    // The last character starts at the last byte within four of the end that does not continue
    // a UTF-8 sequence.
    let char_start =
        |l: &[u8]| (l.len().saturating_sub(4)..l.len()).rfind(|&i| l[i] & 0xc0 != 0x80);
    while let Some(start) = char_start(line) {
        let last = std::str::from_utf8(&line[start..])
            .ok()
            .and_then(|s| s.chars().next());
        if !last.is_some_and(is_py_space) {
            break;
        }
        line = &line[..start];
    }
    line
}

/// Reads the next non-blank line (trailing white space stripped) into `buf`. Returns the number
/// of physical lines consumed, 0 at the end.
pub(crate) fn next_line<R: BufRead + ?Sized>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<u64> {
    let mut consumed = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', buf)? == 0 {
            return Ok(0);
        }
        consumed += 1;
        let len = trim_line_end(buf).len();
        if len > 0 {
            buf.truncate(len);
            return Ok(consumed);
        }
    }
}

/// A merge's output: the existing lines as they come, each after the new lines that sort before
/// it (a new line equal to it is not new), then the new lines left.
struct Out<'n, W: Write, L> {
    w: W,
    /// The new lines not yet written.
    new: &'n [L],
    stats: MergeStats,
}

impl<'n, W: Write, L: AsRef<[u8]>> Out<'n, W, L> {
    fn new(w: W, new: &'n [L]) -> Self {
        debug_assert!(
            new.windows(2).all(|w| w[0].as_ref() < w[1].as_ref()),
            "new lines must be sorted and distinct"
        );
        Out {
            w,
            new,
            stats: MergeStats::default(),
        }
    }

    /// Writes `line` of the existing file, which sorts after every existing line before it.
    fn existing(&mut self, line: &[u8]) -> io::Result<()> {
        let new = self.new;
        let before = new.iter().take_while(|n| n.as_ref() < line).count();
        for n in &new[..before] {
            self.line(n.as_ref(), false)?;
        }
        let equal = new.get(before).is_some_and(|n| n.as_ref() == line);
        self.new = &new[before + usize::from(equal)..];
        self.line(line, true)
    }

    fn line(&mut self, line: &[u8], existed: bool) -> io::Result<()> {
        self.w.write_all(line)?;
        self.w.write_all(b"\n")?;
        self.stats.total_lines += 1;
        self.stats.bytes += line.len() as u64 + 1;
        if existed {
            self.stats.existing_lines += 1;
        } else {
            self.stats.new_lines += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<MergeStats> {
        for n in self.new {
            self.line(n.as_ref(), false)?;
        }
        self.w.flush()?;
        Ok(self.stats)
    }
}

/// Merges `new` (sorted, distinct, no newlines) into the sorted `existing` day file, writing the
/// result to `out`. Holds two lines of `existing` at a time.
pub fn merge_sorted<R, W, L>(mut existing: R, new: &[L], out: W) -> Result<MergeStats, MergeError>
where
    R: BufRead,
    W: Write,
    L: AsRef<[u8]>,
{
    let mut out = Out::new(out, new);
    let mut cur = Vec::with_capacity(256);
    // Empty until the first line, which sorts after it: no line read is blank.
    let mut prev: Vec<u8> = Vec::with_capacity(256);
    let mut line_no = 0u64;
    while let n @ 1.. = next_line(&mut existing, &mut cur)? {
        line_no += n;
        match cur.cmp(&prev) {
            Ordering::Less => return Err(MergeError::Unsorted { line: line_no }),
            Ordering::Equal => continue,
            Ordering::Greater => out.existing(&cur)?,
        }
        std::mem::swap(&mut cur, &mut prev);
    }
    Ok(out.finish()?)
}

/// Limits of the external sort used for unsorted existing files.
#[derive(Debug, Clone)]
pub struct SortOptions {
    /// Lines held in memory before a sorted run is spilled to disk (bytes of line data).
    pub memory_budget_bytes: usize,
    /// Where spilled runs go (the system temporary directory when `None`).
    pub spill_dir: Option<PathBuf>,
}

/// Per-line bookkeeping overhead counted against the budget (a `Vec` header and allocator slack).
const LINE_OVERHEAD: usize = 32;

/// Merges `new` into an `existing` day file in any order: an external merge sort of the existing
/// lines (runs of at most `memory_budget_bytes` spilled to temporary files), merged with `new`
/// (as [`merge_sorted`] takes it).
pub fn merge_unsorted<R, W, L>(
    mut existing: R,
    new: &[L],
    out: W,
    opts: &SortOptions,
) -> io::Result<MergeStats>
where
    R: BufRead,
    W: Write,
    L: AsRef<[u8]>,
{
    let mut runs: Vec<Lines> = Vec::new();
    let mut chunk: Vec<Vec<u8>> = Vec::new();
    let mut chunk_bytes = 0usize;
    let mut buf = Vec::with_capacity(256);
    while next_line(&mut existing, &mut buf)? > 0 {
        chunk_bytes += buf.len() + LINE_OVERHEAD;
        chunk.push(buf.clone());
        if chunk_bytes >= opts.memory_budget_bytes {
            runs.push(Box::new(spill(&mut chunk, opts)?.split(b'\n')));
            chunk_bytes = 0;
        }
    }
    sort_new_lines(&mut chunk);
    runs.push(Box::new(chunk.into_iter().map(Ok)));
    kway_merge(runs, new, out)
}

/// The lines of one sorted run (spilled or in memory), without their newlines.
type Lines = Box<dyn Iterator<Item = io::Result<Vec<u8>>>>;

fn spill(chunk: &mut Vec<Vec<u8>>, opts: &SortOptions) -> io::Result<BufReader<File>> {
    sort_new_lines(chunk);
    let file = opts
        .spill_dir
        .as_ref()
        .map_or_else(tempfile::tempfile, tempfile::tempfile_in)?;
    let mut w = BufWriter::new(file);
    for line in chunk.drain(..) {
        w.write_all(&line)?;
        w.write_all(b"\n")?;
    }
    let mut file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    io::Seek::rewind(&mut file)?;
    Ok(BufReader::new(file))
}

/// Merges sorted existing runs (each distinct line once) with the new lines.
fn kway_merge<W: Write, L: AsRef<[u8]>>(
    mut sources: Vec<Lines>,
    new: &[L],
    out: W,
) -> io::Result<MergeStats> {
    let mut out = Out::new(out, new);
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(line) = s.next() {
            heap.push(Reverse((line?, i)));
        }
    }
    // Empty until the first line: no line read is blank.
    let mut last = Vec::new();
    while let Some(Reverse((line, src))) = heap.pop() {
        if let Some(next) = sources[src].next() {
            heap.push(Reverse((next?, src)));
        }
        if line != last {
            out.existing(&line)?;
            last = line;
        }
    }
    out.finish()
}

/// Sorts and de-duplicates new lines (the form [`merge_sorted`] takes): byte order, exactly as
/// `sort_unstable` and `dedup` would leave them, but faster for a day's lines.
///
/// The lines of one day share a long prefix (`{"timestamp": "2026-11-20T`, 26 bytes), which a
/// plain comparison reads again every time, by a call to `memcmp`. So the prefix that all the
/// lines share is measured once, and two lines are compared by the eight bytes after it, as one
/// big-endian word (the hour, minute and second, as a rule), and by the rest only on a tie.
pub fn sort_new_lines(lines: &mut Vec<Vec<u8>>) {
    let shared = shared_prefix_len(lines);
    lines.sort_unstable_by(|a, b| cmp_after(a, b, shared));
    lines.dedup_by(|a, b| cmp_after(a, b, shared).is_eq());
}

/// The length of the prefix that every line in `lines` begins with.
fn shared_prefix_len(lines: &[Vec<u8>]) -> usize {
    let Some((first, rest)) = lines.split_first() else {
        return 0;
    };
    rest.iter().fold(first.len(), |shared, line| {
        let (a, b) = (&first[..shared], line.as_slice());
        a.iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(shared.min(b.len()))
    })
}

/// The byte order of `a` and `b`, both of which begin with the same `shared` bytes.
///
/// The eight bytes after the shared prefix are compared as one word, a short line's padded with
/// zeros. Words that differ order the lines as their bytes do: at the first differing byte either
/// both lines have a byte, or the one that has ended (a zero) is a prefix of the other, which
/// sorts first. Equal words (also a line that ends in zeros against a shorter one) fall back to
/// comparing the rest.
fn cmp_after(a: &[u8], b: &[u8], shared: usize) -> Ordering {
    fn word(line: &[u8], at: usize) -> u64 {
        if let Some(w) = line.get(at..at + 8) {
            return u64::from_be_bytes(w.try_into().unwrap_or_default());
        }
        let mut w = [0u8; 8];
        let tail = line.get(at..).unwrap_or_default();
        w[..tail.len()].copy_from_slice(tail);
        u64::from_be_bytes(w)
    }
    word(a, shared)
        .cmp(&word(b, shared))
        .then_with(|| a.get(shared..).cmp(&b.get(shared..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn run_sorted(existing: &str, new: &[&str]) -> Result<(String, MergeStats), MergeError> {
        let mut out = Vec::new();
        let stats = merge_sorted(existing.as_bytes(), &lines(new), &mut out)?;
        Ok((String::from_utf8(out).unwrap(), stats))
    }

    fn run_unsorted(existing: &str, new: &[&str], budget: usize) -> (String, MergeStats) {
        let mut out = Vec::new();
        let opts = SortOptions {
            memory_budget_bytes: budget,
            spill_dir: None,
        };
        let stats = merge_unsorted(existing.as_bytes(), &lines(new), &mut out, &opts).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    #[test]
    fn merges_new_lines_into_place() {
        let (out, stats) = run_sorted("b\nd\n", &["a", "c", "e"]).unwrap();
        assert_eq!(out, "a\nb\nc\nd\ne\n");
        assert_eq!(
            stats,
            MergeStats {
                existing_lines: 2,
                new_lines: 3,
                total_lines: 5,
                bytes: 10
            }
        );
    }

    #[test]
    fn lines_already_present_are_not_new() {
        let (out, stats) = run_sorted("a\nb\n", &["a", "b"]).unwrap();
        assert_eq!(out, "a\nb\n");
        assert_eq!(stats.new_lines, 0);
        assert_eq!(stats.total_lines, 2);
    }

    #[test]
    fn empty_existing_is_a_new_file() {
        let (out, stats) = run_sorted("", &["x", "y"]).unwrap();
        assert_eq!(out, "x\ny\n");
        assert_eq!(stats.existing_lines, 0);
        assert_eq!(stats.new_lines, 2);
    }

    #[test]
    fn trailing_whitespace_is_stripped_and_blank_lines_dropped() {
        let (out, stats) = run_sorted("a  \r\n\n   \na\tb\t\nc", &[]).unwrap();
        assert_eq!(out, "a\na\tb\nc\n");
        assert_eq!(stats.existing_lines, 3);
    }

    #[test]
    fn unicode_trailing_whitespace_is_stripped_like_python() {
        assert_eq!(trim_line_end("x\u{a0}\u{3000}\u{1f} ".as_bytes()), b"x");
        assert_eq!(trim_line_end("é".as_bytes()), "é".as_bytes());
        assert_eq!(trim_line_end(b"a\xff"), b"a\xff");
        assert_eq!(trim_line_end(b"   "), b"");
    }

    #[test]
    fn existing_duplicates_collapse() {
        let (out, stats) = run_sorted("a\na\nb\nb  \n", &["b"]).unwrap();
        assert_eq!(out, "a\nb\n");
        assert_eq!(stats.existing_lines, 2);
        assert_eq!(stats.new_lines, 0);
    }

    #[test]
    fn existing_lines_are_kept_byte_for_byte_in_old_shapes() {
        let old = r#"{"timestamp": "2026-11-22T03:04:05-08:00", "channel": "SIP/630-0000011f", "event": "filterdial"}"#;
        let (out, _) = run_sorted(
            &format!("{old}\n"),
            &[r#"{"timestamp": "2026-11-22T04:00:00"}"#],
        )
        .unwrap();
        assert!(out.contains(old));
    }

    #[test]
    fn order_is_by_bytes_not_by_characters() {
        // 'Z' (0x5a) < 'a' (0x61) < 'é' (0xc3 0xa9)
        let (out, _) = run_sorted("Z\né\n", &["a"]).unwrap();
        assert_eq!(out, "Z\na\né\n");
    }

    #[test]
    fn unsorted_existing_is_detected() {
        let err = run_sorted("b\na\n", &["c"]).unwrap_err();
        assert!(matches!(err, MergeError::Unsorted { line: 2 }), "{err:?}");
    }

    #[test]
    fn unsorted_fallback_gives_the_sorted_union_in_memory() {
        let (out, stats) = run_unsorted("d\nb\n\nb\na  \n", &["a", "c"], 1 << 20);
        assert_eq!(out, "a\nb\nc\nd\n");
        assert_eq!(
            stats,
            MergeStats {
                existing_lines: 3,
                new_lines: 1,
                total_lines: 4,
                bytes: 8
            }
        );
    }

    #[test]
    fn unsorted_fallback_spills_runs_under_a_small_budget() {
        let existing: Vec<String> = (0..500)
            .rev()
            .map(|i| format!("line-{:04}", i * 7 % 500))
            .collect();
        let existing = existing.join("\n") + "\n";
        // A budget of ~3 lines forces well over a hundred runs.
        let (out, stats) = run_unsorted(&existing, &["aaa", "line-0000", "line-9999"], 120);
        let mut expected: Vec<String> = (0..500).map(|i| format!("line-{i:04}")).collect();
        expected.insert(0, "aaa".into());
        expected.push("line-9999".into());
        assert_eq!(out, expected.join("\n") + "\n");
        assert_eq!(stats.existing_lines, 500);
        assert_eq!(stats.new_lines, 2);
    }

    #[test]
    fn fallback_agrees_with_streaming_merge_on_sorted_input() {
        let existing = "a\nc\ne\n";
        let new = ["b", "c", "f"];
        let (a, sa) = run_sorted(existing, &new).unwrap();
        let (b, sb) = run_unsorted(existing, &new, 2);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
    }

    #[test]
    fn sort_new_lines_sorts_and_dedups() {
        let mut v = lines(&["b", "a", "b"]);
        sort_new_lines(&mut v);
        assert_eq!(v, lines(&["a", "b"]));
    }

    /// `sort_new_lines` against plain `sort_unstable` + `dedup`.
    fn sorts_as_bytes_do(mut v: Vec<Vec<u8>>) {
        let mut want = v.clone();
        want.sort_unstable();
        want.dedup();
        sort_new_lines(&mut v);
        assert_eq!(v, want);
    }

    #[test]
    fn the_word_compare_keeps_byte_order_at_its_edges() {
        let day = "{\"timestamp\": \"2026-11-20T";
        // Lines that end inside or just after the compared word, zeros that match its padding,
        // a line that is the shared prefix alone, high bytes, and equal words with different
        // tails.
        let tails: [&[u8]; 14] = [
            b"",
            b"0",
            b"00:00:0",
            b"00:00:00",
            b"00:00:00\0",
            b"00:00:00+",
            b"00:00:00.5",
            b"\0",
            b"\0\0",
            b"0\0",
            b"\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"23:59:59+00:00",
            b"23:59:59.999",
        ];
        let all: Vec<Vec<u8>> = tails.iter().map(|t| [day.as_bytes(), t].concat()).collect();
        for a in &all {
            for b in &all {
                sorts_as_bytes_do(vec![a.clone(), b.clone(), a.clone()]);
            }
        }
        sorts_as_bytes_do(all.iter().rev().cloned().collect());
        // No shared prefix at all, and an empty line among others.
        sorts_as_bytes_do(lines(&["b", "", "ab", "a", "", "a\0"]));
    }

    proptest::proptest! {
        #[test]
        fn sorts_and_dedups_as_bytes_do(
            prefix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..30),
            tails in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'0', b'9', 0xff]), 0..12),
                0..40,
            ),
        ) {
            sorts_as_bytes_do(tails.iter().map(|t| [prefix.as_slice(), t].concat()).collect());
        }
    }
}
