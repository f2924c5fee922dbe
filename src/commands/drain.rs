//! `drain`: the hourly job. Checks the locations, builds the source and the stores, drives the
//! pipeline until the source is drained or a signal arrives, then prints the summary, writes the
//! report, and publishes the GitHub step summary and metrics when asked.
//!
//! Also here: signal handling. The progress display is [`super::console`]'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::console::{self, ProgressMode};
use crate::adapters::sqs::SqsSettings;
use crate::location::{Location, SourceSpec};
use crate::metrics::{FlushCounts, MetricsSettings};
use crate::pipeline::{self, DrainOptions, Progress};
use crate::report::Report;
use crate::settings::{
    self, defaults, AwsArgs, LocationArgs, MetricsArgs, QuarantineBodyArgs, RuleArgs, SqsArgs,
    StoreSettings, UsageError,
};
use crate::wiring::Wiring;

/// The exit statuses, as `drain`'s and the program's top-level `--help` list them.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  every message read was kept, dropped or quarantined durably
  1  some messages could not be written or deleted; they stay in the queue and come back
  2  usage or configuration error; nothing was read
  3  the source or destination could not be used (unreachable, denied, missing)";

const EXAMPLES: &str = "\
Examples:
  # the bundled sample into a local directory, no AWS needed
  s3-event-writer drain --source examples/messages.jsonl --dest /tmp/archive/prod

  # the production job (QUEUE_URL in the environment)
  s3-event-writer drain --dest s3://logpublish/events/prod/ --report report.json

  # see what a run would change, without writing or deleting anything
  s3-event-writer drain --dry-run";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_STATUS_HELP}"))]
pub struct DrainArgs {
    /// SQS queue URL, a FILE with one message body per line, or - for stdin. [default: $QUEUE_URL]
    #[arg(long, value_name = "QUEUE_URL|FILE|-", env = "QUEUE_URL")]
    pub source: Option<String>,
    #[command(flatten)]
    pub at: LocationArgs,
    #[command(flatten)]
    pub body: QuarantineBodyArgs,
    /// Write the run report (JSON) to this file.
    #[arg(long, value_name = "FILE", env = "S3EW_REPORT")]
    pub report: Option<PathBuf>,
    /// When the run ends, write its totals for CloudWatch to this file, in the input shape of
    /// `aws cloudwatch put-metric-data --cli-input-json file://FILE` (the eight --metrics counts
    /// and SuccessfulRuns: 1 when the run drained with exit status 0). Not written on a usage
    /// error (exit status 2).
    #[arg(long, value_name = "FILE", env = "S3EW_METRIC_DATA")]
    pub metric_data: Option<PathBuf>,
    /// Write nothing and delete nothing; print what would change per day. Each message read from
    /// a queue is given back, but its receive counts toward the queue's maxReceiveCount (after
    /// that many, SQS moves it to the dead-letter queue), so a dry run from a queue reads at most
    /// 100 messages unless --max-messages is given.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Most messages in one block (one flush of the day files).
    #[arg(long, value_name = "N", env = "S3EW_BLOCK_MESSAGES", default_value_t = defaults::BLOCK_MESSAGES)]
    pub block_messages: usize,
    /// Stop after this many messages. [default: unlimited; 100 for a --dry-run from a queue]
    #[arg(long, value_name = "N", env = "S3EW_MAX_MESSAGES")]
    pub max_messages: Option<u64>,
    /// Day files merged at once.
    #[arg(long, value_name = "N", env = "S3EW_DAY_CONCURRENCY", default_value_t = defaults::DAY_CONCURRENCY)]
    pub day_concurrency: usize,
    /// How many values per drop reason the summary lists.
    #[arg(long, value_name = "N", env = "S3EW_SUMMARY_TOP", default_value_t = defaults::SUMMARY_TOP)]
    pub summary_top: usize,
    /// Stop receiving after this many consecutive blocks in which every write failed (the
    /// messages in hand are given back; exit status 1).
    #[arg(long, value_name = "N", env = "S3EW_MAX_FAILED_BLOCKS", default_value_t = defaults::MAX_FAILED_BLOCKS)]
    pub max_failed_blocks: u32,
    /// Progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    #[command(flatten)]
    pub sqs: SqsArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// In GitHub Actions: append the summary as Markdown to the file $GITHUB_STEP_SUMMARY names,
    /// and print an ::error:: annotation per failure on stdout.
    #[arg(long)]
    pub github_summary: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Everything `drain` needs, resolved.
#[derive(Debug, Clone)]
pub struct DrainSettings {
    pub source: SourceSpec,
    pub dest: Location,
    pub quarantine: Location,
    pub report: Option<PathBuf>,
    pub metric_data: Option<PathBuf>,
    pub rules: crate::core::Rules,
    pub options: DrainOptions,
    pub summary_top: usize,
    pub progress: ProgressMode,
    pub sqs: SqsSettings,
    pub store: StoreSettings,
    /// The step summary file (`--github-summary`).
    pub github_summary: Option<PathBuf>,
    pub metrics: MetricsSettings,
}

impl DrainSettings {
    pub fn resolve(args: &DrainArgs) -> Result<DrainSettings, UsageError> {
        let no_source = "no source: give --source (a queue URL, a FILE or -) or set QUEUE_URL";
        let source = args
            .source
            .as_deref()
            .ok_or_else(|| UsageError::new(no_source))?;
        let source = SourceSpec::parse(source);
        // Whether the quarantine is inside the day files is checked with the other locations
        // before the run (crate::preflight): exit status 3.
        let at = args.at.resolve()?;
        let (from_queue, queue_url) = match &source {
            SourceSpec::Sqs(u) => (true, u.clone()),
            _ => (false, String::new()),
        };
        let max_messages = settings::max_messages(args.max_messages, args.dry_run, from_queue);
        let sqs = args.sqs.resolve(queue_url, max_messages)?;
        Ok(DrainSettings {
            options: DrainOptions {
                block_messages: match args.block_messages {
                    0 => return Err(UsageError::new("--block-messages must be at least 1")),
                    n => n,
                },
                flush_secs: args.sqs.flush_secs(&sqs, from_queue),
                day_concurrency: args.day_concurrency.max(1),
                max_messages,
                dry_run: args.dry_run,
                run_id: pipeline::new_run_id(),
                max_failed_blocks: settings::max_failed_blocks(args.max_failed_blocks)?,
                quarantine_body: args.body.resolve()?,
            },
            source,
            dest: at.dest,
            quarantine: at.quarantine,
            sqs,
            store: args.aws.resolve()?,
            report: args.report.clone(),
            metric_data: args.metric_data.clone(),
            rules: args.rules.resolve()?,
            summary_top: args.summary_top,
            progress: args.progress,
            github_summary: github_summary_file(
                args.github_summary,
                std::env::var_os("GITHUB_STEP_SUMMARY"),
            )?,
            metrics: args.metrics.resolve(defaults::METRICS)?,
        })
    }
}

/// Runs `drain` and publishes its outcome; the exit status.
pub async fn run(settings: DrainSettings) -> anyhow::Result<i32> {
    let outcome = drain(&settings).await;
    if outcome.is_err() {
        // One record with `Failures` 1, so the `Failures` alarm sees a run that never got going.
        super::print_metrics(&settings.metrics, &fatal_counts());
    }
    if let Some(path) = &settings.metric_data {
        write_metric_data(path, &settings.metrics.namespace, outcome.as_ref().ok());
    }
    if let Some(path) = &settings.github_summary {
        publish_github_outcome(path, settings.summary_top, &outcome);
    }
    Ok(super::exit_status(outcome?.succeeded()))
}

/// Checks the locations, builds the adapters, drives the pipeline until drained or
/// interrupted, then reports.
pub async fn drain(settings: &DrainSettings) -> anyhow::Result<Report> {
    let wiring = Wiring::new(&settings.store);
    crate::preflight::check_drain(
        &settings.source,
        &settings.dest,
        &settings.quarantine,
        &wiring,
    )
    .await?;
    let mut source = wiring.source(&settings.source, &settings.sqs).await?;
    let days = wiring.day_store(&settings.dest).await;
    let quarantine = wiring.quarantine_store(&settings.quarantine).await;
    tracing::info!(source = %settings.source, dest = %settings.dest, quarantine = %settings.quarantine, dry_run = settings.options.dry_run, "drain starting");
    let progress = Arc::new(Progress::default());
    let ticker = console::spawn_progress(settings.progress, progress.clone());
    let stores = pipeline::Stores {
        days: &days,
        quarantine: &quarantine,
    };
    let report = pipeline::drain(
        &mut source,
        stores,
        &settings.rules,
        &settings.options,
        &progress,
        shutdown_signal(),
        &mut |counts| super::print_metrics(&settings.metrics, counts),
    )
    .await;
    ticker.abort();
    console::clear_progress_bar();
    let report = report?;
    eprint!("{}", report.summary(settings.summary_top));
    if let Some(path) = &settings.report {
        super::write_report(path, &report)?;
    }
    Ok(report)
}

/// `--github-summary`: the run's summary, or for a `drain` that failed as a whole its error, as
/// the step summary and annotations. Best effort (a warning if it cannot be written): the run
/// is done, and its outcome is what the caller reports.
fn publish_github_outcome(path: &Path, top: usize, outcome: &anyhow::Result<Report>) {
    let (markdown, annotations) = match outcome {
        Ok(report) => (report.github_markdown(top), report.github_annotations()),
        Err(e) => {
            let text = format!("{e:#}");
            let title = "s3-event-writer: drain could not run";
            let annotation = crate::report::github_annotation("error", title, &text);
            let markdown = crate::report::github_fatal_markdown(&text);
            (markdown, vec![annotation])
        }
    };
    if let Err(e) = publish_github(path, &markdown, &annotations) {
        tracing::warn!("{e:#}");
    }
}

/// `--metric-data`: the run's totals (a run that could not start counts one failure, as its
/// metrics record does). Best effort: the run is over, and a file that cannot be written leaves
/// the heartbeat alarm without data, which it treats as breaching.
fn write_metric_data(path: &Path, namespace: &str, report: Option<&Report>) {
    let data = crate::metrics::MetricData {
        namespace: namespace.to_owned(),
        counts: report.map_or_else(fatal_counts, FlushCounts::of_report),
        successful: report.is_some_and(|r| r.succeeded() && !r.dry_run),
    };
    let written = serde_json::to_vec_pretty(&data)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(path, json));
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write the metric data to {}", path.display());
    }
}

/// What a `drain` that could not run (exit status 3) counts: one failure.
fn fatal_counts() -> FlushCounts {
    FlushCounts {
        failures: 1,
        ..FlushCounts::default()
    }
}

/// The file `--github-summary` appends to: `GITHUB_STEP_SUMMARY`, which GitHub Actions sets in
/// every step. None without the flag; a usage error with the flag but without the variable.
pub fn github_summary_file(
    flag: bool,
    env: Option<std::ffi::OsString>,
) -> Result<Option<PathBuf>, UsageError> {
    match (flag, env) {
        (false, _) => Ok(None),
        (true, Some(p)) if !p.is_empty() => Ok(Some(PathBuf::from(p))),
        (true, _) => Err(UsageError::new(
            "--github-summary needs GITHUB_STEP_SUMMARY, the file GitHub Actions sets in every step \
             for the step summary; outside GitHub Actions leave the flag off (or set the variable \
             to a file to append to)",
        )),
    }
}

/// Appends `markdown` to the step summary file and prints the annotations on stdout, where the
/// runner reads workflow commands.
pub fn publish_github(path: &Path, markdown: &str, annotations: &[String]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(markdown.as_bytes()));
    appended.with_context(|| {
        format!(
            "cannot append the step summary to {} (GITHUB_STEP_SUMMARY)",
            path.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    for line in annotations {
        writeln!(out, "{line}")?;
    }
    Ok(out.flush()?)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches as _;

    #[derive(Debug, clap::Parser)]
    struct Top {
        #[command(flatten)]
        config: settings::ConfigArgs,
        #[command(flatten)]
        drain: DrainArgs,
    }

    fn resolve(argv: &[&str]) -> Result<DrainSettings, UsageError> {
        use clap::CommandFactory as _;
        let mut v = vec!["drain"];
        v.extend_from_slice(argv);
        let v: Vec<std::ffi::OsString> = v.into_iter().map(Into::into).collect();
        let m = match settings::parse(Top::command, &v) {
            Ok(m) => m,
            Err(settings::ParseError::Config(e)) => return Err(e),
            Err(settings::ParseError::Clap(e)) => panic!("{e}"),
        };
        let top = Top::from_arg_matches(&m).unwrap();
        DrainSettings::resolve(&top.drain)
    }

    #[test]
    fn settings_default_dest_and_quarantine() {
        let s = resolve(&["--source", "msgs.jsonl"]).unwrap();
        assert_eq!(s.dest.to_string(), "s3://logpublish/events/prod/");
        assert_eq!(
            s.quarantine.to_string(),
            "s3://logpublish/events/quarantine/"
        );
        assert_eq!(s.source, SourceSpec::File("msgs.jsonl".into()));
        assert_eq!(s.options.block_messages, defaults::BLOCK_MESSAGES);
        assert_eq!(
            s.options.flush_secs, None,
            "a file read once has no flush timer"
        );
    }

    #[test]
    fn max_failed_blocks_from_flag_file_or_default() {
        let s = resolve(&["--source", "f"]).unwrap();
        assert_eq!(s.options.max_failed_blocks, 3);
        let s = resolve(&["--source", "f", "--max-failed-blocks", "1"]).unwrap();
        assert_eq!(s.options.max_failed_blocks, 1);
        let e = resolve(&["--source", "f", "--max-failed-blocks", "0"]).unwrap_err();
        assert!(e.to_string().contains("--max-failed-blocks 0"), "{e}");
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            config.path(),
            "max_failed_blocks = 7\nsource = \"from-file\"\n",
        )
        .unwrap();
        let path = config.path().to_str().unwrap();
        let s = resolve(&["--config", path]).unwrap();
        assert_eq!(s.options.max_failed_blocks, 7);
        assert_eq!(s.source, SourceSpec::File("from-file".into()));
        let s = resolve(&[
            "--source",
            "f",
            "--config",
            path,
            "--max-failed-blocks",
            "2",
        ])
        .unwrap();
        assert_eq!(
            s.options.max_failed_blocks, 2,
            "the flag wins over the file"
        );
    }

    #[test]
    fn no_source_is_a_usage_error_naming_the_flag_and_variable() {
        let e = resolve(&[]).unwrap_err().to_string();
        assert!(e.contains("--source") && e.contains("QUEUE_URL"), "{e}");
    }

    #[test]
    fn a_queue_block_is_flushed_within_half_the_visibility_timeout() {
        let s = resolve(&["--source", "https://sqs.us-west-2.amazonaws.com/1/q"]).unwrap();
        assert_eq!(
            s.options.flush_secs,
            Some(defaults::VISIBILITY_TIMEOUT_SECS / 2)
        );
        assert_eq!(s.sqs.queue_url, "https://sqs.us-west-2.amazonaws.com/1/q");
    }

    #[test]
    fn a_dry_run_from_a_queue_is_capped_unless_max_messages_is_given() {
        const QUEUE: &str = "https://sqs.us-west-2.amazonaws.com/1/q";
        let cap = |argv: &[&str]| {
            let s = resolve(argv).unwrap();
            assert_eq!(s.sqs.max_messages, s.options.max_messages, "{argv:?}");
            s.options.max_messages
        };
        let default = Some(defaults::DRY_RUN_MAX_MESSAGES);
        assert_eq!(cap(&["--source", QUEUE, "--dry-run"]), default);
        for n in ["120", "30"] {
            let given = &["--source", QUEUE, "--dry-run", "--max-messages", n];
            assert_eq!(cap(given), n.parse().ok(), "the flag wins, above or below");
        }
        assert_eq!(cap(&["--source", QUEUE]), None, "a real run is not capped");
        assert_eq!(
            cap(&["--source", "f.jsonl", "--dry-run"]),
            None,
            "a file costs no receives"
        );
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), "max_messages = 250\n").unwrap();
        let path = config.path().to_str().unwrap();
        assert_eq!(
            cap(&["--source", QUEUE, "--dry-run", "--config", path]),
            Some(250),
            "the config file wins too"
        );
    }

    #[test]
    fn help_says_what_a_dry_run_spends_and_its_cap() {
        use clap::CommandFactory as _;
        let help = Top::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains("its receive counts toward the queue's maxReceiveCount"),
            "{help}"
        );
        let cap = defaults::DRY_RUN_MAX_MESSAGES;
        assert!(
            help.contains(&format!("a dry run from a queue reads at most {cap} messages unless --max-messages is given")),
            "{help}"
        );
        assert!(
            help.contains(&format!(
                "[default: unlimited; {cap} for a --dry-run from a queue]"
            )),
            "{help}"
        );
    }

    #[test]
    fn github_summary_needs_the_step_summary_variable() {
        assert_eq!(github_summary_file(false, Some("/s".into())).unwrap(), None);
        assert_eq!(
            github_summary_file(true, Some("/tmp/step".into())).unwrap(),
            Some(PathBuf::from("/tmp/step"))
        );
        for env in [None, Some(std::ffi::OsString::new())] {
            let err = github_summary_file(true, env).unwrap_err().to_string();
            assert!(
                err.contains("--github-summary needs GITHUB_STEP_SUMMARY"),
                "{err}"
            );
        }
    }

    #[test]
    fn publish_github_appends_to_the_summary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        publish_github(&path, "first\n", &[]).unwrap();
        publish_github(&path, "second\n", &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\nsecond\n");
        let err = publish_github(&dir.path().join("no/such/dir"), "x", &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot append the step summary to"),
            "{err:#}"
        );
    }
}
