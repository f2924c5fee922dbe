//! The one settings layer: every entry point (the commands and the Lambda function) resolves
//! its settings here, once, into typed values.
//!
//! Two levels, as in ripgrep: the clap argument groups below ([`LocationArgs`], [`AwsArgs`],
//! ...), which every command flattens into its own arguments, and what their `resolve`
//! returns, the settings the adapters and the pipeline take ([`Rules`], [`S3Settings`], ...).
//! Each setting is declared once, as a clap argument with its variable and its default; the
//! flags, the environment and the config file all arrive through that declaration.
//!
//! Invariants:
//! - precedence is the same for every setting and every entry point: command-line flag, then
//!   environment variable, then the TOML file of `--config` / `S3EW_CONFIG`, then the default.
//!   [`parse`] parses once to find `--config` and the subcommand, then again with each key of
//!   the file as the default of the argument of that id ([`with_config_file`]), so clap itself
//!   puts a flag and a variable above the file, and the file above the built-in default;
//! - the settings are the arguments with a variable (but the global `--config` and
//!   `--log-format`, and hidden ones); a config key is a setting's id, the long flag in
//!   snake_case, and its value is read by the flag's own parser, a list as the flag repeated. A
//!   key that is no command's setting is an error; one that is another command's is ignored, so
//!   one file serves every command;
//! - every default is a constant in [`defaults`], and `--help` shows it from there (clap's
//!   `default_value_t`), so help and behaviour cannot drift;
//! - the Lambda function parses the same argument groups from its environment (an empty command
//!   line), so it honours every `S3EW_*` variable the CLI does, `S3EW_CONFIG` included;
//! - a setting that cannot be used is a [`UsageError`] (exit status 2) naming the flag, its
//!   variable or the config key, and what to do.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches as _};

use crate::adapters::aws::AwsSettings;
use crate::adapters::object::DaySettings;
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

/// Every default, in one place. `--help` shows these values, and says what each one is.
pub mod defaults {
    pub const DEST: &str = "s3://logpublish/events/prod/";
    pub const BLOCK_MESSAGES: usize = 100_000;
    pub const DAY_CONCURRENCY: usize = 4;
    pub const SUMMARY_TOP: usize = 5;
    pub const MAX_FAILED_BLOCKS: u32 = 3;
    /// Most messages a dry run from a queue reads when `--max-messages` is not given: each one
    /// it reads spends one of the message's `maxReceiveCount` receives.
    pub const DRY_RUN_MAX_MESSAGES: u64 = 100;
    pub const WAIT_SECS: u64 = 5;
    pub const RECEIVERS: usize = 4;
    pub const VISIBILITY_TIMEOUT_SECS: u64 = 120;
    /// How long a block stays open in `--follow` mode.
    pub const FOLLOW_FLUSH_SECS: u64 = 60;
    /// DeleteMessageBatch (and heartbeat ChangeMessageVisibilityBatch) calls in flight at once:
    /// a block's deletes go out as soon as its writes are over, and at 32 calls of 10 a block
    /// of a few hundred messages is deleted in one round trip (a standard queue takes nearly
    /// unlimited calls per second).
    pub const DELETE_CONCURRENCY: usize = 32;
    pub const MAX_ATTEMPTS: u32 = 5;
    /// Longest wait for a connection.
    pub const CONNECT_TIMEOUT_SECS: u64 = 5;
    pub const READ_TIMEOUT_SECS: u64 = 30;
    pub const MULTIPART_THRESHOLD_BYTES: u64 = 64 << 20;
    pub const PART_SIZE_BYTES: u64 = 16 << 20;
    /// Parts uploaded at once.
    pub const PART_CONCURRENCY: usize = 2;
    pub const CONFLICT_ATTEMPTS: u32 = 10;
    pub const SPOOL_MEMORY_BYTES: usize = 8 << 20;
    pub const SORT_MEMORY_BYTES: usize = 16 << 20;
    /// Metrics of the CLI: off.
    pub const METRICS: crate::metrics::MetricsMode = crate::metrics::MetricsMode::Off;
    /// Metrics of the Lambda function: on.
    pub const LAMBDA_METRICS: crate::metrics::MetricsMode = crate::metrics::MetricsMode::Emf;
    pub const METRICS_NAMESPACE: &str = crate::metrics::DEFAULT_NAMESPACE;
    pub const BACKFILL_TZ: &str = "America/Los_Angeles";
    pub const BACKFILL_HOSTNAME: &str = "futel-prod.phu73l.net";
    pub const BACKFILL_BLOCK_LINES: usize = 100_000;
    pub const VERIFY_MAX_LISTED: usize = 10;
    pub const STATS_CONCURRENCY: usize = 4;
    pub const COMPARE_SHOW: usize = 3;
    pub const COMPARE_CONCURRENCY: usize = 4;
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
            multipart_threshold_bytes: defaults::MULTIPART_THRESHOLD_BYTES,
            part_size_bytes: defaults::PART_SIZE_BYTES,
            part_concurrency: defaults::PART_CONCURRENCY,
            day: DaySettings {
                prefix: String::new(),
                conflict_attempts: defaults::CONFLICT_ATTEMPTS,
                spool_memory_bytes: defaults::SPOOL_MEMORY_BYTES,
                sort: SortOptions::default(),
            },
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

/// `--config`, accepted by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// A TOML file with the same settings, snake_case (flags and environment take precedence;
    /// unknown keys are errors).
    #[arg(long, value_name = "FILE", env = "S3EW_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// Why the command line (with its config file) could not be parsed.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own: help, version, or a bad flag or variable.
    Clap(clap::Error),
    /// The config file cannot be read or used.
    Config(UsageError),
}

/// Parses `argv` with `command()`; when `--config` (or `S3EW_CONFIG`) names a file, parses
/// again with the file's values as the defaults of the arguments they name (see
/// [`with_config_file`]). `command` must flatten [`ConfigArgs`].
pub fn parse(command: impl Fn() -> Command, argv: &[OsString]) -> Result<ArgMatches, ParseError> {
    let first = command()
        .try_get_matches_from(argv)
        .map_err(ParseError::Clap)?;
    let config = ConfigArgs::from_arg_matches(&first).map_err(ParseError::Clap)?;
    let Some(file) = config.config else {
        return Ok(first);
    };
    let path = subcommand_path(&first);
    let cmd = with_config_file(command(), &path, &file).map_err(ParseError::Config)?;
    // The first parse succeeded, so an error now is a value from the file.
    cmd.try_get_matches_from(argv)
        .map_err(|e| ParseError::Config(invalid_value(&command(), &path, &file, &e)))
}

/// The names of the subcommands `matches` went through, outermost first.
fn subcommand_path(matches: &ArgMatches) -> Vec<String> {
    std::iter::successors(matches.subcommand(), |(_, m)| m.subcommand())
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Whether `arg` is a setting, one the config file may set: an argument with an environment
/// variable, other than the global ones (`--config`, `--log-format`) and the hidden ones.
pub fn is_setting(arg: &Arg) -> bool {
    arg.get_env().is_some() && !arg.is_global_set() && !arg.is_hide_set()
}

/// The settings of `cmd` and of all its subcommands: the keys a config file may hold.
pub fn config_keys(cmd: &Command) -> BTreeSet<String> {
    cmd.get_arguments()
        .filter(|a| is_setting(a))
        .map(|a| a.get_id().to_string())
        .chain(cmd.get_subcommands().flat_map(config_keys))
        .collect()
}

fn find<'c>(cmd: &'c Command, path: &[String]) -> Option<&'c Command> {
    path.iter().try_fold(cmd, |c, name| c.find_subcommand(name))
}

/// Sets the default values of arguments of the subcommand of `cmd` that `path` names.
fn set_defaults(cmd: Command, path: &[String], defaults: Vec<(String, Vec<String>)>) -> Command {
    match path.split_first() {
        None => defaults.into_iter().fold(cmd, |c, (key, values)| {
            c.mut_arg(key, |a| a.default_values(values))
        }),
        Some((name, rest)) => cmd.mut_subcommand(name, |sub| set_defaults(sub, rest, defaults)),
    }
}

/// `cmd` with the config file `file` read into the subcommand `path` names: each key's value
/// becomes the default of the setting of that id (the module's invariants say the rules).
pub fn with_config_file(cmd: Command, path: &[String], file: &Path) -> Result<Command, UsageError> {
    let invalid = |what: String| {
        UsageError::new(format_args!(
            "the config file {} is not valid: {what}",
            file.display()
        ))
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the config file {}", file.display()))
        .map_err(UsageError)?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    let known = config_keys(&cmd);
    let Some(leaf) = find(&cmd, path) else {
        return Ok(cmd);
    };
    let mut defaults = Vec::new();
    for (key, value) in table {
        if !known.contains(&key) {
            return Err(invalid(format!(
                "unknown key `{key}` (a key is a flag's name in snake_case, e.g. block_messages)"
            )));
        }
        let Some(arg) = leaf
            .get_arguments()
            .find(|a| is_setting(a) && a.get_id() == &key)
        else {
            continue;
        };
        let list = matches!(arg.get_action(), ArgAction::Append);
        let values = texts(&value, list).map_err(|e| invalid(format!("{key}: {e}")))?;
        defaults.push((key, values));
    }
    Ok(set_defaults(cmd, path, defaults))
}

/// A TOML value as the text(s) its flag would be given: a list only for a `list` setting.
fn texts(value: &toml::Value, list: bool) -> Result<Vec<String>, String> {
    fn scalar(v: &toml::Value) -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(format!("{v} is not a string, a number or a boolean")),
        }
    }
    match value {
        toml::Value::Array(items) if list => items.iter().map(scalar).collect(),
        toml::Value::Array(_) => Err("takes one value, not a list".to_owned()),
        v => Ok(vec![scalar(v)?]),
    }
}

/// The clap error of a value the config file `file` gave, restated with its key.
fn invalid_value(cmd: &Command, path: &[String], file: &Path, e: &clap::Error) -> UsageError {
    let key = find(cmd, path)
        .and_then(|leaf| arg_of(leaf, e))
        .map(|a| format!("{}: ", a.get_id()))
        .unwrap_or_default();
    UsageError(anyhow::anyhow!(
        "the config file {} is not valid: {key}{}",
        file.display(),
        // clap's first line, without its "For more information, try '--help'".
        e.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
    ))
}

/// The argument of `cmd`'s subcommands, or of `cmd`, whose long flag a clap error is about.
pub fn arg_of<'c>(cmd: &'c Command, error: &clap::Error) -> Option<&'c Arg> {
    let Some(clap::error::ContextValue::String(arg)) =
        error.get(clap::error::ContextKind::InvalidArg)
    else {
        return None;
    };
    let long = arg.trim_start_matches("--").split(['=', ' ', '[']).next();
    let commands = cmd.get_subcommands().chain(std::iter::once(cmd));
    commands
        .flat_map(Command::get_arguments)
        .find(|a| a.get_long() == long)
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
    /// Both locations. The quarantine defaults to `quarantine/` beside the day files; whether it
    /// lies inside them is for the caller to check (drain's preflight, doctor's checklist).
    pub fn resolve(&self) -> Result<Locations, UsageError> {
        let dest = Location::parse(&self.dest)?;
        let quarantine = self
            .quarantine
            .as_deref()
            .map_or_else(|| dest.quarantine_beside(), Location::parse)?;
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
    pub drop_channel_containing: Vec<String>,
}

impl RuleArgs {
    /// The rules, checked.
    pub fn resolve(&self) -> Result<Rules, UsageError> {
        let rules = Rules {
            prod_hosts: self.prod_hosts.clone(),
            drop_channel_substrings: self.drop_channel_containing.clone(),
            drop_events: self.drop_events.clone(),
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
    pub fn resolve(&self) -> Result<BodyPolicy, UsageError> {
        let redaction = Redaction::new(self.personal_keys.clone()).map_err(|e| {
            UsageError::new(format_args!(
                "--personal-key (S3EW_PERSONAL_KEYS, personal_keys): {e}"
            ))
        })?;
        Ok(if self.quarantine_verbatim {
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
    /// Bucket and prefix empty: the wiring fills them from the location. Its fallback sort is
    /// a directory store's too.
    pub s3: S3Settings,
}

impl AwsArgs {
    pub fn resolve(&self) -> Result<StoreSettings, UsageError> {
        let aws = AwsSettings {
            max_attempts: self.max_attempts.max(1),
            read_timeout_secs: self.read_timeout_secs.max(1),
            force_path_style: self.path_style,
            ..AwsSettings::default()
        };
        let s3 = S3Settings {
            multipart_threshold_bytes: multipart_threshold(self.multipart_threshold_bytes)?,
            part_size_bytes: part_size(self.part_size_bytes, self.min_part_size_bytes)?,
            day: DaySettings {
                conflict_attempts: self.conflict_attempts.max(1),
                spool_memory_bytes: self.spool_memory_bytes,
                sort: SortOptions {
                    memory_budget_bytes: self.sort_memory_bytes.max(1),
                    spill_dir: self.temp_dir.clone(),
                },
                prefix: String::new(),
            },
            ..S3Settings::default()
        };
        Ok(StoreSettings { aws, s3 })
    }
}

/// `--part-size-bytes`: within S3's part limits, 5 MiB to 5 GiB. `min` (the hidden
/// `--min-part-size-bytes`, `S3EW_MIN_PART_SIZE_BYTES`) lowers the minimum for emulators that
/// accept smaller parts.
fn part_size(bytes: u64, min: Option<u64>) -> Result<u64, UsageError> {
    let min = min.unwrap_or(s3::MIN_PART_BYTES).max(1);
    let shown = if min == s3::MIN_PART_BYTES {
        "5 MiB".to_owned()
    } else {
        format!("{min} bytes")
    };
    within(bytes, min..=s3::MAX_PART_BYTES, || {
        format!(
            "--part-size-bytes {bytes} (S3EW_PART_SIZE_BYTES, part_size_bytes in the config \
             file): must be {min}..={} bytes ({shown} to 5 GiB): S3 refuses smaller parts (but \
             the last) and larger ones",
            s3::MAX_PART_BYTES
        )
    })
}

/// `--multipart-threshold-bytes`: at most 5 GiB, S3's largest PutObject (a day up to the
/// threshold goes up in one). A threshold under the part size is accepted: a day just above it
/// goes up as one part, which S3 accepts at any size as the last part.
fn multipart_threshold(bytes: u64) -> Result<u64, UsageError> {
    within(bytes, 0..=s3::MAX_PART_BYTES, || {
        format!(
            "--multipart-threshold-bytes {bytes} (S3EW_MULTIPART_THRESHOLD_BYTES, \
             multipart_threshold_bytes in the config file): must be at most {} bytes (5 GiB): S3 \
             refuses a single PutObject larger than that",
            s3::MAX_PART_BYTES
        )
    })
}

/// `value` when it lies in `range`, else the usage error `message` says.
fn within<T: PartialOrd>(
    value: T,
    range: std::ops::RangeInclusive<T>,
    message: impl FnOnce() -> String,
) -> Result<T, UsageError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(UsageError::new(message()))
    }
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
    pub fn resolve(&self) -> Result<ArchiveSettings, UsageError> {
        let dest = self.dest.as_deref().ok_or_else(|| {
            UsageError::new("no archive: give --dest s3://BUCKET/PREFIX/ or DIR, set S3EW_DEST, or set dest in the --config file")
        })?;
        Ok(ArchiveSettings {
            location: Location::parse(dest)?,
            store: self.aws.resolve()?,
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
        queue_url: String,
        max_messages: Option<u64>,
    ) -> Result<SqsSettings, UsageError> {
        Ok(SqsSettings {
            queue_url,
            wait_secs: within(self.wait_secs, 0..=20, || {
                "--wait-secs must be 0..=20 (SQS's longest long poll)".into()
            })?,
            receivers: self.receivers.max(1),
            visibility_timeout_secs: visibility_timeout(self.visibility_timeout_secs)?,
            follow: self.follow,
            max_messages,
            ..SqsSettings::default()
        })
    }

    /// How long a block may stay open: from a queue at most half the visibility timeout (so
    /// its messages are written and deleted long before they could come back), in follow mode
    /// `--flush-secs`; `None` for a file read once.
    pub fn flush_secs(&self, sqs: &SqsSettings, from_queue: bool) -> Option<u64> {
        let cap = if from_queue {
            (sqs.visibility_timeout_secs / 2).max(1)
        } else {
            u64::MAX
        };
        let default = if sqs.follow {
            defaults::FOLLOW_FLUSH_SECS
        } else {
            cap
        };
        (from_queue || sqs.follow).then(|| self.flush_secs.unwrap_or(default).clamp(1, cap))
    }
}

/// `--visibility-timeout`: long enough for the heartbeat to extend it (see
/// [`sqs::MIN_VISIBILITY_TIMEOUT_SECS`]), at most SQS's 12 hours.
fn visibility_timeout(secs: u64) -> Result<u64, UsageError> {
    let (min, max) = (
        sqs::MIN_VISIBILITY_TIMEOUT_SECS,
        sqs::MAX_VISIBILITY_TIMEOUT_SECS,
    );
    within(secs, min..=max, || {
        format!(
            "--visibility-timeout {secs}: must be {min}..={max} seconds; the heartbeat extends a \
             message being written when a third of its timeout, at least 1 s, is left, and below \
             {min} s nothing is left for that extension and its retries (SQS allows at most 12 \
             hours)"
        )
    })
}

/// `--max-failed-blocks`: at least 1.
pub fn max_failed_blocks(n: u32) -> Result<u32, UsageError> {
    within(n, 1..=u32::MAX, || {
        "--max-failed-blocks 0: must be at least 1 (the run stops after that many consecutive blocks in which every write failed)".into()
    })
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
    pub fn resolve(&self, default: MetricsMode) -> Result<MetricsSettings, UsageError> {
        let namespace = self.metrics_namespace.clone();
        metrics::check_namespace(&namespace).map_err(|e| {
            UsageError::new(format_args!(
                "--metrics-namespace (S3EW_METRICS_NAMESPACE) {namespace:?}: {e}"
            ))
        })?;
        Ok(MetricsSettings {
            mode: self.metrics.unwrap_or(default),
            namespace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn command() -> Command {
        All::augment_args(Command::new("t").no_binary_name(true))
    }

    fn try_parse(argv: &[&str]) -> Result<All, ParseError> {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let m = super::parse(command, &argv)?;
        Ok(All::from_arg_matches(&m).unwrap())
    }

    fn parse(argv: &[&str]) -> All {
        try_parse(argv).unwrap()
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

    fn config_error(text: &str) -> String {
        let file = with_file(text);
        match try_parse(&["--config", file.path().to_str().unwrap()]) {
            Err(ParseError::Config(e)) => e.to_string(),
            other => panic!("{text:?} is accepted: {other:?}"),
        }
    }

    #[test]
    fn a_config_value_that_cannot_be_used_names_its_key() {
        let e = config_error("max_attempts = \"five\"\n");
        assert!(
            e.contains("is not valid: max_attempts: invalid value 'five'"),
            "{e}"
        );
        assert!(!e.contains("--help"), "{e}");
        let e = config_error("receivers = [1, 2]\n");
        assert!(
            e.contains("is not valid: receivers: takes one value"),
            "{e}"
        );
        let e = config_error("dest = { bucket = \"b\" }\n");
        assert!(e.contains("is not valid: dest: "), "{e}");
        let e = config_error("follow = \"sometimes\"\n");
        assert!(e.contains("is not valid: follow: "), "{e}");
        let e = config_error("metrics = \"loud\"\n");
        assert!(e.contains("is not valid: metrics: "), "{e}");
        let e = config_error("dest = \n");
        assert!(e.contains("is not valid"), "{e}");
        // Not a setting: a run switch and the hidden emulator hatch.
        for key in [
            "dry_run = true\n",
            "min_part_size_bytes = 1\n",
            "config = \"x\"\n",
        ] {
            let e = config_error(key);
            assert!(e.contains("is not valid: unknown key"), "{e}");
        }
    }

    #[test]
    fn the_config_file_sets_switches_lists_and_options() {
        let file = with_file(
            "follow = true\npath_style = true\nquarantine_verbatim = true\ndrop_events = []\n\
             personal_keys = \"pin\"\nflush_secs = 7\nvisibility_timeout_secs = 60\n\
             prod_hosts = [\"a,b\", \"c\"]\nmetrics = \"emf\"\ntemp_dir = \"/t\"\n",
        );
        let path = file.path().to_str().unwrap();
        let a = parse(&["--config", path]);
        assert!(a.sqs.follow && a.aws.path_style && a.body.quarantine_verbatim);
        assert!(a.rules.drop_events.is_empty(), "an empty list empties it");
        assert_eq!(a.body.personal_keys, ["pin"], "one value is a list of one");
        assert_eq!(a.sqs.flush_secs, Some(7));
        assert_eq!(a.sqs.visibility_timeout_secs, 60);
        assert_eq!(
            a.rules.prod_hosts,
            ["a", "b", "c"],
            "a comma separates values"
        );
        assert_eq!(a.metrics.metrics, Some(MetricsMode::Emf));
        assert_eq!(a.aws.temp_dir, Some(PathBuf::from("/t")));
        let a = parse(&["--config", path, "--quarantine-verbatim=false"]);
        assert!(!a.body.quarantine_verbatim, "the flag beats the file");
        let file = with_file("follow = false\n");
        let a = parse(&["--config", file.path().to_str().unwrap(), "--follow"]);
        assert!(a.sqs.follow, "the flag beats the file");
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let file = with_file(
            "dest = \"/tmp/d\"\nprod_hosts = [\"p\"]\ndrop_channel_containing = [\"x\"]\nmax_attempts = 2\nreceivers = 9\n",
        );
        let path = file.path().to_str().unwrap();
        let a = parse(&["--config", path, "--prod-host", "flag", "--receivers", "3"]);
        let rules = a.rules.resolve().unwrap();
        assert_eq!(rules.prod_hosts, ["flag"], "flag over file");
        assert_eq!(rules.drop_channel_substrings, ["x"], "file over default");
        assert_eq!(rules.drop_events, Rules::default().drop_events, "default");
        assert_eq!(a.aws.resolve().unwrap().aws.max_attempts, 2);
        let sqs = a.sqs.resolve(String::new(), None).unwrap();
        assert_eq!(sqs.receivers, 3);
        assert_eq!(a.at.resolve().unwrap().dest.to_string(), "/tmp/d");
    }

    #[test]
    fn without_flags_or_file_every_setting_is_its_default() {
        let a = parse(&[]);
        let store = a.aws.resolve().unwrap();
        assert_eq!(store.aws.max_attempts, defaults::MAX_ATTEMPTS);
        assert_eq!(store.aws.read_timeout_secs, defaults::READ_TIMEOUT_SECS);
        assert_eq!(
            store.s3.multipart_threshold_bytes,
            defaults::MULTIPART_THRESHOLD_BYTES
        );
        assert_eq!(store.s3.part_size_bytes, defaults::PART_SIZE_BYTES);
        assert_eq!(
            store.s3.day.spool_memory_bytes,
            defaults::SPOOL_MEMORY_BYTES
        );
        assert_eq!(
            store.s3.day.sort.memory_budget_bytes,
            defaults::SORT_MEMORY_BYTES
        );
        assert_eq!(store.s3.day.conflict_attempts, defaults::CONFLICT_ATTEMPTS);
        let sqs = a.sqs.resolve(String::new(), None).unwrap();
        assert_eq!(sqs.wait_secs, defaults::WAIT_SECS);
        assert_eq!(
            sqs.visibility_timeout_secs,
            defaults::VISIBILITY_TIMEOUT_SECS
        );
        let at = a.at.resolve().unwrap();
        assert_eq!(at.dest.to_string(), defaults::DEST);
        assert_eq!(
            at.quarantine.to_string(),
            "s3://logpublish/events/quarantine/"
        );
        assert_eq!(a.rules.resolve().unwrap(), Rules::default());
        assert_eq!(a.body.resolve().unwrap(), BodyPolicy::default());
        let metrics = a.metrics.resolve(defaults::METRICS).unwrap();
        assert_eq!(metrics, MetricsSettings::default());
        let lambda = a.metrics.resolve(defaults::LAMBDA_METRICS).unwrap();
        assert_eq!(lambda.mode, MetricsMode::Emf);
    }

    #[test]
    fn unknown_config_keys_are_an_error() {
        let file = with_file("destination = \"x\"\n");
        let Err(ParseError::Config(e)) = try_parse(&["--config", file.path().to_str().unwrap()])
        else {
            panic!("an unknown key is accepted")
        };
        let e = e.to_string();
        assert!(e.contains("is not valid: unknown key `destination`"), "{e}");
    }

    #[test]
    fn visibility_timeouts_too_small_to_heartbeat_are_refused() {
        for (given, ok) in [("1", false), ("2", true), ("43200", true), ("43201", false)] {
            let a = parse(&["--visibility-timeout", given]);
            match (a.sqs.resolve(String::new(), None), ok) {
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
        let a = parse(&["--drop-channel-containing", ""]);
        assert!(a.rules.resolve().is_err());
    }

    #[test]
    fn quarantine_bodies_are_minimised_unless_asked_for_raw_ones() {
        for (argv, want_verbatim) in [
            (&[][..], false),
            (&["--quarantine-verbatim"][..], true),
            (&["--quarantine-verbatim=false"][..], false),
            (&["--quarantine-verbatim=yes"][..], true),
        ] {
            let a = parse(argv);
            let policy = a.body.resolve().unwrap();
            assert_eq!(policy == BodyPolicy::Verbatim, want_verbatim, "{argv:?}");
        }
        let file = with_file("quarantine_verbatim = true\n");
        let a = parse(&["--config", file.path().to_str().unwrap()]);
        assert_eq!(a.body.resolve().unwrap(), BodyPolicy::Verbatim);
        let a = parse(&["--personal-key", "a\"b"]);
        let e = a.body.resolve().unwrap_err().to_string();
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
        let a = parse(&["--visibility-timeout", "30", "--flush-secs", "100"]);
        let sqs = a.sqs.resolve("q".into(), None).unwrap();
        assert_eq!(a.sqs.flush_secs(&sqs, true), Some(15));
        assert_eq!(a.sqs.flush_secs(&sqs, false), None);
        let a = parse(&["--follow"]);
        let sqs = a.sqs.resolve(String::new(), None).unwrap();
        assert_eq!(
            a.sqs.flush_secs(&sqs, false),
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
        let a = parse(&["--config", path]);
        let err = a.aws.resolve().unwrap_err().0.to_string();
        assert!(err.starts_with("--part-size-bytes 1048576 "), "{err}");
        let a = parse(&["--config", path, "--min-part-size-bytes", "1048576"]);
        assert_eq!(a.aws.resolve().unwrap().s3.part_size_bytes, 1 << 20);
    }
}
