//! The one settings layer: every entry point (the commands and the Lambda function) resolves
//! its settings here, once, into typed values.
//!
//! Two levels, as in ripgrep: the *low-level* arguments are the clap groups below
//! ([`ConfigArgs`], [`LocationArgs`], [`RuleArgs`], [`QuarantineBodyArgs`], [`AwsArgs`],
//! [`SqsArgs`], [`MetricsArgs`]), which every command flattens into its own arguments; the
//! *high-level* settings are what the adapters and the pipeline take ([`Rules`],
//! [`AwsSettings`], [`S3Settings`], [`SqsSettings`], [`BodyPolicy`], [`MetricsSettings`],
//! [`Location`]).
//!
//! Invariants:
//! - precedence is the same for every setting and every entry point: command-line flag, then
//!   environment variable, then the TOML file of `--config` / `S3EW_CONFIG`, then the default.
//!   clap reads the first two; [`Layers::pick`] asks clap where a value came from
//!   ([`clap::parser::ValueSource`]), so a default never hides a config-file value;
//! - every default is a constant in [`defaults`], and `--help` shows it from there (clap's
//!   `default_value_t`), so help and behaviour cannot drift;
//! - the Lambda function parses the same argument groups from its environment (an empty command
//!   line), so it honours every `S3EW_*` variable the CLI does, `S3EW_CONFIG` included;
//! - a setting that cannot be used is a [`UsageError`] (exit status 2) naming the flag, its
//!   variable or the config key, and what to do.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use serde::Deserialize;

use crate::adapters::aws::AwsSettings;
use crate::adapters::s3::{self, S3Settings};
use crate::adapters::sqs::{self, SqsSettings};
use crate::core::{BodyPolicy, Redaction, Rules, SortOptions};
use crate::location::{Location, LocationError};
use crate::metrics::{self, MetricsMode, MetricsSettings};
use crate::pipeline::DrainOptions;

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

/// Every default, in one place. `--help` shows these values.
pub mod defaults {
    /// The day-file location.
    pub const DEST: &str = "s3://logpublish/events/prod/";
    /// Most messages in one block (one flush of the day files).
    pub const BLOCK_MESSAGES: usize = 100_000;
    /// Day files merged at once.
    pub const DAY_CONCURRENCY: usize = 4;
    /// Values per drop reason the summary lists.
    pub const SUMMARY_TOP: usize = 5;
    /// Consecutive blocks whose writes all failed before a run stops.
    pub const MAX_FAILED_BLOCKS: u32 = 3;
    /// Most messages a dry run from a queue reads when `--max-messages` is not given: each one
    /// it reads spends one of the message's `maxReceiveCount` receives.
    pub const DRY_RUN_MAX_MESSAGES: u64 = 100;
    /// Long-poll wait of each receive.
    pub const WAIT_SECS: u64 = 5;
    /// Receives in flight at once.
    pub const RECEIVERS: usize = 4;
    /// Visibility timeout of every receive.
    pub const VISIBILITY_TIMEOUT_SECS: u64 = 120;
    /// How long a block stays open in `--follow` mode.
    pub const FOLLOW_FLUSH_SECS: u64 = 60;
    /// DeleteMessageBatch (and heartbeat ChangeMessageVisibilityBatch) calls in flight at once:
    /// a block's deletes go out as soon as its writes are over, and at 32 calls of 10 a block
    /// of a few hundred messages is deleted in one round trip (a standard queue takes nearly
    /// unlimited calls per second).
    pub const DELETE_CONCURRENCY: usize = 32;
    /// Attempts per AWS call, the first included.
    pub const MAX_ATTEMPTS: u32 = 5;
    /// Longest wait for a connection.
    pub const CONNECT_TIMEOUT_SECS: u64 = 5;
    /// Longest silence while reading an AWS response.
    pub const READ_TIMEOUT_SECS: u64 = 30;
    /// Day files larger than this go up in parts.
    pub const MULTIPART_THRESHOLD_BYTES: u64 = 64 << 20;
    /// Size of each part.
    pub const PART_SIZE_BYTES: u64 = 16 << 20;
    /// Parts uploaded at once.
    pub const PART_CONCURRENCY: usize = 2;
    /// Read-merge-write attempts per day under contention.
    pub const CONFLICT_ATTEMPTS: u32 = 10;
    /// Merged S3 output kept in memory before it is spooled to a file.
    pub const SPOOL_MEMORY_BYTES: usize = 8 << 20;
    /// Memory of the fallback sort of an unsorted day file.
    pub const SORT_MEMORY_BYTES: usize = 16 << 20;
    /// Metrics of the CLI: off.
    pub const METRICS: crate::metrics::MetricsMode = crate::metrics::MetricsMode::Off;
    /// Metrics of the Lambda function: on.
    pub const LAMBDA_METRICS: crate::metrics::MetricsMode = crate::metrics::MetricsMode::Emf;
    /// The CloudWatch namespace.
    pub const METRICS_NAMESPACE: &str = crate::metrics::DEFAULT_NAMESPACE;
    /// `backfill`: the zone of the metrics log's times.
    pub const BACKFILL_TZ: &str = "America/Los_Angeles";
    /// `backfill`: the hostname put into each event.
    pub const BACKFILL_HOSTNAME: &str = "futel-prod.phu73l.net";
    /// `backfill`: kept lines merged per flush.
    pub const BACKFILL_BLOCK_LINES: usize = 100_000;
    /// `verify`: findings listed per file.
    pub const VERIFY_MAX_LISTED: usize = 10;
    /// `stats`: day files read at once.
    pub const STATS_CONCURRENCY: usize = 4;
    /// `compare`: lines shown per day and side that are only on that side.
    pub const COMPARE_SHOW: usize = 3;
    /// `compare`: days read at once (each from both archives).
    pub const COMPARE_CONCURRENCY: usize = 4;
    /// `quarantine show`: the width lines are shortened to.
    pub const SHOW_WIDTH: usize = 120;

    /// The classification lists (the SPEC's, from [`crate::core::Rules::default`]).
    pub fn prod_hosts() -> Vec<String> {
        crate::core::Rules::default().prod_hosts
    }
    pub fn drop_events() -> Vec<String> {
        crate::core::Rules::default().drop_events
    }
    pub fn drop_channels() -> Vec<String> {
        crate::core::Rules::default().drop_channel_substrings
    }
    /// Keys masked in quarantined text that is not JSON.
    pub fn personal_keys() -> Vec<String> {
        crate::core::Redaction::default().personal_keys().to_vec()
    }
}

// The structs below belong to the layers under this one; their defaults are written here, with
// the others, so that every default has one place (and `--help` shows the same values).

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            max_attempts: defaults::MAX_ATTEMPTS,
            connect_timeout_secs: defaults::CONNECT_TIMEOUT_SECS,
            read_timeout_secs: defaults::READ_TIMEOUT_SECS,
            force_path_style: false,
        }
    }
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            bucket: String::new(),
            prefix: String::new(),
            multipart_threshold_bytes: defaults::MULTIPART_THRESHOLD_BYTES,
            part_size_bytes: defaults::PART_SIZE_BYTES,
            part_concurrency: defaults::PART_CONCURRENCY,
            conflict_attempts: defaults::CONFLICT_ATTEMPTS,
            spool_memory_bytes: defaults::SPOOL_MEMORY_BYTES,
            temp_dir: None,
            sort_memory_bytes: defaults::SORT_MEMORY_BYTES,
        }
    }
}

impl Default for SqsSettings {
    fn default() -> Self {
        SqsSettings {
            queue_url: String::new(),
            wait_secs: defaults::WAIT_SECS,
            receivers: defaults::RECEIVERS,
            visibility_timeout_secs: defaults::VISIBILITY_TIMEOUT_SECS,
            follow: false,
            max_messages: None,
            delete_concurrency: defaults::DELETE_CONCURRENCY,
        }
    }
}

impl Default for SortOptions {
    fn default() -> Self {
        SortOptions {
            memory_budget_bytes: defaults::SORT_MEMORY_BYTES,
            spill_dir: None,
        }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            mode: defaults::METRICS,
            namespace: defaults::METRICS_NAMESPACE.to_owned(),
        }
    }
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            block_messages: defaults::BLOCK_MESSAGES,
            flush_secs: None,
            day_concurrency: defaults::DAY_CONCURRENCY,
            max_messages: None,
            dry_run: false,
            run_id: crate::pipeline::new_run_id(),
            max_failed_blocks: defaults::MAX_FAILED_BLOCKS,
            quarantine_body: BodyPolicy::default(),
        }
    }
}

/// A setting error: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

impl UsageError {
    pub fn new(message: impl std::fmt::Display) -> UsageError {
        UsageError(anyhow::anyhow!("{message}"))
    }
}

impl From<LocationError> for UsageError {
    fn from(e: LocationError) -> UsageError {
        UsageError(e.into())
    }
}

/// The `--config` file: the same settings as the flags, snake_case. Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub source: Option<String>,
    pub dest: Option<String>,
    pub quarantine: Option<String>,
    pub quarantine_verbatim: Option<bool>,
    pub personal_keys: Option<Vec<String>>,
    pub report: Option<PathBuf>,
    pub metric_data: Option<PathBuf>,
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

/// `--config`, accepted by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// A TOML file with the same settings, snake_case (flags and environment take precedence;
    /// unknown keys are errors).
    #[arg(long, value_name = "FILE", env = "S3EW_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// The command line and environment as clap parsed them, with the config file: the layers a
/// setting is picked from.
#[derive(Debug)]
pub struct Layers<'m> {
    matches: &'m ArgMatches,
    /// The `--config` file (empty without one).
    pub file: ConfigFile,
}

impl<'m> Layers<'m> {
    /// Reads the config file `config` names, if any.
    pub fn load(matches: &'m ArgMatches, config: &ConfigArgs) -> Result<Layers<'m>, UsageError> {
        let file = match &config.config {
            Some(p) => ConfigFile::load(p).map_err(UsageError)?,
            None => ConfigFile::default(),
        };
        Ok(Layers { matches, file })
    }

    /// Whether the argument `id` was given on the command line or in its variable.
    pub fn given(&self, id: &str) -> bool {
        matches!(
            self.matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    }

    /// The flag's value when given (flag or variable), else the file's, else the flag's
    /// default (`value`, which clap filled from [`defaults`]).
    pub fn pick<T>(&self, id: &str, value: T, file: Option<T>) -> T {
        if self.given(id) {
            value
        } else {
            file.unwrap_or(value)
        }
    }
}

/// Where day files and quarantine records go.
#[derive(Debug, Clone, Default, Args)]
pub struct LocationArgs {
    /// Day-file location: s3://BUCKET/PREFIX/ or a DIR.
    #[arg(long, value_name = "s3://BUCKET/PREFIX/|DIR", env = "S3EW_DEST", default_value = defaults::DEST)]
    pub dest: String,
    /// Quarantine location. [default: quarantine/ beside the day files]
    #[arg(long, value_name = "s3://BUCKET/PREFIX/|DIR", env = "S3EW_QUARANTINE")]
    pub quarantine: Option<String>,
}

/// The day-file location and its quarantine, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    pub dest: Location,
    pub quarantine: Location,
}

impl LocationArgs {
    /// The day-file location, as given or configured.
    pub fn dest(&self, layers: &Layers) -> String {
        layers.pick("dest", self.dest.clone(), layers.file.dest.clone())
    }

    /// Both locations. The quarantine defaults to `quarantine/` beside the day files; whether it
    /// lies inside them is for the caller to check (drain's preflight, doctor's checklist).
    pub fn resolve(&self, layers: &Layers) -> Result<Locations, UsageError> {
        let dest = self.dest(layers);
        let quarantine = self
            .quarantine
            .clone()
            .or_else(|| layers.file.quarantine.clone());
        let dest = Location::parse(&dest)?;
        let quarantine = match quarantine {
            Some(q) => Location::parse(&q)?,
            None => dest.quarantine_beside()?,
        };
        Ok(Locations { dest, quarantine })
    }
}

/// The classification rule lists (each replaces its default when given).
#[derive(Debug, Clone, Default, Args)]
pub struct RuleArgs {
    /// A production hostname whose events are kept (repeatable; replaces the default list).
    #[arg(long = "prod-host", value_name = "HOST", env = "S3EW_PROD_HOSTS", value_delimiter = ',', default_values_t = defaults::prod_hosts())]
    pub prod_hosts: Vec<String>,
    /// An event name to drop (repeatable; replaces the default list).
    #[arg(long = "drop-event", value_name = "NAME", env = "S3EW_DROP_EVENTS", value_delimiter = ',', default_values_t = defaults::drop_events())]
    pub drop_events: Vec<String>,
    /// Drop channels containing this substring (repeatable; replaces the default list).
    #[arg(long = "drop-channel-containing", value_name = "TEXT", env = "S3EW_DROP_CHANNELS", value_delimiter = ',', default_values_t = defaults::drop_channels())]
    pub drop_channels: Vec<String>,
}

impl RuleArgs {
    /// The rules, checked.
    pub fn resolve(&self, layers: &Layers) -> Result<Rules, UsageError> {
        let f = &layers.file;
        let rules = Rules {
            prod_hosts: layers.pick("prod_hosts", self.prod_hosts.clone(), f.prod_hosts.clone()),
            drop_channel_substrings: layers.pick(
                "drop_channels",
                self.drop_channels.clone(),
                f.drop_channel_containing.clone(),
            ),
            drop_events: layers.pick(
                "drop_events",
                self.drop_events.clone(),
                f.drop_events.clone(),
            ),
        };
        rules.validate().map_err(|e| UsageError(e.into()))?;
        Ok(rules)
    }
}

/// What a quarantine record keeps of a body.
#[derive(Debug, Clone, Default, Args)]
pub struct QuarantineBodyArgs {
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
        default_value_t = false,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub quarantine_verbatim: bool,
    /// A key whose value is masked in quarantined text that is not JSON (repeatable; replaces
    /// the default list).
    #[arg(long = "personal-key", value_name = "KEY", env = "S3EW_PERSONAL_KEYS", value_delimiter = ',', default_values_t = defaults::personal_keys())]
    pub personal_keys: Vec<String>,
}

impl QuarantineBodyArgs {
    /// Raw bodies when verbatim, else minimised with the personal keys (checked either way).
    pub fn resolve(&self, layers: &Layers) -> Result<BodyPolicy, UsageError> {
        let f = &layers.file;
        let verbatim = layers.pick(
            "quarantine_verbatim",
            self.quarantine_verbatim,
            f.quarantine_verbatim,
        );
        let keys = layers.pick(
            "personal_keys",
            self.personal_keys.clone(),
            f.personal_keys.clone(),
        );
        let redaction = Redaction::new(keys).map_err(|e| {
            UsageError(anyhow::anyhow!(
                "--personal-key (S3EW_PERSONAL_KEYS, personal_keys): {e}"
            ))
        })?;
        Ok(if verbatim {
            BodyPolicy::Verbatim
        } else {
            BodyPolicy::Minimised(redaction)
        })
    }
}

/// AWS client settings.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// Attempts per AWS call, first included (standard retry mode).
    #[arg(long, value_name = "N", env = "S3EW_MAX_ATTEMPTS", default_value_t = defaults::MAX_ATTEMPTS)]
    pub max_attempts: u32,
    /// Longest silence while reading an AWS response, in seconds.
    #[arg(long, value_name = "SECS", env = "S3EW_READ_TIMEOUT_SECS", default_value_t = defaults::READ_TIMEOUT_SECS)]
    pub read_timeout_secs: u64,
    /// Path-style S3 addressing (http://host/bucket/key), for emulators.
    #[arg(long, env = "S3EW_S3_PATH_STYLE")]
    pub path_style: bool,
    /// Day files larger than this are uploaded in parts.
    #[arg(long, value_name = "BYTES", env = "S3EW_MULTIPART_THRESHOLD_BYTES", default_value_t = defaults::MULTIPART_THRESHOLD_BYTES)]
    pub multipart_threshold_bytes: u64,
    /// Size of each uploaded part: 5 MiB to 5 GiB (S3's limits); larger for a day of more
    /// than 10,000 parts.
    #[arg(long, value_name = "BYTES", env = "S3EW_PART_SIZE_BYTES", default_value_t = defaults::PART_SIZE_BYTES)]
    pub part_size_bytes: u64,
    /// The smallest part size accepted, for tests against emulators that accept smaller parts
    /// than S3 (see docs/DEVELOPMENT.md). [default: S3's 5 MiB]
    #[arg(
        long,
        value_name = "BYTES",
        env = "S3EW_MIN_PART_SIZE_BYTES",
        hide = true
    )]
    pub min_part_size_bytes: Option<u64>,
    /// Read-merge-write attempts per day when other writers keep changing it.
    #[arg(long, value_name = "N", env = "S3EW_CONFLICT_ATTEMPTS", default_value_t = defaults::CONFLICT_ATTEMPTS)]
    pub conflict_attempts: u32,
    /// Directory for temporary files (merged output being uploaded, fallback sort runs).
    /// [default: the system's]
    #[arg(long, value_name = "DIR", env = "S3EW_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Merged S3 day output kept in memory; larger output is spooled to a temporary file.
    #[arg(long, value_name = "BYTES", env = "S3EW_SPOOL_MEMORY_BYTES", default_value_t = defaults::SPOOL_MEMORY_BYTES)]
    pub spool_memory_bytes: usize,
    /// Memory of the fallback sort for a day file that is not sorted; larger files are sorted
    /// in runs spilled to temporary files.
    #[arg(long, value_name = "BYTES", env = "S3EW_SORT_MEMORY_BYTES", default_value_t = defaults::SORT_MEMORY_BYTES)]
    pub sort_memory_bytes: usize,
}

/// The AWS and storage settings, resolved.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub aws: AwsSettings,
    /// Bucket and prefix empty: the wiring fills them from the location.
    pub s3: S3Settings,
}

impl StoreSettings {
    /// The fallback sort's options (a directory store's, and S3's).
    pub fn sort_options(&self) -> SortOptions {
        SortOptions {
            memory_budget_bytes: self.s3.sort_memory_bytes,
            spill_dir: self.s3.temp_dir.clone(),
        }
    }
}

impl AwsArgs {
    /// Client and write settings.
    pub fn resolve(&self, layers: &Layers) -> Result<StoreSettings, UsageError> {
        let f = &layers.file;
        let aws = AwsSettings {
            max_attempts: layers
                .pick("max_attempts", self.max_attempts, f.max_attempts)
                .max(1),
            connect_timeout_secs: defaults::CONNECT_TIMEOUT_SECS,
            read_timeout_secs: layers
                .pick(
                    "read_timeout_secs",
                    self.read_timeout_secs,
                    f.read_timeout_secs,
                )
                .max(1),
            force_path_style: layers.pick("path_style", self.path_style, f.path_style),
        };
        let s3 = S3Settings {
            bucket: String::new(),
            prefix: String::new(),
            multipart_threshold_bytes: multipart_threshold(layers.pick(
                "multipart_threshold_bytes",
                self.multipart_threshold_bytes,
                f.multipart_threshold_bytes,
            ))?,
            part_size_bytes: part_size(
                layers.pick("part_size_bytes", self.part_size_bytes, f.part_size_bytes),
                self.min_part_size_bytes,
            )?,
            part_concurrency: defaults::PART_CONCURRENCY,
            conflict_attempts: layers
                .pick(
                    "conflict_attempts",
                    self.conflict_attempts,
                    f.conflict_attempts,
                )
                .max(1),
            spool_memory_bytes: layers.pick(
                "spool_memory_bytes",
                self.spool_memory_bytes,
                f.spool_memory_bytes,
            ),
            temp_dir: self.temp_dir.clone().or_else(|| f.temp_dir.clone()),
            sort_memory_bytes: layers
                .pick(
                    "sort_memory_bytes",
                    self.sort_memory_bytes,
                    f.sort_memory_bytes,
                )
                .max(1),
        };
        Ok(StoreSettings { aws, s3 })
    }
}

/// `--part-size-bytes`: within S3's part limits, 5 MiB to 5 GiB. `min` (the hidden
/// `--min-part-size-bytes`, `S3EW_MIN_PART_SIZE_BYTES`) lowers the minimum for emulators that
/// accept smaller parts.
fn part_size(bytes: u64, min: Option<u64>) -> Result<u64, UsageError> {
    let min = min.unwrap_or(s3::MIN_PART_BYTES).max(1);
    if (min..=s3::MAX_PART_BYTES).contains(&bytes) {
        return Ok(bytes);
    }
    Err(UsageError::new(format_args!(
        "--part-size-bytes {bytes} (S3EW_PART_SIZE_BYTES, part_size_bytes in the config file): \
         must be {min}..={} bytes ({} to 5 GiB): S3 refuses smaller parts (but the last) and \
         larger ones",
        s3::MAX_PART_BYTES,
        if min == s3::MIN_PART_BYTES {
            "5 MiB".to_owned()
        } else {
            format!("{min} bytes")
        }
    )))
}

/// `--multipart-threshold-bytes`: at most 5 GiB, S3's largest PutObject (a day up to the
/// threshold goes up in one). A threshold under the part size is accepted: a day just above it
/// goes up as one part, which S3 accepts at any size as the last part.
fn multipart_threshold(bytes: u64) -> Result<u64, UsageError> {
    if bytes <= s3::MAX_PART_BYTES {
        return Ok(bytes);
    }
    Err(UsageError::new(format_args!(
        "--multipart-threshold-bytes {bytes} (S3EW_MULTIPART_THRESHOLD_BYTES, \
         multipart_threshold_bytes in the config file): must be at most {} bytes (5 GiB): S3 \
         refuses a single PutObject larger than that",
        s3::MAX_PART_BYTES
    )))
}

/// The archive an archive tool (verify, stats, backfill) works on.
#[derive(Debug, Clone, Default, Args)]
pub struct ArchiveArgs {
    /// Day-file location: s3://BUCKET/PREFIX/ or a DIR (required: here, in S3EW_DEST or as
    /// `dest` in the config file).
    #[arg(long, value_name = "s3://BUCKET/PREFIX/|DIR", env = "S3EW_DEST")]
    pub dest: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// An archive's location and how to reach it, resolved.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    pub location: Location,
    pub store: StoreSettings,
}

impl ArchiveArgs {
    pub fn resolve(&self, layers: &Layers) -> Result<ArchiveSettings, UsageError> {
        let Some(dest) = self.dest.clone().or_else(|| layers.file.dest.clone()) else {
            return Err(UsageError::new(
                "no archive: give --dest s3://BUCKET/PREFIX/ or DIR, set S3EW_DEST, or set dest in the --config file",
            ));
        };
        Ok(ArchiveSettings {
            location: Location::parse(&dest)?,
            store: self.aws.resolve(layers)?,
        })
    }
}

/// How the queue is read (SQS sources only).
#[derive(Debug, Clone, Default, Args)]
pub struct SqsArgs {
    /// Long-poll wait of each receive, 0..=20 seconds.
    #[arg(long, value_name = "SECS", env = "S3EW_WAIT_SECS", default_value_t = defaults::WAIT_SECS)]
    pub wait_secs: u64,
    /// Receives in flight at once.
    #[arg(long, value_name = "N", env = "S3EW_RECEIVERS", default_value_t = defaults::RECEIVERS)]
    pub receivers: usize,
    /// Visibility timeout set on every receive, in seconds; a heartbeat extends it while a write
    /// is under way.
    #[arg(long = "visibility-timeout", value_name = "SECS", env = "S3EW_VISIBILITY_TIMEOUT_SECS", default_value_t = defaults::VISIBILITY_TIMEOUT_SECS)]
    pub visibility_timeout_secs: u64,
    /// Keep running: flush every --flush-secs or --block-messages; SIGINT/SIGTERM finishes the
    /// block in hand, then exits.
    #[arg(long, env = "S3EW_FOLLOW")]
    pub follow: bool,
    /// Flush a block this long after its first message: in --follow mode (default 60), and from
    /// a queue never later than half the visibility timeout.
    #[arg(long, value_name = "SECS", env = "S3EW_FLUSH_SECS")]
    pub flush_secs: Option<u64>,
}

impl SqsArgs {
    /// The queue settings for `queue_url` (empty for a file source), checked; `max_messages`
    /// caps the run.
    pub fn resolve(
        &self,
        layers: &Layers,
        queue_url: String,
        max_messages: Option<u64>,
    ) -> Result<SqsSettings, UsageError> {
        let f = &layers.file;
        let wait_secs = layers.pick("wait_secs", self.wait_secs, f.wait_secs);
        if wait_secs > 20 {
            return Err(UsageError::new(
                "--wait-secs must be 0..=20 (SQS's longest long poll)",
            ));
        }
        Ok(SqsSettings {
            queue_url,
            wait_secs,
            receivers: layers.pick("receivers", self.receivers, f.receivers).max(1),
            visibility_timeout_secs: visibility_timeout(layers.pick(
                "visibility_timeout_secs",
                self.visibility_timeout_secs,
                f.visibility_timeout_secs,
            ))?,
            follow: layers.pick("follow", self.follow, f.follow),
            max_messages,
            delete_concurrency: defaults::DELETE_CONCURRENCY,
        })
    }

    /// How long a block may stay open: from a queue at most half the visibility timeout (so
    /// its messages are written and deleted long before they could come back), in follow mode
    /// `--flush-secs`; `None` for a file read once.
    pub fn flush_secs(&self, layers: &Layers, sqs: &SqsSettings, from_queue: bool) -> Option<u64> {
        let given = self.flush_secs.or(layers.file.flush_secs);
        if from_queue {
            let cap = (sqs.visibility_timeout_secs / 2).max(1);
            let default = if sqs.follow {
                defaults::FOLLOW_FLUSH_SECS
            } else {
                cap
            };
            Some(given.unwrap_or(default).clamp(1, cap))
        } else if sqs.follow {
            Some(given.unwrap_or(defaults::FOLLOW_FLUSH_SECS).max(1))
        } else {
            None
        }
    }
}

/// `--visibility-timeout`: long enough for the heartbeat to extend it (see
/// [`sqs::MIN_VISIBILITY_TIMEOUT_SECS`]), at most SQS's 12 hours.
fn visibility_timeout(secs: u64) -> Result<u64, UsageError> {
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

/// `--max-failed-blocks`: at least 1.
pub fn max_failed_blocks(n: u32) -> Result<u32, UsageError> {
    if n == 0 {
        return Err(UsageError::new(
            "--max-failed-blocks 0: must be at least 1 (the run stops after that many consecutive blocks in which every write failed)",
        ));
    }
    Ok(n)
}

/// The most messages a drain reads: `given` (`--max-messages`, its variable or the config file)
/// when set, in either direction; else [`defaults::DRY_RUN_MAX_MESSAGES`] for a dry run from a
/// queue, where every message read spends one of its receives; else no limit (a real run, or a
/// dry run of a file, which costs nothing).
pub fn max_messages(given: Option<u64>, dry_run: bool, from_queue: bool) -> Option<u64> {
    given.or((dry_run && from_queue).then_some(defaults::DRY_RUN_MAX_MESSAGES))
}

/// CloudWatch metrics.
#[derive(Debug, Clone, Default, Args)]
pub struct MetricsArgs {
    /// CloudWatch metrics: `emf` prints one Embedded Metric Format JSON line per flush on stdout
    /// (Received, Kept, Dropped, Quarantined, Deleted, Failures, ConflictRetries,
    /// DurationSeconds; docs/DEPLOY.md). [default: off; on in the Lambda function]
    #[arg(long, value_enum, value_name = "MODE", env = "S3EW_METRICS")]
    pub metrics: Option<MetricsMode>,
    /// CloudWatch namespace of the metrics.
    #[arg(long, value_name = "NAMESPACE", env = "S3EW_METRICS_NAMESPACE", default_value = defaults::METRICS_NAMESPACE)]
    pub metrics_namespace: String,
}

impl MetricsArgs {
    /// The metrics settings; `default` is the entry point's mode when nothing sets one.
    pub fn resolve(
        &self,
        layers: &Layers,
        default: MetricsMode,
    ) -> Result<MetricsSettings, UsageError> {
        let namespace = layers.pick(
            "metrics_namespace",
            self.metrics_namespace.clone(),
            layers.file.metrics_namespace.clone(),
        );
        metrics::check_namespace(&namespace).map_err(|e| {
            UsageError(anyhow::anyhow!(
                "--metrics-namespace (S3EW_METRICS_NAMESPACE) {namespace:?}: {e}"
            ))
        })?;
        Ok(MetricsSettings {
            mode: self.metrics.or(layers.file.metrics).unwrap_or(default),
            namespace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches as _;

    #[derive(Debug, Args)]
    struct All {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        at: LocationArgs,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        body: QuarantineBodyArgs,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        sqs: SqsArgs,
        #[command(flatten)]
        metrics: MetricsArgs,
    }

    fn parse(argv: &[&str]) -> (All, ArgMatches) {
        let cmd = All::augment_args(clap::Command::new("t").no_binary_name(true));
        let m = cmd.try_get_matches_from(argv).unwrap();
        (All::from_arg_matches(&m).unwrap(), m)
    }

    fn with_file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn the_argument_groups_are_consistent() {
        All::augment_args(clap::Command::new("t")).debug_assert();
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let file = with_file(
            "dest = \"/tmp/d\"\nprod_hosts = [\"p\"]\ndrop_channel_containing = [\"x\"]\nmax_attempts = 2\nreceivers = 9\n",
        );
        let path = file.path().to_str().unwrap();
        let (a, m) = parse(&["--config", path, "--prod-host", "flag", "--receivers", "3"]);
        let layers = Layers::load(&m, &a.config).unwrap();
        let rules = a.rules.resolve(&layers).unwrap();
        assert_eq!(rules.prod_hosts, ["flag"], "flag over file");
        assert_eq!(rules.drop_channel_substrings, ["x"], "file over default");
        assert_eq!(rules.drop_events, Rules::default().drop_events, "default");
        assert_eq!(a.aws.resolve(&layers).unwrap().aws.max_attempts, 2);
        let sqs = a.sqs.resolve(&layers, String::new(), None).unwrap();
        assert_eq!(sqs.receivers, 3);
        assert_eq!(a.at.resolve(&layers).unwrap().dest.to_string(), "/tmp/d");
    }

    #[test]
    fn without_flags_or_file_every_setting_is_its_default() {
        let (a, m) = parse(&[]);
        let layers = Layers::load(&m, &a.config).unwrap();
        let store = a.aws.resolve(&layers).unwrap();
        assert_eq!(store.aws.max_attempts, defaults::MAX_ATTEMPTS);
        assert_eq!(store.aws.read_timeout_secs, defaults::READ_TIMEOUT_SECS);
        assert_eq!(
            store.s3.multipart_threshold_bytes,
            defaults::MULTIPART_THRESHOLD_BYTES
        );
        assert_eq!(store.s3.part_size_bytes, defaults::PART_SIZE_BYTES);
        assert_eq!(store.s3.spool_memory_bytes, defaults::SPOOL_MEMORY_BYTES);
        assert_eq!(store.s3.sort_memory_bytes, defaults::SORT_MEMORY_BYTES);
        assert_eq!(store.s3.conflict_attempts, defaults::CONFLICT_ATTEMPTS);
        let sqs = a.sqs.resolve(&layers, String::new(), None).unwrap();
        assert_eq!(sqs.wait_secs, defaults::WAIT_SECS);
        assert_eq!(
            sqs.visibility_timeout_secs,
            defaults::VISIBILITY_TIMEOUT_SECS
        );
        let at = a.at.resolve(&layers).unwrap();
        assert_eq!(at.dest.to_string(), defaults::DEST);
        assert_eq!(
            at.quarantine.to_string(),
            "s3://logpublish/events/quarantine/"
        );
        assert_eq!(a.rules.resolve(&layers).unwrap(), Rules::default());
        assert_eq!(a.body.resolve(&layers).unwrap(), BodyPolicy::default());
        let metrics = a.metrics.resolve(&layers, defaults::METRICS).unwrap();
        assert_eq!(metrics, MetricsSettings::default());
        let lambda = a
            .metrics
            .resolve(&layers, defaults::LAMBDA_METRICS)
            .unwrap();
        assert_eq!(lambda.mode, MetricsMode::Emf);
    }

    #[test]
    fn unknown_config_keys_are_an_error() {
        assert!(toml::from_str::<ConfigFile>("destination = \"x\"").is_err());
        let file = with_file("destination = \"x\"\n");
        let (a, m) = parse(&["--config", file.path().to_str().unwrap()]);
        let e = Layers::load(&m, &a.config).unwrap_err();
        assert!(format!("{e}").contains("is not valid"), "{e}");
    }

    #[test]
    fn visibility_timeouts_too_small_to_heartbeat_are_refused() {
        for (given, ok) in [("1", false), ("2", true), ("43200", true), ("43201", false)] {
            let (a, m) = parse(&["--visibility-timeout", given]);
            let layers = Layers::load(&m, &a.config).unwrap();
            match (a.sqs.resolve(&layers, String::new(), None), ok) {
                (Ok(s), true) => assert_eq!(s.visibility_timeout_secs.to_string(), given),
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
    fn empty_channel_substring_is_refused() {
        let (a, m) = parse(&["--drop-channel-containing", ""]);
        let layers = Layers::load(&m, &a.config).unwrap();
        assert!(a.rules.resolve(&layers).is_err());
    }

    #[test]
    fn quarantine_bodies_are_minimised_unless_asked_for_raw_ones() {
        for (argv, want_verbatim) in [
            (&[][..], false),
            (&["--quarantine-verbatim"][..], true),
            (&["--quarantine-verbatim=false"][..], false),
            (&["--quarantine-verbatim=yes"][..], true),
        ] {
            let (a, m) = parse(argv);
            let layers = Layers::load(&m, &a.config).unwrap();
            let policy = a.body.resolve(&layers).unwrap();
            assert_eq!(policy == BodyPolicy::Verbatim, want_verbatim, "{argv:?}");
        }
        let file = with_file("quarantine_verbatim = true\n");
        let (a, m) = parse(&["--config", file.path().to_str().unwrap()]);
        let layers = Layers::load(&m, &a.config).unwrap();
        assert_eq!(a.body.resolve(&layers).unwrap(), BodyPolicy::Verbatim);
        let (a, m) = parse(&["--personal-key", "a\"b"]);
        let layers = Layers::load(&m, &a.config).unwrap();
        let e = a.body.resolve(&layers).unwrap_err().to_string();
        assert!(e.starts_with("--personal-key (S3EW_PERSONAL_KEYS"), "{e}");
    }

    #[test]
    fn a_dry_run_from_a_queue_reads_100_messages_unless_told_otherwise() {
        assert_eq!(defaults::DRY_RUN_MAX_MESSAGES, 100);
        assert_eq!(max_messages(None, true, true), Some(100));
        assert_eq!(max_messages(Some(120), true, true), Some(120), "above");
        assert_eq!(max_messages(Some(30), true, true), Some(30), "below");
        assert_eq!(max_messages(Some(0), true, true), Some(0));
        assert_eq!(max_messages(None, false, true), None, "a real run");
        assert_eq!(max_messages(Some(30), false, true), Some(30));
        assert_eq!(
            max_messages(None, true, false),
            None,
            "a file costs nothing"
        );
    }

    #[test]
    fn flush_secs_never_exceed_half_the_visibility_timeout_from_a_queue() {
        let (a, m) = parse(&["--visibility-timeout", "30", "--flush-secs", "100"]);
        let layers = Layers::load(&m, &a.config).unwrap();
        let sqs = a.sqs.resolve(&layers, "q".into(), None).unwrap();
        assert_eq!(a.sqs.flush_secs(&layers, &sqs, true), Some(15));
        assert_eq!(a.sqs.flush_secs(&layers, &sqs, false), None);
        let (a, m) = parse(&["--follow"]);
        let layers = Layers::load(&m, &a.config).unwrap();
        let sqs = a.sqs.resolve(&layers, String::new(), None).unwrap();
        assert_eq!(
            a.sqs.flush_secs(&layers, &sqs, false),
            Some(defaults::FOLLOW_FLUSH_SECS)
        );
    }

    #[test]
    fn the_part_size_is_held_to_s3s_limits() {
        let refused = |bytes, min| part_size(bytes, min).unwrap_err().0.to_string();
        let text = refused(1 << 20, None);
        assert!(
            text.starts_with("--part-size-bytes 1048576 (S3EW_PART_SIZE_BYTES")
                && text.contains("must be 5242880..=5368709120 bytes (5 MiB to 5 GiB)"),
            "{text}"
        );
        assert!(refused(0, None).starts_with("--part-size-bytes 0 "));
        assert_eq!(part_size(5 << 20, None).unwrap(), 5 << 20);
        assert_eq!(part_size(5 << 30, None).unwrap(), 5 << 30);
        let text = refused((5 << 30) + 1, None);
        assert!(text.starts_with("--part-size-bytes 5368709121 "), "{text}");
        // The emulators' hatch lowers the minimum, not the maximum.
        assert_eq!(part_size(256 << 10, Some(256 << 10)).unwrap(), 256 << 10);
        let text = refused((256 << 10) - 1, Some(256 << 10));
        assert!(text.contains("must be 262144..="), "{text}");
        assert!(part_size((5 << 30) + 1, Some(1)).is_err());
        assert!(part_size(0, Some(0)).is_err(), "a part has at least 1 byte");
    }

    #[test]
    fn the_multipart_threshold_is_at_most_s3s_largest_put() {
        assert_eq!(multipart_threshold(5 << 30).unwrap(), 5 << 30);
        assert_eq!(multipart_threshold(0).unwrap(), 0, "under the part size");
        let text = multipart_threshold((5 << 30) + 1)
            .unwrap_err()
            .0
            .to_string();
        assert!(
            text.starts_with("--multipart-threshold-bytes 5368709121 (")
                && text.contains("at most 5368709120 bytes (5 GiB)"),
            "{text}"
        );
    }

    #[test]
    fn a_part_size_from_the_file_or_the_variable_is_checked_too() {
        let file = with_file("part_size_bytes = 1048576\n");
        let path = file.path().to_str().unwrap();
        let (a, m) = parse(&["--config", path]);
        let layers = Layers::load(&m, &a.config).unwrap();
        let err = a.aws.resolve(&layers).unwrap_err().0.to_string();
        assert!(err.starts_with("--part-size-bytes 1048576 "), "{err}");
        let (a, m) = parse(&["--config", path, "--min-part-size-bytes", "1048576"]);
        let layers = Layers::load(&m, &a.config).unwrap();
        assert_eq!(a.aws.resolve(&layers).unwrap().s3.part_size_bytes, 1 << 20);
    }
}
