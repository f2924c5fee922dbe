//! What a command prints on stderr besides its summary: the `tracing` set-up and the progress
//! display (a bar on a terminal, plain lines otherwise).
//!
//! The two share one global, the progress bar: while it is shown, log lines are printed above it
//! so they cannot tear it.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use crate::pipeline::Progress;

/// `--progress`: the progress display on stderr.
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

/// The progress bar, when one is shown (log lines are printed above it).
static PROGRESS_BAR: std::sync::OnceLock<indicatif::ProgressBar> = std::sync::OnceLock::new();

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

/// Shows `progress` on stderr as `mode` asks until the task is aborted.
pub fn spawn_progress(mode: ProgressMode, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
    let started = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        match mode {
            ProgressMode::Off => {}
            ProgressMode::Auto if tty => {
                let pb = PROGRESS_BAR.get_or_init(|| {
                    let style =
                        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}");
                    indicatif::ProgressBar::new_spinner().with_style(style.expect("valid template"))
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

/// Sets up `tracing` on stderr, as JSON lines when `json` (`RUST_LOG` overrides the default
/// level).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("s3_event_writer=info,warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| StderrAbovePb);
    if json {
        builder.json().init();
    } else {
        builder.with_target(false).compact().init();
    }
}

/// Clears the progress bar, when one is shown (at the end of a run, before its summary).
pub fn clear_progress_bar() {
    if let Some(pb) = PROGRESS_BAR.get() {
        pb.finish_and_clear();
    }
}
