//! The thin entry point: parse, resolve settings, dispatch, map the outcome to an exit status.

use clap::{ArgMatches, FromArgMatches as _};
use s3_event_writer::cli::{self, Cli, Command, LogFormat};
use s3_event_writer::commands::{
    backfill, compare, console, doctor, drain, lambda, quarantine, requeue, stats, verify,
};
use s3_event_writer::settings::{exit, Layers, UsageError};

fn main() {
    // Lambda starts the function (named `bootstrap`) without arguments: that means `lambda`,
    // with every setting from the environment.
    let lambda_start =
        std::env::args_os().len() == 1 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let matches = if lambda_start {
        cli::command()
            .try_get_matches_from(["s3-event-writer", "lambda"])
            .unwrap_or_else(|e| {
                eprintln!("error: {}", cli::name_the_variable(&e));
                std::process::exit(exit::USAGE)
            })
    } else {
        cli::command().get_matches()
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    console::init_logging(cli.log_format == LogFormat::Json);
    let code = match run(cli, &matches) {
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

/// The innermost subcommand's matches: where a setting's source is looked up.
fn leaf(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => leaf(sub),
        None => matches,
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<i32> {
    let layers = Layers::load(leaf(matches), &cli.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Drain(args) => {
            runtime.block_on(drain::run(drain::DrainSettings::resolve(&args, &layers)?))
        }
        Command::Doctor(args) => runtime.block_on(doctor::run(doctor::DoctorSettings::resolve(
            &args, &layers,
        )?)),
        Command::Backfill(args) => runtime.block_on(backfill::run(
            backfill::BackfillSettings::resolve(&args, &layers)?,
        )),
        Command::Verify(args) => runtime.block_on(verify::run(verify::VerifySettings::resolve(
            &args, &layers,
        )?)),
        Command::Stats(args) => {
            runtime.block_on(stats::run(stats::StatsSettings::resolve(&args, &layers)?))
        }
        Command::Compare(args) => runtime.block_on(compare::run(
            compare::CompareSettings::resolve(&args, &layers)?,
        )),
        Command::Requeue(args) => runtime.block_on(requeue::run(
            requeue::RequeueSettings::resolve(&args, &layers)?,
        )),
        Command::Quarantine(args) => runtime.block_on(quarantine::run(
            quarantine::QuarantineSettings::resolve(&args, &layers)?,
        )),
        Command::Lambda(args) => runtime.block_on(lambda::run(lambda::LambdaSettings::resolve(
            &args, &layers,
        )?)),
        Command::Completions(args) => {
            cli::write_completions(args.shell, &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man(args) => cli::write_man(&args, &mut std::io::stdout()).map(|()| exit::OK),
    }
}
