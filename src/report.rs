//! The run report: counts, per-day results, what was dropped and quarantined, failures.
//!
//! Serialised as the `--report` JSON object of the SPEC (`received`, `kept`, `dropped`,
//! `quarantined`, `deleted`, `dropped_by`, `days`, plus more), and rendered as the human
//! summary printed on stderr at the end of a run, or for GitHub Actions (`drain
//! --github-summary`) as a Markdown step summary ([`Report::github_markdown`]) and one
//! workflow-command annotation per failure ([`Report::github_annotations`]). All rendering here
//! is pure: the caller writes the strings.
//!
//! Invariant: a report's size is bounded however long the run (`drain --follow`): `dropped_by`
//! keeps the first [`MAX_DROP_VALUES`] distinct values of each reason (drops of any further
//! value are counted in `dropped_by_other`), and `failures` the first [`MAX_FAILURES`] failures
//! (later ones are counted in `failures_not_listed`). Every count stays exact.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::core::{DayKey, DropReason};

/// Distinct values listed per drop reason in `dropped_by`.
pub const MAX_DROP_VALUES: usize = 1000;
/// Failures listed in `failures`.
pub const MAX_FAILURES: usize = 1000;

/// One day's result. Over several flushes `new_lines` adds up and `total_lines` is the last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayReport {
    pub new_lines: u64,
    pub total_lines: u64,
}

/// Something that did not complete; its messages stayed in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What failed; serialised as the text `what` ([`FailureKind`]'s `Display`).
    #[serde(rename = "what")]
    pub kind: FailureKind,
    pub error: String,
    /// Messages left behind because of it.
    pub messages: u64,
}

impl Failure {
    pub fn new(kind: FailureKind, error: String, messages: u64) -> Failure {
        Failure {
            kind,
            error,
            messages,
        }
    }
}

/// What failed. Code (the failure brake) matches on the kind; its text, `day YYYYMMDD`,
/// `quarantine`, `delete`, `source` or `brake`, is written here only, for the report's `what`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A day's merge.
    Day(DayKey),
    /// A block's quarantine records.
    Quarantine,
    /// Acknowledging (deleting) messages.
    Delete,
    /// Receiving.
    Source,
    /// The failure brake stopped the run.
    Brake,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Day(day) => write!(f, "day {day}"),
            FailureKind::Quarantine => f.write_str("quarantine"),
            FailureKind::Delete => f.write_str("delete"),
            FailureKind::Source => f.write_str("source"),
            FailureKind::Brake => f.write_str("brake"),
        }
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Everything a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Bodies read, every delivery counted.
    pub received: u64,
    pub kept: u64,
    pub dropped: u64,
    pub quarantined: u64,
    /// Messages deleted from the queue (0 for a file source).
    pub deleted: u64,
    /// `{"hostname": {value: count}, "channel": {...}, "event": {...}}`.
    pub dropped_by: BTreeMap<String, BTreeMap<String, u64>>,
    /// Drops of values not listed in `dropped_by` (past [`MAX_DROP_VALUES`]), by reason; empty
    /// unless a reason had that many distinct values.
    pub dropped_by_other: BTreeMap<String, u64>,
    /// `{"YYYYMMDD": {"new_lines": n, "total_lines": n}}`.
    pub days: BTreeMap<String, DayReport>,
    /// Quarantined messages by reason.
    pub quarantined_by: BTreeMap<String, u64>,
    /// Where quarantine records went (none when nothing was quarantined, or in a dry run).
    pub quarantine_location: Option<String>,
    /// Quarantine records created by this run (one object or file each).
    pub quarantine_written: u64,
    /// Quarantined messages whose record was already there (a rerun, a re-delivery): nothing
    /// was written for them.
    pub quarantine_already_there: u64,
    /// What failed; empty on success. The first [`MAX_FAILURES`]; see [`Report::add_failure`].
    pub failures: Vec<Failure>,
    /// Failures after the first [`MAX_FAILURES`]: counted, not listed.
    pub failures_not_listed: u64,
    /// Messages the failures not listed left behind. Not serialised.
    #[serde(skip)]
    pub messages_not_listed: u64,
    /// Requests by API call (`sqs:ReceiveMessage`, `s3:PutObject`, ...).
    pub requests: BTreeMap<String, u64>,
    /// Day read-merge-writes started again because another writer changed the day (S3's
    /// 412/409).
    pub conflict_retries: u64,
    pub dry_run: bool,
    /// The run stopped because it had read `--max-messages` messages (for a dry run from a
    /// queue, 100 by default): more may be waiting in the queue.
    pub max_messages_reached: bool,
    pub elapsed_secs: f64,
    /// Whether the messages came from a queue (where a failed message stays and comes back) or
    /// from a file (which must be read again). Not serialised.
    #[serde(skip)]
    pub from_queue: bool,
}

impl Report {
    /// Adds the classification counts of `other` (a part of the same block).
    pub fn add_counts(&mut self, other: &Report) {
        self.kept += other.kept;
        self.dropped += other.dropped;
        self.quarantined += other.quarantined;
        for (reason, values) in &other.dropped_by {
            for (value, n) in values {
                self.count_drop(reason, value, *n);
            }
        }
        add_counts(&mut self.dropped_by_other, &other.dropped_by_other);
        add_counts(&mut self.quarantined_by, &other.quarantined_by);
    }

    pub fn new(dry_run: bool) -> Report {
        let dropped_by = DropReason::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), BTreeMap::new()))
            .collect();
        Report {
            dropped_by,
            dry_run,
            ..Report::default()
        }
    }

    /// Counts `n` drops of `value` for `reason`: under the value's entry while the reason has
    /// fewer than [`MAX_DROP_VALUES`] values or already lists it, else in `dropped_by_other`.
    /// (`reason` is looked up by `&str` and `value` copied only when new: no allocation per
    /// dropped message.)
    pub fn count_drop(&mut self, reason: &str, value: &str, n: u64) {
        let by_value = match self.dropped_by.get_mut(reason) {
            Some(m) => m,
            None => self.dropped_by.entry(reason.to_owned()).or_default(),
        };
        if let Some(count) = by_value.get_mut(value) {
            *count += n;
        } else if by_value.len() < MAX_DROP_VALUES {
            by_value.insert(value.to_owned(), n);
        } else {
            *self.dropped_by_other.entry(reason.to_owned()).or_default() += n;
        }
    }

    /// Adds a failure: listed while fewer than [`MAX_FAILURES`] are, else counted.
    pub fn add_failure(&mut self, failure: Failure) {
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(failure);
        } else {
            self.failures_not_listed += 1;
            self.messages_not_listed += failure.messages;
        }
    }

    /// Every failure, listed or not.
    pub fn failure_count(&self) -> u64 {
        self.failures.len() as u64 + self.failures_not_listed
    }

    /// True when every message read was kept, dropped or quarantined durably (and deleted).
    pub fn succeeded(&self) -> bool {
        self.failure_count() == 0
    }

    /// Messages left in the queue because something failed.
    pub fn left_behind(&self) -> u64 {
        self.failures.iter().map(|f| f.messages).sum::<u64>() + self.messages_not_listed
    }

    /// `N new records, M already there`: what the quarantine writes came to.
    fn quarantine_records(&self) -> String {
        let (new, there) = (self.quarantine_written, self.quarantine_already_there);
        format!("{new} new records, {there} already there")
    }

    /// When `--max-messages` stopped the run: that more may be waiting, and for a dry run what
    /// reading them costs.
    fn max_messages_line(&self) -> Option<String> {
        let n = self.received;
        self.max_messages_reached.then(|| {
            if self.dry_run {
                format!("stopped at {n} messages (--max-messages, or a dry run's default): more may be waiting in the queue; each message read spent one of its maxReceiveCount receives; give --max-messages to read more")
            } else {
                format!("stopped at {n} messages (--max-messages): more may be waiting in the queue for the next run")
            }
        })
    }

    /// The human summary: counts, days, top drop values, quarantine reasons, failures.
    pub fn summary(&self, top: usize) -> String {
        #[allow(clippy::cast_precision_loss)]
        let rate = if self.elapsed_secs > 0.0 {
            format!(" ({:.0} msg/s)", self.received as f64 / self.elapsed_secs)
        } else {
            String::new()
        };
        let mut s = format!(
            "received {} in {:.2}s{rate}: kept {}, dropped {}, quarantined {}; deleted {}\n",
            self.received,
            self.elapsed_secs,
            self.kept,
            self.dropped,
            self.quarantined,
            self.deleted
        );
        if let Some(line) = self.max_messages_line() {
            let _ = writeln!(s, "{line}");
        }
        if self.days.is_empty() {
            s.push_str("days: none touched\n");
        }
        let verb = if self.dry_run { "would write" } else { "wrote" };
        for (day, d) in &self.days {
            let (new, total) = (d.new_lines, d.total_lines);
            let _ = writeln!(s, "  day {day}: {verb} {new} new lines (now {total} lines)");
        }
        for row in self.drop_rows() {
            let mut shown = row.shown(top, str::to_owned).join(", ");
            if row.ranked.len() > top {
                let _ = write!(shown, ", ... {} more values", row.ranked.len() - top);
            }
            if row.not_listed > 0 {
                let _ = write!(shown, ", {} of values not listed", row.not_listed);
            }
            let _ = writeln!(s, "  dropped by {}: {} ({shown})", row.reason, row.total);
        }
        for (reason, n) in &self.quarantined_by {
            let _ = writeln!(s, "  quarantined {reason}: {n}");
        }
        if let Some(q) = &self.quarantine_location {
            let _ = writeln!(s, "  quarantine {q}: {}", self.quarantine_records());
        }
        if !self.requests.is_empty() {
            let _ = writeln!(s, "  requests: {}", counts_text(&self.requests));
        }
        for f in &self.failures {
            let left = match (f.messages, self.from_queue) {
                (0, _) => String::new(),
                (n, true) => format!(" ({n} messages left in the queue)"),
                (n, false) => format!(" ({n} messages not written: run again with the same input)"),
            };
            let _ = writeln!(s, "FAILED {}: {}{left}", f.kind, f.error);
        }
        if self.failures_not_listed > 0 {
            let (n, messages) = (self.failures_not_listed, self.messages_not_listed);
            let _ = writeln!(s, "FAILED {n} more times, not listed ({messages} messages)");
        }
        s
    }

    /// The run as a GitHub Actions step summary (Markdown): the outcome, the counts, the days
    /// written, what was quarantined and dropped (the `top` values per reason), and the
    /// failures. Every value from the run is escaped, so no body, key or error can break the
    /// tables or inject markup.
    pub fn github_markdown(&self, top: usize) -> String {
        let mut s = format!(
            "### s3-event-writer drain: {}\n\n\
             | received | kept | dropped | quarantined | deleted | seconds |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: |\n| {} | {} | {} | {} | {} | {:.1} |\n\n",
            self.github_outcome(),
            self.received,
            self.kept,
            self.dropped,
            self.quarantined,
            self.deleted,
            self.elapsed_secs
        );
        if let Some(line) = self.max_messages_line() {
            let _ = writeln!(s, "{line}\n");
        }
        if self.days.is_empty() {
            s.push_str("No day file touched.\n\n");
        } else {
            let would = if self.dry_run { " (would write)" } else { "" };
            let head = format!(
                "**Days** ({})\n\n| day | new lines{would} | lines now |\n| --- | ---: | ---: |",
                self.days.len()
            );
            let rows = self.days.iter().map(|(day, d)| {
                let (new, total) = (d.new_lines, d.total_lines);
                vec![markdown_cell(day), new.to_string(), total.to_string()]
            });
            markdown_table(&mut s, &head, rows, 0, "days");
        }
        if !self.quarantined_by.is_empty() {
            let head = format!(
                "**Quarantined** {}: a person should read them\n\n| reason | messages |\n| --- | ---: |",
                plural(self.quarantined, "message", "messages")
            );
            let rows = self.quarantined_by.iter();
            let rows = rows.map(|(r, n)| vec![markdown_cell(r), n.to_string()]);
            markdown_table(&mut s, &head, rows, 0, "reasons");
            if let Some(q) = &self.quarantine_location {
                let (records, q) = (self.quarantine_records(), markdown_cell(q));
                let _ = writeln!(s, "- {records}, in {q}");
            }
            s.push('\n');
        }
        if self.dropped > 0 {
            let head = format!(
                "**Dropped** {} (by the rules)\n\n| by | messages | most frequent values |\n| --- | ---: | --- |",
                plural(self.dropped, "message", "messages")
            );
            let rows = self.drop_rows().map(|row| {
                let mut shown = row.shown(top, markdown_cell);
                if row.not_listed > 0 {
                    shown.push(format!("{} of values not listed", row.not_listed));
                }
                let (reason, total) = (markdown_cell(row.reason), row.total.to_string());
                vec![reason, total, shown.join(", ")]
            });
            markdown_table(&mut s, &head, rows, 0, "reasons");
        }
        if !self.failures.is_empty() {
            let head = "**Failures**: their messages stay in the queue and come back at the next run\n\n| what | messages | error |\n| --- | ---: | --- |";
            let rows = self.failures.iter().map(|f| {
                let what = markdown_cell(&f.kind.to_string());
                let error = markdown_cell(&shorten(&f.error, GITHUB_MAX_TEXT));
                vec![what, f.messages.to_string(), error]
            });
            markdown_table(&mut s, head, rows, self.failures_not_listed, "failures");
            s.push('\n');
        }
        s
    }

    /// One GitHub Actions workflow command per line: an `::error::` per failure (what failed,
    /// why, how many messages stay in the queue), and a `::warning::` when messages were
    /// quarantined. Printed on stdout, they show on the run's page and in its annotations.
    pub fn github_annotations(&self) -> Vec<String> {
        let failure = |f: &Failure| {
            let title = format!("s3-event-writer: {} failed", f.kind);
            let error = shorten(&f.error, GITHUB_MAX_TEXT);
            let left = plural(f.messages, "message", "messages");
            let text =
                format!("{error} ({left} left in the queue; they come back at the next run)");
            github_annotation("error", &title, &text)
        };
        let mut lines: Vec<String> = self.failures.iter().map(failure).collect();
        if self.quarantined > 0 {
            lines.push(github_annotation(
                "warning",
                "s3-event-writer: messages quarantined",
                &format!(
                    "{} quarantined ({}): {}",
                    plural(self.quarantined, "message", "messages"),
                    counts_text(&self.quarantined_by),
                    self.quarantine_location.as_deref().unwrap_or("not written")
                ),
            ));
        }
        lines
    }

    fn github_outcome(&self) -> String {
        let run = if self.dry_run { "dry run, " } else { "" };
        if self.succeeded() {
            format!("{run}OK")
        } else {
            format!(
                "{run}FAILED ({}, {} left in the queue)",
                plural(self.failure_count(), "failure", "failures"),
                plural(self.left_behind(), "message", "messages")
            )
        }
    }

    /// The drop reasons with at least one listed value, in reason order.
    fn drop_rows(&self) -> impl Iterator<Item = DropRow<'_>> {
        self.dropped_by
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(reason, values)| {
                let not_listed = self.dropped_by_other.get(reason).copied().unwrap_or(0);
                let mut ranked: Vec<(&String, &u64)> = values.iter().collect();
                ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                DropRow {
                    reason,
                    total: values.values().sum::<u64>() + not_listed,
                    ranked: ranked
                        .into_iter()
                        .map(|(k, n)| (if k.is_empty() { "(none)" } else { k.as_str() }, *n))
                        .collect(),
                    not_listed,
                }
            })
    }
}

/// Most rows of one Markdown table: the step summary stays readable, and far below GitHub's
/// 1 MiB limit, even for a run that touches years of days.
const GITHUB_MAX_ROWS: usize = 40;
/// Longest error text in a Markdown cell or an annotation.
const GITHUB_MAX_TEXT: usize = 600;

/// `head` (a title and a table's header), the first [`GITHUB_MAX_ROWS`] `rows` (each its
/// cells), how many were left out (of `rows`, and the `unlisted` ones), and a blank line.
fn markdown_table<R>(s: &mut String, head: &str, rows: R, unlisted: u64, what: &str)
where
    R: IntoIterator<Item = Vec<String>>,
{
    let _ = writeln!(s, "{head}");
    let mut rows = rows.into_iter();
    for row in rows.by_ref().take(GITHUB_MAX_ROWS) {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    let more = (rows.count() as u64).saturating_add(unlisted);
    if more > 0 {
        let _ = writeln!(s, "| … {more} more {what} (see the report) |");
    }
    s.push('\n');
}

/// Adds `from`'s counts to `to`'s, key by key.
pub(crate) fn add_counts<'a, K: Ord + Clone + 'a>(
    to: &mut BTreeMap<K, u64>,
    from: impl IntoIterator<Item = (&'a K, &'a u64)>,
) {
    for (k, n) in from {
        *to.entry(k.clone()).or_default() += n;
    }
}

/// `key count, key count, ...`
pub(crate) fn counts_text<K: std::fmt::Display>(counts: &BTreeMap<K, u64>) -> String {
    let texts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    texts.join(", ")
}

/// The step summary of a run that could not start or go on (exit status 3), with its error.
pub fn github_fatal_markdown(error: &str) -> String {
    format!(
        "### s3-event-writer drain: could not run\n\n{}\n\nMessages not yet written stay in the queue and come back at the next run. Run `s3-event-writer doctor` with the same settings: every failed check comes with its fix.\n",
        markdown_cell(&shorten(error, GITHUB_MAX_TEXT))
    )
}

/// A GitHub Actions workflow command `::LEVEL title=TITLE::MESSAGE` on one line, escaped as
/// the runner expects: `%`, CR and LF in the message; also `:` and `,` in the title.
pub fn github_annotation(level: &str, title: &str, message: &str) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let title = data(title).replace(':', "%3A").replace(',', "%2C");
    format!("::{level} title={title}::{}", data(message))
}

/// Text as one Markdown table cell: ASCII punctuation that Markdown or HTML could read as
/// markup (`|` included, which would split the cell) is backslash-escaped, and line breaks and
/// other control characters become spaces.
pub fn markdown_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_{}[]<>()#+!|~&".contains(c) {
            out.push('\\');
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// `n thing` or `n things`: `one` for 1, `many` otherwise.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One drop reason as the summaries show it.
struct DropRow<'a> {
    reason: &'a str,
    /// Every message dropped for the reason, listed values or not.
    total: u64,
    /// The listed values by count (most first, then by name), a missing value shown as `(none)`.
    ranked: Vec<(&'a str, u64)>,
    /// Messages whose value is past the listing limit (`dropped_by_other`).
    not_listed: u64,
}

impl DropRow<'_> {
    /// The first `top` values as `VALUE COUNT`, each value through `cell`.
    fn shown(&self, top: usize, cell: fn(&str) -> String) -> Vec<String> {
        let values = self.ranked.iter().take(top);
        values.map(|(k, n)| format!("{} {n}", cell(k))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> DayKey {
        s.parse().unwrap()
    }

    /// Code matches on a failure's kind; its text is what the report has always printed as
    /// `what`, in the JSON and in the summary.
    #[test]
    fn a_failures_what_is_the_text_the_report_has_always_printed() {
        for (kind, text) in [
            (FailureKind::Day(day("20261201")), "day 20261201"),
            (FailureKind::Quarantine, "quarantine"),
            (FailureKind::Delete, "delete"),
            (FailureKind::Source, "source"),
            (FailureKind::Brake, "brake"),
        ] {
            assert_eq!(kind.to_string(), text);
            let failure = Failure {
                kind,
                error: "boom".into(),
                messages: 2,
            };
            assert_eq!(
                serde_json::to_string(&failure).unwrap(),
                format!(r#"{{"what":"{text}","error":"boom","messages":2}}"#)
            );
            let mut r = Report::new(false);
            r.failures.push(failure);
            assert!(r.summary(1).contains(&format!("FAILED {text}: boom")));
        }
    }

    #[test]
    fn report_json_has_the_spec_members() {
        let mut r = Report::new(false);
        r.received = 3;
        r.kept = 1;
        r.dropped = 1;
        r.quarantined = 1;
        r.dropped_by
            .get_mut("hostname")
            .unwrap()
            .insert(String::new(), 1);
        r.days.insert(
            "20261120".into(),
            DayReport {
                new_lines: 1,
                total_lines: 5,
            },
        );
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for k in [
            "received",
            "kept",
            "dropped",
            "quarantined",
            "deleted",
            "dropped_by",
            "days",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["dropped_by"]["hostname"][""], 1);
        assert!(v["dropped_by"]["channel"].as_object().unwrap().is_empty());
        assert_eq!(v["days"]["20261120"]["total_lines"], 5);
    }

    #[test]
    fn summary_lists_top_values_and_failures() {
        let mut r = Report::new(true);
        let h = r.dropped_by.get_mut("hostname").unwrap();
        h.insert("a".into(), 5);
        h.insert("b".into(), 9);
        h.insert("c".into(), 1);
        r.failures.push(Failure {
            kind: FailureKind::Day(day("20261120")),
            error: "boom".into(),
            messages: 4,
        });
        r.failures.push(Failure {
            kind: FailureKind::Brake,
            error: "stopped".into(),
            messages: 0,
        });
        let s = r.summary(2);
        assert!(
            s.contains("dropped by hostname: 15 (b 9, a 5, ... 1 more values)"),
            "{s}"
        );
        assert!(
            s.contains(
                "FAILED day 20261120: boom (4 messages not written: run again with the same input)"
            ),
            "{s}"
        );
        assert!(s.contains("FAILED brake: stopped\n"), "{s}");
        r.from_queue = true;
        assert!(
            r.summary(2)
                .contains("FAILED day 20261120: boom (4 messages left in the queue)"),
            "{s}"
        );
        assert!(!r.succeeded());
        assert_eq!(r.left_behind(), 4);
    }

    #[test]
    fn summary_and_step_summary_say_when_max_messages_stopped_the_run() {
        let mut r = Report::new(true);
        r.received = 100;
        assert!(!r.summary(5).contains("stopped at"));
        assert!(!r.github_markdown(5).contains("stopped at"));
        r.max_messages_reached = true;
        let dry = "stopped at 100 messages (--max-messages, or a dry run's default): more may be waiting in the queue; each message read spent one of its maxReceiveCount receives; give --max-messages to read more\n";
        assert!(r.summary(5).contains(dry), "{}", r.summary(5));
        assert!(r.github_markdown(5).contains(dry));
        r.dry_run = false;
        assert!(r.summary(5).contains(
            "stopped at 100 messages (--max-messages): more may be waiting in the queue for the next run\n"
        ));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["max_messages_reached"], true);
    }
}

#[cfg(test)]
mod github_tests {
    use super::*;

    fn day(s: &str) -> DayKey {
        s.parse().unwrap()
    }

    fn sample() -> Report {
        let mut r = Report::new(false);
        (r.received, r.kept, r.dropped, r.quarantined, r.deleted) = (619, 480, 106, 33, 615);
        r.elapsed_secs = 1.25;
        for (day, new, total) in [("20261126", 153, 153), ("20261127", 0, 143)] {
            r.days.insert(
                day.into(),
                DayReport {
                    new_lines: new,
                    total_lines: total,
                },
            );
        }
        r.quarantined_by.insert("bad_timestamp".into(), 6);
        r.quarantined_by.insert("not_json".into(), 27);
        r.quarantine_location = Some("s3://logpublish/events/quarantine/".into());
        r.quarantine_written = 30;
        r.quarantine_already_there = 3;
        let h = r.dropped_by.get_mut("hostname").unwrap();
        h.insert("futel-dev".into(), 16);
        h.insert("futel-stage".into(), 23);
        r.dropped_by
            .get_mut("channel")
            .unwrap()
            .insert(String::new(), 67);
        r.failures.push(Failure {
            kind: FailureKind::Day(day("20261128")),
            error: "PutObject: AccessDenied".into(),
            messages: 4,
        });
        r
    }

    #[test]
    fn markdown_has_outcome_counts_days_quarantine_drops_and_failures() {
        let md = sample().github_markdown(1);
        for want in [
            "### s3-event-writer drain: FAILED (1 failure, 4 messages left in the queue)\n",
            "| 619 | 480 | 106 | 33 | 615 | 1.2 |\n",
            "**Days** (2)",
            "| day | new lines | lines now |",
            "| 20261126 | 153 | 153 |\n| 20261127 | 0 | 143 |\n",
            "**Quarantined** 33 messages",
            "| bad\\_timestamp | 6 |\n| not\\_json | 27 |\n",
            "- 30 new records, 3 already there, in s3://logpublish/events/quarantine/\n",
            "**Dropped** 106 messages",
            "| channel | 67 | \\(none\\) 67 |\n",
            "| hostname | 39 | futel-stage 23 |\n",
            "| day 20261128 | 4 | PutObject: AccessDenied |\n",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
        assert!(!md.contains("futel-dev"), "top 1 shows one value:\n{md}");
    }

    #[test]
    fn markdown_of_a_clean_dry_run() {
        let mut r = Report::new(true);
        r.received = 3;
        r.kept = 3;
        r.days.insert(
            "20261120".into(),
            DayReport {
                new_lines: 3,
                total_lines: 3,
            },
        );
        let md = r.github_markdown(5);
        assert!(
            md.starts_with("### s3-event-writer drain: dry run, OK\n"),
            "{md}"
        );
        assert!(
            md.contains("| day | new lines (would write) | lines now |"),
            "{md}"
        );
        assert!(!md.contains("Quarantined") && !md.contains("Dropped") && !md.contains("Failures"));
        assert!(Report::new(false)
            .github_markdown(5)
            .contains("No day file touched."));
    }

    #[test]
    fn markdown_cells_cannot_break_the_table_or_inject_markup() {
        let mut r = Report::new(false);
        // A failure's `what` is one of a few fixed texts; its error can be anything.
        r.failures.push(Failure {
            kind: FailureKind::Day(day("20261128")),
            error: "a|b\nc <script>x</script> `code` **bold** [l](u) \\|".into(),
            messages: 1,
        });
        let md = r.github_markdown(5);
        let row = md
            .lines()
            .find(|l| l.starts_with("| day"))
            .filter(|l| l.contains("20261128"))
            .expect("failure row");
        // Only the three column separators and the two borders are unescaped.
        let bare_pipes = row
            .char_indices()
            .filter(|&(i, c)| c == '|' && (i == 0 || row.as_bytes()[i - 1] != b'\\'))
            .count();
        assert_eq!(bare_pipes, 4, "{row}");
        assert!(
            !row.contains("<script>") && row.contains("\\<script\\>"),
            "{row}"
        );
        assert!(
            row.contains("\\`code\\`") && row.contains("\\*\\*bold\\*\\*"),
            "{row}"
        );
        assert!(row.contains("a\\|b c"), "line break becomes a space: {row}");
        assert!(row.contains("\\\\\\|"), "a backslash is escaped too: {row}");
    }

    #[test]
    fn annotations_one_error_per_failure_and_a_quarantine_warning() {
        let mut r = sample();
        r.failures.push(Failure {
            kind: FailureKind::Delete,
            error: "50% done\r\nthrottled: a, b".into(),
            messages: 1,
        });
        let lines = r.github_annotations();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(
            lines[0],
            "::error title=s3-event-writer%3A day 20261128 failed::PutObject: AccessDenied (4 messages left in the queue; they come back at the next run)"
        );
        assert_eq!(
            lines[1],
            "::error title=s3-event-writer%3A delete failed::50%25 done%0D%0Athrottled: a, b (1 message left in the queue; they come back at the next run)"
        );
        assert!(
            lines[2].starts_with("::warning title=s3-event-writer%3A messages quarantined::33 messages quarantined (bad_timestamp 6, not_json 27): s3://"),
            "{}",
            lines[2]
        );
        assert!(lines.iter().all(|l| !l.contains('\n') && !l.contains('\r')));
        assert!(Report::new(false).github_annotations().is_empty());
    }

    #[test]
    fn annotation_title_escapes_separators() {
        assert_eq!(
            github_annotation("error", "a:b,c%", "x:y,z"),
            "::error title=a%3Ab%2Cc%25::x:y,z"
        );
    }

    #[test]
    fn long_tables_and_texts_are_capped() {
        let mut r = Report::new(false);
        for d in 0..100 {
            r.days.insert(format!("2026{d:04}"), DayReport::default());
        }
        r.failures.push(Failure {
            kind: FailureKind::Source,
            error: "é".repeat(2000),
            messages: 0,
        });
        let md = r.github_markdown(5);
        let rows = md.lines().filter(|l| l.starts_with("| 2026")).count();
        assert_eq!(rows, GITHUB_MAX_ROWS);
        assert!(md.contains("| … 60 more days (see the report) |"), "{md}");
        let err_row = md.lines().find(|l| l.starts_with("| source")).unwrap();
        assert_eq!(err_row.matches('é').count(), GITHUB_MAX_TEXT);
        assert!(err_row.contains("é… |"), "{err_row}");
        let ann = &r.github_annotations()[0];
        assert_eq!(ann.matches('é').count(), GITHUB_MAX_TEXT);
    }

    #[test]
    fn fatal_markdown_names_the_error_and_doctor() {
        let md = github_fatal_markdown("cannot read queue: AccessDenied <sqs:ReceiveMessage>");
        assert!(
            md.starts_with("### s3-event-writer drain: could not run\n"),
            "{md}"
        );
        assert!(md.contains("AccessDenied \\<sqs:ReceiveMessage\\>"), "{md}");
        assert!(md.contains("s3-event-writer doctor"), "{md}");
    }

    #[test]
    fn drop_values_past_the_limit_are_counted_not_listed() {
        let mut r = Report::new(false);
        for i in 0..MAX_DROP_VALUES + 5 {
            r.count_drop("channel", &format!("v{i}"), 2);
        }
        r.count_drop("channel", "v0", 1);
        let channel = &r.dropped_by["channel"];
        assert_eq!(channel.len(), MAX_DROP_VALUES);
        assert_eq!(channel["v0"], 3, "a listed value keeps counting");
        assert_eq!(r.dropped_by_other["channel"], 10);
        assert!(!r.dropped_by_other.contains_key("hostname"));
        // Adding a block's counts applies the same limit.
        let mut block = Report::new(false);
        block.count_drop("channel", "new", 4);
        block.count_drop("channel", "v1", 1);
        r.add_counts(&block);
        assert_eq!(r.dropped_by["channel"]["v1"], 3);
        assert_eq!(r.dropped_by_other["channel"], 14);
    }

    #[test]
    fn failures_past_the_limit_are_counted_not_listed() {
        let mut r = Report::new(false);
        assert!(r.succeeded());
        for i in 0..MAX_FAILURES as u64 + 3 {
            r.add_failure(Failure {
                kind: FailureKind::Delete,
                error: "e".into(),
                messages: i % 2,
            });
        }
        assert_eq!(r.failures.len(), MAX_FAILURES);
        assert_eq!(
            (r.failures_not_listed, r.failure_count()),
            (3, MAX_FAILURES as u64 + 3)
        );
        let n = MAX_FAILURES as u64 + 3;
        assert_eq!(r.left_behind(), n / 2, "every other failure left a message");
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["failures_not_listed"], 3);
        assert!(r.github_markdown(3).contains(&format!(
            "| … {} more failures (see the report) |",
            MAX_FAILURES + 3 - GITHUB_MAX_ROWS
        )));
    }

    #[test]
    fn a_normal_runs_report_has_the_counts_of_nothing_left_out() {
        let v: serde_json::Value = serde_json::to_value(Report::new(false)).unwrap();
        assert_eq!(v["failures_not_listed"], 0);
        assert_eq!(v["dropped_by_other"], serde_json::json!({}));
        assert!(v.get("messages_not_listed").is_none());
    }
}
