//! The command line's top level: the clap definition of the program and its subcommands, and
//! the hidden `completions` and `man` commands generated from it.
//!
//! Only `main` imports this module. Each subcommand's arguments live in its own file under
//! [`crate::commands`]; the argument groups several commands share (and every default) live in
//! [`crate::settings`].

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

use crate::commands::{
    backfill, compare, doctor, drain, lambda, quarantine, requeue, stats, verify,
};
use crate::settings::ConfigArgs;

#[derive(Debug, Parser)]
#[command(name = "s3-event-writer", version, about = "Drains telephone-system events from SQS into a daily, de-duplicated JSON-lines archive in S3", after_help = drain::EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "S3EW_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drain messages into the day files (the hourly job).
    Drain(Box<drain::DrainArgs>),
    /// Check the setup: credentials, queue, bucket, permissions; print fixes.
    Doctor(Box<doctor::DoctorArgs>),
    /// Fill the archive from the PBX's metrics log.
    Backfill(Box<backfill::BackfillArgs>),
    /// Check day files (order, duplicates, shape, dates); --repair rewrites them.
    Verify(Box<verify::VerifyArgs>),
    /// Count events over a range of days, as a chart, JSON or CSV.
    Stats(Box<stats::StatsArgs>),
    /// Compare two archives day by day (a shadow run against the legacy writer's).
    Compare(Box<compare::CompareArgs>),
    /// Send quarantined bodies back to a queue.
    Requeue(Box<requeue::RequeueArgs>),
    /// List the quarantine (records by reason) or show one object's records.
    Quarantine(Box<quarantine::QuarantineArgs>),
    /// Run as an AWS Lambda function behind an SQS event source mapping, configured by the same
    /// S3EW_* variables as the flags (S3EW_DEST, S3EW_QUARANTINE, S3EW_CONFIG, ...).
    Lambda(Box<lambda::LambdaArgs>),
    /// Print a shell completion script (for packagers; scripts/package.sh).
    #[command(hide = true)]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into --dir (for packagers).
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write s3-event-writer.1 and one s3-event-writer-COMMAND.1 per command into this
    /// directory instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the completion script for `shell`, generated from the command-line definition.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "s3-event-writer", out);
}

/// Writes the man pages: the main page to `out`, or with `dir` every command's page there.
pub fn write_man(args: &ManArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    match &args.dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .with_context(|| format!("cannot write the man pages into {}", dir.display())),
        None => Ok(clap_mangen::Man::new(Cli::command()).render(out)?),
    }
}

/// The option reference (`docs/REFERENCE.md`): one Markdown table per visible command (rows that
/// read the same in several commands once, under "Shared options"), from the
/// same definition `--help` uses, so the page cannot say what the parser does not do.
pub fn reference_markdown() -> String {
    const HEADER: &str =
        "\n| Flag | Variable | Config key | Default | Meaning |\n|---|---|---|---|---|\n";
    use std::fmt::Write as _;
    let mut root = Cli::command();
    root.build();
    let mut sections = Vec::new();
    reference_sections(&root, "s3-event-writer", &mut sections);
    // A row that reads the same in several commands is printed once, under "Shared options",
    // with those commands: each row's commands, rows in the order first seen.
    let mut users: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, _, rows) in &sections {
        let short = name.strip_prefix("s3-event-writer ").unwrap_or(name);
        for row in rows {
            match users.iter_mut().find(|(r, _)| r == row) {
                Some((_, commands)) => commands.push(short),
                None => users.push((row, vec![short])),
            }
        }
    }
    let shared = |row: &str| users.iter().any(|(r, c)| *r == row && c.len() > 1);
    let mut out = String::from(
        "# Option reference\n\nGenerated from the command-line definition (`--help`); do not edit. \
         Regenerate with `S3EW_REGENERATE=1 cargo test --test it reference`.\n\n\
         Precedence: flag, then variable, then the config file (`--config`), then the default. \
         A config key is a TOML key of that file. \
         Options that several commands share are listed once, under [Shared options](#shared-options).\n",
    );
    for (name, about, rows) in &sections {
        let _ = write!(out, "\n## `{name}`\n\n{about}\n");
        let (common, own): (Vec<_>, Vec<_>) = rows.iter().partition(|row| shared(row));
        if !own.is_empty() {
            out.push_str(HEADER);
            out.extend(own.into_iter().map(String::as_str));
        }
        if !common.is_empty() {
            let short = name.strip_prefix("s3-event-writer ").unwrap_or(name);
            let _ = write!(
                out,
                "\nAlso the [shared options](#shared-options) for `{short}`.\n"
            );
        }
    }
    out.push_str("\n## Shared options\n");
    out.push_str(&HEADER.replace("| Meaning |\n|", "| Meaning | Commands |\n|---|"));
    for (row, commands) in users.iter().filter(|(_, c)| c.len() > 1) {
        let _ = writeln!(out, "{} {} |", row.trim_end(), commands.join(", "));
    }
    out
}

/// The section of `cmd`, named `name`: its heading text and its Markdown table rows; then
/// those of its visible subcommands.
fn reference_sections(
    cmd: &clap::Command,
    name: &str,
    out: &mut Vec<(String, String, Vec<String>)>,
) {
    let is_root = name == "s3-event-writer";
    let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
    let rows = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && (is_root || !a.is_global_set()))
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .map(|arg| {
            let flag = match (arg.get_long(), arg.get_short()) {
                (Some(l), Some(s)) => format!("`-{s}`, `--{l}`"),
                (Some(l), None) => format!("`--{l}`"),
                _ => format!("`<{}>`", arg.get_id().as_str().to_uppercase()),
            };
            let var = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy()));
            let key = crate::settings::is_setting(arg).then(|| format!("`{}`", arg.get_id()));
            let default = arg
                .get_default_values()
                .iter()
                .filter(|v| !v.is_empty())
                .map(|v| format!("`{}`", v.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", ");
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(ToString::to_string);
            let meaning = first_sentence(&help.unwrap_or_default()).replace('|', "\\|");
            format!(
                "| {flag} | {} | {} | {default} | {meaning} |\n",
                var.unwrap_or_default(),
                key.unwrap_or_default()
            )
        })
        .collect();
    out.push((name.to_owned(), first_sentence(&about), rows));
    for sub in cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        reference_sections(sub, &format!("{name} {}", sub.get_name()), out);
    }
}

/// The first sentence of a help text, on one line.
fn first_sentence(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.find(". ") {
        Some(end) => one_line[..=end].to_owned(),
        None => one_line,
    }
}

/// For the Lambda function, whose settings come from the environment: a clap error about a
/// flag, restated with the variable that set it.
pub fn name_the_variable(error: &clap::Error) -> String {
    let text = error.to_string();
    let cli = Cli::command();
    match crate::settings::arg_of(&cli, error).and_then(clap::Arg::get_env) {
        Some(var) => format!(
            "{}: {}",
            var.to_string_lossy(),
            text.trim_start_matches("error: ")
        ),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_accepts_config() {
        for cmd in [
            &["drain", "--source", "f"][..],
            &["doctor"],
            &["backfill", "--source", "m", "--dest", "/d"],
            &["verify", "--dest", "/d"],
            &["stats", "--dest", "/d"],
            &["compare", "/a", "s3://b/p/"],
            &["requeue", "--from", "/q", "--to", "https://sqs.x/1/q"],
            &["quarantine", "list"],
            &["lambda"],
        ] {
            let mut argv = vec!["s3-event-writer"];
            argv.extend_from_slice(cmd);
            argv.extend_from_slice(&["--config", "c.toml"]);
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert_eq!(cli.config.config, Some(PathBuf::from("c.toml")), "{argv:?}");
        }
    }

    #[test]
    fn help_shows_the_defaults_from_the_settings_layer() {
        let mut drain = Cli::command().find_subcommand_mut("drain").unwrap().clone();
        let help = drain.render_long_help().to_string();
        for want in [
            format!("[default: {}]", crate::settings::defaults::BLOCK_MESSAGES),
            format!(
                "[default: {}]",
                crate::settings::defaults::MULTIPART_THRESHOLD_BYTES
            ),
            format!("[default: {}]", crate::settings::defaults::DEST),
            format!(
                "[default: {}]",
                crate::settings::defaults::VISIBILITY_TIMEOUT_SECS
            ),
        ] {
            assert!(help.contains(&want), "drain --help lacks {want}");
        }
    }

    fn parse_with(argv: &[&str], config: &str) -> Result<Cli, crate::settings::ParseError> {
        use clap::FromArgMatches as _;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), config).unwrap();
        let mut all: Vec<std::ffi::OsString> = vec!["s3-event-writer".into()];
        all.extend(argv.iter().map(Into::into));
        all.extend(["--config".into(), file.path().into()]);
        let m = crate::settings::parse(Cli::command, &all)?;
        Ok(Cli::from_arg_matches(&m).unwrap())
    }

    #[test]
    fn one_config_file_serves_every_command() {
        // `block_messages` is drain's: verify ignores it, even a value drain would refuse.
        let file = "dest = \"/d\"\nblock_messages = \"many\"\n";
        let cli = parse_with(&["verify"], file).unwrap();
        let Command::Verify(v) = cli.command else {
            panic!()
        };
        assert_eq!(v.archive.dest.as_deref(), Some("/d"));
        assert!(parse_with(&["drain"], file).is_err());
    }

    #[test]
    fn the_config_keys_are_the_settings_with_a_variable() {
        let keys = crate::settings::config_keys(&Cli::command());
        let want = [
            "block_messages",
            "conflict_attempts",
            "day_concurrency",
            "dest",
            "drop_channel_containing",
            "drop_events",
            "flush_secs",
            "follow",
            "max_attempts",
            "max_failed_blocks",
            "max_messages",
            "metric_data",
            "metrics",
            "metrics_namespace",
            "multipart_threshold_bytes",
            "part_size_bytes",
            "path_style",
            "personal_keys",
            "prod_hosts",
            "quarantine",
            "quarantine_verbatim",
            "read_timeout_secs",
            "receivers",
            "report",
            "sort_memory_bytes",
            "source",
            "spool_memory_bytes",
            "summary_top",
            "temp_dir",
            "visibility_timeout_secs",
            "wait_secs",
        ];
        assert_eq!(keys.iter().map(String::as_str).collect::<Vec<_>>(), want);
    }

    #[test]
    fn summary_top_and_backfills_day_concurrency_have_their_variables() {
        let env = |sub: &str, id: &str| {
            let cmd = Cli::command();
            let arg = cmd.find_subcommand(sub).unwrap().get_arguments();
            let env = arg
                .into_iter()
                .find(|a| a.get_id() == id)
                .unwrap()
                .get_env();
            env.map(|e| e.to_string_lossy().into_owned())
        };
        assert_eq!(env("drain", "summary_top").unwrap(), "S3EW_SUMMARY_TOP");
        for sub in ["drain", "backfill"] {
            assert_eq!(env(sub, "day_concurrency").unwrap(), "S3EW_DAY_CONCURRENCY");
        }
    }

    #[test]
    fn the_lambda_function_takes_its_destination_from_the_config_file() {
        let resolve = |config: &str| {
            let cli = parse_with(&["lambda"], config).unwrap();
            let Command::Lambda(args) = cli.command else {
                panic!()
            };
            crate::commands::lambda::LambdaSettings::resolve(&args).map(|s| s.dest.to_string())
        };
        let dest = crate::settings::defaults::DEST;
        assert_eq!(resolve(&format!("dest = {dest:?}\n")).unwrap(), dest);
        let e = resolve("max_attempts = 2\n").unwrap_err().to_string();
        assert!(e.starts_with("S3EW_DEST is not set"), "{e}");
    }

    #[test]
    fn a_bad_lambda_variable_is_named() {
        let err = Cli::try_parse_from([
            "s3-event-writer",
            "lambda",
            "--quarantine-verbatim=sometimes",
        ])
        .unwrap_err();
        let text = name_the_variable(&err);
        assert!(text.starts_with("S3EW_QUARANTINE_VERBATIM: "), "{text}");
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
