//! Command-line and configuration-file parsing, and the `drain` command's wiring (including its
//! GitHub Actions step summary, `--github-summary`), and the hidden `completions` and `man`
//! commands that generate shell completions and man pages from these definitions.
//!
//! Precedence for every setting: command-line flag, then environment variable, then the TOML
//! file given by `--config`, then the built-in default. The rule lists replace their defaults
//! as a whole when given.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

use crate::adapters::aws::{self, AwsSettings, RequestCounter};
use crate::adapters::dir::{DirQuarantine, DirStore};
use crate::adapters::file::FileSource;
use crate::adapters::s3::{S3Quarantine, S3Settings, S3Store};
use crate::adapters::sqs::{self, SqsSettings, SqsSource};
use crate::adapters::{AnyDayStore, AnyQuarantine, AnySource};
use crate::core::{BodyPolicy, Redaction, Rules, SortOptions};
use crate::location::{Location, SourceSpec};
use crate::metrics::{self, FlushCounts, MetricsMode, MetricsSettings};
use crate::pipeline::{self, DrainOptions, Progress};
use crate::preflight;
use crate::report::Report;

/// Exit statuses (also listed in `--help` and the README).
pub mod exit {
    /// Every message read was kept, dropped or quarantined durably.
    pub const OK: i32 = 0;
    /// Some messages could not be written or deleted: they stay in the queue and come back.
    pub const PARTIAL: i32 = 1;
    /// The command line or the configuration file is wrong (nothing was read).
    pub const USAGE: i32 = 2;
    /// The run could not start or go on: source or destination unreachable, denied, or broken.
    pub const FATAL: i32 = 3;
}

const AFTER_HELP: &str = "\
Exit status:
  0  every message read was kept, dropped or quarantined durably
  1  some messages could not be written or deleted; they stay in the queue and come back
  2  usage or configuration error; nothing was read
  3  the source or destination could not be used (unreachable, denied, missing)";

#[derive(Debug, Parser)]
#[command(name = "s3-event-writer", version, about = "Drains telephone-system events from SQS into a daily, de-duplicated JSON-lines archive in S3", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "S3EW_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drain messages into the day files (the hourly job).
    #[command(after_help = DRAIN_EXAMPLES)]
    Drain(Box<DrainArgs>),
    /// Check the setup: credentials, queue, bucket, permissions; print fixes.
    Doctor(Box<crate::doctor::DoctorArgs>),
    /// Fill the archive from the PBX's metrics log.
    Backfill(Box<crate::tools::backfill::BackfillArgs>),
    /// Check day files (order, duplicates, shape, dates); --repair rewrites them.
    Verify(Box<crate::tools::verify::VerifyArgs>),
    /// Count events over a range of days, as a chart, JSON or CSV.
    Stats(Box<crate::tools::stats::StatsArgs>),
    /// Send quarantined bodies back to a queue.
    Requeue(Box<crate::tools::requeue::RequeueArgs>),
    /// List the quarantine (records by reason) or show one object's records.
    Quarantine(Box<crate::tools::quarantine::QuarantineArgs>),
    /// Run as an AWS Lambda function behind an SQS event source mapping (configured by
    /// S3EW_DEST, S3EW_QUARANTINE, S3EW_PROD_HOSTS, S3EW_DROP_EVENTS, S3EW_DROP_CHANNELS).
    Lambda,
    /// Print a shell completion script (for packagers; scripts/package.sh).
    #[command(hide = true)]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into --dir (for packagers).
    #[command(hide = true)]
    Man(ManArgs),
}

const DRAIN_EXAMPLES: &str = "\
Examples:
  # the bundled sample into a local directory, no AWS needed
  s3-event-writer drain --source examples/messages.jsonl --dest /tmp/archive/prod

  # the production job (QUEUE_URL in the environment)
  s3-event-writer drain --dest s3://logpublish/events/prod/ --report report.json

  # see what a run would change, without writing or deleting anything
  s3-event-writer drain --dry-run

Exit status:
  0  every message read was kept, dropped or quarantined durably
  1  some messages could not be written or deleted; they stay in the queue and come back
  2  usage or configuration error; nothing was read
  3  the source or destination could not be used (unreachable, denied, missing)";

/// The classification rule lists (each replaces its default when given).
#[derive(Debug, Clone, Default, Args)]
pub struct RuleArgs {
    /// A production hostname whose events are kept (repeatable; replaces the default list).
    #[arg(
        long = "prod-host",
        value_name = "HOST",
        env = "S3EW_PROD_HOSTS",
        value_delimiter = ','
    )]
    pub prod_hosts: Vec<String>,
    /// An event name to drop (repeatable; replaces the default list).
    #[arg(
        long = "drop-event",
        value_name = "NAME",
        env = "S3EW_DROP_EVENTS",
        value_delimiter = ','
    )]
    pub drop_events: Vec<String>,
    /// Drop channels containing this substring (repeatable; replaces the default list).
    #[arg(
        long = "drop-channel-containing",
        value_name = "TEXT",
        env = "S3EW_DROP_CHANNELS",
        value_delimiter = ','
    )]
    pub drop_channels: Vec<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct DrainArgs {
    /// SQS queue URL, a FILE with one message body per line, or - for stdin. [default: $QUEUE_URL]
    #[arg(long, value_name = "QUEUE_URL|FILE|-", env = "QUEUE_URL")]
    pub source: Option<String>,
    /// Day-file location: s3://BUCKET/PREFIX/ or a DIR. [default: s3://logpublish/events/prod/]
    #[arg(long, value_name = "s3://BUCKET/PREFIX/|DIR", env = "S3EW_DEST")]
    pub dest: Option<String>,
    /// Quarantine location. [default: quarantine/ beside the day files]
    #[arg(long, value_name = "s3://BUCKET/PREFIX/|DIR", env = "S3EW_QUARANTINE")]
    pub quarantine: Option<String>,
    /// Keep raw bodies in quarantine records instead of minimised ones (every field the
    /// classifier reads kept, every other value masked). What it costs: the records then hold
    /// callers' phone numbers and names, personal data, for as long as the quarantine keeps them,
    /// readable by anyone who can read that location; use it only with a private bucket and a
    /// retention rule (docs/PERSONAL-DATA.md).
    #[arg(
        long,
        env = "S3EW_QUARANTINE_VERBATIM",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub quarantine_verbatim: Option<bool>,
    /// A key whose value is masked in quarantined text that is not JSON (repeatable; replaces
    /// the default list). [default: CallerIDNum, CallerIDName, ConnectedLineNum,
    /// ConnectedLineName, Exten]
    #[arg(
        long = "personal-key",
        value_name = "KEY",
        env = "S3EW_PERSONAL_KEYS",
        value_delimiter = ','
    )]
    pub personal_keys: Vec<String>,
    /// Write the run report (JSON) to this file.
    #[arg(long, value_name = "FILE", env = "S3EW_REPORT")]
    pub report: Option<PathBuf>,
    /// Write nothing and delete nothing; print what would change per day.
    #[arg(long)]
    pub dry_run: bool,
    /// A TOML file with the same settings (flags and environment take precedence).
    #[arg(long, value_name = "FILE", env = "S3EW_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Most messages in one block (one flush of the day files). [default: 100000]
    #[arg(long, value_name = "N")]
    pub block_messages: Option<usize>,
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Day files merged at once. [default: 4]
    #[arg(long, value_name = "N")]
    pub day_concurrency: Option<usize>,
    /// How many values per drop reason the summary lists. [default: 5]
    #[arg(long, value_name = "N")]
    pub summary_top: Option<usize>,
    /// Stop receiving after this many consecutive blocks in which every write failed (the
    /// messages in hand are given back; exit status 1). [default: 3]
    #[arg(long, value_name = "N", env = "S3EW_MAX_FAILED_BLOCKS")]
    pub max_failed_blocks: Option<u32>,
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
    /// CloudWatch metrics: `emf` prints one Embedded Metric Format JSON line per flush on stdout
    /// (Received, Kept, Dropped, Quarantined, Deleted, Failures, ConflictRetries,
    /// DurationSeconds; docs/DEPLOY.md). [default: off]
    #[arg(long, value_enum, value_name = "MODE", env = "S3EW_METRICS")]
    pub metrics: Option<MetricsMode>,
    /// CloudWatch namespace of the metrics. [default: s3-event-writer]
    #[arg(long, value_name = "NAMESPACE", env = "S3EW_METRICS_NAMESPACE")]
    pub metrics_namespace: Option<String>,
}

/// How the queue is read (SQS sources only).
#[derive(Debug, Clone, Default, Args)]
pub struct SqsArgs {
    /// Long-poll wait of each receive, 0..=20 seconds. [default: 5]
    #[arg(long, value_name = "SECS")]
    pub wait_secs: Option<u64>,
    /// Receives in flight at once. [default: 4]
    #[arg(long, value_name = "N")]
    pub receivers: Option<usize>,
    /// Visibility timeout set on every receive, in seconds; a heartbeat extends it while a write
    /// is under way. [default: 120]
    #[arg(long = "visibility-timeout", value_name = "SECS")]
    pub visibility_timeout_secs: Option<u64>,
    /// Keep running: flush every --flush-secs or --block-messages; SIGINT/SIGTERM finishes the
    /// block in hand, then exits.
    #[arg(long)]
    pub follow: bool,
    /// Flush a block this long after its first message: in --follow mode (default 60), and from
    /// a queue never later than half the visibility timeout.
    #[arg(long, value_name = "SECS")]
    pub flush_secs: Option<u64>,
}

/// AWS client settings.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// Attempts per AWS call, first included (standard retry mode). [default: 5]
    #[arg(long, value_name = "N", env = "S3EW_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// Longest silence while reading an AWS response, in seconds. [default: 30]
    #[arg(long, value_name = "SECS")]
    pub read_timeout_secs: Option<u64>,
    /// Path-style S3 addressing (http://host/bucket/key), for emulators.
    #[arg(long, env = "S3EW_S3_PATH_STYLE")]
    pub path_style: bool,
    /// Day files larger than this are uploaded in parts. [default: 67108864 (64 MiB)]
    #[arg(long, value_name = "BYTES")]
    pub multipart_threshold_bytes: Option<u64>,
    /// Size of each uploaded part (at least 5 MiB on AWS). [default: 16777216 (16 MiB)]
    #[arg(long, value_name = "BYTES")]
    pub part_size_bytes: Option<u64>,
    /// Read-merge-write attempts per day when other writers keep changing it. [default: 10]
    #[arg(long, value_name = "N")]
    pub conflict_attempts: Option<u32>,
    /// Directory for temporary files (merged output being uploaded, fallback sort runs).
    #[arg(long, value_name = "DIR", env = "S3EW_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Merged S3 day output kept in memory; larger output is spooled to a temporary file.
    /// [default: 8388608 (8 MiB)]
    #[arg(long, value_name = "BYTES")]
    pub spool_memory_bytes: Option<usize>,
    /// Memory of the fallback sort for a day file that is not sorted; larger files are sorted
    /// in runs spilled to temporary files. [default: 16777216 (16 MiB)]
    #[arg(long, value_name = "BYTES")]
    pub sort_memory_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A progress bar on a terminal, a plain line every 10 s otherwise.
    #[default]
    Auto,
    /// Plain progress lines only.
    Lines,
    /// Nothing but the final summary.
    Off,
}

/// The `--config` file: the same settings as the flags, snake_case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub source: Option<String>,
    pub dest: Option<String>,
    pub quarantine: Option<String>,
    pub quarantine_verbatim: Option<bool>,
    pub personal_keys: Option<Vec<String>>,
    pub report: Option<PathBuf>,
    pub prod_hosts: Option<Vec<String>>,
    pub drop_events: Option<Vec<String>>,
    pub drop_channel_containing: Option<Vec<String>>,
    pub block_messages: Option<usize>,
    pub max_messages: Option<u64>,
    pub day_concurrency: Option<usize>,
    pub summary_top: Option<usize>,
    pub max_failed_blocks: Option<u32>,
    pub wait_secs: Option<u64>,
    pub receivers: Option<usize>,
    pub visibility_timeout_secs: Option<u64>,
    pub follow: Option<bool>,
    pub flush_secs: Option<u64>,
    pub max_attempts: Option<u32>,
    pub read_timeout_secs: Option<u64>,
    pub path_style: Option<bool>,
    pub multipart_threshold_bytes: Option<u64>,
    pub part_size_bytes: Option<u64>,
    pub conflict_attempts: Option<u32>,
    pub temp_dir: Option<PathBuf>,
    pub spool_memory_bytes: Option<usize>,
    pub sort_memory_bytes: Option<usize>,
    pub metrics: Option<MetricsMode>,
    pub metrics_namespace: Option<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the config file {} is not valid", path.display()))
    }
}

/// A setting error: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

/// Everything `drain` needs, resolved.
#[derive(Debug, Clone)]
pub struct DrainSettings {
    pub source: SourceSpec,
    pub dest: Location,
    pub quarantine: Location,
    pub report: Option<PathBuf>,
    pub rules: Rules,
    pub options: DrainOptions,
    pub summary_top: usize,
    pub progress: ProgressMode,
    pub sqs: SqsSettings,
    pub aws: AwsSettings,
    pub s3: S3Settings,
    /// The step summary file (`--github-summary`).
    pub github_summary: Option<PathBuf>,
    /// `--metrics` and `--metrics-namespace`.
    pub metrics: MetricsSettings,
}

fn pick_optional_list(flag: &[String], file: Option<Vec<String>>) -> Option<Vec<String>> {
    if flag.is_empty() {
        file
    } else {
        Some(flag.to_vec())
    }
}

fn pick_list(flag: &[String], file: Option<Vec<String>>, default: Vec<String>) -> Vec<String> {
    if flag.is_empty() {
        file.unwrap_or(default)
    } else {
        flag.to_vec()
    }
}

/// How quarantine records keep bodies: raw when `verbatim`, else minimised with `personal_keys`
/// (the defaults when `None`). The keys are checked either way.
pub fn resolve_body_policy(
    verbatim: bool,
    personal_keys: Option<Vec<String>>,
) -> Result<BodyPolicy, UsageError> {
    let redaction = match personal_keys {
        Some(keys) => Redaction::new(keys).map_err(|e| UsageError(e.into()))?,
        None => Redaction::default(),
    };
    Ok(if verbatim {
        BodyPolicy::Verbatim
    } else {
        BodyPolicy::Minimised(redaction)
    })
}

/// The rules from flags, then the config file, then the SPEC's defaults.
pub fn resolve_rules(args: &RuleArgs, file: &ConfigFile) -> Result<Rules, UsageError> {
    let d = Rules::default();
    let rules = Rules {
        prod_hosts: pick_list(&args.prod_hosts, file.prod_hosts.clone(), d.prod_hosts),
        drop_channel_substrings: pick_list(
            &args.drop_channels,
            file.drop_channel_containing.clone(),
            d.drop_channel_substrings,
        ),
        drop_events: pick_list(&args.drop_events, file.drop_events.clone(), d.drop_events),
    };
    rules.validate().map_err(|e| UsageError(e.into()))?;
    Ok(rules)
}

/// The day-file location when neither `--dest` nor `S3EW_DEST` gives one.
pub const DEFAULT_DEST: &str = "s3://logpublish/events/prod/";

/// The quarantine location as `drain` finds it: `quarantine` when given, else `quarantine/`
/// beside `dest` ([`DEFAULT_DEST`] when none), through [`Location::quarantine_beside`]. Used by
/// `quarantine list|show`; `DrainSettings::resolve` calls it too.
pub fn resolve_quarantine_location(
    quarantine: Option<&str>,
    dest: Option<&str>,
) -> Result<Location, UsageError> {
    let usage = |e: crate::location::LocationError| UsageError(e.into());
    match quarantine {
        Some(q) => Location::parse(q).map_err(usage),
        None => Location::parse(dest.unwrap_or(DEFAULT_DEST))
            .and_then(|d| d.quarantine_beside())
            .map_err(usage),
    }
}

impl DrainSettings {
    pub fn resolve(args: &DrainArgs) -> Result<DrainSettings, UsageError> {
        let file = match &args.config {
            Some(p) => ConfigFile::load(p).map_err(UsageError)?,
            None => ConfigFile::default(),
        };
        let Some(source) = args.source.clone().or(file.source.clone()) else {
            return Err(UsageError(anyhow::anyhow!(
                "no source: give --source (a queue URL, a FILE or -) or set QUEUE_URL"
            )));
        };
        let dest = args.dest.clone().or(file.dest.clone());
        // Whether the quarantine is inside the day files is checked with the other locations
        // before the run (crate::preflight): exit status 3.
        let quarantine = resolve_quarantine_location(
            args.quarantine.as_deref().or(file.quarantine.as_deref()),
            dest.as_deref(),
        )?;
        let dest = Location::parse(dest.as_deref().unwrap_or(DEFAULT_DEST))
            .map_err(|e| UsageError(e.into()))?;
        let block_messages = args
            .block_messages
            .or(file.block_messages)
            .unwrap_or(100_000);
        if block_messages == 0 {
            return Err(UsageError(anyhow::anyhow!(
                "--block-messages must be at least 1"
            )));
        }
        let follow = args.sqs.follow || file.follow.unwrap_or(false);
        let wait_secs = args.sqs.wait_secs.or(file.wait_secs).unwrap_or(5);
        if wait_secs > 20 {
            return Err(UsageError(anyhow::anyhow!(
                "--wait-secs must be 0..=20 (SQS's longest long poll)"
            )));
        }
        let source = SourceSpec::parse(&source);
        let sqs = SqsSettings {
            queue_url: match &source {
                SourceSpec::Sqs(u) => u.clone(),
                _ => String::new(),
            },
            wait_secs,
            receivers: args.sqs.receivers.or(file.receivers).unwrap_or(4).max(1),
            visibility_timeout_secs: visibility_timeout(
                args.sqs
                    .visibility_timeout_secs
                    .or(file.visibility_timeout_secs),
            )?,
            follow,
            max_messages: args.max_messages.or(file.max_messages),
            delete_concurrency: 8,
        };
        let aws = args.aws.settings(&file);
        let s3 = args.aws.s3_settings(&file);
        // A block is flushed after --flush-secs in follow mode. From a queue, a block is also
        // never held open longer than half the visibility timeout, so its messages are written
        // and deleted long before they could be delivered again, even if heartbeats lag.
        let given_flush = args.sqs.flush_secs.or(file.flush_secs);
        let flush_secs = match (&source, follow) {
            (SourceSpec::Sqs(_), _) => {
                let cap = (sqs.visibility_timeout_secs / 2).max(1);
                Some(
                    given_flush
                        .unwrap_or(if follow { 60 } else { cap })
                        .clamp(1, cap),
                )
            }
            (_, true) => Some(given_flush.unwrap_or(60).max(1)),
            (_, false) => None,
        };
        Ok(DrainSettings {
            sqs,
            aws,
            s3,
            source,
            dest,
            quarantine,
            report: args.report.clone().or(file.report.clone()),
            rules: resolve_rules(&args.rules, &file)?,
            options: DrainOptions {
                block_messages,
                flush_secs,
                day_concurrency: args
                    .day_concurrency
                    .or(file.day_concurrency)
                    .unwrap_or(4)
                    .max(1),
                max_messages: args.max_messages.or(file.max_messages),
                dry_run: args.dry_run,
                run_id: pipeline::new_run_id(),
                max_failed_blocks: max_failed_blocks(
                    args.max_failed_blocks.or(file.max_failed_blocks),
                )?,
                quarantine_body: resolve_body_policy(
                    args.quarantine_verbatim
                        .or(file.quarantine_verbatim)
                        .unwrap_or(false),
                    pick_optional_list(&args.personal_keys, file.personal_keys.clone()),
                )?,
            },
            summary_top: args.summary_top.or(file.summary_top).unwrap_or(5),
            progress: args.progress,
            github_summary: github_summary_file(
                args.github_summary,
                std::env::var_os("GITHUB_STEP_SUMMARY"),
            )?,
            metrics: resolve_metrics(
                args.metrics.or(file.metrics),
                args.metrics_namespace
                    .clone()
                    .or(file.metrics_namespace.clone()),
            )?,
        })
    }
}

/// `--visibility-timeout`: long enough for the heartbeat to extend it (see
/// [`sqs::MIN_VISIBILITY_TIMEOUT_SECS`]), at most SQS's 12 hours.
fn visibility_timeout(given: Option<u64>) -> Result<u64, UsageError> {
    let secs = given.unwrap_or(120);
    let range = sqs::MIN_VISIBILITY_TIMEOUT_SECS..=sqs::MAX_VISIBILITY_TIMEOUT_SECS;
    if range.contains(&secs) {
        return Ok(secs);
    }
    Err(UsageError(anyhow::anyhow!(
        "--visibility-timeout {secs}: must be {}..={} seconds; the heartbeat extends a message \
         being written when a third of its timeout, at least 1 s, is left, and below {} s \
         nothing is left for that extension and its retries (SQS allows at most 12 hours)",
        range.start(),
        range.end(),
        range.start()
    )))
}

/// `--metrics` (off unless asked for) and `--metrics-namespace` (checked).
pub fn resolve_metrics(
    mode: Option<MetricsMode>,
    namespace: Option<String>,
) -> Result<MetricsSettings, UsageError> {
    let namespace = namespace.unwrap_or_else(|| metrics::DEFAULT_NAMESPACE.to_owned());
    metrics::check_namespace(&namespace)
        .map_err(|e| UsageError(anyhow::anyhow!("--metrics-namespace: {e}")))?;
    Ok(MetricsSettings {
        mode: mode.unwrap_or_default(),
        namespace,
    })
}

/// Prints `counts` as one EMF line on stdout when metrics are on. A line that cannot be
/// written (stdout closed) is a warning: metrics never change a run's outcome.
pub fn print_metrics(settings: &MetricsSettings, counts: &FlushCounts) {
    use std::io::Write as _;
    let now = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
    let Some(record) = settings.record(*counts, now) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", record.to_line()).and_then(|()| out.flush()) {
        tracing::warn!(error = %e, "cannot print a metrics record on stdout");
    }
}

/// For a `drain` that could not run (exit status 3): one record with `Failures` 1, so the
/// `Failures` alarm sees a run that never got going.
pub fn print_fatal_metrics(settings: &MetricsSettings) {
    let counts = FlushCounts {
        failures: 1,
        ..FlushCounts::default()
    };
    print_metrics(settings, &counts);
}

/// `--max-failed-blocks`: at least 1.
fn max_failed_blocks(given: Option<u32>) -> Result<u32, UsageError> {
    match given.unwrap_or(3) {
        0 => Err(UsageError(anyhow::anyhow!(
            "--max-failed-blocks 0: must be at least 1 (the run stops after that many consecutive blocks in which every write failed)"
        ))),
        n => Ok(n),
    }
}

/// Runs `drain`: checks the locations, builds the adapters, drives the pipeline until drained
/// or interrupted, prints the summary and writes the report.
pub async fn run_drain(settings: DrainSettings) -> anyhow::Result<Report> {
    let needs_aws = matches!(settings.source, SourceSpec::Sqs(_))
        || matches!(settings.dest, Location::S3 { .. })
        || matches!(settings.quarantine, Location::S3 { .. });
    let ctx = AwsContext::load(&settings.aws, needs_aws).await;
    let s3_client = [&settings.dest, &settings.quarantine]
        .iter()
        .any(|l| matches!(l, Location::S3 { .. }))
        .then(|| ctx.s3());
    preflight::check_drain(
        &settings.source,
        &settings.dest,
        &settings.quarantine,
        s3_client.as_ref(),
    )
    .await?;
    let mut source: AnySource = match &settings.source {
        SourceSpec::File(p) => Box::new(FileSource::open(p)?),
        SourceSpec::Stdin => Box::new(FileSource::stdin()),
        SourceSpec::Sqs(_) => Box::new(SqsSource::start(
            ctx.sqs(settings.sqs.wait_secs),
            settings.sqs.clone(),
            ctx.counter.clone(),
        )),
    };
    let days = ctx.day_store(&settings.dest, settings.s3.clone());
    let quarantine = ctx.quarantine_store(&settings.quarantine);
    tracing::info!(source = %settings.source, dest = %settings.dest, quarantine = %settings.quarantine, dry_run = settings.options.dry_run, "drain starting");
    let progress = Arc::new(Progress::default());
    let ticker = spawn_progress(settings.progress, progress.clone());
    let stores = pipeline::Stores {
        days: &days,
        quarantine: &quarantine,
    };
    let metrics = settings.metrics.clone();
    let report = pipeline::drain_observed(
        &mut source,
        stores,
        &settings.rules,
        &settings.options,
        &progress,
        shutdown_signal(),
        &mut |counts| print_metrics(&metrics, counts),
    )
    .await;
    ticker.abort();
    if let Some(pb) = PROGRESS_BAR.get() {
        pb.finish_and_clear();
    }
    let report = report?;
    eprint!("{}", report.summary(settings.summary_top));
    if let Some(path) = &settings.report {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    if let Some(path) = &settings.github_summary {
        // The run is done: a summary that cannot be written is a warning, not its outcome.
        if let Err(e) = publish_github(
            path,
            &report.github_markdown(settings.summary_top),
            &report.github_annotations(),
        ) {
            tracing::warn!("{e:#}");
        }
    }
    Ok(report)
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
        (true, _) => Err(UsageError(anyhow::anyhow!(
            "--github-summary needs GITHUB_STEP_SUMMARY, the file GitHub Actions sets in every step \
             for the step summary; outside GitHub Actions leave the flag off (or set the variable \
             to a file to append to)"
        ))),
    }
}

/// Appends `markdown` to the step summary file and prints the annotations on stdout, where the
/// runner reads workflow commands.
pub fn publish_github(path: &Path, markdown: &str, annotations: &[String]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let append = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(markdown.as_bytes())?;
        f.flush()
    };
    append().with_context(|| {
        format!(
            "cannot append the step summary to {} (GITHUB_STEP_SUMMARY)",
            path.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    for line in annotations {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// For a `drain` that failed as a whole: the error as the step summary and an annotation.
/// Best effort (a warning if it cannot be written): the error itself is what the caller reports.
pub fn publish_github_fatal(path: &Path, error: &anyhow::Error) {
    let text = format!("{error:#}");
    let annotation =
        crate::report::github_annotation("error", "s3-event-writer: drain could not run", &text);
    if let Err(e) = publish_github(
        path,
        &crate::report::github_fatal_markdown(&text),
        &[annotation],
    ) {
        tracing::warn!("{e:#}");
    }
}

/// Arguments of the hidden `completions` command.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of the hidden `man` command.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write s3-event-writer.1 and one s3-event-writer-COMMAND.1 per command into this
    /// directory instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the completion script for `shell`, generated from the command-line definition.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "s3-event-writer", out);
}

/// Writes the man pages: the main page to `out`, or with `dir` every command's page there.
pub fn write_man(args: &ManArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    use clap::CommandFactory;
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
        }
        None => clap_mangen::Man::new(Cli::command()).render(out)?,
    }
    Ok(())
}

/// AWS clients for the locations a command uses. The SDK configuration is loaded (standard
/// chain) only when one of them is on AWS; every client shares one request counter.
#[derive(Debug, Clone)]
pub struct AwsContext {
    pub sdk: Option<aws_config::SdkConfig>,
    pub settings: AwsSettings,
    pub counter: RequestCounter,
}

impl AwsContext {
    pub async fn load(settings: &AwsSettings, needed: bool) -> AwsContext {
        let sdk = if needed {
            Some(aws::load_config(settings).await)
        } else {
            None
        };
        AwsContext {
            sdk,
            settings: settings.clone(),
            counter: RequestCounter::default(),
        }
    }

    fn config(&self) -> &aws_config::SdkConfig {
        self.sdk
            .as_ref()
            .expect("AwsContext::load(needed = true) for an AWS location")
    }

    /// An S3 client (the context must have been loaded as needed).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws::s3_client(self.config(), &self.settings, &self.counter)
    }

    /// An SQS client whose read timeout outlasts a `wait_secs` long poll.
    pub fn sqs(&self, wait_secs: u64) -> aws_sdk_sqs::Client {
        aws::sqs_client(self.config(), &self.settings, wait_secs, &self.counter)
    }

    /// The day-file store for `dest`; `s3` gives the S3 write settings (bucket and prefix are
    /// taken from `dest`).
    pub fn day_store(&self, dest: &Location, s3: S3Settings) -> AnyDayStore {
        match dest {
            Location::Dir(d) => Box::new(DirStore::new(d).with_sort_options(SortOptions {
                memory_budget_bytes: s3.sort_memory_bytes,
                spill_dir: s3.temp_dir,
            })),
            Location::S3 { bucket, prefix } => Box::new(S3Store::new(
                self.s3(),
                S3Settings {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    ..s3
                },
                self.counter.clone(),
            )),
        }
    }

    /// The quarantine store for `location`.
    pub fn quarantine_store(&self, location: &Location) -> AnyQuarantine {
        match location {
            Location::Dir(d) => Box::new(DirQuarantine::new(d)),
            Location::S3 { bucket, prefix } => {
                Box::new(S3Quarantine::new(self.s3(), bucket.clone(), prefix.clone()))
            }
        }
    }
}

impl AwsArgs {
    /// Client settings from these flags, then `file`, then defaults.
    pub fn settings(&self, file: &ConfigFile) -> AwsSettings {
        AwsSettings {
            max_attempts: self.max_attempts.or(file.max_attempts).unwrap_or(5).max(1),
            connect_timeout_secs: 5,
            read_timeout_secs: self
                .read_timeout_secs
                .or(file.read_timeout_secs)
                .unwrap_or(30)
                .max(1),
            force_path_style: self.path_style || file.path_style.unwrap_or(false),
        }
    }

    /// S3 write settings from these flags, then `file`, then defaults (bucket and prefix empty:
    /// [`AwsContext::day_store`] fills them from the destination).
    pub fn s3_settings(&self, file: &ConfigFile) -> S3Settings {
        let d = S3Settings::default();
        S3Settings {
            multipart_threshold_bytes: self
                .multipart_threshold_bytes
                .or(file.multipart_threshold_bytes)
                .unwrap_or(d.multipart_threshold_bytes),
            part_size_bytes: self
                .part_size_bytes
                .or(file.part_size_bytes)
                .unwrap_or(d.part_size_bytes)
                .max(1),
            conflict_attempts: self
                .conflict_attempts
                .or(file.conflict_attempts)
                .unwrap_or(d.conflict_attempts)
                .max(1),
            temp_dir: self.temp_dir.clone().or(file.temp_dir.clone()),
            spool_memory_bytes: self
                .spool_memory_bytes
                .or(file.spool_memory_bytes)
                .unwrap_or(d.spool_memory_bytes),
            sort_memory_bytes: self
                .sort_memory_bytes
                .or(file.sort_memory_bytes)
                .unwrap_or(d.sort_memory_bytes)
                .max(1),
            ..d
        }
    }
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

/// The progress bar, when one is shown (log lines are printed above it).
pub static PROGRESS_BAR: std::sync::OnceLock<indicatif::ProgressBar> = std::sync::OnceLock::new();

fn progress_line(p: &Progress, started: std::time::Instant) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let received = p.received.load(Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let rate = received as f64 / started.elapsed().as_secs_f64().max(1e-3);
    format!(
        "received {received}, kept {}, dropped {}, quarantined {}, deleted {} ({rate:.0} msg/s)",
        p.kept.load(Relaxed),
        p.dropped.load(Relaxed),
        p.quarantined.load(Relaxed),
        p.deleted.load(Relaxed)
    )
}

fn spawn_progress(mode: ProgressMode, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
    let started = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        match mode {
            ProgressMode::Off => {}
            ProgressMode::Auto if tty => {
                let pb = PROGRESS_BAR.get_or_init(|| {
                    let pb = indicatif::ProgressBar::new_spinner();
                    pb.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                            .expect("valid template"),
                    );
                    pb
                });
                loop {
                    pb.set_message(progress_line(&progress, started));
                    pb.tick();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            _ => loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                tracing::info!("progress: {}", progress_line(&progress, started));
            },
        }
    })
}

/// A tracing writer that keeps log lines from tearing the progress bar.
#[derive(Debug, Clone, Copy)]
pub struct StderrAbovePb;

impl std::io::Write for StderrAbovePb {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match PROGRESS_BAR.get() {
            Some(pb) => pb.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Sets up `tracing` on stderr (`RUST_LOG` overrides the default level).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("s3_event_writer=info,warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| StderrAbovePb);
    match format {
        LogFormat::Human => builder.with_target(false).compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> DrainArgs {
        let mut v = vec!["s3-event-writer", "drain"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).unwrap().command {
            Command::Drain(a) => *a,
            other => panic!("expected drain, got {other:?}"),
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn rule_flags_replace_defaults() {
        let a = parse(&[
            "--source",
            "f",
            "--prod-host",
            "a",
            "--prod-host",
            "b",
            "--drop-event",
            "X",
        ]);
        let r = resolve_rules(&a.rules, &ConfigFile::default()).unwrap();
        assert_eq!(r.prod_hosts, ["a", "b"]);
        assert_eq!(r.drop_events, ["X"]);
        assert_eq!(r.drop_channel_substrings, ["followme-operator"]);
    }

    #[test]
    fn config_file_fills_what_flags_leave() {
        let file: ConfigFile = toml::from_str(
            "dest = \"/tmp/d\"\nprod_hosts = [\"p\"]\ndrop_channel_containing = [\"x\"]\nblock_messages = 7\n",
        )
        .unwrap();
        let a = parse(&["--source", "f", "--prod-host", "flag"]);
        let r = resolve_rules(&a.rules, &file).unwrap();
        assert_eq!(r.prod_hosts, ["flag"]);
        assert_eq!(r.drop_channel_substrings, ["x"]);
    }

    #[test]
    fn unknown_config_keys_are_an_error() {
        assert!(toml::from_str::<ConfigFile>("destination = \"x\"").is_err());
    }

    #[test]
    fn settings_default_dest_and_quarantine() {
        let s = DrainSettings::resolve(&parse(&["--source", "msgs.jsonl"])).unwrap();
        assert_eq!(s.dest.to_string(), "s3://logpublish/events/prod/");
        assert_eq!(
            s.quarantine.to_string(),
            "s3://logpublish/events/quarantine/"
        );
        assert_eq!(s.source, SourceSpec::File("msgs.jsonl".into()));
    }

    #[test]
    fn visibility_timeouts_too_small_to_heartbeat_are_refused() {
        for (given, ok) in [("1", false), ("2", true), ("43200", true), ("43201", false)] {
            let r =
                DrainSettings::resolve(&parse(&["--source", "f", "--visibility-timeout", given]));
            match (r, ok) {
                (Ok(s), true) => assert_eq!(s.sqs.visibility_timeout_secs.to_string(), given),
                (Err(e), false) => {
                    let e = e.to_string();
                    assert!(
                        e.contains(&format!("--visibility-timeout {given}: must be 2..=43200")),
                        "{e}"
                    );
                }
                (r, _) => panic!("--visibility-timeout {given}: {r:?}"),
            }
        }
    }

    #[test]
    fn max_failed_blocks_from_flag_file_or_default() {
        let s = DrainSettings::resolve(&parse(&["--source", "f"])).unwrap();
        assert_eq!(s.options.max_failed_blocks, 3);
        let s =
            DrainSettings::resolve(&parse(&["--source", "f", "--max-failed-blocks", "1"])).unwrap();
        assert_eq!(s.options.max_failed_blocks, 1);
        let e = DrainSettings::resolve(&parse(&["--source", "f", "--max-failed-blocks", "0"]))
            .unwrap_err();
        assert!(e.to_string().contains("--max-failed-blocks 0"), "{e}");
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), "max_failed_blocks = 7\n").unwrap();
        let path = config.path().to_str().unwrap();
        let s = DrainSettings::resolve(&parse(&["--source", "f", "--config", path])).unwrap();
        assert_eq!(s.options.max_failed_blocks, 7);
        let s = DrainSettings::resolve(&parse(&[
            "--source",
            "f",
            "--config",
            path,
            "--max-failed-blocks",
            "2",
        ]))
        .unwrap();
        assert_eq!(
            s.options.max_failed_blocks, 2,
            "the flag wins over the file"
        );
    }

    #[test]
    fn empty_channel_substring_is_refused() {
        let a = parse(&["--source", "f", "--drop-channel-containing", ""]);
        assert!(resolve_rules(&a.rules, &ConfigFile::default()).is_err());
    }
}

#[cfg(test)]
mod packaging_tests {
    use super::*;

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
        let cli = Cli::try_parse_from(["s3-event-writer", "drain", "--github-summary"]).unwrap();
        assert!(matches!(cli.command, Command::Drain(a) if a.github_summary));
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

    #[test]
    fn completions_cover_the_commands_and_their_flags() {
        for (shell, dest) in [
            (clap_complete::Shell::Bash, "--dest"),
            (clap_complete::Shell::Zsh, "--dest"),
            (clap_complete::Shell::Fish, "-l dest"),
        ] {
            let mut out = Vec::new();
            write_completions(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            for want in ["drain", "doctor", "requeue", dest, "github-summary"] {
                assert!(text.contains(want), "{shell}: no {want}");
            }
        }
    }

    #[test]
    fn man_pages_one_per_command() {
        let mut out = Vec::new();
        write_man(&ManArgs { dir: None }, &mut out).unwrap();
        let main = String::from_utf8(out).unwrap();
        assert!(main.starts_with(".ie \\n(.g .ds Aq") || main.contains(".TH s3-event-writer 1"));
        assert!(main.contains("drain"), "{main}");

        let dir = tempfile::tempdir().unwrap();
        let pages = dir.path().join("man");
        write_man(
            &ManArgs {
                dir: Some(pages.clone()),
            },
            &mut Vec::new(),
        )
        .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&pages)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(names.contains(&"s3-event-writer.1".to_owned()), "{names:?}");
        assert!(
            names.contains(&"s3-event-writer-drain.1".to_owned()),
            "{names:?}"
        );
        assert!(!names
            .iter()
            .any(|n| n.contains("completions") || n.contains("-man.")));
        let drain = std::fs::read_to_string(pages.join("s3-event-writer-drain.1")).unwrap();
        assert!(drain.contains(".TH s3-event-writer-drain 1"), "{drain}");
        assert!(drain.contains("github\\-summary"), "{drain}");
    }
}
