//! Local mode end to end: the binary drains FILE/stdin into a DIR.
//!
//! Guards the SPEC's conformance sets byte for byte, the report's counts, idempotent reruns
//! (the quarantine included), minimised and raw quarantine records, dry runs, unsorted existing
//! files, concurrent runs on one directory, and exit statuses.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::support::api::{minimise, record_name, Redaction};
use crate::support::{
    ami_event, ami_quarantine_bodies, assert_same_tree, bin, copy_dir, counts, fixture, read_json,
    run, run_ok, sizes, tree, CALLER_VALUES, SETS,
};

fn drain_set(
    set: &str,
    extra: &[&str],
) -> (tempfile::TempDir, serde_json::Value, std::process::Output) {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    copy_dir(&fixture(set).join("existing"), &dest);
    let report = tmp.path().join("report.json");
    let msgs = fixture(set).join("messages.jsonl");
    let mut args = vec![
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let r = if report.exists() {
        read_json(&report)
    } else {
        serde_json::Value::Null
    };
    (tmp, r, out)
}

#[test]
fn every_conformance_set_matches_expected_byte_for_byte() {
    for set in SETS {
        let (tmp, report, out) = drain_set(set, &[]);
        assert!(
            out.status.success(),
            "{set}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same_tree(&tmp.path().join("prod"), &fixture(set).join("expected"));
        let c = counts(set);
        for k in ["kept", "dropped", "quarantined"] {
            assert_eq!(report[k], c[k], "{set}: {k}");
        }
        let sum = c["kept"].as_u64().unwrap()
            + c["dropped"].as_u64().unwrap()
            + c["quarantined"].as_u64().unwrap();
        assert_eq!(report["received"], sum, "{set}: received");
        assert_eq!(report["deleted"], 0, "{set}: a file source deletes nothing");
        let dropped_by: u64 = report["dropped_by"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|v| v.as_object().unwrap().values())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            dropped_by,
            c["dropped"].as_u64().unwrap(),
            "{set}: dropped_by adds up"
        );
        for (day, d) in report["days"].as_object().unwrap() {
            let text = fs::read_to_string(tmp.path().join("prod").join(day)).unwrap();
            assert_eq!(
                d["total_lines"].as_u64().unwrap(),
                text.lines().count() as u64,
                "{set} {day}"
            );
        }
    }
}

/// The quarantine records in `dir`: file name → the one record each file holds.
fn quarantine_records(dir: &Path) -> BTreeMap<String, serde_json::Value> {
    tree(dir)
        .into_iter()
        .map(|(name, bytes)| {
            let text = String::from_utf8(bytes).unwrap();
            assert_eq!(text.lines().count(), 1, "one record per file: {name}");
            assert!(text.ends_with('\n'), "{name}");
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[test]
fn quarantine_holds_one_minimised_record_per_file_named_by_its_identity() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, report, out) = drain_set("malformed", &[]);
    assert!(out.status.success());
    let qdir = tmp.path().join("quarantine");
    let records = quarantine_records(&qdir);
    assert_eq!(
        records.len() as u64,
        report["quarantined"].as_u64().unwrap(),
        "one file per quarantined message"
    );
    assert_eq!(report["quarantine_written"], report["quarantined"]);
    let raw: Vec<String> = fs::read_to_string(fixture("malformed").join("messages.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut minimised_differs = 0;
    for (name, r) in &records {
        for k in ["reason", "message_id", "received_at", "body"] {
            assert!(r[k].is_string(), "{k} in {r}");
        }
        let (id, body) = (
            r["message_id"].as_str().unwrap(),
            r["body"].as_str().unwrap(),
        );
        assert_eq!(*name, record_name(id, body), "named by its identity");
        let line: usize = id.rsplit(':').next().unwrap().parse().unwrap();
        let original = &raw[line - 1];
        assert_eq!(body, minimise(original, &Redaction::default()), "{id}");
        minimised_differs += usize::from(body != original);
        let mode = fs::metadata(qdir.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the writer's user only");
    }
    assert!(
        minimised_differs > 0,
        "the set has bodies with values to mask"
    );
    assert!(!tmp.path().join("prod").join("quarantine").exists());
    assert!(
        fs::read_dir(&qdir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.')),
        "no temporary file is left"
    );
}

/// Everything under `dir`, recursively: relative path → (bytes, modification time, mode) of
/// each file, and each directory's mode. (A directory's own modification time is left out:
/// the day-file merge creates and removes its temporary file in the directory under the lock
/// even when nothing is new.)
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, Option<std::time::SystemTime>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                stack.push(e.path());
                out.insert(rel, (Vec::new(), None, meta.permissions().mode()));
            } else {
                let bytes = fs::read(e.path()).unwrap();
                let modified = Some(meta.modified().unwrap());
                out.insert(rel, (bytes, modified, meta.permissions().mode()));
            }
        }
    }
    out
}

#[test]
fn rerunning_the_quickstart_changes_nothing_at_all_quarantine_included() {
    // README "Quickstart": drain --source examples/messages.jsonl --dest /tmp/archive/prod,
    // twice, from the repository (the message ids are FILE:LINE as given).
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let dest = archive.join("prod");
    let run_quickstart = || {
        run_ok(
            bin()
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["drain", "--source", "examples/messages.jsonl", "--dest"])
                .arg(&dest),
        )
    };
    let first = run_quickstart();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("quarantined 33;"), "{stderr}");
    assert!(
        stderr.contains(": 33 new records, 0 already there"),
        "{stderr}"
    );
    let before = snapshot(&archive);
    let records = before
        .keys()
        .filter(|p| p.starts_with("quarantine") && p.extension().is_some())
        .count();
    assert_eq!(
        records, 33,
        "the 33 bad messages of the sample, one file each"
    );
    // Make any rewrite visible in the modification times.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = run_quickstart();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("wrote 0 new lines"), "{stderr}");
    assert!(
        stderr.contains(": 0 new records, 33 already there"),
        "{stderr}"
    );
    let after = snapshot(&archive);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "no file added or removed"
    );
    for (path, b) in &before {
        assert!(after[path] == *b, "{} changed", path.display());
    }
}

/// Drains `lines` (one body each) from a file into `tmp/prod`, with `extra` arguments.
fn drain_lines(tmp: &Path, lines: &[Vec<u8>], extra: &[&str]) -> (serde_json::Value, Output) {
    let msgs = tmp.join("messages.jsonl");
    let mut text = Vec::new();
    for l in lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    fs::write(&msgs, text).unwrap();
    let report = tmp.join("report.json");
    let out = bin()
        .arg("drain")
        .arg("--source")
        .arg(&msgs)
        .arg("--dest")
        .arg(tmp.join("prod"))
        .arg("--report")
        .arg(&report)
        .args(extra)
        .output()
        .unwrap();
    let r = if report.exists() {
        read_json(&report)
    } else {
        serde_json::Value::Null
    };
    (r, out)
}

/// Every quarantine reason with a realistic AMI body carrying caller numbers and names, and a
/// line that is not UTF-8 (only a file can carry one).
fn realistic_lines() -> (Vec<Vec<u8>>, Vec<String>) {
    let mut lines = Vec::new();
    let mut reasons = Vec::new();
    for (reason, body) in ami_quarantine_bodies() {
        lines.push(body.into_bytes());
        reasons.push(reason);
    }
    let mut not_utf8 = serde_json::json!({"event": ami_event()})
        .to_string()
        .into_bytes();
    not_utf8.extend_from_slice(b" \xff\xfe");
    lines.push(not_utf8);
    reasons.push("not_utf8".into());
    reasons.sort();
    (lines, reasons)
}

#[test]
fn realistic_bodies_for_every_reason_keep_no_caller_by_default_and_are_raw_with_verbatim() {
    let (lines, reasons) = realistic_lines();
    let tmp = tempfile::tempdir().unwrap();
    let (report, out) = drain_lines(tmp.path(), &lines, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["quarantined"].as_u64().unwrap(), lines.len() as u64);
    let records = quarantine_records(&tmp.path().join("quarantine"));
    let mut got: Vec<String> = records
        .values()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, reasons, "every reason, each body quarantined");
    assert_eq!(reasons.len(), 17, "all 17 reasons: {reasons:?}");
    for r in records.values() {
        let text = r.to_string();
        for caller in CALLER_VALUES {
            assert!(
                !text.contains(caller),
                "{caller} in the default record {text}"
            );
        }
        // What a person needs is still there (the event sits where the classifier reads it,
        // except in the body that has no event object).
        let shown = ["operator", "PJSIP/twilio-000d3be7", "ghost-mountain"]
            .iter()
            .filter(|v| text.contains(*v))
            .count();
        assert!(
            shown >= 1 || r["reason"] == "no_event_object",
            "the event's name, channel or endpoint is kept: {text}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let (report, out) = drain_lines(tmp.path(), &lines, &["--quarantine-verbatim"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["quarantined"].as_u64().unwrap(), lines.len() as u64);
    let records = quarantine_records(&tmp.path().join("quarantine"));
    let mut bodies: Vec<String> = records
        .values()
        .map(|r| r["body"].as_str().unwrap().to_owned())
        .collect();
    bodies.sort();
    // A record is JSON, so the line that is not UTF-8 can only be kept with U+FFFD in place.
    let mut want: Vec<String> = lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    want.sort();
    assert_eq!(
        bodies, want,
        "with --quarantine-verbatim the records hold the raw bodies"
    );
}

#[test]
fn verbatim_comes_from_the_flag_the_environment_or_the_config_file_in_that_order() {
    let body = br#"{"Message": "{\"CallerIDNum\": \"+15034448615\""}"#.to_vec();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg_true = cfg_dir.path().join("true.toml");
    fs::write(&cfg_true, "quarantine_verbatim = true\n").unwrap();
    let cases: [(&[&str], Option<&str>, bool); 6] = [
        (&[], None, false),
        (&["--quarantine-verbatim"], None, true),
        (&[], Some("true"), true),
        (&["--config", cfg_true.to_str().unwrap()], None, true),
        (
            &["--config", cfg_true.to_str().unwrap()],
            Some("false"),
            false,
        ),
        (&["--quarantine-verbatim=false"], Some("yes"), false),
    ];
    for (args, env, verbatim) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let msgs = tmp.path().join("m.jsonl");
        fs::write(&msgs, [body.clone(), b"\n".to_vec()].concat()).unwrap();
        let mut cmd = bin();
        cmd.arg("drain")
            .arg("--source")
            .arg(&msgs)
            .arg("--dest")
            .arg(tmp.path().join("prod"))
            .args(args);
        if let Some(v) = env {
            cmd.env("S3EW_QUARANTINE_VERBATIM", v);
        }
        run_ok(&mut cmd);
        let records = quarantine_records(&tmp.path().join("quarantine"));
        let kept = records.values().next().unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            kept.contains("15034448615"),
            verbatim,
            "{args:?} env {env:?}: {kept}"
        );
    }
}

#[test]
fn personal_keys_are_configurable_and_a_bad_one_is_a_usage_error() {
    let line = b"not json: Secret: hush, CallerIDName: Jane".to_vec();
    let tmp = tempfile::tempdir().unwrap();
    let (_, out) = drain_lines(
        tmp.path(),
        std::slice::from_ref(&line),
        &["--personal-key", "Secret"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = quarantine_records(&tmp.path().join("quarantine"));
    assert_eq!(
        records.values().next().unwrap()["body"],
        "not json: Secret: <redacted 4>, CallerIDName: Jane",
        "the given list replaces the default one"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (_, out) = drain_lines(tmp.path(), &[line], &["--personal-key", "Caller\"IDNum"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("personal key \"Caller\\\"IDNum\""),
        "{stderr}"
    );
    assert!(!tmp.path().join("quarantine").exists(), "nothing was read");
}

#[test]
fn a_second_run_changes_nothing() {
    let (tmp, _, _) = drain_set("basic", &[]);
    let dest = tmp.path().join("prod");
    let before: Vec<_> = ["20261120", "20261122"]
        .iter()
        .map(|d| fs::metadata(dest.join(d)).unwrap().modified().unwrap())
        .collect();
    let report = tmp.path().join("r2.json");
    let msgs = fixture("basic").join("messages.jsonl");
    let out = run(&[
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_same_tree(&dest, &fixture("basic").join("expected"));
    let r = read_json(&report);
    for d in r["days"].as_object().unwrap().values() {
        assert_eq!(d["new_lines"], 0);
    }
    let after: Vec<_> = ["20261120", "20261122"]
        .iter()
        .map(|d| fs::metadata(dest.join(d)).unwrap().modified().unwrap())
        .collect();
    assert_eq!(before, after, "a day with no new lines is not touched");
}

#[test]
fn dry_run_writes_nothing_and_reports_what_would_change() {
    let (tmp, report, out) = drain_set("malformed", &["--dry-run"]);
    assert!(out.status.success());
    assert_same_tree(
        &tmp.path().join("prod"),
        &fixture("malformed").join("existing"),
    );
    assert!(!tmp.path().join("quarantine").exists());
    assert_eq!(report["days"]["20261125"]["new_lines"], 336);
    assert_eq!(report["days"]["20261125"]["total_lines"], 468);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("day 20261125: would write 336 new lines (now 468 lines)"),
        "{stderr}"
    );
}

#[test]
fn unsorted_existing_day_file_still_merges_correctly() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    fs::create_dir_all(&dest).unwrap();
    let existing = fs::read_to_string(fixture("basic").join("existing/20261122")).unwrap();
    let mut lines: Vec<&str> = existing.lines().collect();
    lines.reverse();
    let mut scrambled = lines.join("\n");
    scrambled.push_str("\n\n   \n");
    scrambled.push_str(lines[3]); // a duplicate, with no final newline
    fs::write(dest.join("20261122"), scrambled).unwrap();
    let msgs = fixture("basic").join("messages.jsonl");
    let out = run(&[
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&dest, &fixture("basic").join("expected"));
}

#[test]
fn stdin_source_works_like_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    copy_dir(&fixture("emulator").join("existing"), &dest);
    let mut child = bin()
        .args(["drain", "--source", "-", "--dest", dest.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = fs::read(fixture("emulator").join("messages.jsonl")).unwrap();
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&dest, &fixture("emulator").join("expected"));
}

#[test]
fn concurrent_runs_on_one_directory_lose_no_lines() {
    // Split the basic set into four parts and run four writers at once on one directory.
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    copy_dir(&fixture("basic").join("existing"), &dest);
    let text = fs::read_to_string(fixture("basic").join("messages.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let parts: Vec<_> = (0..4)
        .map(|i| {
            let p = tmp.path().join(format!("part{i}.jsonl"));
            let chunk: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(n, _)| n % 4 == i)
                .map(|(_, l)| *l)
                .collect();
            fs::write(&p, chunk.join("\n") + "\n").unwrap();
            p
        })
        .collect();
    let children: Vec<_> = parts
        .iter()
        .map(|p| {
            bin()
                .args([
                    "drain",
                    "--source",
                    p.to_str().unwrap(),
                    "--dest",
                    dest.to_str().unwrap(),
                    "--block-messages",
                    "97",
                ])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_same_tree(&dest, &fixture("basic").join("expected"));
}

#[test]
fn small_blocks_give_the_same_archive() {
    let (tmp, report, out) = drain_set("malformed", &["--block-messages", "50"]);
    assert!(out.status.success());
    assert_same_tree(
        &tmp.path().join("prod"),
        &fixture("malformed").join("expected"),
    );
    assert_eq!(
        report["days"]["20261125"]["new_lines"], 336,
        "new lines add up over flushes"
    );
    assert_eq!(report["days"]["20261125"]["total_lines"], 468);
}

#[test]
fn max_messages_caps_the_run() {
    let (_tmp, report, out) = drain_set(
        "basic",
        &["--max-messages", "100", "--block-messages", "30"],
    );
    assert!(out.status.success());
    assert_eq!(report["received"], 100);
}

#[test]
fn config_file_rules_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    fs::write(&cfg, "prod_hosts = [\"futel-stage.phu73l.net\"]\n").unwrap();
    let (_t, report, out) = drain_set("basic", &["--config", cfg.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        report["dropped_by"]["hostname"]["futel-prod-back"]
            .as_u64()
            .map(|n| n > 0),
        Some(true)
    );
    assert!(report["dropped_by"]["hostname"]
        .get("futel-stage.phu73l.net")
        .is_none());
}

#[test]
fn exit_status_2_for_usage_errors() {
    let out = run(&["drain", "--source", "x.jsonl", "--visibility-timeout", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--visibility-timeout 1: must be 2..=43200 seconds"),
        "too short to heartbeat: {stderr}"
    );
    let out = bin()
        .env("S3EW_MAX_FAILED_BLOCKS", "0")
        .args(["drain", "--source", "x.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-failed-blocks 0: must be at least 1"),
        "{stderr}"
    );
    let out = run(&["drain", "--dest", "/tmp/a/prod"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("QUEUE_URL"));
    let out = run(&["drain", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Exit status 3 with one error line that starts `error: FLAG VALUE: `, gives a fix and names
/// its cause once (no OS error number); returns that line.
fn refused(args: &[&str], flag: &str, value: &str) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let line = errors[0];
    assert!(
        line.starts_with(&format!("error: {flag} {value}: ")) && line.contains("; fix: "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("os error"),
        "one mention of the cause: {stderr}"
    );
    line.to_owned()
}

/// `drain` from `msgs` into `dest`, with `--quarantine` when it is not empty.
fn drain_args<'a>(
    msgs: &'a str,
    report: &'a str,
    dest: &'a str,
    quarantine: &'a str,
) -> Vec<&'a str> {
    let mut args = vec![
        "drain", "--source", msgs, "--dest", dest, "--report", report,
    ];
    if !quarantine.is_empty() {
        args.extend(["--quarantine", quarantine]);
    }
    args
}

#[test]
fn unusable_locations_are_refused_before_anything_is_read_or_written() {
    let tmp = tempfile::tempdir().unwrap();
    let msgs = fixture("malformed").join("messages.jsonl"); // quarantines some: written first before
    let msgs = msgs.to_str().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let file = file.to_str().unwrap();
    let report = tmp.path().join("r.json");
    let report = report.to_str().unwrap();
    let drain = |dest, quarantine| drain_args(msgs, report, dest, quarantine);

    let line = refused(&drain(file, ""), "--dest", file);
    assert_eq!(
        line,
        format!("error: --dest {file}: exists but is not a directory; fix: give a directory (it is created when missing), or an s3://BUCKET/PREFIX/ location"),
        "the example in docs/OPERATIONS.md"
    );

    let under = format!("{file}/prod");
    let line = refused(&drain(&under, ""), "--dest", &under);
    assert!(
        line.contains(&format!("cannot be created: {file} is not a directory")),
        "{line}"
    );

    // Not even root can create anything in /proc.
    let line = refused(
        &drain("/proc/s3ew-test/prod", ""),
        "--dest",
        "/proc/s3ew-test/prod",
    );
    assert!(
        line.contains("cannot be created: /proc is not writable"),
        "{line}"
    );
    let line = refused(&drain("/proc", ""), "--dest", "/proc");
    assert!(line.contains("/proc: is not writable"), "{line}");

    let prod = tmp.path().join("prod");
    let prod = prod.to_str().unwrap();
    let line = refused(&drain(prod, file), "--quarantine", file);
    assert!(line.contains("exists but is not a directory"), "{line}");

    let inside = format!("{prod}/q");
    let line = refused(&drain(prod, &inside), "--quarantine", &inside);
    assert!(
        line.contains(&format!("is inside the day-file location {prod}")),
        "{line}"
    );

    let line = refused(
        &["drain", "--source", "/nonexistent/m.jsonl", "--dest", prod],
        "--source",
        "/nonexistent/m.jsonl",
    );
    assert!(line.ends_with("/nonexistent/m.jsonl: does not exist; fix: give a file with one message body per line, - for standard input, or a queue URL (https://...)"), "{line}");
    let dir = tmp.path().to_str().unwrap();
    let line = refused(&["drain", "--source", dir, "--dest", prod], "--source", dir);
    assert!(
        line.contains("is a directory, not a message file"),
        "{line}"
    );

    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "nothing but the file that was there: no day, quarantine or report"
    );
    assert_eq!(fs::read(file).unwrap(), b"x");
}

/// The size-class matrix (`tests/it/support/sizes.rs`) through `drain` into a directory.
#[test]
fn every_size_class_is_merged_through_drain_into_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let t = sizes::LOWERED;
    let days = [
        "20261101", "20261102", "20261103", "20261104", "20261105", "20261106", "20261107",
    ];
    let matrix = sizes::matrix(&t, &days, 2, |d, i| sizes::event(d, i).1, false);
    let bodies: Vec<String> = days
        .iter()
        .flat_map(|d| (0..2).map(move |i| sizes::event(d, i).0))
        .collect();
    let dest = tmp.path().join("prod");
    sizes::write_existing(&dest, &matrix);
    let msgs = tmp.path().join("msgs.jsonl");
    fs::write(&msgs, bodies.join("\n") + "\n").unwrap();
    let mut args: Vec<String> = ["drain", "--source"].map(String::from).to_vec();
    args.push(msgs.to_str().unwrap().to_owned());
    args.push("--dest".into());
    args.push(dest.to_str().unwrap().to_owned());
    args.extend(t.flags());
    run_ok(bin().args(&args));
    sizes::assert_days(&tree(&dest), &matrix, "drain into a directory");
    assert_eq!(tree(&dest).len(), days.len(), "nothing but the day files");
}

#[test]
fn exit_status_1_when_a_day_cannot_be_written_and_others_still_are() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    fs::create_dir_all(dest.join("20261123")).unwrap(); // a directory where a day file should be
    let report = tmp.path().join("r.json");
    let msgs = fixture("malformed").join("messages.jsonl");
    let out = run(&[
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("20261123"), "names the day: {stderr}");
    assert!(
        stderr.contains("(3 messages not written: run again with the same input)")
            && !stderr.contains("left in the queue"),
        "a file source keeps nothing in a queue: {stderr}"
    );
    let r = read_json(&report);
    assert_eq!(r["failures"][0]["what"], "day 20261123");
    assert_eq!(r["failures"][0]["messages"], 3);
    assert_eq!(
        fs::read(dest.join("20261124")).unwrap(),
        fs::read(fixture("malformed").join("expected/20261124")).unwrap()
    );
}

#[test]
fn new_day_files_are_world_readable_and_existing_modes_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    copy_dir(&fixture("emulator").join("existing"), &dest);
    fs::set_permissions(dest.join("20261126"), fs::Permissions::from_mode(0o640)).unwrap();
    let msgs = fixture("emulator").join("messages.jsonl");
    assert!(run(&[
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap()
    ])
    .status
    .success());
    assert_eq!(
        fs::metadata(dest.join("20261126"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        fs::metadata(dest.join("20261127"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
}

#[test]
fn help_lists_exit_statuses() {
    let out = run(&["drain", "--help"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("Exit status") && s.contains("--drop-channel-containing"),
        "{s}"
    );
}

#[test]
fn help_says_what_raw_quarantine_bodies_cost() {
    let out = run(&["drain", "--help"]);
    let s = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(s.contains("--quarantine-verbatim"), "{s}");
    assert!(
        s.contains("callers' phone numbers and names, personal data")
            && s.contains("[env: S3EW_QUARANTINE_VERBATIM=]")
            && s.contains("docs/PERSONAL-DATA.md"),
        "{s}"
    );
}

#[test]
fn a_realistic_event_reaches_the_archive_as_four_fields_without_its_caller() {
    let body = serde_json::json!({
        "timestamp": "2026-11-27T14:00:34+00:00", "hostname": "futel-prod-back", "event": ami_event()
    })
    .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let (report, out) = drain_lines(tmp.path(), &[body.into_bytes()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["kept"], 1);
    assert_eq!(
        fs::read_to_string(tmp.path().join("prod/20261127")).unwrap(),
        "{\"timestamp\": \"2026-11-27T14:00:34+00:00\", \"channel\": \"PJSIP/twilio-000d3be7\", \"endpoint\": \"ghost-mountain\", \"event\": \"operator\"}\n"
    );
}

/// The README is what a newcomer reads to the end: it stays under 15 KiB, and the rest lives in
/// docs/, which stays within 80 KB in all (the generated references included). Every relative link in README.md and docs/*.md must point to a file that exists and,
/// with `#anchor`, to one of that page's headings, so moving a section cannot leave a dead link
/// behind.
#[test]
fn readme_is_short_and_relative_links_in_the_docs_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = root.join("README.md");
    let size = fs::metadata(&readme).unwrap().len();
    assert!(
        size < 15 * 1024,
        "README.md is {size} bytes; keep it under 15 KiB and move detail into docs/"
    );

    let mut pages = vec![readme];
    for entry in fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    let docs_bytes: u64 = pages
        .iter()
        .filter(|p| p.starts_with(root.join("docs")))
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        docs_bytes <= 80_000,
        "docs/*.md hold {docs_bytes} bytes; keep them within 80 KB (one home per topic, no history)"
    );
    let mut dead = Vec::new();
    for page in &pages {
        let text = fs::read_to_string(page).unwrap();
        let mut in_fence = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                continue;
            }
            if in_fence {
                continue;
            }
            for link in markdown_link_targets(line) {
                if link.contains("://") || link.starts_with("mailto:") {
                    continue;
                }
                let (target, anchor) = link.split_once('#').unwrap_or((link, ""));
                let file = if target.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(target)
                };
                let found = if anchor.is_empty() {
                    file.exists()
                } else {
                    heading_anchors(&file).iter().any(|a| a == anchor)
                };
                if !found {
                    dead.push(format!(
                        "{}:{}: {link}",
                        page.strip_prefix(root).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        pages.len() > 5,
        "found only {pages:?}: is docs/ where it should be?"
    );
    assert!(
        dead.is_empty(),
        "links to missing files:\n{}",
        dead.join("\n")
    );
}

/// The anchors GitHub gives the headings of a Markdown page: lower case, spaces as hyphens, every
/// character but letters, digits, `-` and `_` left out.
fn heading_anchors(page: &Path) -> Vec<String> {
    let text = fs::read_to_string(page).unwrap_or_default();
    let mut in_fence = false;
    let mut anchors = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let Some(heading) = line.trim_start_matches('#').strip_prefix(' ') else {
            continue;
        };
        if in_fence || !line.starts_with('#') {
            continue;
        }
        anchors.push(
            heading
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect(),
        );
    }
    anchors
}

/// Every option row of the README's short table names a flag and its variable as the generated
/// reference does.
#[test]
fn the_readme_option_table_agrees_with_the_reference() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let reference = s3_event_writer::cli::reference_markdown();
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `--")).collect();
    assert!(rows.len() >= 5, "the README's option table: {rows:?}");
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let flag = cells[1].split(' ').next().unwrap().trim_end_matches('`');
        let want = if cells[2].is_empty() {
            format!("| {flag}` |  |")
        } else {
            format!("| {flag}` | {} |", cells[2])
        };
        assert!(
            reference.contains(&want),
            "{row}: the reference has no `{want}`"
        );
    }
}

/// The targets of the inline links `[text](target)` (or `[text](target "title")`) on one line.
fn markdown_link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(|c| c == '<' || c == '>'));
        rest = &after[end..];
    }
    out
}

/// One version everywhere: every release the docs pin (`S3EW_VERSION`, `version=`, `--tag v`) is
/// the version in `Cargo.toml`, which is what `release.yml` builds for the tag `vVERSION`, and
/// CHANGELOG.md has its section.
#[test]
fn the_docs_pin_the_version_cargo_toml_says_and_the_changelog_has_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let version = env!("CARGO_PKG_VERSION");
    let mut pages = vec![root.join("README.md")];
    for entry in fs::read_dir(root.join("docs")).unwrap() {
        pages.push(entry.unwrap().path());
    }
    let (mut pins, mut wrong) = (0, Vec::new());
    for page in pages
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = fs::read_to_string(page).unwrap();
        for (n, line) in text.lines().enumerate() {
            if !["S3EW_VERSION", "version=", "--tag v"]
                .iter()
                .any(|cue| line.contains(cue))
            {
                continue;
            }
            for token in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
                let token = token.trim_start_matches('v').trim_end_matches('.');
                let parts: Vec<&str> = token.split('.').collect();
                if parts.len() != 3 || !parts.iter().all(|p| p.parse::<u32>().is_ok()) {
                    continue;
                }
                pins += 1;
                if token != version {
                    let page = page.strip_prefix(root).unwrap().display();
                    wrong.push(format!("{page}:{}: {token}", n + 1));
                }
            }
        }
    }
    assert!(
        pins >= 4,
        "found only {pins} pinned versions: did the cues change?"
    );
    assert!(
        wrong.is_empty(),
        "pinned versions other than Cargo.toml's {version}:\n{}",
        wrong.join("\n")
    );
    let changelog = fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains(&format!("\n## [{version}] - ")),
        "CHANGELOG.md has no section for {version}"
    );
}

/// docs/REFERENCE.md is generated from the command-line definition `--help` uses; it fails
/// when the page is out of date. `S3EW_REGENERATE=1` rewrites it instead.
#[test]
fn reference_page_is_generated_from_the_cli() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/REFERENCE.md");
    let want = s3_event_writer::cli::reference_markdown();
    if std::env::var_os("S3EW_REGENERATE").is_some() {
        fs::write(&path, &want).unwrap();
    }
    let have = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/REFERENCE.md is out of date: run `S3EW_REGENERATE=1 cargo test --test it reference`"
    );
    assert!(want.contains("| `--block-messages` | `S3EW_BLOCK_MESSAGES` | `block_messages` |"));
}
