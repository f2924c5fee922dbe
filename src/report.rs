//! The run report: counts, per-day results, what was dropped and quarantined, failures.
//!
//! Serialised as the `--report` JSON object of the SPEC (`received`, `kept`, `dropped`,
//! `quarantined`, `deleted`, `dropped_by`, `days`, plus more), and rendered as the human
//! summary printed on stderr at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::core::DropReason;

/// One day's result. Over several flushes `new_lines` adds up and `total_lines` is the last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayReport {
    pub new_lines: u64,
    pub total_lines: u64,
}

/// Something that did not complete; its messages stayed in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `day YYYYMMDD`, `quarantine`, `delete` or `source`.
    pub what: String,
    pub error: String,
    /// Messages left behind because of it.
    pub messages: u64,
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
    /// What failed; empty on success.
    pub failures: Vec<Failure>,
    /// Requests by API call (`sqs:ReceiveMessage`, `s3:PutObject`, ...).
    pub requests: BTreeMap<String, u64>,
    pub dry_run: bool,
    pub elapsed_secs: f64,
    /// Whether the messages came from a queue (where a failed message stays and comes back) or
    /// from a file (which must be read again). Not serialised.
    #[serde(skip)]
    pub from_queue: bool,
}

impl Report {
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

    /// True when every message read was kept, dropped or quarantined durably (and deleted).
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    /// Messages left in the queue because something failed.
    pub fn left_behind(&self) -> u64 {
        self.failures.iter().map(|f| f.messages).sum()
    }

    /// The human summary: counts, days, top drop values, quarantine reasons, failures.
    pub fn summary(&self, top: usize) -> String {
        let mut s = String::new();
        let verb = if self.dry_run { "would write" } else { "wrote" };
        let rate = if self.elapsed_secs > 0.0 {
            #[allow(clippy::cast_precision_loss)]
            let r = self.received as f64 / self.elapsed_secs;
            format!(" ({r:.0} msg/s)")
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "received {} in {:.2}s{rate}: kept {}, dropped {}, quarantined {}; deleted {}",
            self.received,
            self.elapsed_secs,
            self.kept,
            self.dropped,
            self.quarantined,
            self.deleted
        );
        if self.days.is_empty() {
            let _ = writeln!(s, "days: none touched");
        }
        for (day, d) in &self.days {
            let _ = writeln!(
                s,
                "  day {day}: {verb} {} new lines (now {} lines)",
                d.new_lines, d.total_lines
            );
        }
        for (reason, values) in &self.dropped_by {
            if values.is_empty() {
                continue;
            }
            let total: u64 = values.values().sum();
            let mut v: Vec<_> = values.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let shown: Vec<String> = v
                .iter()
                .take(top)
                .map(|(k, n)| {
                    if k.is_empty() {
                        format!("(none) {n}")
                    } else {
                        format!("{k} {n}")
                    }
                })
                .collect();
            let more = if v.len() > top {
                format!(", ... {} more values", v.len() - top)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  dropped by {reason}: {total} ({}{more})",
                shown.join(", ")
            );
        }
        for (reason, n) in &self.quarantined_by {
            let _ = writeln!(s, "  quarantined {reason}: {n}");
        }
        if let Some(q) = &self.quarantine_location {
            let _ = writeln!(
                s,
                "  quarantine {q}: {} new records, {} already there",
                self.quarantine_written, self.quarantine_already_there
            );
        }
        if !self.requests.is_empty() {
            let calls: Vec<String> = self
                .requests
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  requests: {}", calls.join(", "));
        }
        for f in &self.failures {
            let left = match (f.messages, self.from_queue) {
                (0, _) => String::new(),
                (n, true) => format!(" ({n} messages left in the queue)"),
                (n, false) => {
                    format!(" ({n} messages not written: run again with the same input)")
                }
            };
            let _ = writeln!(s, "FAILED {}: {}{left}", f.what, f.error);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            what: "day 20261120".into(),
            error: "boom".into(),
            messages: 4,
        });
        r.failures.push(Failure {
            what: "brake".into(),
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
}
