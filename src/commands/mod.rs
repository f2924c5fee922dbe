//! One file per subcommand. Each resolves its arguments through [`crate::settings`] before any
//! I/O (a [`crate::settings::UsageError`] is exit status 2; `drain` and `lambda`, whose
//! resolution is more than a copy, through `XSettings::resolve(&args)`), builds its backends
//! through [`crate::wiring`], and runs (`run(..) -> Result<exit status>`).
//!
//! [`console`] is what they share on stderr: the logging set-up and the progress display.
//!
//! Nothing here imports the clap top level ([`crate::cli`]); the argument structs of each
//! command live in its file and are only flattened into `cli::Command`.

use std::path::Path;

use crate::metrics::{FlushCounts, MetricsSettings};

pub mod backfill;
pub mod compare;
pub mod console;
pub mod doctor;
pub mod drain;
pub mod lambda;
pub mod quarantine;
pub mod requeue;
pub mod stats;
pub mod verify;

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

pub(crate) use crate::report::{add_counts, counts_text, plural};

/// The exit status of a run that went through: 0 when nothing remains to be done, else 1.
pub(crate) fn exit_status(complete: bool) -> i32 {
    use crate::settings::exit;
    if complete {
        exit::OK
    } else {
        exit::PARTIAL
    }
}

/// Writes `report` as pretty JSON to `path`.
pub(crate) fn write_report(path: &Path, report: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let json = serde_json::to_vec_pretty(report)?;
    std::fs::write(path, json)
        .with_context(|| format!("cannot write the report to {}", path.display()))
}
