//! The writer as an AWS Lambda function fed by an SQS event source mapping.
//!
//! One core, three ways to run it: the hourly `drain`, `drain --follow`, and this. An invocation
//! is one block of the same [`pipeline`](crate::pipeline): every record is classified by the
//! core, kept lines are merged into their day files with the same streaming merge and
//! conditional writes, quarantine records go to one new object. The answer lists in
//! `batchItemFailures` exactly the records whose outcome is not durable: the records of a day
//! whose write failed (after the store's bounded, jittered retries on 412/409) and, if the
//! quarantine write failed, the quarantined ones. Dropped records, and the records of every
//! day that was written, succeed. Failed records come back through SQS, and the queue's redrive
//! policy moves a persistent failure to its dead-letter queue.
//!
//! Configuration comes from the environment, with the CLI's names: `S3EW_DEST`,
//! `S3EW_QUARANTINE`, `S3EW_PROD_HOSTS`, `S3EW_DROP_EVENTS`, `S3EW_DROP_CHANNELS`,
//! `S3EW_QUARANTINE_VERBATIM` (raw quarantine bodies instead of minimised ones),
//! `S3EW_PERSONAL_KEYS`, and `S3EW_S3_PATH_STYLE` for emulators. A value that cannot be read
//! stops the function at start-up with a message naming the variable.
//!
//! Metrics are on by default: every invocation prints one CloudWatch Embedded Metric Format
//! record on stdout (see [`crate::metrics`]), which the function's log group turns into
//! metrics. `S3EW_METRICS=off` turns them off; `S3EW_METRICS_NAMESPACE` sets the namespace.

use std::collections::{BTreeMap, HashSet};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};

use crate::adapters::{
    AckOutcome, Batch, DayStore, Message, QuarantineStore, Receipt, Source, SourceError,
};
use crate::cli::{AwsContext, UsageError};
use crate::core::{BodyPolicy, Rules};
use crate::location::Location;
use crate::metrics::{FlushCounts, MetricsMode, MetricsSettings};
use crate::pipeline::{self, DrainOptions, Progress};
use crate::report::Report;

/// One SQS record of an invocation.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub body: String,
}

/// The records of one invocation as a [`Source`]: handed out once, acknowledgements recorded.
#[derive(Debug)]
struct BatchSource {
    pending: Vec<Message>,
    acked: HashSet<String>,
}

impl BatchSource {
    fn new(records: &[Record]) -> BatchSource {
        let received_at = jiff::Timestamp::now().to_string();
        let pending = records
            .iter()
            .enumerate()
            .map(|(i, r)| Message {
                id: r.message_id.clone(),
                body: r.body.clone().into_bytes(),
                // The position identifies the record even if an id repeats.
                receipt: Receipt {
                    id: r.message_id.clone(),
                    handle: i.to_string(),
                },
                received_at: received_at.clone(),
            })
            .collect();
        BatchSource {
            pending,
            acked: HashSet::new(),
        }
    }
}

impl Source for BatchSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        if self.pending.is_empty() {
            return Ok(Batch::Drained);
        }
        let rest = if self.pending.len() > max {
            self.pending.split_off(max)
        } else {
            Vec::new()
        };
        Ok(Batch::Messages(std::mem::replace(&mut self.pending, rest)))
    }

    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        let deleted = receipts.len() as u64;
        self.acked.extend(receipts.into_iter().map(|r| r.handle));
        // Lambda deletes the successful records itself once the invocation returns.
        AckOutcome {
            deleted,
            failed: Vec::new(),
        }
    }

    async fn abandon(&mut self, _receipts: Vec<Receipt>) {}

    async fn release(&mut self, _receipts: Vec<Receipt>) {}

    async fn finish(&mut self) {}

    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    fn deletes(&self) -> bool {
        false
    }
}

/// The result of one invocation.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Message ids whose outcome is not durable: the `batchItemFailures`.
    pub failed: Vec<String>,
    pub report: Report,
}

/// Handles one batch of records: classify, merge, quarantine; report what failed.
pub async fn handle_batch<D: DayStore, Q: QuarantineStore>(
    records: &[Record],
    days: &D,
    quarantine: &Q,
    rules: &Rules,
    quarantine_body: &BodyPolicy,
    run_id: &str,
) -> BatchOutcome {
    let mut source = BatchSource::new(records);
    // One block per invocation: the failure brake has nothing to stop.
    let opts = DrainOptions {
        block_messages: records.len().max(1),
        flush_secs: None,
        day_concurrency: 4,
        max_messages: None,
        dry_run: false,
        run_id: run_id.to_owned(),
        max_failed_blocks: u32::MAX,
        quarantine_body: quarantine_body.clone(),
    };
    let progress = Progress::default();
    let report = match pipeline::drain(
        &mut source,
        days,
        quarantine,
        rules,
        &opts,
        &progress,
        std::future::pending(),
    )
    .await
    {
        Ok(r) => r,
        // A batch source never fails to read; keep the contract anyway: nothing acknowledged.
        Err(e) => {
            tracing::error!(error = %e, "batch failed");
            Report::default()
        }
    };
    let failed = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !source.acked.contains(&i.to_string()))
        .map(|(_, r)| r.message_id.clone())
        .collect();
    BatchOutcome { failed, report }
}

/// The function's settings, from the environment.
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub dest: Location,
    pub quarantine: Location,
    pub rules: Rules,
    pub quarantine_body: BodyPolicy,
    /// On (`emf`) unless `S3EW_METRICS=off`.
    pub metrics: MetricsSettings,
}

/// `S3EW_METRICS` (`emf` when unset or empty) and `S3EW_METRICS_NAMESPACE`.
fn metrics_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<MetricsSettings, UsageError> {
    let mode = match var("S3EW_METRICS").filter(|v| !v.trim().is_empty()) {
        None => MetricsMode::Emf,
        Some(v) => MetricsMode::parse(&v).ok_or_else(|| {
            UsageError(anyhow::anyhow!(
                "S3EW_METRICS={v:?}: set it to emf (the default) or off"
            ))
        })?,
    };
    let namespace = var("S3EW_METRICS_NAMESPACE").filter(|v| !v.is_empty());
    let settings = crate::cli::resolve_metrics(Some(mode), namespace)
        .map_err(|e| UsageError(anyhow::anyhow!("S3EW_METRICS_NAMESPACE: {e}")))?;
    Ok(settings)
}

/// A comma-separated list variable (`None` when unset).
fn list_var(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<Vec<String>> {
    let v = var(name)?;
    let items: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Some(items)
}

/// A yes/no variable (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; unset or empty is no).
fn flag_var(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<bool, UsageError> {
    let Some(value) = var(name) else {
        return Ok(false);
    };
    parse_flag(&value).ok_or_else(|| {
        UsageError(anyhow::anyhow!(
            "{name}={value:?} is not a yes/no value: set it to true or false"
        ))
    })
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "" | "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

impl LambdaSettings {
    /// Reads `S3EW_DEST` (required), `S3EW_QUARANTINE`, the rule lists and the quarantine body
    /// settings from the environment.
    pub fn from_env() -> Result<LambdaSettings, UsageError> {
        LambdaSettings::from_vars(&|name| std::env::var(name).ok())
    }

    /// The same, from any source of variables.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<LambdaSettings, UsageError> {
        let dest = var("S3EW_DEST").ok_or_else(|| {
            UsageError(anyhow::anyhow!(
                "S3EW_DEST is not set: the function needs s3://BUCKET/PREFIX/"
            ))
        })?;
        let dest = Location::parse(&dest).map_err(|e| UsageError(e.into()))?;
        let quarantine = match var("S3EW_QUARANTINE") {
            Some(q) if !q.is_empty() => Location::parse(&q).map_err(|e| UsageError(e.into()))?,
            _ => dest.quarantine_beside().map_err(|e| UsageError(e.into()))?,
        };
        dest.check_quarantine(&quarantine)
            .map_err(|e| UsageError(e.into()))?;
        let d = Rules::default();
        let rules = Rules {
            prod_hosts: list_var(var, "S3EW_PROD_HOSTS").unwrap_or(d.prod_hosts),
            drop_channel_substrings: list_var(var, "S3EW_DROP_CHANNELS")
                .unwrap_or(d.drop_channel_substrings),
            drop_events: list_var(var, "S3EW_DROP_EVENTS").unwrap_or(d.drop_events),
        };
        rules.validate().map_err(|e| UsageError(e.into()))?;
        let quarantine_body = crate::cli::resolve_body_policy(
            flag_var(var, "S3EW_QUARANTINE_VERBATIM")?,
            list_var(var, "S3EW_PERSONAL_KEYS"),
        )
        .map_err(|e| UsageError(anyhow::anyhow!("S3EW_PERSONAL_KEYS: {e}")))?;
        Ok(LambdaSettings {
            dest,
            quarantine,
            rules,
            quarantine_body,
            metrics: metrics_vars(var)?,
        })
    }
}

/// Turns an SQS event into records (a record without a body is an empty body: quarantined).
pub fn records_of(event: SqsEvent) -> Vec<Record> {
    event
        .records
        .into_iter()
        .map(|m| Record {
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
        })
        .collect()
}

/// The batch response for `failed` message ids.
pub fn batch_response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// Runs the Lambda runtime loop (the `lambda` subcommand).
pub async fn run() -> anyhow::Result<i32> {
    let settings = LambdaSettings::from_env()?;
    let aws = crate::adapters::aws::AwsSettings {
        force_path_style: std::env::var("S3EW_S3_PATH_STYLE")
            .is_ok_and(|v| v == "true" || v == "1"),
        ..crate::adapters::aws::AwsSettings::default()
    };
    let ctx = AwsContext::load(&aws, true).await;
    let days = ctx.day_store(&settings.dest, crate::adapters::s3::S3Settings::default());
    let quarantine = ctx.quarantine_store(&settings.quarantine);
    let (days, quarantine, rules) = (&days, &quarantine, &settings.rules);
    let body = &settings.quarantine_body;
    let metrics = &settings.metrics;
    let handler = service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let run_id = format!("{}-{}", pipeline::new_run_id(), event.context.request_id);
        let records = records_of(event.payload);
        let outcome = handle_batch(&records, days, quarantine, rules, body, &run_id).await;
        tracing::info!(
            records = records.len(),
            kept = outcome.report.kept,
            dropped = outcome.report.dropped,
            quarantined = outcome.report.quarantined,
            failed = outcome.failed.len(),
            "batch done"
        );
        crate::cli::print_metrics(metrics, &FlushCounts::of_report(&outcome.report));
        Ok::<SqsBatchResponse, lambda_runtime::Error>(batch_response(outcome.failed))
    });
    lambda_runtime::run(handler)
        .await
        .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))?;
    Ok(crate::cli::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<LambdaSettings, UsageError> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LambdaSettings::from_vars(&|name| vars.get(name).cloned())
    }

    #[test]
    fn quarantine_bodies_are_minimised_unless_the_variable_asks_for_raw_ones() {
        let dest = ("S3EW_DEST", "s3://logpublish/events/prod/");
        let s = settings(&[dest]).unwrap();
        assert_eq!(s.quarantine_body, BodyPolicy::default());
        let s = settings(&[dest, ("S3EW_QUARANTINE_VERBATIM", "true")]).unwrap();
        assert_eq!(s.quarantine_body, BodyPolicy::Verbatim);
        let s = settings(&[dest, ("S3EW_QUARANTINE_VERBATIM", "0")]).unwrap();
        assert_eq!(s.quarantine_body, BodyPolicy::default());
        let s = settings(&[dest, ("S3EW_PERSONAL_KEYS", "Secret, Other")]).unwrap();
        assert_eq!(
            s.quarantine_body,
            BodyPolicy::Minimised(
                crate::core::Redaction::new(vec!["Secret".into(), "Other".into()]).unwrap()
            )
        );
        let e = settings(&[dest, ("S3EW_QUARANTINE_VERBATIM", "sometimes")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("S3EW_QUARANTINE_VERBATIM=\"sometimes\""),
            "{e}"
        );
        let e = settings(&[dest, ("S3EW_PERSONAL_KEYS", "a\"b")]).unwrap_err();
        assert!(e.to_string().starts_with("S3EW_PERSONAL_KEYS: "), "{e}");
    }

    #[test]
    fn yes_no_values_are_read_and_others_refused() {
        for v in ["1", "true", "TRUE", "yes", "on", " y "] {
            assert_eq!(parse_flag(v), Some(true), "{v}");
        }
        for v in ["", "0", "false", "No", "off"] {
            assert_eq!(parse_flag(v), Some(false), "{v}");
        }
        assert_eq!(parse_flag("maybe"), None);
    }

    #[test]
    fn batch_response_lists_failed_ids_in_camel_case() {
        let v = serde_json::to_value(batch_response(vec!["a".into(), "b".into()])).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]})
        );
    }

    #[test]
    fn records_come_from_the_sqs_event_shape() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m1", "receiptHandle": "r", "body": "{}", "attributes": {}, "messageAttributes": {},
             "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-west-2:1:q", "awsRegion": "us-west-2"}
        ]}))
        .unwrap();
        let records = records_of(event);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message_id, "m1");
        assert_eq!(records[0].body, "{}");
    }

    #[test]
    fn metrics_are_on_by_default_off_on_request_and_bad_values_name_the_variable() {
        let dest = ("S3EW_DEST", "s3://logpublish/events/prod/");
        let s = settings(&[dest]).unwrap();
        assert_eq!(s.metrics.mode, MetricsMode::Emf);
        assert_eq!(s.metrics.namespace, crate::metrics::DEFAULT_NAMESPACE);
        let s = settings(&[dest, ("S3EW_METRICS", "off")]).unwrap();
        assert_eq!(s.metrics.mode, MetricsMode::Off);
        let s = settings(&[dest, ("S3EW_METRICS_NAMESPACE", "Team/Writer")]).unwrap();
        assert_eq!(s.metrics.namespace, "Team/Writer");
        let err = settings(&[dest, ("S3EW_METRICS", "yes")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("S3EW_METRICS=\"yes\"") && err.contains("off"),
            "{err}"
        );
        let err = settings(&[dest, ("S3EW_METRICS_NAMESPACE", ":x")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("S3EW_METRICS_NAMESPACE:"), "{err}");
    }

    #[tokio::test]
    async fn an_invocations_record_holds_the_counts_of_its_report() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("prod");
        std::fs::create_dir_all(&dest).unwrap();
        let days = crate::adapters::dir::DirStore::new(&dest);
        let quarantine = crate::adapters::dir::DirQuarantine::new(tmp.path().join("q"));
        let bodies = include_str!("../examples/messages.jsonl");
        let records: Vec<Record> = bodies
            .lines()
            .take(40)
            .enumerate()
            .map(|(i, b)| Record {
                message_id: format!("m{i}"),
                body: b.to_owned(),
            })
            .collect();
        let outcome = handle_batch(
            &records,
            &days,
            &quarantine,
            &Rules::default(),
            &BodyPolicy::default(),
            "run",
        )
        .await;
        let counts = FlushCounts::of_report(&outcome.report);
        assert_eq!(counts.received, 40);
        assert!(counts.kept > 0, "{counts:?}");
        assert_eq!(counts.kept + counts.dropped + counts.quarantined, 40);
        assert_eq!(counts.deleted, 40 - outcome.failed.len() as u64);
        assert_eq!(counts.failures, 0);
        let metrics = MetricsSettings {
            mode: MetricsMode::Emf,
            ..MetricsSettings::default()
        };
        let line = metrics.record(counts, 1).expect("on").to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Received"], 40);
        assert!(
            MetricsSettings::default().record(counts, 1).is_none(),
            "off"
        );
    }
}
