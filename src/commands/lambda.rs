//! The writer as an AWS Lambda function fed by an SQS event source mapping.
//!
//! An invocation is one block of the same [`pipeline`] as `drain`: the same classification,
//! merge and conditional writes; quarantine records go to one new object. The answer lists in
//! `batchItemFailures` exactly the records whose outcome is not durable: the records of a day
//! whose write failed (after the store's bounded, jittered retries on 412/409) and, if the
//! quarantine write failed, the quarantined ones. Dropped records, and the records of every
//! day that was written, succeed. Failed records come back through SQS, and the queue's redrive
//! policy moves a persistent failure to its dead-letter queue.
//!
//! Configuration comes from the environment through the same settings layer as the CLI
//! ([`crate::settings`]): every `S3EW_*` variable a flag reads, and the TOML file `S3EW_CONFIG`
//! names. A value that cannot be read stops the function at start-up, naming the variable.
//!
//! Metrics are on by default: every invocation prints one CloudWatch Embedded Metric Format
//! record on stdout (see [`crate::metrics`]), which the function's log group turns into
//! metrics. `S3EW_METRICS=off` turns them off; `S3EW_METRICS_NAMESPACE` sets the namespace.

use std::collections::HashSet;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};

use crate::adapters::{
    take_batch, AckOutcome, Batch, DayStore, Message, QuarantineStore, Receipt, Source, SourceError,
};
use crate::core::{BodyPolicy, Rules};
use crate::location::Location;
use crate::metrics::{FlushCounts, MetricsSettings};
use crate::pipeline::{self, DrainOptions, Progress};
use crate::report::Report;
use crate::settings::{
    defaults, exit, AwsArgs, LocationArgs, MetricsArgs, QuarantineBodyArgs, RuleArgs,
    StoreSettings, UsageError,
};
use crate::wiring::Wiring;

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

impl Source for BatchSource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        Ok(take_batch(&mut self.pending, max, Batch::Drained))
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
    let received_at = crate::adapters::received_now();
    let pending = records.iter().enumerate().map(|(i, r)| Message {
        id: r.message_id.clone(),
        body: r.body.clone().into_bytes().into(),
        // The position identifies the record even if an id repeats.
        receipt: Receipt {
            id: r.message_id.clone(),
            handle: i.to_string(),
        },
        received_at: received_at.clone(),
    });
    let (pending, acked) = (pending.collect(), HashSet::new());
    let mut source = BatchSource { pending, acked };
    // One block per invocation: the failure brake has nothing to stop.
    let opts = DrainOptions {
        block_messages: records.len().max(1),
        day_concurrency: 4,
        run_id: run_id.to_owned(),
        max_failed_blocks: u32::MAX,
        quarantine_body: quarantine_body.clone(),
        ..DrainOptions::default()
    };
    let progress = Progress::default();
    let stores = pipeline::Stores { days, quarantine };
    let drained = pipeline::drain(
        &mut source,
        stores,
        rules,
        &opts,
        &progress,
        std::future::pending(),
        &mut |_| {},
    )
    .await;
    // A batch source never fails to read; keep the contract anyway: nothing acknowledged.
    let report = drained.unwrap_or_else(|e| {
        tracing::error!(error = %e, "batch failed");
        Report::default()
    });
    let failed = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !source.acked.contains(&i.to_string()))
        .map(|(_, r)| r.message_id.clone())
        .collect();
    BatchOutcome { failed, report }
}

/// The function's settings: the same argument groups as `drain`'s, read from the environment
/// (`S3EW_*`, and the file `S3EW_CONFIG` names) since the function has no command line.
/// `--dest` has no default here: empty when neither `S3EW_DEST` nor the config file sets it.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(mut_arg("dest", |a| a.default_value("").hide_default_value(true)))]
pub struct LambdaArgs {
    #[command(flatten)]
    pub at: LocationArgs,
    #[command(flatten)]
    pub body: QuarantineBodyArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub dest: Location,
    pub quarantine: Location,
    pub rules: Rules,
    pub quarantine_body: BodyPolicy,
    pub store: StoreSettings,
    /// On (`emf`) unless `S3EW_METRICS=off`.
    pub metrics: MetricsSettings,
}

impl LambdaSettings {
    /// `S3EW_DEST` (or `dest` in the config file) is required: a function has no business
    /// writing to the default archive by accident. The quarantine must lie outside it.
    pub fn resolve(args: &LambdaArgs) -> Result<LambdaSettings, UsageError> {
        if args.at.dest.is_empty() {
            return Err(UsageError::new(
                "S3EW_DEST is not set: the function needs s3://BUCKET/PREFIX/",
            ));
        }
        let at = args.at.resolve()?;
        at.dest.check_quarantine(&at.quarantine)?;
        Ok(LambdaSettings {
            dest: at.dest,
            quarantine: at.quarantine,
            rules: args.rules.resolve()?,
            quarantine_body: args.body.resolve()?,
            store: args.aws.resolve()?,
            metrics: args.metrics.resolve(defaults::LAMBDA_METRICS)?,
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
    response.set_failures(failed);
    response
}

/// Runs the Lambda runtime loop (the `lambda` subcommand).
pub async fn run(settings: LambdaSettings) -> anyhow::Result<i32> {
    let wiring = Wiring::new(&settings.store);
    let days = wiring.day_store(&settings.dest).await;
    let quarantine = wiring.quarantine_store(&settings.quarantine).await;
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
        super::print_metrics(metrics, &FlushCounts::of_report(&outcome.report));
        Ok::<SqsBatchResponse, lambda_runtime::Error>(batch_response(outcome.failed))
    });
    lambda_runtime::run(handler)
        .await
        .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricsMode;

    /// The settings from flags standing for the variables (clap reads `S3EW_X` exactly as
    /// its flag; `cli::tests::a_bad_lambda_variable_is_named` checks the naming).
    fn settings(argv: &[&str]) -> Result<LambdaSettings, UsageError> {
        use clap::{Args as _, FromArgMatches as _};
        let cmd = LambdaArgs::augment_args(clap::Command::new("lambda").no_binary_name(true));
        let m = cmd.try_get_matches_from(argv).unwrap();
        let parsed = LambdaArgs::from_arg_matches(&m).unwrap();
        LambdaSettings::resolve(&parsed)
    }

    const DEST: &str = "--dest=s3://logpublish/events/prod/";

    #[test]
    fn the_destination_is_required_and_the_quarantine_must_lie_outside_it() {
        let e = settings(&[]).unwrap_err().to_string();
        assert!(e.starts_with("S3EW_DEST is not set"), "{e}");
        let s = settings(&[DEST]).unwrap();
        assert_eq!(
            s.quarantine.to_string(),
            "s3://logpublish/events/quarantine/"
        );
        let e = settings(&[DEST, "--quarantine=s3://logpublish/events/prod/q/"]).unwrap_err();
        assert!(e.to_string().contains("quarantine"), "{e}");
    }

    #[test]
    fn quarantine_bodies_are_minimised_unless_the_variable_asks_for_raw_ones() {
        let s = settings(&[DEST]).unwrap();
        assert_eq!(s.quarantine_body, BodyPolicy::default());
        let s = settings(&[DEST, "--quarantine-verbatim=true"]).unwrap();
        assert_eq!(s.quarantine_body, BodyPolicy::Verbatim);
        let s = settings(&[DEST, "--quarantine-verbatim=0"]).unwrap();
        assert_eq!(s.quarantine_body, BodyPolicy::default());
        let s = settings(&[DEST, "--personal-key=Secret,Other"]).unwrap();
        assert_eq!(
            s.quarantine_body,
            BodyPolicy::Minimised(
                crate::core::Redaction::new(vec!["Secret".into(), "Other".into()]).unwrap()
            )
        );
        let e = settings(&[DEST, "--personal-key=a\"b"]).unwrap_err();
        assert!(e.to_string().contains("S3EW_PERSONAL_KEYS"), "{e}");
    }

    #[test]
    fn the_function_honours_the_aws_settings_the_cli_does() {
        // The drift this guards: the function once built default AWS settings and ignored
        // S3EW_MAX_ATTEMPTS and S3EW_TEMP_DIR.
        let s = settings(&[DEST, "--max-attempts=1", "--temp-dir=/tmp/x"]).unwrap();
        assert_eq!(s.store.aws.max_attempts, 1);
        assert_eq!(
            s.store.s3.day.sort.spill_dir,
            Some(std::path::PathBuf::from("/tmp/x"))
        );
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
        let s = settings(&[DEST]).unwrap();
        assert_eq!(s.metrics.mode, MetricsMode::Emf);
        assert_eq!(s.metrics.namespace, crate::metrics::DEFAULT_NAMESPACE);
        let s = settings(&[DEST, "--metrics=off"]).unwrap();
        assert_eq!(s.metrics.mode, MetricsMode::Off);
        let s = settings(&[DEST, "--metrics-namespace=Team/Writer"]).unwrap();
        assert_eq!(s.metrics.namespace, "Team/Writer");
        let err = settings(&[DEST, "--metrics-namespace=:x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("S3EW_METRICS_NAMESPACE"), "{err}");
    }

    #[tokio::test]
    async fn an_invocations_record_holds_the_counts_of_its_report() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("prod");
        std::fs::create_dir_all(&dest).unwrap();
        let days = crate::adapters::dir::DirStore::new(&dest);
        let quarantine = crate::adapters::dir::DirQuarantine::new(tmp.path().join("q"));
        let bodies = include_str!("../../examples/messages.jsonl");
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
