//! Where a merged day file is written before it is uploaded.
//!
//! Small outputs stay in memory; past `memory_limit` bytes the spool moves to a named temporary
//! file, so a 512 MiB day costs disk, not memory, and an upload (or a retried part) can read it
//! again from the path. A spool can be emptied and started again: when an existing day file
//! turns out not to be sorted, the merge starts over with the fallback sort.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::PathBuf;

use tempfile::NamedTempFile;

/// An output that can be emptied and written again from the start.
pub trait Restart {
    fn restart(&mut self) -> io::Result<()>;
}

impl Restart for io::Sink {
    fn restart(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Restart for BufWriter<&mut File> {
    fn restart(&mut self) -> io::Result<()> {
        self.flush()?;
        empty(self.get_mut())
    }
}

/// Truncates `f` and moves to its start.
fn empty(f: &mut File) -> io::Result<()> {
    f.set_len(0)?;
    f.rewind()
}

/// Memory first, then a temporary file.
#[derive(Debug)]
pub struct Spool {
    mem: Vec<u8>,
    file: Option<BufWriter<NamedTempFile>>,
    len: u64,
    memory_limit: usize,
    dir: Option<PathBuf>,
}

/// A finished spool.
#[derive(Debug)]
pub enum Spooled {
    Memory(Vec<u8>),
    File(NamedTempFile, u64),
}

impl Spool {
    /// A spool holding up to `memory_limit` bytes in memory; temporary files go to `dir` (the
    /// system temporary directory when `None`).
    pub fn new(memory_limit: usize, dir: Option<PathBuf>) -> Spool {
        Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            memory_limit,
            dir,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Flushes and hands over what was written.
    pub fn finish(self) -> io::Result<Spooled> {
        match self.file {
            None => Ok(Spooled::Memory(self.mem)),
            Some(w) => {
                let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
                f.as_file().sync_data()?;
                Ok(Spooled::File(f, self.len))
            }
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
        let f = tempfile::Builder::new()
            .prefix("s3ew-spool-")
            .tempfile_in(dir)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&self.mem)?;
        self.mem = Vec::new();
        self.file = Some(w);
        Ok(())
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.mem.len() + buf.len() > self.memory_limit {
            self.spill()?;
        }
        match &mut self.file {
            Some(f) => f.write_all(buf)?,
            None => self.mem.extend_from_slice(buf),
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Restart for Spool {
    fn restart(&mut self) -> io::Result<()> {
        self.mem.clear();
        if let Some(w) = &mut self.file {
            w.flush()?;
            empty(w.get_mut().as_file_mut())?;
        }
        self.len = 0;
        Ok(())
    }
}

/// Merges `lines` into an existing day file read through `open`, falling back to the external
/// sort when the file is not sorted. `open(again)` returns a reader of the existing file (`None`
/// when there is none); it is called a second time, with `again = true`, only after an
/// unsorted file was detected and `out` restarted.
pub fn merge_with_fallback<R, W, F>(
    mut open: F,
    lines: &[Vec<u8>],
    out: &mut W,
    sort: &crate::core::SortOptions,
    what: &str,
) -> io::Result<crate::core::MergeStats>
where
    R: io::BufRead,
    W: Write + Restart,
    F: FnMut(bool) -> io::Result<Option<R>>,
{
    use crate::core::merge::{merge_sorted, merge_unsorted, MergeError};
    let sorted = match open(false)? {
        Some(existing) => merge_sorted(existing, lines, &mut *out),
        None => merge_sorted(io::empty(), lines, &mut *out),
    };
    match sorted {
        Ok(stats) => Ok(stats),
        Err(MergeError::Io(e)) => Err(e),
        Err(MergeError::Unsorted { line }) => {
            tracing::warn!(
                file = what,
                line,
                "day file is not sorted; merging with the fallback sort"
            );
            out.restart()?;
            let again = open(true)?
                .ok_or_else(|| io::Error::other(format!("{what} disappeared during the merge")))?;
            merge_unsorted(again, lines, out, sort)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_stays_in_memory() {
        let mut s = Spool::new(100, None);
        s.write_all(b"hello\n").unwrap();
        match s.finish().unwrap() {
            Spooled::Memory(v) => assert_eq!(v, b"hello\n"),
            Spooled::File(..) => panic!("spilled too early"),
        }
    }

    #[test]
    fn large_output_spills_to_a_file_with_everything_in_it() {
        let mut s = Spool::new(10, None);
        for _ in 0..5 {
            s.write_all(b"0123456789\n").unwrap();
        }
        assert_eq!(s.len(), 55);
        match s.finish().unwrap() {
            Spooled::File(f, n) => {
                assert_eq!(n, 55);
                assert_eq!(std::fs::read(f.path()).unwrap().len(), 55);
            }
            Spooled::Memory(_) => panic!("should have spilled"),
        }
    }

    #[test]
    fn restart_empties_both_kinds() {
        let mut s = Spool::new(4, None);
        s.write_all(b"abcdefgh").unwrap();
        s.restart().unwrap();
        s.write_all(b"xy").unwrap();
        match s.finish().unwrap() {
            Spooled::File(f, n) => {
                assert_eq!(n, 2);
                assert_eq!(std::fs::read(f.path()).unwrap(), b"xy");
            }
            Spooled::Memory(v) => assert_eq!(v, b"xy"),
        }
    }
}
