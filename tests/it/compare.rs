//! `compare A B` through the binary: two directories, two S3 prefixes in the emulator, and S3
//! against a directory, on one scenario of known differences over days of every size class.
//!
//! What `compare` must say is computed here from the scenario's line sets (a `BTreeSet`
//! difference, a plain order scan), independently of the program's merge walk.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::{self, bin, needs_emulators, run, sizes, text, Stage};
use serde_json::{json, Value};

/// Larger than three of the readers' 1 MiB buffers (and many HTTP body chunks): a day read in
/// several pieces on both stores.
const LARGE: u64 = (3 << 20) + 1;

/// One day of the scenario: each side's file (`None`: no file).
struct Case {
    day: &'static str,
    a: Option<Vec<Vec<u8>>>,
    b: Option<Vec<Vec<u8>>>,
}

/// A record line of `day`, sorting by `i`.
fn rec(day: &str, i: u64, event: &str) -> Vec<u8> {
    let (h, m, s) = (i / 3600 % 24, i / 60 % 60, i % 60);
    format!(
        r#"{{"timestamp": "{}-{}-{}T{h:02}:{m:02}:{s:02}+00:00", "channel": "SIP/cmp-{i:05}", "endpoint": "cmp", "event": "{event}"}}"#,
        &day[..4],
        &day[4..6],
        &day[6..]
    )
    .into_bytes()
}

fn recs(day: &str, range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(|i| rec(day, i, "x")).collect()
}

fn without(lines: &[Vec<u8>], drop: &[usize]) -> Vec<Vec<u8>> {
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, l)| l.clone())
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [&l[..], b"\n"].concat())
        .collect()
}

/// The scenario: equal days, differences at the first and last line, a large day, the
/// `--show` limit on both sides, a day missing on each side, an unsorted file on each side.
fn scenario() -> Vec<Case> {
    let small = |d| recs(d, 0..20);
    let large = |d| {
        let day = sizes::day_of_size(d, "large", LARGE, Vec::new());
        assert_eq!(day.expected.len() as u64, LARGE);
        let mut lines: Vec<Vec<u8>> = day
            .expected
            .split(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        lines.pop(); // after the last newline
        lines
    };
    let big = large("20261107");
    let mut big_b = without(&big, &[0]); // the first line of A only in A
    big_b.push(rec("20261107", 86_399, "late")); // a last line only in B
    let mut big_a = big.clone();
    big_a.push(rec("20261107", 86_398, "later")); // sorts before B's: A's last line
    let show_a = small("20261108");
    let mut show_b = without(&show_a, &[0, 5, 10, 19]); // 4 lines only in A
    show_b.extend([21, 22, 23].map(|i| rec("20261108", i, "b"))); // 3 only in B
    let mut unsorted_a = small("20261111");
    unsorted_a.swap(3, 4); // line 5 sorts before line 4
    let mut duplicate_b = small("20261112");
    duplicate_b.insert(2, duplicate_b[1].clone()); // line 3 repeats line 2
    vec![
        Case {
            day: "20261101",
            a: Some(Vec::new()),
            b: Some(Vec::new()),
        },
        Case {
            day: "20261102",
            a: Some(recs("20261102", 0..1)),
            b: Some(recs("20261102", 0..1)),
        },
        Case {
            day: "20261103",
            a: Some(recs("20261103", 0..1)),
            b: Some(Vec::new()),
        },
        Case {
            day: "20261104",
            a: Some(small("20261104")),
            b: Some(without(&small("20261104"), &[7])),
        },
        Case {
            day: "20261105",
            a: Some(small("20261105")),
            b: Some([small("20261105"), recs("20261105", 20..21)].concat()),
        },
        Case {
            day: "20261106",
            a: Some(large("20261106")),
            b: Some(large("20261106")),
        },
        Case {
            day: "20261107",
            a: Some(big_a),
            b: Some(big_b),
        },
        Case {
            day: "20261108",
            a: Some(show_a),
            b: Some(show_b),
        },
        Case {
            day: "20261109",
            a: Some(small("20261109")),
            b: None,
        },
        Case {
            day: "20261110",
            a: None,
            b: Some(small("20261110")),
        },
        Case {
            day: "20261111",
            a: Some(unsorted_a),
            b: Some(small("20261111")),
        },
        Case {
            day: "20261112",
            a: Some(small("20261112")),
            b: Some(duplicate_b),
        },
    ]
}

/// The first line (1-based) that does not sort after the one above it, and how.
fn first_disorder(lines: &[Vec<u8>]) -> Option<(u64, &'static str)> {
    lines.windows(2).enumerate().find_map(|(i, w)| {
        let line = i as u64 + 2;
        match w[1].cmp(&w[0]) {
            std::cmp::Ordering::Greater => None,
            std::cmp::Ordering::Equal => Some((line, "duplicate")),
            std::cmp::Ordering::Less => Some((line, "out_of_order")),
        }
    })
}

/// What `--json` must say of one day, `show` lines shown; `prefixes` are each side's
/// day-file prefix.
fn expected_day(case: &Case, show: usize, prefixes: [&str; 2]) -> Value {
    let (a, b) = match (&case.a, &case.b) {
        (None, _) => return json!({"day": case.day, "status": "missing_in_a"}),
        (_, None) => return json!({"day": case.day, "status": "missing_in_b"}),
        (Some(a), Some(b)) => (a, b),
    };
    for (side, lines, prefix) in [("a", a, prefixes[0]), ("b", b, prefixes[1])] {
        if let Some((line, problem)) = first_disorder(lines) {
            return json!({"day": case.day, "status": "unsortable", "side": side,
                "key": format!("{prefix}{}", case.day), "line": line, "problem": problem});
        }
    }
    let (sa, sb): (BTreeSet<&[u8]>, BTreeSet<&[u8]>) = (
        a.iter().map(Vec::as_slice).collect(),
        b.iter().map(Vec::as_slice).collect(),
    );
    let in_both = sa.intersection(&sb).count();
    let only = |x: &BTreeSet<&[u8]>, y: &BTreeSet<&[u8]>| -> Vec<String> {
        x.difference(y).map(|l| text(l)).collect()
    };
    let (only_a, only_b) = (only(&sa, &sb), only(&sb, &sa));
    if only_a.is_empty() && only_b.is_empty() {
        return json!({"day": case.day, "status": "equal", "in_both": in_both});
    }
    json!({"day": case.day, "status": "differ", "in_both": in_both,
        "only_in_a": only_a.len(), "only_in_b": only_b.len(),
        "first_only_in_a": only_a.iter().take(show).collect::<Vec<_>>(),
        "first_only_in_b": only_b.iter().take(show).collect::<Vec<_>>()})
}

/// Writes one side of the scenario into `dir`.
fn write_dir(dir: &Path, cases: &[Case], side: fn(&Case) -> Option<&[Vec<u8>]>) {
    fs::create_dir_all(dir).unwrap();
    for c in cases {
        if let Some(lines) = side(c) {
            fs::write(dir.join(c.day), join(lines)).unwrap();
        }
    }
}

fn side_a(c: &Case) -> Option<&[Vec<u8>]> {
    c.a.as_deref()
}

fn side_b(c: &Case) -> Option<&[Vec<u8>]> {
    c.b.as_deref()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

/// Checks a `--json` run over the whole scenario: every day as computed here, the summary, the
/// exit status 1.
fn check_json(out: &Output, cases: &[Case], locations: [&str; 2], prefixes: [&str; 2]) {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v = json_of(out);
    let want: Vec<Value> = cases.iter().map(|c| expected_day(c, 3, prefixes)).collect();
    let got = v["days"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "day {}", w["day"]);
    }
    assert_eq!(
        v["summary"],
        json!({"days": 12, "equal": 3, "differ": 7, "unsortable": 2,
            "missing_in_a": 1, "missing_in_b": 1})
    );
    assert_eq!(
        (&v["a"], &v["b"], &v["from"], &v["to"], &v["equal"]),
        (
            &json!(locations[0]),
            &json!(locations[1]),
            &json!("20261101"),
            &json!("20261112"),
            &json!(false)
        )
    );
}

/// The scenario's expected days are what the brief lists (a check of the checker).
#[test]
fn the_scenario_covers_every_outcome() {
    let cases = scenario();
    let days: Vec<Value> = cases
        .iter()
        .map(|c| expected_day(c, 3, ["A/", "B/"]))
        .collect();
    let status = |i: usize| days[i]["status"].as_str().unwrap().to_owned();
    assert_eq!(
        (0..12).map(status).collect::<Vec<_>>(),
        [
            "equal",
            "equal",
            "differ",
            "differ",
            "differ",
            "equal",
            "differ",
            "differ",
            "missing_in_b",
            "missing_in_a",
            "unsortable",
            "unsortable"
        ]
    );
    assert_eq!(days[0]["in_both"], 0, "empty against empty");
    assert_eq!(days[1]["in_both"], 1, "one line");
    assert_eq!(
        (&days[6]["only_in_a"], &days[6]["only_in_b"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(
        (&days[7]["only_in_a"], &days[7]["only_in_b"]),
        (&json!(4), &json!(3))
    );
    assert_eq!(days[10]["line"], 5);
    assert_eq!(days[11]["problem"], "duplicate");
}

#[test]
fn compare_two_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = scenario();
    let (a, b) = (tmp.path().join("prod"), tmp.path().join("shadow"));
    write_dir(&a, &cases, side_a);
    write_dir(&b, &cases, side_b);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let prefixes = [format!("{a}/"), format!("{b}/")];
    let prefixes = [prefixes[0].as_str(), prefixes[1].as_str()];

    check_json(&run(&["compare", a, b, "--json"]), &cases, [a, b], prefixes);

    // The text: a line per day that is not equal (the --show limit on both sides), a summary.
    let out = run(&["compare", a, b]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    let day_lines: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("2026"))
        .copied()
        .collect();
    assert_eq!(day_lines.len(), 9, "{stdout}");
    assert!(!stdout.contains("20261101:") && !stdout.contains("20261106:"));
    let show = &cases[7];
    let (sa, sb) = (show.a.as_ref().unwrap(), show.b.as_ref().unwrap());
    let at = lines
        .iter()
        .position(|l| l.starts_with("20261108: "))
        .unwrap();
    assert_eq!(
        lines[at..at + 9],
        [
            "20261108: differ: 4 lines only in A, 3 lines only in B, 16 in both".to_owned(),
            format!("  only in A: {}", text(&sa[0])),
            format!("  only in A: {}", text(&sa[5])),
            format!("  only in A: {}", text(&sa[10])),
            "  ... and 1 more only in A".to_owned(),
            format!("  only in B: {}", text(&sb[16])),
            format!("  only in B: {}", text(&sb[17])),
            format!("  only in B: {}", text(&sb[18])),
            "20261109: missing in B".to_owned(),
        ]
    );
    assert!(stdout.contains("\n20261110: missing in A\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("\n20261111: unsortable: A's {a}/20261111 line 5 sorts before line 4; not compared past it: run `s3-event-writer verify --dest {a} --from 20261111 --to 20261111`")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "\n20261112: unsortable: B's {b}/20261112 line 3 repeats line 2;"
        )),
        "{stdout}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("compared 12 days (20261101..20261112) of A {a} and B {b}: 3 equal, 7 differing (2 unsortable), 1 missing in A, 1 missing in B")
    );

    // --show 4 shows all four of A's; --verbose lists the equal days.
    let out = run(&[
        "compare",
        a,
        b,
        "--show",
        "4",
        "--verbose",
        "--from",
        "20261106",
        "--to",
        "20261108",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("  only in A: ").count(), 2 + 4, "{stdout}");
    assert!(!stdout.contains("more only in"), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "20261106: equal, {} lines\n",
            cases[5].a.as_ref().unwrap().len()
        )),
        "{stdout}"
    );
}

#[test]
fn compare_reports_only_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = scenario();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_dir(&a, &cases, side_a);
    write_dir(&b, &cases, side_b);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let range = |from: &str, to: &str| {
        let out = run(&["compare", a, b, "--json", "--from", from, "--to", to]);
        let v = json_of(&out);
        let days: Vec<String> = v["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    d["day"].as_str().unwrap(),
                    d["status"].as_str().unwrap()
                )
            })
            .collect();
        (out.status.code(), days)
    };
    // 20261103 differs: just after --to it is not reported, at --to it is.
    assert_eq!(
        range("20261101", "20261102"),
        (
            Some(0),
            vec!["20261101 equal".to_owned(), "20261102 equal".to_owned()]
        )
    );
    assert_eq!(
        range("20261102", "20261103"),
        (
            Some(1),
            vec!["20261102 equal".to_owned(), "20261103 differ".to_owned()]
        )
    );
    // 20261105 and 20261107 differ: just before --from and just after --to they are not
    // reported; at --from it is.
    assert_eq!(
        range("20261106", "20261106"),
        (Some(0), vec!["20261106 equal".to_owned()])
    );
    assert_eq!(
        range("2026-11-05", "20261106"),
        (
            Some(1),
            vec!["20261105 differ".to_owned(), "20261106 equal".to_owned()]
        )
    );
    // A range with no day file: nothing differs.
    let out = run(&["compare", a, b, "--from", "20270101"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("compared 0 days (20270101..) of A {a} and B {b}: 0 equal, 0 differing, 0 missing in A, 0 missing in B\n(no day files found in the range)\n")
    );
}

#[test]
fn compare_usage_errors_exit_2_and_a_missing_directory_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    fs::create_dir(&a).unwrap();
    fs::write(a.join("20261120"), "x\n").unwrap();
    let a = a.to_str().unwrap();
    for (args, want) in [
        (
            &["--from", "20261121", "--to", "20261120"][..],
            "--from 20261121 is after --to 20261120: give the earlier day to --from",
        ),
        (&["--from", "2026112"][..], "`2026112` is not a valid day"),
        (&["--to", "20261131"][..], "`20261131` is not a valid day"),
    ] {
        let out = bin().args(["compare", a, a]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
    let out = run(&["compare", a, "s3:///events/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("has no bucket name"));
    let out = run(&["compare", a]);
    assert_eq!(out.status.code(), Some(2), "B is required");

    // The same directory on both sides: equal.
    let out = run(&["compare", a, a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let missing = tmp.path().join("nowhere");
    let missing = missing.to_str().unwrap();
    let out = run(&["compare", a, missing]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: archive B cannot be used: cannot list the day files of {missing}: "
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("check the path: it must be an existing, readable directory"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
}

/// The lines after `$ COMMAND` in docs/TOOLS.md's fenced block, up to the next `$ ` or fence.
fn doc_output(command: &str) -> Vec<String> {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/TOOLS.md")).unwrap();
    let start = doc
        .find(&format!("$ {command}\n"))
        .unwrap_or_else(|| panic!("docs/TOOLS.md shows no `$ {command}`"));
    doc[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("$ ") && !l.starts_with("```"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn compare_the_quickstart_archive_with_a_shadow_as_tools_md_shows() {
    // docs/TOOLS.md "compare": the Quickstart's archive as the legacy writer's (one line in
    // the older shape without `endpoint`), a shadow run that started a day later.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let (prod, shadow) = (archive.join("prod"), archive.join("shadow"));
    support::run_ok(
        bin()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["drain", "--source", "examples/messages.jsonl", "--dest"])
            .arg(&prod),
    );
    support::copy_dir(&prod, &shadow);
    fs::remove_file(shadow.join("20261126")).unwrap();
    let day = prod.join("20261127");
    let new = r#"{"timestamp": "2026-11-27T09:40:25.000000", "channel": "r2d2", "endpoint": "r2d2", "event": "incoming_dialstatus_busy_r2d2"}"#;
    let old = r#"{"timestamp": "2026-11-27T09:40:25.000000", "channel": "r2d2", "event": "incoming_dialstatus_busy_r2d2"}"#;
    let mut lines: Vec<String> = text(&fs::read(&day).unwrap())
        .lines()
        .map(|l| {
            if l == new {
                old.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(lines.iter().any(|l| l == old), "the sample has the line");
    lines.sort();
    fs::write(&day, lines.join("\n") + "\n").unwrap();

    let ours = |l: &str| l.replace("/tmp/archive", archive.to_str().unwrap());
    let (p, s) = (prod.to_str().unwrap(), shadow.to_str().unwrap());
    let out = run(&["compare", p, s]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let want: Vec<String> =
        doc_output("s3-event-writer compare /tmp/archive/prod /tmp/archive/shadow")
            .iter()
            .map(|l| ours(l))
            .collect();
    let got: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(got, want);

    let out = run(&["compare", p, s, "--json", "--from", "20261127"]);
    assert_eq!(out.status.code(), Some(1));
    let want = doc_output(
        "s3-event-writer compare /tmp/archive/prod /tmp/archive/shadow --json --from 20261127",
    )
    .iter()
    .map(|l| ours(l))
    .collect::<Vec<_>>()
    .join("\n");
    assert_eq!(text(&out.stdout).trim_end(), want);

    let out = run(&["compare", p, s, "--from", "20261128"]);
    assert_eq!(out.status.code(), Some(0));
    let want: Vec<String> =
        doc_output("s3-event-writer compare /tmp/archive/prod /tmp/archive/shadow --from 20261128")
            .iter()
            .map(|l| ours(l))
            .collect();
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), want);
}

const PROD: &str = "s3://logpublish/events/prod/";
const SHADOW: &str = "s3://logpublish/events/shadow/";

/// A bucket holding the scenario's A under `events/prod/` and B under `events/shadow/`, and B
/// in a directory too.
fn staged(tmp: &Path, cases: &[Case]) -> Stage {
    let stage = Stage::bucket(None);
    for c in cases {
        for (prefix, lines) in [("events/prod/", &c.a), ("events/shadow/", &c.b)] {
            if let Some(lines) = lines {
                stage.put(&format!("{prefix}{}", c.day), join(lines));
            }
        }
    }
    write_dir(&tmp.join("shadow"), cases, side_b);
    stage
}

#[test]
fn compare_two_s3_prefixes_and_s3_against_a_directory() {
    needs_emulators!();
    let tmp = tempfile::tempdir().unwrap();
    let cases = scenario();
    let stage = staged(tmp.path(), &cases);
    let dir = tmp.path().join("shadow");
    let dir = dir.to_str().unwrap();
    let dir_prefix = format!("{dir}/");

    stage.proxy.reset_counts();
    let out = stage.run(&["compare", PROD, SHADOW, "--json"]);
    check_json(&out, &cases, [PROD, SHADOW], [PROD, SHADOW]);
    // Each day on both sides read once from each; a day on one side only is not read.
    assert_eq!(stage.proxy.count("s3:GetObject"), 2 * 10);
    assert_eq!(stage.proxy.count("s3:ListObjectsV2"), 2);

    let out = stage.run(&["compare", PROD, dir, "--json"]);
    check_json(&out, &cases, [PROD, dir], [PROD, &dir_prefix]);

    // The text on S3 names the S3 key of an unsortable file.
    let out = stage.run(&["compare", PROD, SHADOW, "--from", "20261112"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with(&format!("20261112: unsortable: B's {SHADOW}20261112 line 3 repeats line 2; not compared past it: run `s3-event-writer verify --dest {SHADOW} --from 20261112 --to 20261112`")),
        "{}",
        text(&out.stdout)
    );
    // B in the directory against B on S3, up to its last sorted day: exit 0.
    let out = stage.run(&["compare", dir, SHADOW, "--to", "20261111"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).ends_with(": 10 equal, 0 differing, 0 missing in A, 0 missing in B\n")
    );
}

#[test]
fn compare_exits_3_on_a_missing_bucket_or_a_denied_read() {
    needs_emulators!();
    let tmp = tempfile::tempdir().unwrap();
    let cases = scenario();
    let stage = staged(tmp.path(), &cases);

    let out = stage.run(&["compare", PROD, "s3://no-such-bucket/events/shadow/"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: archive B cannot be used: cannot list the day files of s3://no-such-bucket/events/shadow/"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check the bucket name no-such-bucket")
            && stderr
                .contains("`s3-event-writer doctor --dest s3://no-such-bucket/events/shadow/`"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());

    stage.proxy.inject_on_path(
        "s3:GetObject",
        "events/shadow/20261104",
        support::Fault::Status(403),
        100,
    );
    let out = stage.run(&["compare", PROD, SHADOW, "--max-attempts", "1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: archive B: {SHADOW}20261104: access denied for GetObject; the writer needs s3:GetObject"
        )),
        "{stderr}"
    );
    // The days before it were reported.
    assert!(
        text(&out.stdout).starts_with("20261103: differ"),
        "{}",
        text(&out.stdout)
    );
}
