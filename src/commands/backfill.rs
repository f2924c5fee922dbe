//! `backfill`: fills the archive from the PBX's metrics log.
//!
//! The log is a message source ([`FileSource::metrics_log`]; the line format and the time rules are in
//! [`crate::core::metrics_log`]) driven through the same [pipeline] as `drain`:
//! the same classification, the same merge and conditional writes, blocks of `--block-lines`
//! messages so memory is bounded by a block.
//!
//! Invariants:
//! - a line that is not a metrics line is skipped (counted and listed by line number);
//! - a message the classification quarantines (an impossible date or time is `bad_timestamp`)
//!   is counted and listed by line number, and written nowhere: the log itself is the record to
//!   look at ([`ListedQuarantine`]);
//! - `--dry-run` previews every day ([`Preview`]) and still lists what would be quarantined.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use serde::Serialize;

use super::plural;
use crate::adapters::file::FileSource;
use crate::adapters::{DayReader, DayStore, DestError, QuarantineStore, Recorded, WritePolicy};
use crate::core::{DayKey, MergeStats, QuarantineRecord};
use crate::pipeline::{self, DrainOptions, Progress};
use crate::report::Report;
use crate::settings::{defaults, ArchiveArgs, RuleArgs, UsageError};

const AFTER_HELP: &str = "\
Examples:
  # see what the metrics log would add, without writing
  s3-event-writer backfill --source /var/log/asterisk/metrics --dest s3://logpublish/events/prod/ --dry-run

  # fill a local archive, with a report
  s3-event-writer backfill --source metrics.log --dest /srv/archive/prod --report backfill.json

Each line `2022-04-04 22:45:55,436 UNIQUEID=..., CHANNEL=SIP/630-0000011f, CALLERID(number)=...,
name=filterdial` becomes the event {\"timestamp\": \"2022-04-04T22:45:55-07:00\", \"hostname\": NAME,
\"event\": {\"Event\": \"UserEvent\", \"Channel\": CHANNEL, \"UserEvent\": name}} and is classified and
merged like a queue message. Times are local to --tz (milliseconds dropped): in the repeated hour
of a fall-back change the first occurrence (earlier offset) is taken; a time in the skipped hour
of a spring-forward change moves forward by the gap (02:30 -> 03:30-07:00).

Lines that are not metrics lines are skipped; lines with an impossible date or time, and
messages the classification quarantines, are counted and listed by line number in the summary
but not written to any quarantine location (the log is the record).

Exit status:
  0  every line was written, dropped, skipped or quarantined as reported
  1  some days could not be written (the summary says which and why; run again)
  2  usage error
  3  the log or the archive could not be used at all";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BackfillArgs {
    /// The PBX's metrics log.
    #[arg(long, value_name = "METRICS_LOG")]
    pub source: PathBuf,
    /// The time zone of the log's times (an IANA name).
    #[arg(long, value_name = "ZONE", default_value = defaults::BACKFILL_TZ)]
    pub tz: String,
    /// The hostname put in each event message (it must be a production host to be kept).
    #[arg(long, value_name = "NAME", default_value = defaults::BACKFILL_HOSTNAME)]
    pub hostname: String,
    /// Write the report (JSON, drain's report plus `skipped` and `skipped_lines`).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write nothing; print what would change per day.
    #[arg(long)]
    pub dry_run: bool,
    /// Log lines per flush of the day files.
    #[arg(long, value_name = "N", default_value_t = defaults::BACKFILL_BLOCK_LINES)]
    pub block_lines: usize,
    /// Day files merged at once.
    #[arg(long, value_name = "N", env = "S3EW_DAY_CONCURRENCY", default_value_t = defaults::DAY_CONCURRENCY)]
    pub day_concurrency: usize,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// The `--report` object: drain's report plus the skipped lines.
#[derive(Debug, Serialize)]
struct BackfillReport<'a> {
    #[serde(flatten)]
    report: &'a Report,
    skipped: u64,
    skipped_lines: &'a [u64],
    quarantined_lines: &'a [u64],
}

/// A quarantine that writes nothing and lists each record's line of the log and reason.
#[derive(Debug, Default)]
pub struct ListedQuarantine {
    /// (line, reason) of every record, in the order they came.
    lines: Mutex<Vec<(u64, String)>>,
}

impl QuarantineStore for ListedQuarantine {
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        let record = QuarantineRecord::parse(&line).map_err(|e| DestError::Store {
            location: name.to_owned(),
            message: e.to_string(),
        })?;
        let number = record
            .message_id
            .rsplit_once(':')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0);
        let mut lines = self.lines.lock().expect("not poisoned");
        lines.push((number, record.reason));
        Ok(Recorded::Created(name.to_owned()))
    }

    fn location(&self) -> String {
        "(nowhere: the log is the record)".to_owned()
    }
}

/// A day store that only previews when `.1` (`--dry-run`), so the rest of the pipeline runs as
/// usual (the drain itself is not a dry run: quarantined lines are still listed).
#[derive(Debug)]
pub struct Preview<'a, D>(pub &'a D, pub bool);

impl<D: DayStore> DayStore for Preview<'_, D> {
    /// Previewing writes nothing: a rewrite is not done either.
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> Result<Option<MergeStats>, DestError> {
        match (self.1, policy) {
            (false, _) => self.0.merge_day(day, lines, policy).await,
            (true, WritePolicy::Always) => Ok(None),
            (true, _) => self.0.merge_day(day, lines, WritePolicy::Preview).await,
        }
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        self.0.requests()
    }
    fn conflict_retries(&self) -> u64 {
        self.0.conflict_retries()
    }
    async fn list_days(&self) -> Result<Vec<DayKey>, DestError> {
        self.0.list_days().await
    }
    async fn open_day(&self, day: DayKey) -> Result<Option<DayReader>, DestError> {
        self.0.open_day(day).await
    }
}

pub async fn run(args: BackfillArgs) -> anyhow::Result<i32> {
    let tz = jiff::tz::TimeZone::get(&args.tz).map_err(|e| {
        let e = format!("--tz {}: not a time zone of the tz database ({e})", args.tz);
        UsageError::new(e)
    })?;
    let rules = args.rules.resolve()?;
    let archive = crate::wiring::open_archive(&args.archive.resolve()?).await;
    let mut source = FileSource::metrics_log(&args.source, tz, args.hostname.clone())?;
    let quarantine = ListedQuarantine::default();
    let options = DrainOptions {
        block_messages: args.block_lines.max(1),
        day_concurrency: args.day_concurrency.max(1),
        max_failed_blocks: u32::MAX,
        ..DrainOptions::default()
    };
    let days = Preview(&archive.store, args.dry_run);
    let mut report = pipeline::drain(
        &mut source,
        pipeline::Stores {
            days: &days,
            quarantine: &quarantine,
        },
        &rules,
        &options,
        &Progress::default(),
        std::future::pending(),
        &mut |_| {},
    )
    .await?;
    report.dry_run = args.dry_run;
    report.quarantine_location = None;
    report.quarantine_written = 0;
    report.deleted = 0;
    let mut quarantined = quarantine.lines.into_inner().expect("not poisoned");
    quarantined.sort();
    eprint!("{}", summary(&report, source.skipped(), &quarantined));
    if let Some(path) = &args.report {
        let full = BackfillReport {
            report: &report,
            skipped: source.skipped().len() as u64,
            skipped_lines: source.skipped(),
            quarantined_lines: &quarantined.iter().map(|q| q.0).collect::<Vec<_>>(),
        };
        super::write_report(path, &full)?;
    }
    Ok(super::exit_status(report.succeeded()))
}

/// Line numbers, the first 20 of them, then a count.
fn line_list(lines: impl ExactSizeIterator<Item = String>) -> String {
    let n = lines.len();
    let mut v: Vec<String> = lines.take(20).collect();
    if n > 20 {
        v.push(format!("... {} more", n - 20));
    }
    v.join(", ")
}

fn summary(report: &Report, skipped: &[u64], quarantined: &[(u64, String)]) -> String {
    let mut s = report.summary(defaults::SUMMARY_TOP);
    if !skipped.is_empty() {
        let _ = writeln!(
            s,
            "  skipped {} (not metrics lines): line {}",
            plural(skipped.len() as u64, "line", "lines"),
            line_list(skipped.iter().map(u64::to_string))
        );
    }
    if !quarantined.is_empty() {
        let lines = quarantined
            .iter()
            .map(|(line, reason)| format!("{line} ({reason})"));
        let lines = line_list(lines);
        let _ = writeln!(
            s,
            "  quarantined lines (not written anywhere): line {lines}"
        );
    }
    s
}
