//! CloudWatch Embedded Metric Format (EMF) records: what one flush did, as one JSON object.
//!
//! `drain --metrics emf` prints one record per block written (one flush of the day files) on
//! stdout, and the Lambda function one per invocation; CloudWatch Logs extracts the metrics from
//! the Lambda function's log. Every record carries all eight metrics, with their units:
//!
//! | Metric | Unit | What it counts in the flush |
//! |---|---|---|
//! | `Received` | Count | bodies read, every delivery counted |
//! | `Kept` | Count | bodies that became a day-file line |
//! | `Dropped` | Count | bodies dropped by the rules |
//! | `Quarantined` | Count | bodies quarantined |
//! | `Deleted` | Count | messages deleted from the queue |
//! | `Failures` | Count | entries added to the report's `failures` |
//! | `ConflictRetries` | Count | day read-merge-writes started again after S3 answered 412/409 |
//! | `DurationSeconds` | Seconds | from the flush's first receive to its last delete |
//!
//! Summed over a run, every count equals the run report's (`failures` by number of entries,
//! `conflict_retries`). The namespace is configurable (default [`DEFAULT_NAMESPACE`]); there
//! are no dimensions (`"Dimensions": [[]]`), which is what the Terraform `Failures` alarm
//! watches by default.
//!
//! `drain --metric-data FILE` writes the same eight metrics once more, as the run's totals, plus
//! `SuccessfulRuns` (1 when the run drained and its exit status is 0, else 0), in the input
//! shape of `aws cloudwatch put-metric-data --cli-input-json` ([`MetricData`]): the hourly job
//! publishes that file, which feeds the `Failures` alarm and the heartbeat alarm (no successful
//! run for three hours).
//!
//! This module is pure: the caller supplies the timestamp and writes the line.

use serde::ser::{SerializeMap as _, Serializer};
use serde::Serialize;

use crate::report::Report;

/// The namespace when none is configured.
pub const DEFAULT_NAMESPACE: &str = "s3-event-writer";

/// Whether and how metrics are emitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsMode {
    /// No metrics.
    #[default]
    Off,
    /// One CloudWatch Embedded Metric Format JSON line per flush on stdout.
    Emf,
}

/// Where metrics go, resolved from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub mode: MetricsMode,
    pub namespace: String,
}

impl MetricsSettings {
    /// The record of one flush at `timestamp_ms`, or `None` when metrics are off.
    pub fn record(&self, counts: FlushCounts, timestamp_ms: u64) -> Option<EmfRecord> {
        (self.mode == MetricsMode::Emf)
            .then(|| EmfRecord::new(&self.namespace, counts, timestamp_ms))
    }
}

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlushCounts {
    pub received: u64,
    pub kept: u64,
    pub dropped: u64,
    pub quarantined: u64,
    pub deleted: u64,
    pub failures: u64,
    pub conflict_retries: u64,
    pub duration_secs: f64,
}

impl FlushCounts {
    /// A whole run as one flush (the Lambda function's record of an invocation).
    pub fn of_report(report: &Report) -> FlushCounts {
        FlushCounts {
            received: report.received,
            kept: report.kept,
            dropped: report.dropped,
            quarantined: report.quarantined,
            deleted: report.deleted,
            failures: report.failure_count(),
            conflict_retries: report.conflict_retries,
            duration_secs: report.elapsed_secs,
        }
    }

    /// The counts as (name, unit, value), in the order they are declared in a record; the
    /// duration to the millisecond (a float's noise is no information).
    fn metrics(&self) -> [(&'static str, &'static str, serde_json::Value); 8] {
        let count = |name, n: u64| (name, "Count", n.into());
        let secs = (self.duration_secs.max(0.0) * 1000.0).round() / 1000.0;
        [
            count("Received", self.received),
            count("Kept", self.kept),
            count("Dropped", self.dropped),
            count("Quarantined", self.quarantined),
            count("Deleted", self.deleted),
            count("Failures", self.failures),
            count("ConflictRetries", self.conflict_retries),
            ("DurationSeconds", "Seconds", secs.into()),
        ]
    }
}

/// One metric's declaration in the directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDefinition {
    pub name: &'static str,
    pub unit: &'static str,
}

/// The `MetricDirective`: which root members are metrics, in which namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDirective {
    pub namespace: String,
    /// One empty dimension set: the metrics without dimensions.
    pub dimensions: Vec<Vec<String>>,
    pub metrics: Vec<MetricDefinition>,
}

/// The `_aws` metadata object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    pub cloudwatch_metrics: Vec<MetricDirective>,
}

/// One EMF record: the metadata and the metric values as root members.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfRecord {
    pub aws: Metadata,
    pub counts: FlushCounts,
}

impl Serialize for EmfRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let metrics = self.counts.metrics();
        let mut map = serializer.serialize_map(Some(1 + metrics.len()))?;
        map.serialize_entry("_aws", &self.aws)?;
        for (name, _, value) in metrics {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

impl EmfRecord {
    /// The record of one flush, stamped `timestamp_ms` (milliseconds since the epoch).
    pub fn new(namespace: &str, counts: FlushCounts, timestamp_ms: u64) -> EmfRecord {
        let metrics = counts
            .metrics()
            .iter()
            .map(|&(name, unit, _)| MetricDefinition { name, unit })
            .collect();
        EmfRecord {
            aws: Metadata {
                timestamp: timestamp_ms,
                cloudwatch_metrics: vec![MetricDirective {
                    namespace: namespace.to_owned(),
                    dimensions: vec![Vec::new()],
                    metrics,
                }],
            },
            counts,
        }
    }

    /// The record as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("an EMF record always serialises")
    }
}

/// A run's totals as the input of `aws cloudwatch put-metric-data --cli-input-json`:
/// `{"Namespace": …, "MetricData": [{"MetricName": …, "Value": …, "Unit": …}, …]}`, no dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricData {
    pub namespace: String,
    pub counts: FlushCounts,
    /// Whether the run drained and ended with exit status 0 (`SuccessfulRuns` 1). A dry run or a
    /// run with failures is not a successful run.
    pub successful: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    metric_name: &'static str,
    value: f64,
    unit: &'static str,
}

impl Serialize for MetricData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let successful = ("SuccessfulRuns", "Count", u64::from(self.successful).into());
        let metrics = self.counts.metrics().into_iter().chain([successful]);
        // A duration that is no number (null) stays one.
        let datum = |(metric_name, unit, value): (_, _, serde_json::Value)| Datum {
            metric_name,
            unit,
            value: value.as_f64().unwrap_or(f64::NAN),
        };
        let data: Vec<Datum> = metrics.map(datum).collect();
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("Namespace", &self.namespace)?;
        map.serialize_entry("MetricData", &data)?;
        map.end()
    }
}

/// A namespace CloudWatch accepts: 1 to 255 characters, no `:` at the start, printable ASCII.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 255
        && !namespace.starts_with(':')
        && namespace.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    ok.then_some(()).ok_or_else(|| {
        format!(
            "metrics namespace {namespace:?}: must be 1 to 255 printable ASCII characters, \
             not starting with ':' (the default is {DEFAULT_NAMESPACE})"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: u32) -> FlushCounts {
        let (n, secs) = (u64::from(n), f64::from(n));
        FlushCounts {
            received: 10 * n,
            kept: 6 * n,
            dropped: 3 * n,
            quarantined: n,
            deleted: 10 * n,
            failures: n / 2,
            conflict_retries: n % 2,
            duration_secs: 0.25 * secs,
        }
    }

    #[test]
    fn a_record_declares_every_metric_with_its_unit_and_no_dimensions() {
        let line = EmfRecord::new("ns", counts(1), 1_764_316_800_123).to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_764_316_800_123_u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ns");
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
        let declared: Vec<(String, String)> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap().to_owned(),
                    m["Unit"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("Received", "Count", 10.0),
            ("Kept", "Count", 6.0),
            ("Dropped", "Count", 3.0),
            ("Quarantined", "Count", 1.0),
            ("Deleted", "Count", 10.0),
            ("Failures", "Count", 0.0),
            ("ConflictRetries", "Count", 1.0),
            ("DurationSeconds", "Seconds", 0.25),
        ];
        assert_eq!(declared.len(), expected.len());
        for ((name, unit), (want_name, want_unit, value)) in declared.iter().zip(expected) {
            assert_eq!((name.as_str(), unit.as_str()), (want_name, want_unit));
            // Every declared metric is a root member holding its number (EMF requires it).
            assert_eq!(v[want_name].as_f64(), Some(value), "{want_name}");
        }
        assert!(!line.contains('\n'), "one line: {line}");
    }

    #[test]
    fn records_of_a_run_sum_to_its_counts() {
        let flushes: Vec<FlushCounts> = (1..=4).map(counts).collect();
        let lines: Vec<String> = flushes
            .iter()
            .enumerate()
            .map(|(i, c)| EmfRecord::new(DEFAULT_NAMESPACE, *c, i as u64).to_line())
            .collect();
        let sum = |name: &str| -> u64 {
            lines
                .iter()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()[name]
                        .as_u64()
                        .unwrap()
                })
                .sum()
        };
        assert_eq!(sum("Received"), 100);
        assert_eq!(sum("Kept"), 60);
        assert_eq!(sum("Dropped"), 30);
        assert_eq!(sum("Quarantined"), 10);
        assert_eq!(sum("Deleted"), 100);
        assert_eq!(sum("Failures"), 1 + 1 + 2, "n / 2 for n = 1..=4");
        assert_eq!(sum("ConflictRetries"), 2);
    }

    #[test]
    fn durations_are_rounded_to_the_millisecond_and_never_negative() {
        let c = FlushCounts {
            duration_secs: 1.234_567,
            ..FlushCounts::default()
        };
        let v: serde_json::Value =
            serde_json::from_str(&EmfRecord::new("n", c, 0).to_line()).unwrap();
        assert_eq!(v["DurationSeconds"].as_f64(), Some(1.235));
        let c = FlushCounts {
            duration_secs: -1.0,
            ..FlushCounts::default()
        };
        let v: serde_json::Value =
            serde_json::from_str(&EmfRecord::new("n", c, 0).to_line()).unwrap();
        assert_eq!(v["DurationSeconds"].as_f64(), Some(0.0));
    }

    #[test]
    fn metric_data_has_the_run_totals_and_one_successful_run_only_when_it_succeeded() {
        for successful in [true, false] {
            let data = MetricData {
                namespace: "ns".to_owned(),
                counts: counts(2),
                successful,
            };
            let v = serde_json::to_value(&data).unwrap();
            assert_eq!(v["Namespace"], "ns");
            let got: Vec<(String, f64, String)> = v["MetricData"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    assert_eq!(d.as_object().unwrap().len(), 3, "no dimensions: {d}");
                    (
                        d["MetricName"].as_str().unwrap().to_owned(),
                        d["Value"].as_f64().unwrap(),
                        d["Unit"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let want = [
                ("Received", 20.0, "Count"),
                ("Kept", 12.0, "Count"),
                ("Dropped", 6.0, "Count"),
                ("Quarantined", 2.0, "Count"),
                ("Deleted", 20.0, "Count"),
                ("Failures", 1.0, "Count"),
                ("ConflictRetries", 0.0, "Count"),
                ("DurationSeconds", 0.5, "Seconds"),
                (
                    "SuccessfulRuns",
                    if successful { 1.0 } else { 0.0 },
                    "Count",
                ),
            ];
            let want: Vec<(String, f64, String)> = want
                .iter()
                .map(|&(n, v, u)| (n.to_owned(), v, u.to_owned()))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(check_namespace(DEFAULT_NAMESPACE).is_ok());
        assert!(check_namespace("Team/Writer 2").is_ok());
        for bad in ["", ":x", "tab\there", &"n".repeat(256)] {
            let err = check_namespace(bad).unwrap_err();
            assert!(err.contains("must be 1 to 255"), "{err}");
        }
    }
}
