//! The thin entry point: parse, resolve settings, dispatch, map the outcome to an exit status.

use clap::{CommandFactory as _, FromArgMatches as _};
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
    let matches = settings::parse(Cli::command, &argv).unwrap_or_else(|e| {
        let message = match e {
            ParseError::Clap(e) if lambda_start => cli::name_the_variable(&e),
            ParseError::Clap(e) => e.exit(),
            ParseError::Config(e) => e.to_string(),
        };
        eprintln!("error: {message}");
        std::process::exit(exit::USAGE)
    });
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    console::init_logging(cli.log_format == LogFormat::Json);
    let code = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)))
        .unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                exit::USAGE
            } else {
                exit::FATAL
            }
        });
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Drain(a) => drain::run(drain::DrainSettings::resolve(&a)?).await,
        Command::Doctor(a) => doctor::run(*a).await,
        Command::Backfill(a) => backfill::run(*a).await,
        Command::Verify(a) => verify::run(*a).await,
        Command::Stats(a) => stats::run(*a).await,
        Command::Compare(a) => compare::run(*a).await,
        Command::Requeue(a) => requeue::run(*a).await,
        Command::Quarantine(a) => quarantine::run(*a).await,
        Command::Lambda(a) => lambda::run(lambda::LambdaSettings::resolve(&a)?).await,
        Command::Completions(a) => {
            cli::write_completions(a.shell, &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man(a) => cli::write_man(&a, &mut std::io::stdout()).map(|()| exit::OK),
    }
}
