//! The thin entry point: parse, resolve settings, dispatch, map the outcome to an exit status.

use clap::FromArgMatches as _;
use s3_event_writer::cli::{self, Cli, Command, LogFormat};
use s3_event_writer::commands::{
    backfill, compare, console, doctor, drain, lambda, quarantine, requeue, stats, verify,
};
use s3_event_writer::settings::{self, exit, ParseError, UsageError};

fn main() {
    // Lambda starts the function (named `bootstrap`) without arguments: that means `lambda`,
    // with every setting from the environment.
    let lambda_start =
        std::env::args_os().len() == 1 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let argv: Vec<std::ffi::OsString> = if lambda_start {
        vec!["s3-event-writer".into(), "lambda".into()]
    } else {
        std::env::args_os().collect()
    };
    let matches = settings::parse(cli::command, &argv).unwrap_or_else(|e| match e {
        ParseError::Clap(e) if lambda_start => {
            eprintln!("error: {}", cli::name_the_variable(&e));
            std::process::exit(exit::USAGE)
        }
        ParseError::Clap(e) => e.exit(),
        ParseError::Config(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::USAGE)
        }
    });
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    console::init_logging(cli.log_format == LogFormat::Json);
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
        Command::Drain(args) => runtime.block_on(drain::run(drain::DrainSettings::resolve(&args)?)),
        Command::Doctor(args) => {
            runtime.block_on(doctor::run(doctor::DoctorSettings::resolve(&args)?))
        }
        Command::Backfill(args) => runtime.block_on(backfill::run(*args)),
        Command::Verify(args) => runtime.block_on(verify::run(*args)),
        Command::Stats(args) => runtime.block_on(stats::run(*args)),
        Command::Compare(args) => runtime.block_on(compare::run(*args)),
        Command::Requeue(args) => runtime.block_on(requeue::run(*args)),
        Command::Quarantine(args) => runtime.block_on(quarantine::run(*args)),
        Command::Lambda(args) => {
            runtime.block_on(lambda::run(lambda::LambdaSettings::resolve(&args)?))
        }
        Command::Completions(args) => {
            cli::write_completions(args.shell, &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man(args) => cli::write_man(&args, &mut std::io::stdout()).map(|()| exit::OK),
    }
}
