//! `stats`: counts the archive's lines over a range of days, grouped by a key.
//!
//! Keys: `event`, `endpoint` (`(none)` for older lines without one), `day` (the day file's
//! name) or `hour` (the two digits after the timestamp's `T`, `(none)` when there are none).
//! Output: a table with a horizontal bar chart (unicode blocks, as wide as the terminal allows,
//! 50 characters when stdout is not a terminal), JSON
//! (`{"by", "from", "to", "total", "counts": {key: n}}`) or CSV (`key,count` with a header).
//!
//! Invariants: read-only; every day file is streamed line by line (memory is the counts, not
//! the files); blank lines are ignored and lines that are not JSON objects are not counted but
//! reported on stderr; `total` is the sum of the counts. Event and endpoint rows are sorted by
//! count (largest first, then by key), day and hour rows by key.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal};

use clap::{Args, ValueEnum};
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::plural;
use crate::archive::range_text;
use crate::core::merge::next_line;
use crate::core::DayKey;
use crate::report::shorten;
use crate::settings::{defaults, exit, ArchiveArgs};

const AFTER_HELP: &str = "\
Examples:
  # the busiest events of November, as a chart
  s3-event-writer stats --dest s3://logpublish/events/prod/ --from 20261101 --to 20261130

  # calls per hour of the day, as CSV for a spreadsheet
  s3-event-writer stats --dest /srv/archive/prod --by hour --format csv > hours.csv

Exit status:
  0  counted (lines that are not records are skipped and reported on stderr)
  2  usage error
  3  the archive could not be listed or read";

/// What lines are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Event,
    Endpoint,
    Day,
    Hour,
}

impl By {
    /// The name `--by` takes, as the output heads the keys with it.
    fn name(self) -> String {
        let value = self.to_possible_value();
        value.map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// How the counts are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct StatsArgs {
    /// First day counted (YYYYMMDD or YYYY-MM-DD). [default: the first day file]
    #[arg(long, value_name = "DAY")]
    pub from: Option<DayKey>,
    /// Last day counted (YYYYMMDD or YYYY-MM-DD). [default: the last day file]
    #[arg(long, value_name = "DAY")]
    pub to: Option<DayKey>,
    /// The grouping key.
    #[arg(long, value_enum, default_value_t = By::Event)]
    pub by: By,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Day files read at once.
    #[arg(long, value_name = "N", default_value_t = defaults::STATS_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// The `--format json` object, members in this order.
#[derive(Debug, serde::Serialize)]
struct StatsJson<'a> {
    by: String,
    from: Option<String>,
    to: Option<String>,
    total: u64,
    /// In key order, as every JSON object here prints.
    counts: &'a BTreeMap<String, u64>,
}

/// Lines of one day file by key; `None` counts the lines that are not JSON objects.
type DayCounts = HashMap<Option<String>, u64>;

const NONE: &str = "(none)";

/// The key of one record line, `None` when the line is not a JSON object.
fn key_of(line: &[u8], by: By, day: DayKey) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    let text = |k: &str| map.get(k).and_then(Value::as_str);
    let key = match by {
        By::Day => return Some(day.to_string()),
        By::Event => text("event"),
        By::Endpoint => text("endpoint"),
        By::Hour => text("timestamp").and_then(|t| {
            let h = t.split_once('T')?.1.get(..2)?;
            h.bytes().all(|b| b.is_ascii_digit()).then_some(h)
        }),
    };
    Some(key.unwrap_or(NONE).to_owned())
}

fn count_day(reader: &mut dyn BufRead, by: By, day: DayKey) -> io::Result<DayCounts> {
    let mut out = DayCounts::default();
    let mut buf = Vec::with_capacity(256);
    while next_line(reader, &mut buf)? > 0 {
        *out.entry(key_of(&buf, by, day)).or_default() += 1;
    }
    Ok(out)
}

/// Rows in output order.
fn rows(counts: &BTreeMap<String, u64>, by: By) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    if matches!(by, By::Event | By::Endpoint) {
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }
    v
}

/// A bar of `value / max` of `width` cells, in eighths of a cell.
fn bar(value: u64, max: u64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    if max == 0 || width == 0 {
        return String::new();
    }
    let eighths = (u128::from(value) * (width as u128) * 8 / u128::from(max)) as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8]);
    }
    if s.is_empty() && value > 0 {
        s.push('▏'); // every counted key shows
    }
    s
}

fn table(by: By, range: &str, total: u64, rows: &[(&str, u64)], columns: Option<usize>) -> String {
    const KEY_MAX: usize = 60;
    let shown = |k: &str| match k.chars().count() {
        n if n > KEY_MAX => shorten(k, KEY_MAX - 1),
        _ => k.to_owned(),
    };
    let by = by.name();
    let key_w = rows
        .iter()
        .fold(by.len(), |w, (k, _)| w.max(shown(k).chars().count()));
    let count_w = rows
        .iter()
        .fold("count".len(), |w, (_, n)| w.max(n.to_string().len()));
    let bar_w = columns.map_or(50, |c| c.saturating_sub(key_w + count_w + 4).clamp(10, 100));
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0);
    let lines = plural(total, "line", "lines");
    let mut s = format!(
        "{lines} by {by} ({range})\n{by:<key_w$}  {:>count_w$}\n",
        "count"
    );
    for (k, n) in rows {
        let (key, bar) = (shown(k), bar(*n, max, bar_w));
        let _ = writeln!(s, "{key:<key_w$}  {n:>count_w$}  {bar}");
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub async fn run(args: StatsArgs) -> anyhow::Result<i32> {
    let archive = crate::wiring::open_archive(&args.archive.resolve()?).await;
    let days = archive.days(args.from, args.to).await?;
    let by = args.by;
    let per_day: Vec<_> = stream::iter(days.iter().copied())
        .map(|day| archive.scan(day, move |r| count_day(r, by, day)))
        .buffered(args.concurrency.max(1))
        .collect()
        .await;
    let mut counts = BTreeMap::new();
    for day in per_day {
        super::add_counts(&mut counts, &day?.unwrap_or_default());
    }
    let invalid = counts.remove(&None).unwrap_or(0);
    let counts: BTreeMap<String, u64> = counts
        .into_iter()
        .map(|(k, n)| (k.unwrap_or_default(), n))
        .collect();
    let total: u64 = counts.values().sum();
    if invalid > 0 {
        eprintln!(
            "warning: {} not counted: not JSON objects (run verify for line numbers)",
            plural(invalid, "line", "lines")
        );
    }
    // The range actually covered: as given, else the first and last day file.
    let from = args.from.or(days.first().copied());
    let to = args.to.or(days.last().copied());
    let rows = rows(&counts, by);
    let out = match args.format {
        Format::Json => {
            let v = StatsJson {
                by: by.name(),
                from: from.map(|d| d.to_string()),
                to: to.map(|d| d.to_string()),
                total,
                counts: &counts,
            };
            format!("{}\n", serde_json::to_string_pretty(&v)?)
        }
        Format::Csv => {
            let lines = rows.iter().map(|(k, n)| format!("{},{n}\n", csv_field(k)));
            format!("{},count\n", by.name()) + &lines.collect::<String>()
        }
        Format::Table => {
            let columns = io::stdout()
                .is_terminal()
                .then(terminal_size::terminal_size)
                .flatten()
                .map(|(w, _)| usize::from(w.0));
            table(by, &range_text(from, to), total, &rows, columns)
        }
    };
    print!("{out}");
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_count() {
        assert_eq!(bar(10, 10, 5), "█████");
        assert_eq!(bar(5, 10, 5), "██▌");
        assert_eq!(bar(1, 1000, 5), "▏");
        assert_eq!(bar(0, 10, 5), "");
    }

    #[test]
    fn keys_by_kind() {
        let day: DayKey = "20261120".parse().unwrap();
        let l = br#"{"timestamp": "2026-11-20T07:01:02+00:00", "channel": "c", "endpoint": "e", "event": "x"}"#;
        assert_eq!(key_of(l, By::Event, day).unwrap(), "x");
        assert_eq!(key_of(l, By::Endpoint, day).unwrap(), "e");
        assert_eq!(key_of(l, By::Hour, day).unwrap(), "07");
        assert_eq!(key_of(l, By::Day, day).unwrap(), "20261120");
        let old = br#"{"timestamp": "2026-11-20", "channel": "c", "event": "x"}"#;
        assert_eq!(key_of(old, By::Endpoint, day).unwrap(), NONE);
        assert_eq!(key_of(old, By::Hour, day).unwrap(), NONE);
        assert_eq!(key_of(b"nope", By::Day, day), None);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
