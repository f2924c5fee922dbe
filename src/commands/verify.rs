//! `verify`: checks day files against the archive's invariants, and optionally repairs them.
//!
//! Every day file in the range is streamed once and each line is checked: sorted by bytes after
//! the line above it, not a duplicate of the line above, not blank, no trailing white space, a
//! final newline, a JSON object of exactly the string fields `timestamp`, `channel`, `endpoint`
//! and `event` (older lines without `endpoint` are accepted), and a timestamp whose date is the
//! file's day. Findings are listed per file with their line numbers (the first `--max-listed`
//! of each file, then a count).
//!
//! Invariants:
//! - reading never changes anything; only `--repair` writes, and only files with a finding it
//!   can fix (order, duplicates, blank lines, white space);
//! - a repair is the merge of zero new lines: it keeps every line byte for byte (minus trailing
//!   white space), drops only exact duplicates and blank lines, and is written with the same
//!   conditional write as `drain`, so a concurrent drain's lines are never lost. Lines with a bad
//!   shape or a wrong date are kept and stay reported;
//! - after a repair the file is read again, and the exit status reflects what remains:
//!   0 when every file is clean, 1 when any finding remains (or a repair failed).
//!
//! Memory per file: the current and the previous line ([`DayChecker`]), whatever the file's
//! size. In a sorted file every duplicate is next to its twin; in a file out of order, a
//! duplicate away from its twin is not reported (the order finding is, and the repair, which
//! sorts, removes it).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{self, BufRead};

use clap::Args;
use serde_json::Value;

use super::{add_counts, counts_text, plural};
use crate::archive::{range_text, Archive};
use crate::core::merge::trim_line_end;
use crate::core::DayKey;
use crate::settings::{defaults, ArchiveArgs};

const AFTER_HELP: &str = "\
Examples:
  # check a local archive
  s3-event-writer verify --dest /srv/archive/prod

  # check November in S3 and fix order, duplicates and white space
  s3-event-writer verify --dest s3://logpublish/events/prod/ --from 20261101 --to 20261130 --repair

Checks per line: sorted after the line above, not a duplicate of the line above (in a sorted
file every duplicate is; in a file out of order --repair removes the others), no blank lines
or trailing white space, a final newline, a JSON object of the string fields
timestamp/channel/endpoint/event (endpoint may be missing on older lines), and a timestamp
dated the file's day.

--repair rewrites a file sorted and de-duplicated with the same conditional write as drain; it
never removes a line other than an exact duplicate or a blank line. Lines with a bad shape or a
wrong date are kept and still reported.

Exit status:
  0  every file checked is clean (after --repair, if given)
  1  findings remain, or a repair failed
  2  usage error
  3  the archive could not be listed or read";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct VerifyArgs {
    /// First day checked (YYYYMMDD or YYYY-MM-DD). [default: the first day file]
    #[arg(long, value_name = "DAY")]
    pub from: Option<DayKey>,
    /// Last day checked (YYYYMMDD or YYYY-MM-DD). [default: the last day file]
    #[arg(long, value_name = "DAY")]
    pub to: Option<DayKey>,
    /// Rewrite files with order, duplicate or white-space findings, sorted and de-duplicated.
    #[arg(long)]
    pub repair: bool,
    /// Findings listed per file (the rest are counted).
    #[arg(long, value_name = "N", default_value_t = defaults::VERIFY_MAX_LISTED)]
    pub max_listed: usize,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// What is wrong with a line. The kinds `--repair` fixes come first, up to `NoFinalNewline`
/// ([`FileCheck::repairable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    OutOfOrder,
    Duplicate,
    Blank,
    TrailingWhitespace,
    NoFinalNewline,
    NotJson,
    BadShape,
    WrongDate,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::OutOfOrder => "out of order",
            Kind::Duplicate => "duplicate",
            Kind::Blank => "blank line",
            Kind::TrailingWhitespace => "trailing white space",
            Kind::NoFinalNewline => "no final newline",
            Kind::NotJson => "not JSON",
            Kind::BadShape => "bad shape",
            Kind::WrongDate => "wrong date",
        })
    }
}

/// One finding: a line number (1-based, every physical line counted) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: u64,
    pub kind: Kind,
    pub detail: String,
}

/// The result of checking one day file.
#[derive(Debug, Clone, Default)]
pub struct FileCheck {
    /// Physical lines read.
    pub lines: u64,
    /// The first findings, in line order (at most the listing cap).
    pub listed: Vec<Finding>,
    /// Every finding, by kind.
    pub counts: BTreeMap<Kind, u64>,
}

impl FileCheck {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn repairable(&self) -> bool {
        self.counts.keys().any(|&k| k <= Kind::NoFinalNewline)
    }

    fn add(&mut self, cap: usize, line: u64, kind: Kind, detail: String) {
        *self.counts.entry(kind).or_default() += 1;
        if self.listed.len() < cap {
            self.listed.push(Finding { line, kind, detail });
        }
    }
}

/// Checks one record line (trailing white space already stripped): `Err((kind, detail))` when
/// it is not a record of the archive's shape or not dated `day`.
fn check_record(line: &[u8], day: DayKey) -> Result<(), (Kind, String)> {
    const FIELDS: [&str; 4] = ["timestamp", "channel", "endpoint", "event"];
    let value: Value = serde_json::from_slice(line).map_err(|e| (Kind::NotJson, e.to_string()))?;
    let Value::Object(map) = value else {
        return Err((Kind::BadShape, "not a JSON object".into()));
    };
    if let Some(key) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err((Kind::BadShape, format!("unexpected field {key:?}")));
    }
    for field in FIELDS {
        match map.get(field) {
            Some(Value::String(_)) => {}
            None if field == "endpoint" => {}
            None => return Err((Kind::BadShape, format!("no {field:?} field"))),
            Some(_) => return Err((Kind::BadShape, format!("{field:?} is not a string"))),
        }
    }
    let timestamp = map["timestamp"].as_str().unwrap_or_default();
    if DayKey::from_timestamp(timestamp) != Some(day) {
        let dated = format!("timestamp {timestamp:?} is not dated {}", day.iso_date());
        return Err((Kind::WrongDate, dated));
    }
    Ok(())
}

/// Checks one day file read from `reader`, listing at most `cap` findings.
pub fn check_day(reader: &mut dyn BufRead, day: DayKey, cap: usize) -> io::Result<FileCheck> {
    let mut checker = DayChecker::new(day, cap);
    let mut buf = Vec::with_capacity(256);
    while reader.read_until(b'\n', &mut buf)? > 0 {
        checker.line(&buf);
        buf.clear();
    }
    Ok(checker.finish())
}

/// Checking one day file, line by line. Between lines it holds the previous line and nothing
/// else, whatever the file's size ([`DayChecker::held_bytes`]).
#[derive(Debug)]
pub struct DayChecker {
    day: DayKey,
    cap: usize,
    check: FileCheck,
    /// The previous non-blank line (trailing white space removed) and its number (0: none).
    prev: Vec<u8>,
    prev_line: u64,
    /// The number of the first line of the run of equal lines `prev` ends.
    run_first: u64,
}

impl DayChecker {
    pub fn new(day: DayKey, cap: usize) -> DayChecker {
        DayChecker {
            day,
            cap,
            check: FileCheck::default(),
            prev: Vec::with_capacity(256),
            prev_line: 0,
            run_first: 0,
        }
    }

    /// Checks the next physical line, `buf`: its bytes up to and including its newline (none
    /// on a last line without one).
    pub fn line(&mut self, buf: &[u8]) {
        self.check.lines += 1;
        let (n, cap) = (self.check.lines, self.cap);
        let mut add = |kind, detail: String| self.check.add(cap, n, kind, detail);
        let content = buf.strip_suffix(b"\n").unwrap_or(buf);
        if content.len() == buf.len() {
            add(Kind::NoFinalNewline, "the last line has no newline".into());
        }
        let line = trim_line_end(content);
        if line.is_empty() {
            return add(Kind::Blank, String::new());
        }
        if line.len() < content.len() {
            let trailing = format!("{} trailing bytes", content.len() - line.len());
            add(Kind::TrailingWhitespace, trailing);
        }
        // Sorted, equal lines are adjacent: the line above is all duplicates need.
        if self.prev_line > 0 && line == self.prev.as_slice() {
            add(Kind::Duplicate, format!("of line {}", self.run_first));
        } else {
            if self.prev_line > 0 && line < self.prev.as_slice() {
                let before = format!("sorts before line {}", self.prev_line);
                add(Kind::OutOfOrder, before);
            }
            self.run_first = n;
        }
        if let Err((kind, detail)) = check_record(line, self.day) {
            add(kind, detail);
        }
        self.prev.clear();
        self.prev.extend_from_slice(line);
        self.prev_line = n;
    }

    /// Bytes held from one line to the next: the previous line's buffer, never more than the
    /// longest line (or 256).
    pub fn held_bytes(&self) -> usize {
        self.prev.capacity()
    }

    pub fn finish(self) -> FileCheck {
        self.check
    }
}

/// What a `verify` run found, summed over the files: the summary is rendered from it.
#[derive(Debug, Default)]
struct Totals {
    days: u64,
    lines: u64,
    by_kind: BTreeMap<Kind, u64>,
    files_with_findings: u64,
    remaining_by_kind: BTreeMap<Kind, u64>,
    repaired: u64,
    repair_failures: u64,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<i32> {
    let archive = crate::wiring::open_archive(&args.archive.resolve()?).await;
    let days = archive.days(args.from, args.to).await?;
    let cap = args.max_listed;
    let mut totals = Totals::default();
    for &day in &days {
        let Some(check) = archive.scan(day, move |r| check_day(r, day, cap)).await? else {
            continue; // removed since the listing
        };
        totals.lines += check.lines;
        if check.total() == 0 {
            continue;
        }
        totals.files_with_findings += 1;
        add_counts(&mut totals.by_kind, &check.counts);
        let mut out = report_file(&archive, day, &check);
        let after = if args.repair && check.repairable() {
            repair(&archive, day, check, cap, &mut totals, &mut out).await?
        } else {
            check
        };
        add_counts(&mut totals.remaining_by_kind, &after.counts);
        print!("{out}");
    }
    totals.days = days.len() as u64;
    let range = match (args.from, args.to) {
        (None, None) => String::new(),
        (from, to) => format!(" ({})", range_text(from, to)),
    };
    print!(
        "{}",
        totals_text(&totals, &archive.location.to_string(), &range, args.repair)
    );
    Ok(super::exit_status(
        totals.remaining_by_kind.is_empty() && totals.repair_failures == 0,
    ))
}

/// Rewrites one day and checks it again; what the check finds after the repair.
async fn repair(
    archive: &Archive,
    day: DayKey,
    check: FileCheck,
    cap: usize,
    totals: &mut Totals,
    out: &mut String,
) -> anyhow::Result<FileCheck> {
    let stats = match archive.rewrite(day).await {
        Ok(stats) => stats,
        Err(e) => {
            totals.repair_failures += 1;
            let _ = writeln!(out, "  REPAIR FAILED: {e:#}");
            return Ok(check);
        }
    };
    totals.repaired += 1;
    let _ = writeln!(
        out,
        "  repaired: rewrote {} sorted and de-duplicated ({} lines before)",
        plural(stats.map_or(0, |s| s.total_lines), "line", "lines"),
        check.lines
    );
    let after = archive.scan(day, move |r| check_day(r, day, cap)).await?;
    let after = after.unwrap_or_default();
    if after.total() > 0 {
        let _ = writeln!(
            out,
            "  after the repair, {} (not repairable, kept as is):",
            plural(after.total(), "finding remains", "findings remain")
        );
        list_findings(out, &after);
    }
    Ok(after)
}

/// The closing lines of a run (pure).
fn totals_text(t: &Totals, location: &str, range: &str, repair: bool) -> String {
    let total: u64 = t.by_kind.values().sum();
    let found = match total {
        0 => "clean".to_owned(),
        n => format!(
            "{} in {} ({})",
            plural(n, "finding", "findings"),
            plural(t.files_with_findings, "file", "files"),
            counts_text(&t.by_kind)
        ),
    };
    let mut out = format!(
        "checked {} ({}) in {location}{range}: {found}\n",
        plural(t.days, "day file", "day files"),
        plural(t.lines, "line", "lines"),
    );
    if repair && total > 0 {
        let remaining: u64 = t.remaining_by_kind.values().sum();
        let repaired = plural(t.repaired, "file", "files");
        let left = plural(remaining, "finding remains", "findings remain");
        let _ = write!(out, "repaired {repaired}; {left}");
        if remaining > 0 {
            let _ = write!(out, " ({})", counts_text(&t.remaining_by_kind));
        }
        if t.repair_failures > 0 {
            let failed = plural(t.repair_failures, "repair", "repairs");
            let _ = write!(out, "; {failed} FAILED");
        }
        out.push('\n');
    }
    if t.days == 0 {
        let _ = writeln!(out, "(no day files found in the range)");
    }
    out
}

fn report_file(archive: &Archive, day: DayKey, check: &FileCheck) -> String {
    let mut out = format!(
        "{}{day}: {} in {} ({})\n",
        archive.location_prefix(),
        plural(check.total(), "finding", "findings"),
        plural(check.lines, "line", "lines"),
        counts_text(&check.counts)
    );
    list_findings(&mut out, check);
    out
}

/// The findings listed (at most the cap the check was made with), then a count of the rest.
fn list_findings(out: &mut String, check: &FileCheck) {
    for f in &check.listed {
        let colon = if f.detail.is_empty() { "" } else { ": " };
        let _ = writeln!(out, "  line {}: {}{colon}{}", f.line, f.kind, f.detail);
    }
    let more = check.total().saturating_sub(check.listed.len() as u64);
    if more > 0 {
        let _ = writeln!(out, "  ... and {more} more");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> DayKey {
        "20261120".parse().unwrap()
    }

    fn rec(ts: &str, event: &str) -> String {
        format!(
            "{{\"timestamp\": \"{ts}\", \"channel\": \"c\", \"endpoint\": \"e\", \"event\": \"{event}\"}}"
        )
    }

    fn check(text: &str) -> FileCheck {
        check_day(&mut text.as_bytes(), day(), 100).unwrap()
    }

    #[test]
    fn a_sorted_clean_file_has_no_findings() {
        let text = format!(
            "{}\n{}\n{{\"timestamp\": \"2026-11-20T02\", \"channel\": \"c\", \"event\": \"old\"}}\n",
            rec("2026-11-20T00", "a"),
            rec("2026-11-20T01", "b")
        );
        let c = check(&text);
        assert_eq!(c.total(), 0, "{:?}", c.listed);
        assert_eq!(c.lines, 3);
    }

    #[test]
    fn each_kind_is_found_on_its_line() {
        let a = rec("2026-11-20T00", "a");
        let b = rec("2026-11-20T01", "b");
        let text = format!(
            "[1]\nnope\n{{\"a\": 1}}\n{b}\n{a}\n{a}  \n\n{}",
            rec("2026-11-21T00", "z")
        );
        let c = check(&text);
        let got: Vec<(u64, Kind)> = c.listed.iter().map(|f| (f.line, f.kind)).collect();
        assert_eq!(
            got,
            [
                (1, Kind::BadShape),
                (2, Kind::NotJson),
                (3, Kind::BadShape),
                (5, Kind::OutOfOrder),
                (6, Kind::TrailingWhitespace),
                (6, Kind::Duplicate),
                (7, Kind::Blank),
                (8, Kind::NoFinalNewline),
                (8, Kind::WrongDate),
            ]
        );
        assert_eq!(c.listed[5].detail, "of line 5");
        assert_eq!(c.listed[3].detail, "sorts before line 4");
        assert!(c.repairable());
    }

    #[test]
    fn unrepairable_only() {
        let c = check(&format!("{}\n", rec("2026-11-21T00", "z")));
        assert_eq!(c.total(), 1);
        assert!(!c.repairable());
    }

    #[test]
    fn the_listing_is_capped_but_everything_counted() {
        let a = rec("2026-11-20T00", "a");
        let text = format!("{a}\n").repeat(30);
        let c = check_day(&mut text.as_bytes(), day(), 5).unwrap();
        assert_eq!(c.listed.len(), 5);
        assert_eq!(c.total(), 29);
    }

    /// A duplicate away from its twin in a file out of order is the repair's to remove: the
    /// check reports the order and holds no more than the line above.
    #[test]
    fn a_duplicate_away_from_its_twin_is_left_to_the_repair_that_sorts() {
        let a = rec("2026-11-20T00", "a");
        let b = rec("2026-11-20T01", "b");
        let c = check(&format!("{b}\n{a}\n{b}\n"));
        let got: Vec<(u64, Kind)> = c.listed.iter().map(|f| (f.line, f.kind)).collect();
        assert_eq!(got, [(2, Kind::OutOfOrder)]);
        assert!(c.repairable());
    }

    #[test]
    fn a_run_of_duplicates_names_its_first_line() {
        let a = rec("2026-11-20T00", "a");
        let b = rec("2026-11-20T01", "b");
        let c = check(&format!("{a}\n{b}\n{b}\n{b}\n"));
        let got: Vec<(u64, &str)> = c
            .listed
            .iter()
            .map(|f| (f.line, f.detail.as_str()))
            .collect();
        assert_eq!(got, [(3, "of line 2"), (4, "of line 2")]);
    }

    /// A large day with a duplicate every 1000 lines: each is found, and between lines the
    /// check holds one line's bytes, not one entry per line.
    #[test]
    fn a_large_day_is_checked_holding_only_the_line_above() {
        let mut checker = DayChecker::new(day(), 10);
        let mut longest = 0;
        for i in 0..200_000u32 {
            let line = format!("{}\n", rec(&format!("2026-11-20T{i:07}"), "e"));
            checker.line(line.as_bytes());
            if i % 1000 == 0 {
                checker.line(line.as_bytes());
            }
            longest = longest.max(line.len());
            assert!(checker.held_bytes() <= longest.max(256), "line {i}");
        }
        let c = checker.finish();
        assert_eq!(c.lines, 200_200);
        assert_eq!(c.counts.get(&Kind::Duplicate), Some(&200));
        assert_eq!(c.total(), 200, "{:?}", c.listed);
    }
}
