//! The archive tools (verify, backfill, stats, requeue --dry-run) on a local directory, through
//! the binary.
//!
//! Fixture archives are the conformance sets' `expected/` day files; the counts the tests check
//! are computed here from those files, independently of the program.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::{self, bin, copy_dir, fixture, read_json, run, sizes, text, tree, SETS};

/// A writable copy of a set's expected archive.
fn archive_of(set: &str, dir: &Path) {
    copy_dir(&fixture(set).join("expected"), dir);
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    text(bytes).lines().map(str::to_owned).collect()
}

#[test]
fn verify_is_clean_on_every_conformance_archive() {
    for set in SETS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("prod");
        archive_of(set, &dir);
        let out = run(&["verify", "--dest", dir.to_str().unwrap()]);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{set}: {stdout}{}",
            text(&out.stderr)
        );
        let files = tree(&dir).len();
        let lines: usize = tree(&dir).values().map(|b| lines_of(b).len()).sum();
        assert!(
            stdout.contains(&format!("checked {files} day files ({lines} lines)")),
            "{set}: {stdout}"
        );
        assert!(stdout.trim_end().ends_with("clean"), "{set}: {stdout}");
    }
}

/// The basic set's 20261120 with one problem of each kind; returns the broken file's lines.
fn break_day(dir: &Path) -> Vec<String> {
    let path = dir.join("20261120");
    let mut lines = lines_of(&fs::read(&path).unwrap());
    lines.swap(2, 3); // line 4 sorts before line 3
    let dup = lines[9].clone();
    lines.insert(10, dup); // line 11 duplicates line 10
    lines.insert(
        20,
        r#"{"timestamp": "2026-11-20T01:00:00+00:00", "channel": "x"}"#.to_owned(),
    ); // line 21: no event; line 22 then sorts before it
    lines.insert(
        30,
        r#"{"timestamp": "2026-11-21T01:00:00+00:00", "channel": "x", "endpoint": "x", "event": "y"}"#
            .to_owned(),
    ); // line 31: dated the next day; line 32 sorts before it
    lines[40].push_str(" \t"); // line 41: trailing white space
    lines.insert(50, String::new()); // line 51: blank
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    lines
}

#[test]
fn verify_finds_each_problem_with_its_line_number_and_repair_keeps_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    archive_of("basic", &dir);
    let broken = break_day(&dir);
    let before = tree(&dir);
    let d = dir.to_str().unwrap();

    let out = run(&["verify", "--dest", d]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for expected in [
        "20261120: 8 findings in 601 lines",
        "line 4: out of order: sorts before line 3",
        "line 11: duplicate: of line 10",
        "line 21: bad shape: no \"event\" field",
        "line 22: out of order: sorts before line 21",
        "line 31: wrong date: timestamp \"2026-11-21T01:00:00+00:00\" is not dated 2026-11-20",
        "line 41: trailing white space: 2 trailing bytes",
        "line 51: blank line",
        "8 findings in 1 file",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert_eq!(tree(&dir), before, "verify without --repair changed files");

    // The listing is capped, the count is not.
    let out = run(&["verify", "--dest", d, "--max-listed", "3"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("  ... and 5 more"), "{stdout}");
    assert!(!stdout.contains("line 22:"), "{stdout}");

    let out = run(&["verify", "--dest", d, "--repair"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the bad shape and the wrong date remain: {stdout}"
    );
    assert!(
        stdout.contains("repaired 1 file; 2 findings remain (bad shape 1, wrong date 1)"),
        "{stdout}"
    );
    let repaired = lines_of(&fs::read(dir.join("20261120")).unwrap());
    // Sorted, distinct, every non-blank line of the broken file kept (white space trimmed).
    let want: BTreeSet<String> = broken
        .iter()
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(repaired, want.into_iter().collect::<Vec<_>>());
    assert_eq!(
        repaired.len(),
        599,
        "601 lines less one duplicate and one blank"
    );
    assert!(repaired.iter().any(|l| l.contains("2026-11-21T01:00:00")));
    assert!(repaired.iter().any(|l| !l.contains("\"event\"")));
    // The other days were not touched.
    let after = tree(&dir);
    for (name, bytes) in &before {
        if name != "20261120" {
            assert_eq!(&after[name], bytes, "{name} changed");
        }
    }

    let out = run(&["verify", "--dest", d]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("2 findings in 1 file (bad shape 1, wrong date 1)"),
        "{stdout}"
    );
}

#[test]
fn verify_repair_restores_a_shuffled_day_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    archive_of("malformed", &dir);
    let expected = fs::read(fixture("malformed").join("expected/20261124")).unwrap();
    let mut lines = lines_of(&expected);
    lines.reverse();
    let first = lines[0].clone();
    lines.push(format!("{first}   "));
    lines.push(String::new());
    lines.push(first);
    fs::write(dir.join("20261124"), lines.join("\n")).unwrap(); // no final newline either
    let d = dir.to_str().unwrap();

    let out = run(&["verify", "--dest", d, "--repair"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("no final newline"), "{stdout}");
    assert!(
        stdout.contains("repaired 1 file; 0 findings remain"),
        "{stdout}"
    );
    assert_eq!(fs::read(dir.join("20261124")).unwrap(), expected);
    assert_eq!(run(&["verify", "--dest", d]).status.code(), Some(0));
}

#[test]
fn verify_checks_only_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    archive_of("basic", &dir);
    break_day(&dir);
    fs::write(dir.join("notes.txt"), "not a day\n").unwrap();
    let d = dir.to_str().unwrap();
    let out = run(&["verify", "--dest", d, "--from", "20261121"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("checked 3 day files"));
    let out = run(&[
        "verify",
        "--dest",
        d,
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-20",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("checked 1 day file ("));
    let out = run(&["verify", "--dest", d, "--from", "20261131"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an impossible day is a usage error"
    );
    let out = run(&[
        "verify",
        "--dest",
        tmp.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// backfill

const CALLER: &str = "+15035550199";

fn metrics(time: &str, channel: &str, name: &str) -> String {
    format!(
        "{time} UNIQUEID=1649137555.{}, CHANNEL={channel}, CALLERID(number)={CALLER}, name={name}",
        time.len()
    )
}

/// A metrics log across both 2022 daylight-saving changes, with lines to skip and quarantine.
fn metrics_log() -> String {
    [
        metrics("2022-01-15 12:00:00,001", "SIP/630-00000001", "filterdial"), // winter
        metrics("2022-03-13 01:59:59,999", "SIP/630-00000002", "operator"),   // last PST second
        metrics("2022-03-13 02:30:00,000", "SIP/630-00000003", "operator"),   // in the gap
        metrics("2022-03-13 03:00:01,500", "SIP/630-00000004", "operator"),   // first PDT hour
        "this is not a metrics line".to_owned(),                              // line 5: skipped
        metrics(
            "2022-07-04 12:00:00,250",
            "SIP/630-00000005",
            "voicemail_main",
        ), // summer
        metrics("2022-11-06 00:59:59,000", "SIP/630-00000006", "filterdial"),
        metrics("2022-11-06 01:30:00,100", "SIP/630-00000007", "filterdial"), // repeated hour
        metrics("2022-11-06 01:30:00,900", "SIP/630-00000007", "filterdial"), // same second
        metrics("2022-11-06 02:00:00,000", "SIP/630-00000008", "filterdial"), // PST again
        "2022-11-06 02:00:00,000 UNIQUEID=1.1, CALLERID(number)=+15035550199, name=x".to_owned(), // line 11: no CHANNEL
        metrics("2022-02-30 10:00:00,000", "SIP/630-00000009", "filterdial"), // line 12: no such day
        metrics(
            "2022-11-07 10:00:00,000",
            "Local/followme-operator@default-1;1",
            "x",
        ), // dropped
        metrics("2022-11-07 10:00:01,000", "SIP/630-0000000a", "Registry"),   // dropped
    ]
    .join("\n")
        + "\n"
}

const BACKFILLED: [(&str, &[&str]); 4] = [
    (
        "20220115",
        &[
            r#"{"timestamp": "2022-01-15T12:00:00-08:00", "channel": "SIP/630-00000001", "endpoint": "SIP/630-00000001", "event": "filterdial"}"#,
        ],
    ),
    (
        "20220313",
        &[
            r#"{"timestamp": "2022-03-13T01:59:59-08:00", "channel": "SIP/630-00000002", "endpoint": "SIP/630-00000002", "event": "operator"}"#,
            r#"{"timestamp": "2022-03-13T03:00:01-07:00", "channel": "SIP/630-00000004", "endpoint": "SIP/630-00000004", "event": "operator"}"#,
            r#"{"timestamp": "2022-03-13T03:30:00-07:00", "channel": "SIP/630-00000003", "endpoint": "SIP/630-00000003", "event": "operator"}"#,
        ],
    ),
    (
        "20220704",
        &[
            r#"{"timestamp": "2022-07-04T12:00:00-07:00", "channel": "SIP/630-00000005", "endpoint": "SIP/630-00000005", "event": "voicemail_main"}"#,
        ],
    ),
    (
        "20221106",
        &[
            r#"{"timestamp": "2022-11-06T00:59:59-07:00", "channel": "SIP/630-00000006", "endpoint": "SIP/630-00000006", "event": "filterdial"}"#,
            r#"{"timestamp": "2022-11-06T01:30:00-07:00", "channel": "SIP/630-00000007", "endpoint": "SIP/630-00000007", "event": "filterdial"}"#,
            r#"{"timestamp": "2022-11-06T02:00:00-08:00", "channel": "SIP/630-00000008", "endpoint": "SIP/630-00000008", "event": "filterdial"}"#,
        ],
    ),
];

#[test]
fn backfill_across_both_daylight_saving_changes_of_2022() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("metrics.log");
    fs::write(&log, metrics_log()).unwrap();
    let dir = tmp.path().join("prod");
    let report = tmp.path().join("report.json");
    let out = run(&[
        "backfill",
        "--source",
        log.to_str().unwrap(),
        "--dest",
        dir.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let got = tree(&dir);
    let want: BTreeMap<String, Vec<u8>> = BACKFILLED
        .iter()
        .map(|(day, lines)| ((*day).to_owned(), (lines.join("\n") + "\n").into_bytes()))
        .collect();
    for (day, bytes) in &want {
        assert_eq!(text(&got[day]), text(bytes), "{day}");
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );

    let r = read_json(&report);
    assert_eq!(
        r["received"], 12,
        "every metrics line, the skipped ones not counted"
    );
    assert_eq!(r["kept"], 9);
    assert_eq!(r["dropped"], 2);
    assert_eq!(r["quarantined"], 1);
    assert_eq!(r["quarantined_by"]["bad_timestamp"], 1);
    assert_eq!(r["dropped_by"]["event"]["Registry"], 1);
    assert_eq!(r["skipped"], 2);
    assert_eq!(r["skipped_lines"], serde_json::json!([5, 11]));
    assert_eq!(r["quarantined_lines"], serde_json::json!([12]));
    assert_eq!(r["days"]["20221106"]["new_lines"], 3);
    assert!(
        stderr.contains("skipped 2 lines (not metrics lines): line 5, 11"),
        "{stderr}"
    );
    assert!(stderr.contains("line 12 (bad_timestamp)"), "{stderr}");

    // The caller's number never reaches the archive, the report or the summary.
    for (name, bytes) in &got {
        assert!(
            !text(bytes).contains(CALLER),
            "{name} holds the caller number"
        );
        assert!(!text(bytes).contains("12345"), "{name}");
    }
    assert!(!fs::read_to_string(&report).unwrap().contains(CALLER));
    assert!(!stderr.contains(CALLER));

    // The archive passes verify.
    let v = run(&["verify", "--dest", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
}

#[test]
fn backfill_merges_into_existing_days_once_and_dry_run_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("metrics.log");
    fs::write(&log, metrics_log()).unwrap();
    let dir = tmp.path().join("prod");
    fs::create_dir_all(&dir).unwrap();
    // An existing day: an older line (sorted before the backfilled ones) stays.
    let existing =
        r#"{"timestamp": "2022-11-06T00:00:01-07:00", "channel": "SIP/1", "event": "old"}"#;
    fs::write(dir.join("20221106"), format!("{existing}\n")).unwrap();
    let args = |extra: &[&str]| {
        let mut v = vec![
            "backfill",
            "--source",
            log.to_str().unwrap(),
            "--dest",
            dir.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };

    let out = bin().args(args(&["--dry-run"])).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("day 20221106: would write 3 new lines (now 4 lines)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(&dir).len(), 1, "a dry run writes nothing");

    let out = bin().args(args(&[])).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let day = lines_of(&fs::read(dir.join("20221106")).unwrap());
    assert_eq!(day.len(), 4);
    assert_eq!(day[0], existing);
    let after_first = tree(&dir);

    let out = bin().args(args(&[])).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("day 20221106: wrote 0 new lines (now 4 lines)"));
    assert_eq!(tree(&dir), after_first, "a second run changes nothing");
}

#[test]
fn backfill_options_change_zone_and_host() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("metrics.log");
    fs::write(
        &log,
        metrics("2022-07-04 12:00:00,250", "SIP/1", "x") + "\n",
    )
    .unwrap();
    let dir = tmp.path().join("prod");
    let d = dir.to_str().unwrap();
    let l = log.to_str().unwrap();
    let out = run(&[
        "backfill",
        "--source",
        l,
        "--dest",
        d,
        "--tz",
        "Europe/Berlin",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&fs::read(dir.join("20220704")).unwrap()).contains("2022-07-04T12:00:00+02:00"));
    // A host that is not a production host is dropped, like any queue message.
    let out = run(&[
        "backfill",
        "--source",
        l,
        "--dest",
        d,
        "--hostname",
        "futel-dev",
    ]);
    assert!(
        text(&out.stderr).contains("dropped by hostname: 1 (futel-dev 1)"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "backfill",
        "--source",
        l,
        "--dest",
        d,
        "--tz",
        "Mars/Olympus",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(&["backfill", "--source", "/nonexistent/metrics", "--dest", d]);
    assert_eq!(out.status.code(), Some(3));
}

// ---------------------------------------------------------------------------------------------
// stats

/// Counts over a set's expected archive, computed here: (by event, by endpoint, by day, by hour).
fn counts_here(set: &str) -> [BTreeMap<String, u64>; 4] {
    let mut c: [BTreeMap<String, u64>; 4] = Default::default();
    for (day, bytes) in tree(&fixture(set).join("expected")) {
        for line in lines_of(&bytes) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let ts = v["timestamp"].as_str().unwrap();
            let keys = [
                v["event"].as_str().unwrap().to_owned(),
                v["endpoint"].as_str().unwrap_or("(none)").to_owned(),
                day.clone(),
                ts.get(11..13)
                    .filter(|_| ts.as_bytes().get(10) == Some(&b'T'))
                    .unwrap_or("(none)")
                    .to_owned(),
            ];
            for (i, k) in keys.into_iter().enumerate() {
                *c[i].entry(k).or_default() += 1;
            }
        }
    }
    c
}

#[test]
fn stats_json_counts_match_the_files_for_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    archive_of("basic", &dir);
    let want = counts_here("basic");
    let total: u64 = want[0].values().sum();
    assert_eq!(total, 2629);
    for (i, by) in ["event", "endpoint", "day", "hour"].iter().enumerate() {
        let out = run(&[
            "stats",
            "--dest",
            dir.to_str().unwrap(),
            "--by",
            by,
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["by"], *by);
        assert_eq!(v["from"], "20261119");
        assert_eq!(v["to"], "20261123");
        assert_eq!(v["total"], total);
        let got: BTreeMap<String, u64> = serde_json::from_value(v["counts"].clone()).unwrap();
        assert_eq!(got, want[i], "by {by}");
    }
    // A range.
    let out = run(&[
        "stats",
        "--dest",
        dir.to_str().unwrap(),
        "--by",
        "day",
        "--format",
        "json",
        "--from",
        "20261121",
        "--to",
        "20261122",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"], want[2]["20261121"] + want[2]["20261122"]);
    assert_eq!(v["counts"].as_object().unwrap().len(), 2);
}

#[test]
fn stats_csv_and_table_are_sorted_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    archive_of("emulator", &dir);
    let [events, _, _, hours] = counts_here("emulator");
    let d = dir.to_str().unwrap();

    // CSV by event: header, then by count descending (then key).
    let out = run(&["stats", "--dest", d, "--format", "csv"]);
    let csv = text(&out.stdout);
    let mut rows: Vec<(String, u64)> = events.iter().map(|(k, n)| (k.clone(), *n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut want = String::from("event,count\n");
    for (k, n) in &rows {
        writeln!(want, "{k},{n}").unwrap();
    }
    assert_eq!(csv, want);

    // CSV by hour: by key.
    let out = run(&["stats", "--dest", d, "--by", "hour", "--format", "csv"]);
    let csv = text(&out.stdout);
    let want: Vec<String> = std::iter::once("hour,count".to_owned())
        .chain(hours.iter().map(|(k, n)| format!("{k},{n}")))
        .collect();
    assert_eq!(csv.lines().collect::<Vec<_>>(), want);

    // The table: a title with the total, a header, one row per key with its count and a bar,
    // the largest bar 50 cells wide (stdout is not a terminal).
    let out = run(&["stats", "--dest", d]);
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "500 lines by event (20261126..20261128)");
    assert!(lines[1].starts_with("event") && lines[1].ends_with("count"));
    assert_eq!(lines.len(), 2 + rows.len());
    for (line, (k, n)) in lines[2..].iter().zip(&rows) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], k);
        assert_eq!(fields[1], n.to_string());
    }
    let full = lines[2].chars().filter(|c| *c == '█').count();
    assert_eq!(full, 50, "{}", lines[2]);
    let last = lines.last().unwrap();
    assert!(
        last.contains(['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█']),
        "{last}"
    );
}

/// Runs a tool of the size-class matrix on a directory (thresholds lowered) and checks every day
/// byte for byte.
fn size_matrix_in_a_directory(matrix: &[sizes::SizedDay], args: &[&str], what: &str) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    sizes::write_existing(&dest, matrix);
    let out = bin()
        .args(args)
        .arg("--dest")
        .arg(&dest)
        .args(sizes::LOWERED.flags())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    sizes::assert_days(&tree(&dest), matrix, what);
    assert_eq!(
        tree(&dest).len(),
        matrix.len(),
        "{what}: nothing but the day files"
    );
    out
}

#[test]
fn every_size_class_is_repaired_through_verify_in_a_directory() {
    let days = [
        "20261101", "20261102", "20261103", "20261104", "20261105", "20261106", "20261107",
    ];
    let matrix = sizes::matrix(&sizes::LOWERED, &days, 0, |_, _| Vec::new(), true);
    let out = size_matrix_in_a_directory(&matrix, &["verify", "--repair"], "verify --repair");
    assert!(
        text(&out.stdout).contains("repaired 7 files"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn every_size_class_is_merged_through_backfill_in_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let days = [
        "20220110", "20220111", "20220112", "20220113", "20220114", "20220115", "20220116",
    ];
    let matrix = sizes::matrix(
        &sizes::LOWERED,
        &days,
        3,
        |d, i| sizes::metrics(d, i).1,
        false,
    );
    let log = tmp.path().join("metrics.log");
    let lines: Vec<String> = days
        .iter()
        .flat_map(|d| (0..3).map(move |i| sizes::metrics(d, i).0))
        .collect();
    fs::write(&log, lines.join("\n") + "\n").unwrap();
    size_matrix_in_a_directory(
        &matrix,
        &["backfill", "--source", log.to_str().unwrap()],
        "backfill into a directory",
    );
}

#[test]
fn requeue_dry_run_reads_the_quickstart_quarantine_directory_as_the_readme_shows() {
    // docs/TOOLS.md "requeue": the Quickstart's quarantine, read from its directory, sends nothing.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    support::run_ok(
        bin()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["drain", "--source", "examples/messages.jsonl", "--dest"])
            .arg(archive.join("prod")),
    );
    let quarantine = archive.join("quarantine");
    let queue = "https://sqs.us-west-2.amazonaws.com/123456789012/events";
    let out = bin()
        .arg("requeue")
        .arg("--from")
        .arg(&quarantine)
        .args(["--to", queue, "--dry-run"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 33, "{stdout}");
    assert_eq!(
        lines[0],
        "would send examples/messages.jsonl:314 (bad_timestamp, 431 bytes): {\"Type\":\"Notification\",\"MessageId\":\"1aba59bd-87d0-c987-8653-6c898fc1c8bf\",\"TopicArn\":\"<redacted 55>\"…"
    );
    assert!(lines[1].starts_with(
        "would send examples/messages.jsonl:154 (envelope_without_message, 270 bytes)"
    ));
    assert_eq!(
        stderr,
        format!(
            "dry run: would send 33 bodies to {queue} (read 33 records from 33 objects in {})\n",
            quarantine.display()
        )
    );
}

/// The fenced lines after `$ COMMAND` in docs/QUARANTINE.md, up to the next `$ ` or fence.
fn doc_output(command: &str) -> Vec<String> {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/QUARANTINE.md"))
        .unwrap();
    let start = doc
        .find(&format!("$ {command}\n"))
        .unwrap_or_else(|| panic!("docs/QUARANTINE.md shows no `$ {command}`"));
    doc[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("$ ") && !l.starts_with("```"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn quarantine_list_and_show_the_quickstart_quarantine_as_the_docs_show() {
    // docs/QUARANTINE.md: after the Quickstart's drain, list gives the drain report's counts.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let report = tmp.path().join("report.json");
    support::run_ok(
        bin()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["drain", "--source", "examples/messages.jsonl", "--dest"])
            .arg(archive.join("prod"))
            .arg("--report")
            .arg(&report),
    );
    let dest = archive.join("prod");
    let dest = dest.to_str().unwrap();
    let ours = |l: &str| l.replace("/tmp/archive", archive.to_str().unwrap());

    let out = run(&["quarantine", "list", "--dest", dest]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(got.len(), 1 + 33 + 1, "a header, 33 records, a total");
    let want = doc_output("s3-event-writer quarantine list --dest /tmp/archive/prod");
    let gap = want
        .iter()
        .position(|l| l == "  ...")
        .expect("the doc's `  ...`");
    let head: Vec<String> = want[..gap].iter().map(|l| ours(l)).collect();
    assert_eq!(got[..gap], head[..]);
    let tail = &want[gap + 1..];
    assert_eq!(got[got.len() - tail.len()..], tail[..]);

    // The JSON total is the drain report's quarantined_by, reason by reason.
    let out = run(&["quarantine", "list", "--dest", dest, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let drained = read_json(&report);
    assert_eq!(listing["total"]["by_reason"], drained["quarantined_by"]);
    assert_eq!(listing["total"]["records"], 33);
    assert_eq!(listing["objects"].as_array().unwrap().len(), 33);

    // show: the doc's line, but for received_at (when the drain ran) and so where the body is
    // cut.
    let key = "03acda41a454a4fe643c2057ebfd76ac.jsonl";
    let out = run(&["quarantine", "show", "--dest", dest, key]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mask = |l: &str| {
        let mut f: Vec<&str> = l.splitn(4, "  ").collect();
        f[2] = "RECEIVED_AT";
        let body: String = f[3].chars().take(40).collect();
        f[3] = &body;
        f.join("  ")
    };
    let want = doc_output(&format!(
        "s3-event-writer quarantine show --dest /tmp/archive/prod {key}"
    ));
    let got: Vec<String> = text(&out.stdout).lines().map(mask).collect();
    assert_eq!(got, want.iter().map(|l| mask(l)).collect::<Vec<_>>());
    assert_eq!(
        text(&out.stdout).lines().next().unwrap().chars().count(),
        120
    );
}

#[test]
fn quarantine_list_names_an_unreadable_file_and_a_missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("quarantine");
    fs::create_dir(&q).unwrap();
    let record = |id: &str| {
        format!("{{\"reason\":\"not_json\",\"message_id\":\"{id}\",\"received_at\":\"2026-11-27T22:27:59.425Z\",\"body\":\"{{x\"}}\n")
    };
    fs::write(
        q.join("a.jsonl"),
        record("m-1") + "not a record\n" + &record("m-2"),
    )
    .unwrap();
    fs::write(q.join("notes.txt"), "not listed").unwrap();
    let out = run(&["quarantine", "list", "--quarantine", q.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("  a.jsonl      2  not_json 2\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "    unreadable: {} line 2: ",
            q.join("a.jsonl").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("total: 2 records in 1 object: not_json 2; 1 unreadable (listed above)\n"),
        "{stdout}"
    );

    let missing = tmp.path().join("nowhere");
    let out = run(&[
        "quarantine",
        "list",
        "--quarantine",
        missing.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the quarantine directory {} does not exist",
            missing.display()
        )),
        "{stderr}"
    );
    let out = run(&[
        "quarantine",
        "show",
        "--quarantine",
        q.to_str().unwrap(),
        "gone.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("gone.jsonl"),
        "{}",
        text(&out.stderr)
    );
}
