//! `backfill`: fills the archive from the PBX's metrics log.
//!
//! The PBX logs one "metrics" line per user event, in the server's local time:
//!
//! ```text
//! 2022-04-04 22:45:55,436 UNIQUEID=1833323238.399, CHANNEL=SIP/630-0000011f, CALLERID(number)=+12345678901, name=filterdial
//! ```
//!
//! Each line becomes the event message the PBX would have published,
//! `{"timestamp": "2022-04-04T22:45:55-07:00", "hostname": NAME, "event": {"Event": "UserEvent",
//! "Channel": CHANNEL, "UserEvent": name}}`, and goes through the same classification as a queue
//! message and the same merge and conditional writes as `drain`.
//!
//! Invariants:
//! - only the time, `CHANNEL` and `name` are read from a line: nothing else (the caller number
//!   in particular) ever reaches the event message, so it cannot reach the archive;
//! - the time is the zone's wall-clock time with the milliseconds dropped and the zone's real
//!   offset at that instant (`--tz`, America/Los_Angeles by default, from the tz database). A
//!   time that occurs twice (the repeated hour when clocks fall back) takes the earlier offset,
//!   the first occurrence (`01:30` on 2022-11-06 is `-07:00`); a time that never occurs (the hour
//!   skipped when clocks spring forward) is moved forward by the length of the gap (`02:30` on
//!   2022-03-13 is `03:30-07:00`), jiff's "compatible" rule, as RFC 5545 and Temporal do;
//! - a line that is not a metrics line is skipped (counted and listed by line number); a line
//!   whose date or time does not exist on the calendar is quarantined as `bad_timestamp`, and a
//!   message classification quarantines is counted and listed the same way. Neither is written
//!   anywhere: the log itself is the record to look at;
//! - lines are merged per day in blocks of `--block-lines`, so memory is bounded by a block.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::{plural, Archive, DEST_VALUE};
use crate::adapters::DayStore;
use crate::cli::{exit, resolve_rules, AwsArgs, ConfigFile, RuleArgs, UsageError};
use crate::core::merge::sort_new_lines;
use crate::core::{classify, DayKey, Outcome, QuarantineReason};
use crate::report::{Failure, Report};

const AFTER_HELP: &str = "\
Examples:
  # see what the metrics log would add, without writing
  s3-event-writer backfill --source /var/log/asterisk/metrics --dest s3://logpublish/events/prod/ --dry-run

  # fill a local archive, with a report
  s3-event-writer backfill --source metrics.log --dest /srv/archive/prod --report backfill.json

Each line `2022-04-04 22:45:55,436 UNIQUEID=..., CHANNEL=SIP/630-0000011f, CALLERID(number)=...,
name=filterdial` becomes the event {\"timestamp\": \"2022-04-04T22:45:55-07:00\", \"hostname\": NAME,
\"event\": {\"Event\": \"UserEvent\", \"Channel\": CHANNEL, \"UserEvent\": name}} and is classified and
merged like a queue message. Times are local to --tz (milliseconds dropped): in the repeated hour
of a fall-back change the first occurrence (earlier offset) is taken; a time in the skipped hour
of a spring-forward change moves forward by the gap (02:30 -> 03:30-07:00).

Lines that are not metrics lines are skipped; lines with an impossible date or time, and
messages the classification quarantines, are counted and listed by line number in the summary
but not written to any quarantine location (the log is the record).

Exit status:
  0  every line was written, dropped, skipped or quarantined as reported
  1  some days could not be written (the summary says which and why; run again)
  2  usage error
  3  the log or the archive could not be used at all";

/// Arguments of `backfill`.
#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BackfillArgs {
    /// The PBX's metrics log.
    #[arg(long, value_name = "METRICS_LOG")]
    pub source: PathBuf,
    /// Day-file location.
    #[arg(long, value_name = DEST_VALUE, env = "S3EW_DEST")]
    pub dest: String,
    /// The time zone of the log's times (an IANA name).
    #[arg(long, value_name = "ZONE", default_value = "America/Los_Angeles")]
    pub tz: String,
    /// The hostname put in each event message (it must be a production host to be kept).
    #[arg(long, value_name = "NAME", default_value = "futel-prod.phu73l.net")]
    pub hostname: String,
    /// Write the report (JSON, drain's report plus `skipped` and `skipped_lines`).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write nothing; print what would change per day.
    #[arg(long)]
    pub dry_run: bool,
    /// Kept lines merged per flush of the day files.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub block_lines: usize,
    /// Day files merged at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub day_concurrency: usize,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// One parsed metrics line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsLine<'a> {
    /// `[year, month, day, hour, minute, second]` as written (milliseconds dropped).
    pub time: [i16; 6],
    pub channel: &'a str,
    pub name: &'a str,
}

/// Why a line is not a metrics line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMetrics {
    NoTime,
    NoChannel,
    NoName,
}

impl NotMetrics {
    pub fn as_str(self) -> &'static str {
        match self {
            NotMetrics::NoTime => "no `YYYY-MM-DD HH:MM:SS` time",
            NotMetrics::NoChannel => "no CHANNEL field",
            NotMetrics::NoName => "no name field",
        }
    }
}

fn number(s: &str, len: usize) -> Option<i16> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[,mmm] KEY=VALUE, KEY=VALUE, ...`. A value may hold spaces (a
/// word without `=` continues the value before it); one trailing comma ends each value.
pub fn parse_metrics_line(line: &str) -> Result<MetricsLine<'_>, NotMetrics> {
    let line = line.trim();
    let (date, after) = line.split_once(' ').ok_or(NotMetrics::NoTime)?;
    let after = after.trim_start();
    let (time, rest) = after.split_once(' ').unwrap_or((after, ""));
    let time = time.split_once([',', '.']).map_or(time, |(t, frac)| {
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
            t
        } else {
            "" // not a time
        }
    });
    let date_parts: Vec<&str> = date.split('-').collect();
    let time_parts: Vec<&str> = time.split(':').collect();
    let parsed = match (date_parts.as_slice(), time_parts.as_slice()) {
        ([year, month, day], [hour, minute, second]) => (|| {
            Some([
                number(year, 4)?,
                number(month, 2)?,
                number(day, 2)?,
                number(hour, 2)?,
                number(minute, 2)?,
                number(second, 2)?,
            ])
        })(),
        _ => None,
    };
    let time = parsed.ok_or(NotMetrics::NoTime)?;
    // Fields: each starts at a word `KEY=...`; the rest of the text up to the next such word is
    // its value. Slices of `rest` are kept so values with spaces come out whole.
    let mut fields: Vec<(&str, usize, usize)> = Vec::new(); // (key, value start, value end)
    let mut pos = 0;
    for word in rest.split(' ') {
        let start = pos;
        pos += word.len() + 1;
        if word.is_empty() {
            continue;
        }
        let key = word.split_once('=').map(|(k, _)| k).filter(|k| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_()-.".contains(&b))
        });
        match key {
            Some(k) => fields.push((k, start + k.len() + 1, start + word.len())),
            None => {
                if let Some(last) = fields.last_mut() {
                    last.2 = start + word.len();
                }
            }
        }
    }
    let value = |name: &str| -> Option<&str> {
        fields
            .iter()
            .rev()
            .find(|(k, _, _)| *k == name)
            .map(|&(_, s, e)| {
                let v = &rest[s..e];
                v.strip_suffix(',').unwrap_or(v)
            })
    };
    let channel = value("CHANNEL").ok_or(NotMetrics::NoChannel)?;
    let name = value("name").ok_or(NotMetrics::NoName)?;
    Ok(MetricsLine {
        time,
        channel,
        name,
    })
}

/// The RFC 3339 timestamp of a local wall-clock time in `tz` (see the module docs for the
/// repeated and skipped hours); `None` when the date or time does not exist on the calendar.
pub fn local_timestamp(time: [i16; 6], tz: &jiff::tz::TimeZone) -> Option<String> {
    let [y, mo, d, h, mi, s] = time;
    let small = |v: i16| i8::try_from(v).ok();
    let dt = jiff::civil::DateTime::new(
        y,
        small(mo)?,
        small(d)?,
        small(h)?,
        small(mi)?,
        small(s)?,
        0,
    )
    .ok()?;
    let zoned = tz.to_ambiguous_zoned(dt).compatible().ok()?;
    Some(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// The event message the PBX would have published for a metrics line.
pub fn event_message(timestamp: &str, hostname: &str, line: &MetricsLine<'_>) -> String {
    serde_json::json!({
        "timestamp": timestamp,
        "hostname": hostname,
        "event": {
            "Event": "UserEvent",
            "Channel": line.channel,
            "UserEvent": line.name,
        }
    })
    .to_string()
}

/// The `--report` object: drain's report plus the skipped lines.
#[derive(Debug, Serialize)]
struct BackfillReport<'a> {
    #[serde(flatten)]
    report: &'a Report,
    skipped: u64,
    skipped_lines: &'a [u64],
    quarantined_lines: &'a [u64],
}

/// Everything read from the log so far.
#[derive(Debug)]
struct Tally {
    report: Report,
    skipped: Vec<u64>,
    /// (line, reason)
    quarantined: Vec<(u64, String)>,
}

/// Runs `backfill`; the value is the exit status.
pub async fn run(args: BackfillArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let rules = resolve_rules(&args.rules, &ConfigFile::default())?;
    let tz = jiff::tz::TimeZone::get(&args.tz).map_err(|e| {
        UsageError(anyhow::anyhow!(
            "--tz {}: not a time zone of the tz database ({e})",
            args.tz
        ))
    })?;
    let archive = Archive::open(&args.dest, &args.aws).await?;
    let file = std::fs::File::open(&args.source)
        .with_context(|| format!("cannot open the metrics log {}", args.source.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut tally = Tally {
        report: Report::new(args.dry_run),
        skipped: Vec::new(),
        quarantined: Vec::new(),
    };
    let mut block: BTreeMap<DayKey, Vec<Vec<u8>>> = BTreeMap::new();
    let mut in_block = 0usize;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {} failed", args.source.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let Ok(text) = std::str::from_utf8(&buf) else {
            tally.skipped.push(line_no);
            continue;
        };
        if text.trim().is_empty() {
            continue; // blank lines are not lines of the log
        }
        let Ok(parsed) = parse_metrics_line(text) else {
            tally.skipped.push(line_no);
            continue;
        };
        tally.report.received += 1;
        let Some(timestamp) = local_timestamp(parsed.time, &tz) else {
            quarantine(&mut tally, line_no, QuarantineReason::BadTimestamp);
            continue;
        };
        let body = event_message(&timestamp, &args.hostname, &parsed);
        let mut line = Vec::new();
        match classify(&body, &rules, &mut line) {
            Outcome::Keep { day } => {
                tally.report.kept += 1;
                block.entry(day).or_default().push(line);
                in_block += 1;
            }
            Outcome::Drop { reason, value } => {
                tally.report.dropped += 1;
                *tally
                    .report
                    .dropped_by
                    .entry(reason.as_str().to_owned())
                    .or_default()
                    .entry(value)
                    .or_default() += 1;
            }
            Outcome::Quarantine { reason } => quarantine(&mut tally, line_no, reason),
        }
        if in_block >= args.block_lines.max(1) {
            flush(
                &archive,
                std::mem::take(&mut block),
                &args,
                &mut tally.report,
            )
            .await;
            in_block = 0;
        }
    }
    flush(&archive, block, &args, &mut tally.report).await;
    tally.report.requests = archive.store.requests();
    tally.report.elapsed_secs = started.elapsed().as_secs_f64();
    eprint!("{}", summary(&tally));
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&BackfillReport {
            report: &tally.report,
            skipped: tally.skipped.len() as u64,
            skipped_lines: &tally.skipped,
            quarantined_lines: &tally.quarantined.iter().map(|q| q.0).collect::<Vec<_>>(),
        })?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(if tally.report.succeeded() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}

fn quarantine(tally: &mut Tally, line: u64, reason: QuarantineReason) {
    tally.report.quarantined += 1;
    *tally
        .report
        .quarantined_by
        .entry(reason.code().into_owned())
        .or_default() += 1;
    tally.quarantined.push((line, reason.code().into_owned()));
}

/// Merges (or previews) one block of kept lines, day by day.
async fn flush(
    archive: &Archive,
    block: BTreeMap<DayKey, Vec<Vec<u8>>>,
    args: &BackfillArgs,
    report: &mut Report,
) {
    let merges = block.into_iter().map(|(day, mut lines)| async move {
        let count = lines.len() as u64;
        sort_new_lines(&mut lines);
        let lines = Arc::new(lines);
        let result = if args.dry_run {
            archive.store.preview_day(day, lines).await
        } else {
            archive.store.merge_day(day, lines).await
        };
        (day, count, result)
    });
    let results: Vec<_> = stream::iter(merges)
        .buffer_unordered(args.day_concurrency.max(1))
        .collect()
        .await;
    for (day, count, result) in results {
        match result {
            Ok(stats) => {
                let d = report.days.entry(day.to_string()).or_default();
                d.new_lines += stats.new_lines;
                d.total_lines = stats.total_lines;
            }
            Err(e) => report.failures.push(Failure {
                what: format!("day {day}"),
                error: e.to_string(),
                messages: count,
            }),
        }
    }
}

/// Line numbers, the first 20 of them, then a count.
fn line_list(lines: impl ExactSizeIterator<Item = String>) -> String {
    let n = lines.len();
    let mut v: Vec<String> = lines.take(20).collect();
    if n > 20 {
        v.push(format!("... {} more", n - 20));
    }
    v.join(", ")
}

fn summary(tally: &Tally) -> String {
    let mut s = tally.report.summary(5);
    if !tally.skipped.is_empty() {
        let _ = writeln!(
            s,
            "  skipped {} (not metrics lines): line {}",
            plural(tally.skipped.len() as u64, "line", "lines"),
            line_list(tally.skipped.iter().map(u64::to_string))
        );
    }
    if !tally.quarantined.is_empty() {
        let _ = writeln!(
            s,
            "  quarantined lines (not written anywhere): line {}",
            line_list(
                tally
                    .quarantined
                    .iter()
                    .map(|(line, reason)| format!("{line} ({reason})"))
            )
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2022-04-04 22:45:55,436 UNIQUEID=1833323238.399, CHANNEL=SIP/630-0000011f, CALLERID(number)=+12345678901, name=filterdial";

    #[test]
    fn parses_a_metrics_line() {
        let m = parse_metrics_line(LINE).unwrap();
        assert_eq!(m.time, [2022, 4, 4, 22, 45, 55]);
        assert_eq!(m.channel, "SIP/630-0000011f");
        assert_eq!(m.name, "filterdial");
    }

    #[test]
    fn values_may_hold_spaces_and_fields_any_order() {
        let m = parse_metrics_line(
            "2022-04-04 22:45:55 name=say hello, CHANNEL=Local/x@y-1;2, CALLERID(name)=A B,\n",
        )
        .unwrap();
        assert_eq!(m.name, "say hello");
        assert_eq!(m.channel, "Local/x@y-1;2");
    }

    #[test]
    fn not_metrics_lines() {
        assert_eq!(parse_metrics_line("hello world"), Err(NotMetrics::NoTime));
        assert_eq!(
            parse_metrics_line("2022-04-04 22:45:55,436 UNIQUEID=1, name=x"),
            Err(NotMetrics::NoChannel)
        );
        assert_eq!(
            parse_metrics_line("2022-04-04 22:45:55,436 CHANNEL=x,"),
            Err(NotMetrics::NoName)
        );
        assert_eq!(
            parse_metrics_line("2022-04-04 22:45,436 CHANNEL=x, name=y"),
            Err(NotMetrics::NoTime)
        );
    }

    fn la(t: [i16; 6]) -> Option<String> {
        local_timestamp(t, &jiff::tz::TimeZone::get("America/Los_Angeles").unwrap())
    }

    #[test]
    fn offsets_follow_daylight_saving_time() {
        assert_eq!(
            la([2022, 1, 15, 12, 0, 0]).unwrap(),
            "2022-01-15T12:00:00-08:00"
        );
        assert_eq!(
            la([2022, 7, 4, 12, 0, 0]).unwrap(),
            "2022-07-04T12:00:00-07:00"
        );
        // the repeated hour: the first occurrence
        assert_eq!(
            la([2022, 11, 6, 1, 30, 0]).unwrap(),
            "2022-11-06T01:30:00-07:00"
        );
        assert_eq!(
            la([2022, 11, 6, 2, 0, 0]).unwrap(),
            "2022-11-06T02:00:00-08:00"
        );
        // the skipped hour: moved forward by the gap
        assert_eq!(
            la([2022, 3, 13, 2, 30, 0]).unwrap(),
            "2022-03-13T03:30:00-07:00"
        );
        assert_eq!(
            la([2022, 3, 13, 1, 59, 59]).unwrap(),
            "2022-03-13T01:59:59-08:00"
        );
        assert_eq!(la([2022, 2, 30, 1, 0, 0]), None);
        assert_eq!(la([2022, 2, 3, 24, 0, 0]), None);
    }
}
