//! `compare`: says whether two archives hold the same lines, day by day (a shadow run's
//! evidence: the legacy writer into one prefix, this one into another).
//!
//! Each archive is `s3://BUCKET/PREFIX/` or a DIR, in any mix. The day files of both are listed
//! (within `--from`/`--to`); a day on one side only is `missing in A` or `missing in B`, a day
//! on both is streamed from both at once through [`crate::core::compare`]'s merge walk: `equal`,
//! `differ` (lines only in A and only in B, counted, the first `--show` of each printed) or
//! `unsortable` (a file not sorted and de-duplicated at some line: the side, key and line are
//! named and `verify` advised; it counts as a difference).
//!
//! Invariants: read-only; memory per day is the walk's line buffers and the lines shown, never
//! a whole day; days are read `--concurrency` at a time and reported in date order. Exit 0 when
//! every day in the range is equal on both sides, 1 when any differs or is missing on one side,
//! 2 on a usage error, 3 when a side cannot be listed or read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use clap::Args;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::plural;
use crate::adapters::{DayStore as _, DestError};
use crate::archive::{range_text, Archive};
use crate::core::compare::{compare_sorted, DayComparison, Diff, Disorder, ReadError, Side};
use crate::core::DayKey;
use crate::location::Location;
use crate::settings::{defaults, AwsArgs, UsageError};
use crate::wiring::Wiring;

const AFTER_HELP: &str = "\
Examples:
  # a shadow run: the legacy writer's archive against this writer's
  s3-event-writer compare s3://logpublish/events/prod/ s3://logpublish/events/shadow/

  # one week, an S3 archive against a local copy, as JSON
  s3-event-writer compare s3://logpublish/events/prod/ /srv/archive/prod --from 20261101 --to 20261107 --json

Day files must be sorted and de-duplicated; a file that is not is reported as unsortable (with
its line) and counted as a difference: run verify on it.

Exit status:
  0  every day in the range holds the same lines in both archives
  1  some day differs, is unsortable or is missing on one side
  2  usage error
  3  an archive could not be listed or read (missing directory or bucket, denied, unreachable)";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct CompareArgs {
    /// The first archive: s3://BUCKET/PREFIX/ or a DIR (say, the legacy writer's).
    #[arg(value_name = "A")]
    pub a: String,
    /// The second archive: s3://BUCKET/PREFIX/ or a DIR (say, this writer's shadow run).
    #[arg(value_name = "B")]
    pub b: String,
    /// First day compared (YYYYMMDD or YYYY-MM-DD). [default: the first day file of either]
    #[arg(long, value_name = "DAY")]
    pub from: Option<DayKey>,
    /// Last day compared (YYYYMMDD or YYYY-MM-DD). [default: the last day file of either]
    #[arg(long, value_name = "DAY")]
    pub to: Option<DayKey>,
    /// Lines shown per day and side that are only on that side (the rest are counted).
    #[arg(long, value_name = "N", default_value_t = defaults::COMPARE_SHOW)]
    pub show: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// List equal days too.
    #[arg(long, short)]
    pub verbose: bool,
    /// Days read at once (each from both archives).
    #[arg(long, value_name = "N", default_value_t = defaults::COMPARE_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// A side that cannot be used (exit status 3).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("archive {side} cannot be used: {error}; {advice}")]
    List {
        side: Side,
        error: String,
        advice: String,
    },
    /// A day file could not be opened (the error names its key).
    #[error("archive {side}: {error}")]
    Open { side: Side, error: DestError },
    /// A day file broke off while it was read.
    #[error("archive {side}: reading {key} failed after line {line}: {error}; run compare again, and if it fails again check the file")]
    Read {
        side: Side,
        key: String,
        line: u64,
        error: std::io::Error,
    },
}

/// The days of a run, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Days with a file on either side.
    pub days: u64,
    pub equal: u64,
    /// Days with a file on both sides that do not hold the same lines (unsortable ones included).
    pub differ: u64,
    /// Of `differ`: days whose walk stopped at a line out of order or repeated.
    pub unsortable: u64,
    pub missing_in_a: u64,
    pub missing_in_b: u64,
}

impl Summary {
    pub fn add(&mut self, outcome: &DayComparison) {
        self.days += 1;
        match outcome {
            DayComparison::MissingIn(Side::A) => self.missing_in_a += 1,
            DayComparison::MissingIn(Side::B) => self.missing_in_b += 1,
            DayComparison::Compared(d) if d.is_equal() => self.equal += 1,
            DayComparison::Compared(_) => self.differ += 1,
            DayComparison::Unsorted { .. } => {
                self.differ += 1;
                self.unsortable += 1;
            }
        }
    }

    pub fn all_equal(&self) -> bool {
        self.equal == self.days
    }
}

/// The two archives, as the output names them.
#[derive(Debug, Clone)]
pub struct Names {
    /// `s3://b/p/` or `DIR`, as given to `verify --dest`.
    pub location: [String; 2],
    /// Where day files are, as a prefix their names follow (`s3://b/p/`, `DIR/`).
    pub prefix: [String; 2],
}

impl Names {
    fn of(archives: &[Archive; 2]) -> Names {
        Names {
            location: archives.each_ref().map(|a| a.location.to_string()),
            prefix: archives.each_ref().map(Archive::location_prefix),
        }
    }

    fn key(&self, side: Side, day: DayKey) -> String {
        format!("{}{day}", self.prefix[side as usize])
    }
}

/// A line for a terminal: control characters escaped (pure).
fn shown(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The text of one day: nothing for an equal day unless `verbose` (pure).
pub fn day_text(day: DayKey, outcome: &DayComparison, names: &Names, verbose: bool) -> String {
    match outcome {
        DayComparison::MissingIn(side) => format!("{day}: missing in {side}\n"),
        DayComparison::Compared(d) if d.is_equal() && !verbose => String::new(),
        DayComparison::Compared(d) if d.is_equal() => {
            format!("{day}: equal, {}\n", plural(d.in_both, "line", "lines"))
        }
        DayComparison::Compared(d) => {
            let mut out = format!(
                "{day}: differ: {} only in A, {} only in B, {} in both\n",
                plural(d.only_in_a, "line", "lines"),
                plural(d.only_in_b, "line", "lines"),
                d.in_both
            );
            list_only(&mut out, Side::A, d.only_in_a, &d.first_only_in_a);
            list_only(&mut out, Side::B, d.only_in_b, &d.first_only_in_b);
            out
        }
        DayComparison::Unsorted {
            side,
            line,
            disorder,
        } => {
            let how = match disorder {
                Disorder::OutOfOrder => format!("sorts before line {}", line - 1),
                Disorder::Duplicate => format!("repeats line {}", line - 1),
            };
            format!(
                "{day}: unsortable: {side}'s {} line {line} {how}; not compared past it: run `s3-event-writer verify --dest {} --from {day} --to {day}` (--repair sorts and de-duplicates it)\n",
                names.key(*side, day),
                names.location[*side as usize],
            )
        }
    }
}

fn list_only(out: &mut String, side: Side, count: u64, first: &[String]) {
    for line in first {
        let _ = writeln!(out, "  only in {side}: {}", shown(line));
    }
    let more = count - first.len() as u64;
    if more > 0 {
        let _ = writeln!(out, "  ... and {more} more only in {side}");
    }
}

/// The closing line(s) of a run (pure). `range` is the days covered; `empty` the sides that
/// had no day file in it.
pub fn summary_text(s: &Summary, names: &Names, range: &str, empty: &[Side]) -> String {
    let mut out = format!(
        "compared {} ({range}) of A {} and B {}: {} equal, {} differing{}, {} missing in A, {} missing in B\n",
        plural(s.days, "day", "days"),
        names.location[0],
        names.location[1],
        s.equal,
        s.differ,
        match s.unsortable {
            0 => String::new(),
            n => format!(" ({n} unsortable)"),
        },
        s.missing_in_a,
        s.missing_in_b,
    );
    if s.days == 0 {
        let _ = writeln!(out, "(no day files found in the range)");
    } else {
        for side in empty {
            let _ = writeln!(
                out,
                "{side} has no day file in the range: is {} the right location?",
                names.location[*side as usize]
            );
        }
    }
    out
}

/// The `--json` document, members in this order.
#[derive(Debug, Serialize)]
struct CompareJson<'a> {
    a: &'a str,
    b: &'a str,
    from: Option<String>,
    to: Option<String>,
    equal: bool,
    summary: &'a Summary,
    days: Vec<DayJson>,
}

#[derive(Debug, Serialize)]
struct DayJson {
    day: String,
    #[serde(flatten)]
    outcome: OutcomeJson,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum OutcomeJson {
    Equal {
        in_both: u64,
    },
    Differ(Diff),
    Unsortable {
        side: Side,
        key: String,
        line: u64,
        problem: Disorder,
    },
    MissingInA,
    MissingInB,
}

fn day_json(day: DayKey, outcome: DayComparison, names: &Names) -> DayJson {
    let outcome = match outcome {
        DayComparison::MissingIn(Side::A) => OutcomeJson::MissingInA,
        DayComparison::MissingIn(Side::B) => OutcomeJson::MissingInB,
        DayComparison::Compared(d) if d.is_equal() => OutcomeJson::Equal { in_both: d.in_both },
        DayComparison::Compared(d) => OutcomeJson::Differ(d),
        DayComparison::Unsorted {
            side,
            line,
            disorder,
        } => OutcomeJson::Unsortable {
            side,
            key: names.key(side, day),
            line,
            problem: disorder,
        },
    };
    DayJson {
        day: day.to_string(),
        outcome,
    }
}

/// Every day listed on either side, in date order, with the side it is missing on (pure).
pub fn pair_days(a: &[DayKey], b: &[DayKey]) -> Vec<(DayKey, Option<Side>)> {
    let mut days: BTreeMap<DayKey, Option<Side>> = a.iter().map(|d| (*d, Some(Side::B))).collect();
    for d in b {
        days.entry(*d)
            .and_modify(|missing| *missing = None)
            .or_insert(Some(Side::A));
    }
    days.into_iter().collect()
}

/// Lists one side's days in the range, or says why it cannot be used.
async fn list(
    archive: &Archive,
    side: Side,
    from: Option<DayKey>,
    to: Option<DayKey>,
) -> Result<Vec<DayKey>, CompareError> {
    let listed = archive.days(from, to).await;
    listed.map_err(|e| CompareError::List {
        side,
        error: format!("{e:#}"),
        advice: match &archive.location {
            Location::Dir(_) => "check the path: it must be an existing, readable directory"
                .to_owned(),
            Location::S3 { bucket, .. } => format!(
                "check the bucket name {bucket}, the endpoint and that the credentials may list it (s3:ListBucket); `s3-event-writer doctor --dest {}` checks them",
                archive.location
            ),
        },
    })
}

/// Compares one day present in both listings; `None` when it has gone from both since.
async fn compare_day(
    archives: &[Archive; 2],
    names: &Names,
    day: DayKey,
    show: usize,
) -> Result<Option<DayComparison>, CompareError> {
    let open = |side: Side| async move {
        let opened = archives[side as usize].store.open_day(day).await;
        opened.map_err(|error| CompareError::Open { side, error })
    };
    let (a, b) = match futures::try_join!(open(Side::A), open(Side::B))? {
        (Some(a), Some(b)) => (a, b),
        (None, None) => return Ok(None),
        (None, Some(_)) => return Ok(Some(DayComparison::MissingIn(Side::A))),
        (Some(_), None) => return Ok(Some(DayComparison::MissingIn(Side::B))),
    };
    let walked = tokio::task::spawn_blocking(move || compare_sorted(a, b, show))
        .await
        .unwrap_or_else(|join| {
            let (side, line) = (Side::A, 0);
            let error = std::io::Error::other(format!("the comparison stopped: {join}"));
            Err(ReadError { side, line, error })
        });
    walked.map(Some).map_err(|e| CompareError::Read {
        side: e.side,
        key: names.key(e.side, day),
        line: e.line,
        error: e.error,
    })
}

pub async fn run(args: CompareArgs) -> anyhow::Result<i32> {
    if let Some((from, to)) = args.from.zip(args.to).filter(|(from, to)| from > to) {
        let e = format!("--from {from} is after --to {to}: give the earlier day to --from");
        return Err(UsageError::new(e).into());
    }
    let parse = |s: &str| Location::parse(s).map_err(UsageError::from);
    let (a, b) = (parse(&args.a)?, parse(&args.b)?);
    let wiring = Wiring::new(&args.aws.resolve()?);
    let open = |location: Location| async {
        let store = wiring.day_store(&location).await;
        Archive { location, store }
    };
    let archives = [open(a).await, open(b).await];
    let names = Names::of(&archives);
    let (listed_a, listed_b) = futures::try_join!(
        list(&archives[0], Side::A, args.from, args.to),
        list(&archives[1], Side::B, args.from, args.to)
    )?;
    let days = pair_days(&listed_a, &listed_b);
    let (summary, json_days, covered) = walk(&archives, &names, &days, &args).await?;
    let from = args.from.or(covered.map(|c| c.0));
    let to = args.to.or(covered.map(|c| c.1));
    if args.json {
        let doc = CompareJson {
            a: &names.location[0],
            b: &names.location[1],
            from: from.map(|d| d.to_string()),
            to: to.map(|d| d.to_string()),
            equal: summary.all_equal(),
            summary: &summary,
            days: json_days,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let empty: Vec<Side> = [(Side::A, &listed_a), (Side::B, &listed_b)]
            .iter()
            .filter_map(|(side, listed)| listed.is_empty().then_some(*side))
            .collect();
        let range = range_text(from, to);
        print!("{}", summary_text(&summary, &names, &range, &empty));
    }
    Ok(super::exit_status(summary.all_equal()))
}

/// Compares `days` `--concurrency` at a time, printing each day's text (or keeping its JSON)
/// in date order; the summary, the JSON days and the first and last day compared.
async fn walk(
    archives: &[Archive; 2],
    names: &Names,
    days: &[(DayKey, Option<Side>)],
    args: &CompareArgs,
) -> Result<(Summary, Vec<DayJson>, Option<(DayKey, DayKey)>), CompareError> {
    // After the first error no new day is started, and the days in flight are read to their
    // end before the error is returned: their reads run on blocking threads, which must not
    // outlive the runtime.
    let stopped = &AtomicBool::new(false);
    let mut results = stream::iter(days.iter().copied())
        .map(|(day, missing)| async move {
            let outcome = match missing {
                _ if stopped.load(SeqCst) => None,
                Some(side) => Some(DayComparison::MissingIn(side)),
                None => compare_day(archives, names, day, args.show).await?,
            };
            Ok::<_, CompareError>((day, outcome))
        })
        .buffered(args.concurrency.max(1));
    let mut summary = Summary::default();
    let mut json_days = Vec::new();
    let mut covered: Option<(DayKey, DayKey)> = None;
    while let Some(result) = results.next().await {
        let (day, outcome) = match result {
            Ok(r) => r,
            Err(e) => {
                stopped.store(true, SeqCst);
                while results.next().await.is_some() {}
                return Err(e);
            }
        };
        let Some(outcome) = outcome else { continue };
        summary.add(&outcome);
        covered = Some(covered.map_or((day, day), |(first, _)| (first, day)));
        if args.json {
            json_days.push(day_json(day, outcome, names));
        } else {
            print!("{}", day_text(day, &outcome, names, args.verbose));
        }
    }
    Ok((summary, json_days, covered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> DayKey {
        "20261127".parse().unwrap()
    }

    fn names() -> Names {
        Names {
            location: ["/a/prod".into(), "s3://b/events/shadow/".into()],
            prefix: ["/a/prod/".into(), "s3://b/events/shadow/".into()],
        }
    }

    fn differ(only_a: u64, first_a: &[&str], only_b: u64, first_b: &[&str]) -> DayComparison {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        DayComparison::Compared(Diff {
            in_both: 5,
            only_in_a: only_a,
            only_in_b: only_b,
            first_only_in_a: v(first_a),
            first_only_in_b: v(first_b),
        })
    }

    fn equal(lines: u64) -> DayComparison {
        DayComparison::Compared(Diff {
            in_both: lines,
            ..Diff::default()
        })
    }

    #[test]
    fn days_are_paired_in_date_order() {
        let d = |s: &str| s.parse::<DayKey>().unwrap();
        assert_eq!(
            pair_days(
                &[d("20261120"), d("20261122"), d("20261123")],
                &[d("20261121"), d("20261122"), d("20261124")]
            ),
            [
                (d("20261120"), Some(Side::B)),
                (d("20261121"), Some(Side::A)),
                (d("20261122"), None),
                (d("20261123"), Some(Side::B)),
                (d("20261124"), Some(Side::A)),
            ]
        );
        assert!(pair_days(&[], &[]).is_empty());
    }

    #[test]
    fn equal_days_are_listed_only_when_verbose() {
        assert_eq!(day_text(day(), &equal(3), &names(), false), "");
        assert_eq!(
            day_text(day(), &equal(1), &names(), true),
            "20261127: equal, 1 line\n"
        );
    }

    #[test]
    fn a_differing_day_shows_its_lines_and_counts_the_rest() {
        let text = day_text(day(), &differ(4, &["x", "y"], 1, &["z"]), &names(), false);
        assert_eq!(
            text,
            "20261127: differ: 4 lines only in A, 1 line only in B, 5 in both\n  only in A: x\n  only in A: y\n  ... and 2 more only in A\n  only in B: z\n"
        );
        let text = day_text(day(), &differ(0, &[], 1, &["a\u{1b}[2J"]), &names(), false);
        assert!(text.contains("  only in B: a\\u{1b}[2J\n"), "{text}");
    }

    #[test]
    fn an_unsortable_day_names_the_key_and_the_verify_run() {
        let outcome = DayComparison::Unsorted {
            side: Side::B,
            line: 7,
            disorder: Disorder::Duplicate,
        };
        assert_eq!(
            day_text(day(), &outcome, &names(), false),
            "20261127: unsortable: B's s3://b/events/shadow/20261127 line 7 repeats line 6; not compared past it: run `s3-event-writer verify --dest s3://b/events/shadow/ --from 20261127 --to 20261127` (--repair sorts and de-duplicates it)\n"
        );
        let json = serde_json::to_value(day_json(day(), outcome, &names())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"day": "20261127", "status": "unsortable", "side": "b",
                "key": "s3://b/events/shadow/20261127", "line": 7, "problem": "duplicate"})
        );
    }

    #[test]
    fn the_summary_counts_every_outcome() {
        let mut s = Summary::default();
        for o in [
            equal(3),
            differ(1, &["x"], 0, &[]),
            DayComparison::Unsorted {
                side: Side::A,
                line: 2,
                disorder: Disorder::OutOfOrder,
            },
            DayComparison::MissingIn(Side::A),
            DayComparison::MissingIn(Side::B),
            DayComparison::MissingIn(Side::B),
        ] {
            s.add(&o);
        }
        assert_eq!(
            s,
            Summary {
                days: 6,
                equal: 1,
                differ: 2,
                unsortable: 1,
                missing_in_a: 1,
                missing_in_b: 2
            }
        );
        assert!(!s.all_equal());
        assert_eq!(
            summary_text(&s, &names(), "20261120..20261127", &[]),
            "compared 6 days (20261120..20261127) of A /a/prod and B s3://b/events/shadow/: 1 equal, 2 differing (1 unsortable), 1 missing in A, 2 missing in B\n"
        );
        let mut one = Summary::default();
        one.add(&equal(3));
        assert!(one.all_equal());
        assert!(Summary::default().all_equal());
    }

    #[test]
    fn a_broken_read_names_the_side_key_and_line() {
        let e = CompareError::Read {
            side: Side::B,
            key: "s3://b/events/shadow/20261127".into(),
            line: 41,
            error: std::io::Error::other("connection reset"),
        };
        assert_eq!(
            e.to_string(),
            "archive B: reading s3://b/events/shadow/20261127 failed after line 41: connection reset; run compare again, and if it fails again check the file"
        );
    }

    #[test]
    fn an_empty_side_or_range_is_pointed_out() {
        let mut s = Summary::default();
        s.add(&DayComparison::MissingIn(Side::B));
        assert!(summary_text(&s, &names(), "..", &[Side::B]).ends_with(
            "\nB has no day file in the range: is s3://b/events/shadow/ the right location?\n"
        ));
        assert!(
            summary_text(&Summary::default(), &names(), "..", &[Side::A, Side::B])
                .ends_with("\n(no day files found in the range)\n")
        );
    }
}
