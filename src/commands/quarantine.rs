//! `quarantine list` and `quarantine show KEY`: the quarantine at a glance.
//!
//! `list` reads every record under the quarantine location (`s3://BUCKET/PREFIX/` or a DIR;
//! `--quarantine`, else `quarantine/` beside `--dest`, as `drain` finds it) and prints one line
//! per object or file (its name, its record count, its counts by reason) and a total line;
//! `--json` prints the same as one JSON document. `show KEY` prints the records of one object or
//! file, one per line: reason, message id, received_at and the body shortened to fit the line.
//! Both read the two layouts through `super::records` (the reader `requeue` uses); `list` reads
//! up to 16 objects at once (most hold one record, so the GETs are the time) and prints them in
//! name order.
//!
//! Invariants: nothing is written or deleted; an object that cannot be read, or a line that is
//! not a record, is listed as unreadable with its key and why, and the run goes on (exit status
//! 1); a location that does not exist or cannot be listed is exit status 3, naming it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use clap::{Args, Subcommand};
use futures::StreamExt as _;
use serde::Serialize;

use super::plural;
use crate::core::QuarantineRecord;
use crate::location::Location;
use crate::records::{inputs_under, preview, Input, RecordLines};
use crate::settings::{defaults, exit, AwsArgs, LocationArgs};
use crate::wiring::Wiring;

/// Objects read at once by `list`.
const READ_CONCURRENCY: usize = 16;

const AFTER_HELP: &str = "\
Examples:
  # the production quarantine (quarantine/ beside the default --dest)
  s3-event-writer quarantine list

  # the Quickstart's, as JSON
  s3-event-writer quarantine list --dest /tmp/archive/prod --json

  # one object's records (a name as list prints it, or a whole s3:// key)
  s3-event-writer quarantine show 3f2a9c0d51e8b7a46c1d2e3f40516273.jsonl

Exit status:
  0  every record was read
  1  some objects or lines could not be read (each is listed with why)
  2  usage error
  3  the quarantine location (or the object to show) could not be read at all";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub command: QuarantineCommand,
}

/// What `quarantine` does.
#[derive(Debug, Clone, Subcommand)]
pub enum QuarantineCommand {
    /// The objects (or files) with their record counts by reason, and a total line.
    List {
        /// Print one JSON document instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: WhereArgs,
    },
    /// The records of one object or file, one per line.
    Show {
        /// The object or file: a name as `list` prints it, a key under the prefix,
        /// s3://BUCKET/KEY or a path.
        #[arg(value_name = "KEY")]
        key: String,
        /// The width lines are shortened to (the body is cut to fit).
        #[arg(long, value_name = "CHARS", default_value_t = defaults::SHOW_WIDTH)]
        width: usize,
        #[command(flatten)]
        at: WhereArgs,
    },
}

/// Where the quarantine is, found as `drain` finds it.
#[derive(Debug, Clone, Args)]
pub struct WhereArgs {
    /// The quarantine, or the day files it is beside: the same settings as `drain`'s.
    #[command(flatten)]
    pub at: LocationArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl QuarantineCommand {
    fn at(&self) -> &WhereArgs {
        match self {
            QuarantineCommand::List { at, .. } | QuarantineCommand::Show { at, .. } => at,
        }
    }
}

/// One object's or file's counts.
#[derive(Debug, Default, Serialize)]
struct ObjectCounts {
    name: String,
    key: String,
    records: u64,
    by_reason: BTreeMap<String, u64>,
    /// Where (object, or object and line) and why.
    unreadable: Vec<Unreadable>,
}

#[derive(Debug, Serialize)]
struct Unreadable {
    at: String,
    why: String,
}

/// The whole listing.
#[derive(Debug, Default, Serialize)]
struct Listing {
    location: String,
    objects: Vec<ObjectCounts>,
    total: Total,
}

#[derive(Debug, Default, Serialize)]
struct Total {
    objects: u64,
    records: u64,
    by_reason: BTreeMap<String, u64>,
    unreadable: u64,
}

pub async fn run(args: QuarantineArgs) -> anyhow::Result<i32> {
    let at = args.command.at();
    let location = at.at.resolve()?.quarantine;
    let ctx = Wiring::new(&at.aws.resolve()?);
    let outcome = match &args.command {
        QuarantineCommand::List { json, .. } => list(*json, &location, &ctx).await,
        QuarantineCommand::Show { key, width, .. } => show(key, *width, &location, &ctx).await,
    };
    match outcome {
        // The reader went away (`| head`): what it wanted was printed.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(exit::OK)
        }
        other => other,
    }
}

/// Prints `text` on stdout; an error (a closed pipe) ends the command.
fn out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// An input's name under `location`, as `list` prints it.
fn name_of(input: &Input, location: &Location) -> String {
    match (input, location) {
        (Input::S3 { key, .. }, Location::S3 { prefix, .. }) => {
            key.strip_prefix(prefix.as_str()).unwrap_or(key).to_owned()
        }
        (Input::File(p), _) => p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        (Input::S3 { .. }, Location::Dir(_)) => input.to_string(),
    }
}

/// Counts one input's records by reason; what cannot be read is kept with where and why.
async fn count(input: &Input, location: &Location, ctx: &Wiring) -> ObjectCounts {
    let mut c = ObjectCounts {
        name: name_of(input, location),
        key: input.to_string(),
        ..ObjectCounts::default()
    };
    let read = async {
        let mut lines = RecordLines::open(input, ctx).await?;
        while let Some((at, line)) = lines.next().await? {
            match line {
                Ok(r) => {
                    c.records += 1;
                    *c.by_reason.entry(r.reason).or_default() += 1;
                }
                Err(why) => c.unreadable.push(Unreadable { at, why }),
            }
        }
        anyhow::Ok(())
    };
    if let Err(e) = read.await {
        let (at, why) = (input.to_string(), format!("{e:#}"));
        c.unreadable.push(Unreadable { at, why });
    }
    c
}

async fn list(json: bool, location: &Location, ctx: &Wiring) -> anyhow::Result<i32> {
    if matches!(location, Location::Dir(dir) if !dir.is_dir()) {
        anyhow::bail!("the quarantine directory {location} does not exist: give --quarantine DIR (or the --dest it is beside)");
    }
    let inputs = inputs_under(location, ctx).await?;
    let mut listing = Listing {
        location: location.to_string(),
        ..Listing::default()
    };
    let widths = inputs.iter().map(|i| name_of(i, location).chars().count());
    let width = widths.max().unwrap_or(0);
    if !json {
        out(&format!("quarantine {location}\n"))?;
    }
    // A few objects are read at once (most hold one record: the GETs are the time), in order.
    let mut counted = futures::stream::iter(&inputs)
        .map(|input| count(input, location, ctx))
        .buffered(READ_CONCURRENCY);
    while let Some(c) = counted.next().await {
        if !json {
            out(&object_line(&c, width))?;
        }
        listing.total.objects += 1;
        listing.total.records += c.records;
        listing.total.unreadable += c.unreadable.len() as u64;
        super::add_counts(&mut listing.total.by_reason, &c.by_reason);
        listing.objects.push(c);
    }
    if json {
        out(&(serde_json::to_string_pretty(&listing)? + "\n"))?;
    } else {
        out(&(total_line(&listing.total) + "\n"))?;
    }
    Ok(super::exit_status(listing.total.unreadable == 0))
}

/// `reason n, reason n` in name order.
fn reasons_text(by_reason: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = by_reason
        .iter()
        .map(|(r, n)| format!("{} {n}", if r.is_empty() { "(no reason)" } else { r }))
        .collect();
    parts.join(", ")
}

/// One object's line (and one more per unreadable line or object).
fn object_line(c: &ObjectCounts, width: usize) -> String {
    let reasons = reasons_text(&c.by_reason);
    let line = format!("  {:<width$}  {:>5}  {reasons}", c.name, c.records);
    let mut s = line.trim_end().to_owned() + "\n";
    for u in &c.unreadable {
        let _ = writeln!(s, "    unreadable: {}: {}", u.at, u.why);
    }
    s
}

/// `total: N records in M objects: reason n, ...` (and the unreadable count when any).
fn total_line(t: &Total) -> String {
    let mut s = format!(
        "total: {} in {}",
        plural(t.records, "record", "records"),
        plural(t.objects, "object", "objects")
    );
    if !t.by_reason.is_empty() {
        let _ = write!(s, ": {}", reasons_text(&t.by_reason));
    }
    if t.unreadable > 0 {
        let _ = write!(s, "; {} unreadable (listed above)", t.unreadable);
    }
    s
}

/// What `show KEY` names under `location`.
fn show_input(key: &str, location: &Location) -> Input {
    if let Some((bucket, key)) = key.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
        return Input::s3(bucket, key);
    }
    match location {
        Location::S3 { bucket, prefix } if key.starts_with(prefix.as_str()) => {
            Input::s3(bucket, key)
        }
        Location::S3 { bucket, prefix } => Input::s3(bucket, format!("{prefix}{key}")),
        Location::Dir(dir) => {
            let path = std::path::Path::new(key);
            if path.components().count() > 1 && path.is_file() {
                Input::File(path.to_owned())
            } else {
                Input::File(dir.join(key))
            }
        }
    }
}

async fn show(key: &str, width: usize, location: &Location, ctx: &Wiring) -> anyhow::Result<i32> {
    let input = show_input(key, location);
    let mut lines = RecordLines::open(&input, ctx).await?;
    let mut unreadable = 0u64;
    while let Some((at, line)) = lines.next().await? {
        match line {
            Ok(r) => out(&(record_line(&r, width) + "\n"))?,
            Err(why) => {
                unreadable += 1;
                out(&format!("unreadable: {at}: {why}\n"))?;
            }
        }
    }
    Ok(super::exit_status(unreadable == 0))
}

/// `reason  message_id  received_at  body…`, the body cut so the line fits `width`.
fn record_line(r: &QuarantineRecord, width: usize) -> String {
    let [reason, id, at] =
        [&r.reason, &r.message_id, &r.received_at]
            .map(|s| if s.is_empty() { "-" } else { s.as_str() });
    let head = format!("{reason}  {id}  {at}  ");
    let room = width.saturating_sub(head.chars().count() + 1).max(20);
    format!("{head}{}", preview(&r.body, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_body_is_cut_to_the_width_and_a_short_one_kept() {
        let r = QuarantineRecord {
            reason: "not_json".into(),
            message_id: "m-1".into(),
            received_at: "2026-11-27T22:27:59.425Z".into(),
            body: "x".repeat(500),
        };
        let line = record_line(&r, 120);
        assert_eq!(line.chars().count(), 120, "{line}");
        assert!(line.starts_with("not_json  m-1  2026-11-27T22:27:59.425Z  xxx"));
        assert!(line.ends_with('…'));
        let short = QuarantineRecord {
            body: "{\"a\":\n1}".into(),
            ..r
        };
        assert_eq!(
            record_line(&short, 120),
            "not_json  m-1  2026-11-27T22:27:59.425Z  {\"a\": 1}"
        );
    }

    #[test]
    fn show_names_a_key_under_the_location() {
        let loc = Location::parse("s3://b/events/quarantine/").unwrap();
        let want = Input::S3 {
            bucket: "b".into(),
            key: "events/quarantine/a.jsonl".into(),
        };
        assert_eq!(show_input("a.jsonl", &loc), want);
        assert_eq!(show_input("events/quarantine/a.jsonl", &loc), want);
        assert_eq!(show_input("s3://b/events/quarantine/a.jsonl", &loc), want);
    }

    #[test]
    fn the_location_is_found_as_drain_finds_it() {
        use clap::{CommandFactory as _, FromArgMatches as _};
        #[derive(Debug, clap::Parser)]
        struct Top {
            #[command(subcommand)]
            command: Both,
        }
        #[derive(Debug, clap::Subcommand)]
        enum Both {
            Drain(Box<super::super::drain::DrainArgs>),
            Quarantine(QuarantineArgs),
        }
        for (dest, quarantine) in [
            (None, None),
            (Some("s3://b/events/prod/"), None),
            (Some("/srv/archive/prod"), None),
            (Some("/srv/archive/prod"), Some("s3://b/q/")),
        ] {
            let mut places = Vec::new();
            for head in [&["drain", "--source", "-"][..], &["quarantine", "list"]] {
                let mut argv = vec!["t"];
                argv.extend_from_slice(head);
                argv.extend(dest.iter().flat_map(|d| ["--dest", *d]));
                argv.extend(quarantine.iter().flat_map(|q| ["--quarantine", *q]));
                let m = Top::command().try_get_matches_from(argv).unwrap();
                places.push(match Top::from_arg_matches(&m).unwrap().command {
                    Both::Drain(a) => {
                        super::super::drain::DrainSettings::resolve(&a)
                            .unwrap()
                            .quarantine
                    }
                    Both::Quarantine(a) => a.command.at().at.resolve().unwrap().quarantine,
                });
            }
            assert_eq!(places[0], places[1], "{dest:?} {quarantine:?}");
        }
    }
}
