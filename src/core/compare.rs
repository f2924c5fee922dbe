//! Comparing two day files, streaming: one merge walk over two sorted, de-duplicated files.
//!
//! [`compare_sorted`] reads both files once, side by side, and says which lines are in both,
//! which only in A and which only in B (counted, and the first `show` of each kept, as text with
//! invalid UTF-8 replaced). A line is its bytes without the `\n` that ends it, compared byte for
//! byte (a last line without its `\n` is the same line; trailing white space and blank lines
//! count as written).
//!
//! Invariants:
//! - memory is four line buffers (the current and previous line of each side) plus the kept
//!   lines, whatever the size of the files;
//! - the walk is only correct on sorted, de-duplicated input, so it checks that as it goes: a
//!   line that does not sort after the line above it stops the walk with
//!   [`DayComparison::Unsorted`] (side and line number), never with a count that would be
//!   wrong.

use std::cmp::Ordering;
use std::fmt;
use std::io::{self, BufRead};

use serde::Serialize;

/// One of the two archives compared (`a` and `b` in JSON; `side as usize` indexes a pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    A = 0,
    B = 1,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a file breaks the order the walk needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disorder {
    /// The line sorts before the line above it.
    OutOfOrder,
    /// The line repeats the line above it.
    Duplicate,
}

/// Where the lines of two day files differ (serialized as `compare --json` prints it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub in_both: u64,
    pub only_in_a: u64,
    pub only_in_b: u64,
    /// The first lines only in A, in order (at most `show`).
    pub first_only_in_a: Vec<String>,
    /// The first lines only in B, in order (at most `show`).
    pub first_only_in_b: Vec<String>,
}

impl Diff {
    pub fn is_equal(&self) -> bool {
        self.only_in_a == 0 && self.only_in_b == 0
    }

    /// Counts a line found on `side` only, keeping it if fewer than `show` are kept.
    fn only(&mut self, side: Side, line: &[u8], show: usize) {
        let (count, first) = match side {
            Side::A => (&mut self.only_in_a, &mut self.first_only_in_a),
            Side::B => (&mut self.only_in_b, &mut self.first_only_in_b),
        };
        *count += 1;
        if first.len() < show {
            first.push(String::from_utf8_lossy(line).into_owned());
        }
    }
}

/// The outcome of comparing two day files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayComparison {
    /// Both files were walked to their end (equal when [`Diff::is_equal`]).
    Compared(Diff),
    /// `side`'s line `line` (1-based, every line counted) does not sort after line `line - 1`:
    /// the walk stopped there and says nothing about the rest.
    Unsorted {
        side: Side,
        line: u64,
        disorder: Disorder,
    },
    /// The day has a file on one side only, missing on `.0` (found by listing both sides; the
    /// walk never says it).
    MissingIn(Side),
}

/// Reading one side failed.
#[derive(Debug, thiserror::Error)]
#[error("reading {side}'s file failed after line {line}: {error}")]
pub struct ReadError {
    pub side: Side,
    /// The last line read whole.
    pub line: u64,
    pub error: io::Error,
}

/// One side of the walk: its current line and the one above it.
struct Cursor<R> {
    reader: R,
    side: Side,
    current: Vec<u8>,
    previous: Vec<u8>,
    /// Lines read so far (the current line's number).
    line: u64,
    /// Whether `current` holds a line (false at the end).
    live: bool,
}

/// Why the walk stops early: the comparison's outcome (a file is unsorted), or a read failed.
type Stop = Result<DayComparison, ReadError>;

impl<R: BufRead> Cursor<R> {
    fn new(reader: R, side: Side) -> Cursor<R> {
        Cursor {
            reader,
            side,
            current: Vec::with_capacity(256),
            previous: Vec::with_capacity(256),
            line: 0,
            live: false,
        }
    }

    /// Reads the next line into `current` (the current one becomes `previous`) and checks it
    /// sorts after it.
    fn advance(&mut self) -> Result<(), Stop> {
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.clear();
        let (side, line) = (self.side, self.line);
        let read = self.reader.read_until(b'\n', &mut self.current);
        let read = read.map_err(|error| Err(ReadError { side, line, error }))?;
        self.live = read > 0;
        if !self.live {
            return Ok(());
        }
        self.current.pop_if(|b| *b == b'\n');
        self.line += 1;
        let disorder = match self.current.cmp(&self.previous) {
            _ if self.line == 1 => return Ok(()),
            Ordering::Greater => return Ok(()),
            Ordering::Equal => Disorder::Duplicate,
            Ordering::Less => Disorder::OutOfOrder,
        };
        Err(Ok(DayComparison::Unsorted {
            side: self.side,
            line: self.line,
            disorder,
        }))
    }
}

/// Compares two sorted, de-duplicated day files line by line in one merge walk, keeping the
/// first `show` lines found only in each.
pub fn compare_sorted<A: BufRead, B: BufRead>(
    a: A,
    b: B,
    show: usize,
) -> Result<DayComparison, ReadError> {
    walk(Cursor::new(a, Side::A), Cursor::new(b, Side::B), show)
        .map_or_else(|stop| stop, |diff| Ok(DayComparison::Compared(diff)))
}

fn walk<A: BufRead, B: BufRead>(
    mut a: Cursor<A>,
    mut b: Cursor<B>,
    show: usize,
) -> Result<Diff, Stop> {
    let mut diff = Diff::default();
    a.advance()?;
    b.advance()?;
    loop {
        let order = match (a.live, b.live) {
            (false, false) => return Ok(diff),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (true, true) => a.current.cmp(&b.current),
        };
        match order {
            Ordering::Equal => diff.in_both += 1,
            Ordering::Less => diff.only(Side::A, &a.current, show),
            Ordering::Greater => diff.only(Side::B, &b.current, show),
        }
        if order.is_le() {
            a.advance()?;
        }
        if order.is_ge() {
            b.advance()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str, show: usize) -> DayComparison {
        compare_sorted(a.as_bytes(), b.as_bytes(), show).unwrap()
    }

    fn diff(a: &str, b: &str, show: usize) -> Diff {
        match cmp(a, b, show) {
            DayComparison::Compared(d) => d,
            other => panic!("{other:?}"),
        }
    }

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn empty_against_empty_is_equal() {
        let d = diff("", "", 3);
        assert!(d.is_equal());
        assert_eq!(d, Diff::default());
    }

    #[test]
    fn equal_files_count_their_lines() {
        let d = diff("a\nb\nc\n", "a\nb\nc\n", 3);
        assert!(d.is_equal());
        assert_eq!(d.in_both, 3);
    }

    #[test]
    fn one_line_against_empty() {
        let d = diff("a\n", "", 3);
        assert_eq!((d.in_both, d.only_in_a, d.only_in_b), (0, 1, 0));
        assert_eq!(d.first_only_in_a, lines(&["a"]));
        let d = diff("", "a\n", 3);
        assert_eq!((d.in_both, d.only_in_a, d.only_in_b), (0, 0, 1));
        assert_eq!(d.first_only_in_b, lines(&["a"]));
        assert!(!d.is_equal());
    }

    #[test]
    fn first_and_last_lines_differ() {
        let d = diff("a\nm\nz\n", "b\nm\ny\n", 3);
        assert_eq!((d.in_both, d.only_in_a, d.only_in_b), (1, 2, 2));
        assert_eq!(d.first_only_in_a, lines(&["a", "z"]));
        assert_eq!(d.first_only_in_b, lines(&["b", "y"]));
        // Only the last line.
        let d = diff("a\nb\nc\n", "a\nb\n", 3);
        assert_eq!((d.in_both, d.only_in_a, d.only_in_b), (2, 1, 0));
        assert_eq!(d.first_only_in_a, lines(&["c"]));
        // Only the first line.
        let d = diff("b\nc\n", "a\nb\nc\n", 3);
        assert_eq!((d.in_both, d.only_in_a, d.only_in_b), (2, 0, 1));
        assert_eq!(d.first_only_in_b, lines(&["a"]));
    }

    #[test]
    fn show_keeps_the_first_n_and_counts_all() {
        let a = "a1\na2\na3\na4\n";
        // Exactly `show` lines only in A: all kept.
        let d = diff(a, "a4\n", 3);
        assert_eq!(d.only_in_a, 3);
        assert_eq!(d.first_only_in_a, lines(&["a1", "a2", "a3"]));
        // One more than `show`: the first three kept, four counted.
        let d = diff(a, "", 3);
        assert_eq!(d.only_in_a, 4);
        assert_eq!(d.first_only_in_a, lines(&["a1", "a2", "a3"]));
        // On B's side too, and `show` 0 keeps none.
        let d = diff("", a, 3);
        assert_eq!(d.only_in_b, 4);
        assert_eq!(d.first_only_in_b, lines(&["a1", "a2", "a3"]));
        let d = diff("", a, 0);
        assert_eq!(d.only_in_b, 4);
        assert!(d.first_only_in_b.is_empty());
    }

    #[test]
    fn lines_compare_byte_for_byte_without_their_newline() {
        // Trailing white space is part of the line.
        let d = diff("a\n", "a \n", 3);
        assert_eq!((d.only_in_a, d.only_in_b), (1, 1));
        // A last line without its newline is the same line.
        let d = diff("a\nb", "a\nb\n", 3);
        assert!(d.is_equal());
        assert_eq!(d.in_both, 2);
        // A blank line is a line.
        let d = diff("\na\n", "a\n", 3);
        assert_eq!(d.first_only_in_a, lines(&[""]));
    }

    #[test]
    fn interleaved_lines_are_matched() {
        let d = diff("a\nc\ne\ng\n", "b\nc\nd\ng\nh\n", 10);
        assert_eq!((d.in_both, d.only_in_a, d.only_in_b), (2, 2, 3));
        assert_eq!(d.first_only_in_a, lines(&["a", "e"]));
        assert_eq!(d.first_only_in_b, lines(&["b", "d", "h"]));
    }

    #[test]
    fn an_unsorted_side_stops_the_walk_with_its_line() {
        assert_eq!(
            cmp("a\nc\nb\n", "a\nb\nc\n", 3),
            DayComparison::Unsorted {
                side: Side::A,
                line: 3,
                disorder: Disorder::OutOfOrder
            }
        );
        assert_eq!(
            cmp("a\nb\n", "a\nb\nb\n", 3),
            DayComparison::Unsorted {
                side: Side::B,
                line: 3,
                disorder: Disorder::Duplicate
            }
        );
        // Out of order on the first pair of lines, and found after the other side has ended.
        assert_eq!(
            cmp("", "b\na\n", 3),
            DayComparison::Unsorted {
                side: Side::B,
                line: 2,
                disorder: Disorder::OutOfOrder
            }
        );
        // A trailing blank line sorts before everything.
        assert_eq!(
            cmp("a\n", "a\n\n", 3),
            DayComparison::Unsorted {
                side: Side::B,
                line: 2,
                disorder: Disorder::OutOfOrder
            }
        );
    }

    #[test]
    fn a_read_error_names_the_side_and_the_last_line() {
        struct Broken(u8);
        impl io::Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf[..2].copy_from_slice(b"x\n");
                Ok(2)
            }
        }
        let b = io::BufReader::with_capacity(2, Broken(1));
        let e = compare_sorted("x\ny\n".as_bytes(), b, 3).unwrap_err();
        assert_eq!((e.side, e.line), (Side::B, 1));
        assert_eq!(
            e.to_string(),
            "reading B's file failed after line 1: connection reset"
        );
    }
}
