//! Day files of exact sizes on both sides of every threshold of the write path: the size-class
//! matrix that `drain`, `verify --repair`, `backfill` and the Lambda handler run on S3 and on a
//! directory.
//!
//! The thresholds, with their defaults: the in-memory spool (8 MiB) < the part size (16 MiB) =
//! the fallback sort's memory budget (16 MiB) < the multipart threshold (64 MiB). The matrix
//! lowers them and keeps that order ([`Thresholds::check_order`]): on S3's side to S3's own 5 MiB
//! part minimum ([`S3_MINIMUM`], what LocalStack and S3 accept), in a directory and on moto by
//! 64 ([`LOWERED`]: 256 KiB parts, which only moto with its minimum lowered accepts, through
//! [`emulator`]). Every class is one day:
//!
//! | class | merged day | path on S3 |
//! | --- | --- | --- |
//! | `spool` | exactly the spool's memory limit | in memory, one PutObject |
//! | `spool+1` | one byte more | spooled to a file, one PutObject from it |
//! | `multipart` | exactly the multipart threshold (4 parts' worth) | spooled, one PutObject |
//! | `multipart+1` | one byte more | multipart: 4 full parts and a 1-byte part |
//! | `5 parts` | exactly 5 parts | multipart: 5 full parts |
//! | `sort-1` | an unsorted existing file one byte under the sort budget | fallback sort in memory |
//! | `sort` | an unsorted existing file exactly at the sort budget | fallback sort spills a run |
//!
//! The sort budget counts each existing line's bytes plus 32 (`LINE_OVERHEAD` in the core's
//! merge), without its newline; a run is spilled when the count reaches the budget.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{Emulator, Kind};

/// The thresholds of the write path, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub spool: u64,
    pub part: u64,
    pub sort: u64,
    pub multipart: u64,
}

/// The program's defaults.
pub const DEFAULTS: Thresholds = Thresholds {
    spool: 8 << 20,
    part: 16 << 20,
    sort: 16 << 20,
    multipart: 64 << 20,
};

/// The defaults divided by 64: the same order.
pub const LOWERED: Thresholds = Thresholds {
    spool: 128 << 10,
    part: 256 << 10,
    sort: 256 << 10,
    multipart: 1 << 20,
};

/// The defaults' order at the smallest part S3 accepts (5 MiB, all parts but the last).
pub const S3_MINIMUM: Thresholds = Thresholds {
    spool: 5 << 19,
    part: 5 << 20,
    sort: 5 << 20,
    multipart: 20 << 20,
};

/// An emulator of `kind` for the matrix on S3, and the thresholds to run it at: LocalStack
/// (S3's own part minimum) at [`S3_MINIMUM`]; moto, with its minimum lowered to match, at
/// [`LOWERED`].
pub fn emulator(kind: Kind) -> (Emulator, Thresholds) {
    if kind.lowers_part_minimum() {
        let min = LOWERED.part.to_string();
        (
            Emulator::moto_with_env(&[("S3_UPLOAD_PART_MIN_SIZE", &min)]),
            LOWERED,
        )
    } else {
        (Emulator::of(kind), S3_MINIMUM)
    }
}

/// The core's per-line overhead in the fallback sort's memory count.
const SORT_LINE_OVERHEAD: u64 = 32;

impl Thresholds {
    /// Panics unless the order and ratios are the defaults': spool < part = sort < multipart,
    /// multipart a whole number of parts (so that `multipart+1` ends in a 1-byte part).
    pub fn check_order(&self) {
        let d = DEFAULTS;
        assert!(d.spool < d.part && d.part == d.sort && d.sort < d.multipart);
        assert!(
            self.spool < self.part && self.part == self.sort && self.sort < self.multipart,
            "{self:?} does not keep the order of the defaults {d:?}"
        );
        assert_eq!(self.multipart % self.part, 0, "{self:?}");
        assert_eq!(d.multipart / d.part, self.multipart / self.part, "{self:?}");
    }

    /// The command-line flags that set them; parts under S3's 5 MiB minimum come with the
    /// hidden flag that lowers it for emulators.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = vec![
            ("--spool-memory-bytes", self.spool),
            ("--part-size-bytes", self.part),
            ("--sort-memory-bytes", self.sort),
            ("--multipart-threshold-bytes", self.multipart),
        ];
        if self.part < S3_MINIMUM.part {
            flags.push(("--min-part-size-bytes", self.part));
        }
        flags
            .iter()
            .flat_map(|(flag, v)| [(*flag).to_owned(), v.to_string()])
            .collect()
    }

    /// Parts of the multipart upload a merged day of `len` bytes needs (0: one PutObject).
    pub fn parts(&self, len: u64) -> u64 {
        if len > self.multipart {
            len.div_ceil(self.part)
        } else {
            0
        }
    }
}

/// One day of the matrix.
#[derive(Debug, Clone)]
pub struct SizedDay {
    /// `YYYYMMDD`.
    pub day: String,
    pub class: &'static str,
    /// The day file before the run.
    pub existing: Vec<u8>,
    /// The day file after the run.
    pub expected: Vec<u8>,
}

/// What a class aims at.
#[derive(Clone, Copy)]
enum Target {
    /// The merged day has exactly this many bytes.
    Merged(u64),
    /// The existing file is unsorted and counts exactly this much against the sort budget.
    SortCount(u64),
}

/// The classes of [`module docs`](self), over `days` (seven `YYYYMMDD`). Each day gets
/// `new_per_day` new lines from `new_line(day, i)`. With `unsorted`, every existing file is
/// out of order (for `verify --repair`); the `sort` classes always are.
pub fn matrix(
    t: &Thresholds,
    days: &[&str],
    new_per_day: usize,
    new_line: impl Fn(&str, usize) -> Vec<u8>,
    unsorted: bool,
) -> Vec<SizedDay> {
    t.check_order();
    let classes = [
        ("spool", Target::Merged(t.spool)),
        ("spool+1", Target::Merged(t.spool + 1)),
        ("multipart", Target::Merged(t.multipart)),
        ("multipart+1", Target::Merged(t.multipart + 1)),
        ("5 parts", Target::Merged(t.multipart + t.part)),
        ("sort-1", Target::SortCount(t.sort - 1)),
        ("sort", Target::SortCount(t.sort)),
    ];
    assert_eq!(days.len(), classes.len(), "one day per class");
    classes
        .iter()
        .zip(days)
        .map(|(&(class, target), day)| {
            let new_lines = (0..new_per_day).map(|i| new_line(day, i)).collect();
            sized_day(day, class, target, new_lines, unsorted)
        })
        .collect()
}

/// One day whose merged file has exactly `merged` bytes, with `new_lines` added to a sorted
/// existing file.
pub fn day_of_size(
    day: &str,
    class: &'static str,
    merged: u64,
    new_lines: Vec<Vec<u8>>,
) -> SizedDay {
    sized_day(day, class, Target::Merged(merged), new_lines, false)
}

fn sized_day(
    day: &str,
    class: &'static str,
    target: Target,
    mut new_lines: Vec<Vec<u8>>,
    unsorted: bool,
) -> SizedDay {
    new_lines.sort();
    let new_bytes: u64 = new_lines.iter().map(|l| l.len() as u64 + 1).sum();
    let (mut existing, shuffle) = match target {
        Target::Merged(n) => (filler(day, n - new_bytes, 1), unsorted),
        Target::SortCount(n) => (filler(day, n, SORT_LINE_OVERHEAD), true),
    };
    let mut all: BTreeSet<&[u8]> = existing.iter().map(Vec::as_slice).collect();
    all.extend(new_lines.iter().map(Vec::as_slice));
    let expected = join(all.into_iter());
    if let Target::Merged(n) = target {
        assert_eq!(expected.len() as u64, n, "{class}: the merged size");
    }
    if shuffle {
        // The last line first: out of order from line 2 on.
        existing.rotate_right(1);
    }
    SizedDay {
        day: day.to_owned(),
        class,
        existing: join(existing.iter().map(Vec::as_slice)),
        expected,
    }
}

/// Sorted lines of day `day` whose lengths plus `overhead` each add up to exactly `total`.
fn filler(day: &str, total: u64, overhead: u64) -> Vec<Vec<u8>> {
    let line = |i: u64, pad: u64| -> Vec<u8> {
        let date = format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]);
        let (hour, minute, second) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        format!(
            r#"{{"timestamp": "{date}T{hour:02}:{minute:02}:{second:02}+00:00", "channel": "SIP/fill-{i:08}", "endpoint": "{}", "event": "filler"}}"#,
            "x".repeat(usize::try_from(pad).unwrap())
        )
        .into_bytes()
    };
    let base = line(0, 0).len() as u64 + overhead;
    let n = (total / (base + 24)).max(1);
    let spare = total - n * base;
    let mut lines: Vec<Vec<u8>> = (0..n)
        .map(|i| line(i, spare / n + u64::from(i < spare % n)))
        .collect();
    lines.sort();
    let got: u64 = lines.iter().map(|l| l.len() as u64 + overhead).sum();
    assert_eq!(got, total, "filler of {day}");
    lines
}

fn join<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// A raw event message (the body a queue delivers) dated `day`, and its line in the archive.
pub fn event(day: &str, i: usize) -> (String, Vec<u8>) {
    let ts = format!(
        "{}-{}-{}T12:00:{i:02}+00:00",
        &day[..4],
        &day[4..6],
        &day[6..]
    );
    let body = format!(
        r#"{{"timestamp": "{ts}", "hostname": "futel-prod-back", "event": {{"Event": "UserEvent", "UserEvent": "seam", "Channel": "SIP/seam-{i:04}", "endpoint": "seam"}}}}"#
    );
    let line = format!(
        r#"{{"timestamp": "{ts}", "channel": "SIP/seam-{i:04}", "endpoint": "seam", "event": "seam"}}"#
    );
    (body, line.into_bytes())
}

/// A metrics-log line dated `day` (a winter day: Los Angeles is at -08:00), and its line in the
/// archive as `backfill` writes it.
pub fn metrics(day: &str, i: usize) -> (String, Vec<u8>) {
    let (y, m, d) = (&day[..4], &day[4..6], &day[6..]);
    let log = format!(
        "{y}-{m}-{d} 12:00:{i:02},123 UNIQUEID=1.{i}, CHANNEL=SIP/seam-{i:04}, CALLERID(number)=+15035550100, name=seam"
    );
    let line = format!(
        r#"{{"timestamp": "{y}-{m}-{d}T12:00:{i:02}-08:00", "channel": "SIP/seam-{i:04}", "endpoint": "SIP/seam-{i:04}", "event": "seam"}}"#
    );
    (log, line.into_bytes())
}

/// Writes every day's existing file into `dir`.
pub fn write_existing(dir: &Path, days: &[SizedDay]) {
    std::fs::create_dir_all(dir).unwrap();
    for d in days {
        std::fs::write(dir.join(&d.day), &d.existing).unwrap();
    }
}

/// Asserts every day of the matrix is as expected, naming the class (not the bytes).
pub fn assert_days(actual: &BTreeMap<String, Vec<u8>>, days: &[SizedDay], what: &str) {
    for d in days {
        let got = actual
            .get(&d.day)
            .unwrap_or_else(|| panic!("{what}: day {} ({}) is missing", d.day, d.class));
        assert!(
            *got == d.expected,
            "{what}: day {} ({}) differs: {} bytes, expected {}",
            d.day,
            d.class,
            got.len(),
            d.expected.len()
        );
    }
}

/// `(PutObject, CreateMultipartUpload, UploadPart)` calls that writing `days` takes on S3 (each
/// day written once, no conflicts).
pub fn expected_writes(t: &Thresholds, days: &[SizedDay]) -> (u64, u64, u64) {
    let parts: Vec<u64> = days
        .iter()
        .map(|d| t.parts(d.expected.len() as u64))
        .collect();
    let puts = parts.iter().filter(|p| **p == 0).count() as u64;
    let uploads = parts.len() as u64 - puts;
    (puts, uploads, parts.iter().sum())
}

/// Each day's class and merged size, for the test output.
pub fn describe(days: &[SizedDay]) -> String {
    days.iter()
        .map(|d| format!("{} {} ({} B)", d.day, d.class, d.expected.len()))
        .collect::<Vec<_>>()
        .join(", ")
}
