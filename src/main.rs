//! The thin entry point: parse, build, dispatch, map the outcome to an exit status.

use clap::Parser;
use s3_event_writer::cli::{self, exit, Cli, Command, DrainSettings, UsageError};

fn main() {
    // Lambda starts the function (named `bootstrap`) without arguments: that means `lambda`.
    let lambda_start =
        std::env::args_os().len() == 1 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let cli = if lambda_start {
        Cli::parse_from(["s3-event-writer", "lambda"])
    } else {
        Cli::parse()
    };
    cli::init_logging(cli.log_format);
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some();
            eprintln!("error: {e:#}");
            if usage {
                exit::USAGE
            } else {
                exit::FATAL
            }
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Drain(args) => {
            let settings = DrainSettings::resolve(&args)?;
            let github = settings.github_summary.clone();
            let metrics = settings.metrics.clone();
            let outcome = runtime.block_on(cli::run_drain(settings));
            if outcome.is_err() {
                cli::print_fatal_metrics(&metrics);
            }
            if let (Some(path), Err(e)) = (&github, &outcome) {
                cli::publish_github_fatal(path, e);
            }
            let report = outcome?;
            Ok(if report.succeeded() {
                exit::OK
            } else {
                exit::PARTIAL
            })
        }
        Command::Doctor(args) => runtime.block_on(s3_event_writer::doctor::run(*args)),
        Command::Backfill(args) => runtime.block_on(s3_event_writer::tools::backfill::run(*args)),
        Command::Verify(args) => runtime.block_on(s3_event_writer::tools::verify::run(*args)),
        Command::Stats(args) => runtime.block_on(s3_event_writer::tools::stats::run(*args)),
        Command::Requeue(args) => runtime.block_on(s3_event_writer::tools::requeue::run(*args)),
        Command::Quarantine(args) => {
            runtime.block_on(s3_event_writer::tools::quarantine::run(*args))
        }
        Command::Lambda => runtime.block_on(s3_event_writer::lambda::run()),
        Command::Completions(args) => {
            cli::write_completions(args.shell, &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man(args) => cli::write_man(&args, &mut std::io::stdout()).map(|()| exit::OK),
    }
}
