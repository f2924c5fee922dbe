//! The archive tools against the AWS emulator: verify and repair, backfill and stats on S3, and
//! requeue from an S3 quarantine object or prefix (both record layouts) to an SQS queue, with
//! requeued minimised bodies drained into the archive the raw ones give.
//!
//! Each test has an emulator of its own ([`Stage`]) with the fault proxy in front and runs the
//! binary against the proxy.
//! The oracle for S3 is the local mode, which `tools_local` checks against the fixtures.

use std::path::Path;
use std::process::Output;

use crate::support::api::{minimise, record_name, Redaction};
use crate::support::{
    self, bin, copy_dir, fixture, needs_emulators, sizes, text, tree, Emulator, Kind, Stage,
    BUCKET, DEST, PREFIX,
};

#[test]
fn verify_and_repair_on_s3() {
    needs_emulators!();
    let expected = fixture("basic").join("expected");
    let stage = Stage::bucket(Some(&expected));
    let out = stage.run(&["verify", "--dest", DEST]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("checked 5 day files (2629 lines)"));

    // Break one day: reversed, one duplicate (of line 1, away from it: left to the repair, which
    // sorts), one trailing blank; plus a key that is no day.
    let good = std::fs::read(expected.join("20261121")).unwrap();
    let owned = text(&good);
    let mut lines: Vec<&str> = owned.lines().collect();
    lines.reverse();
    lines.push(lines[0]);
    let broken = lines.join("\n") + "\n\n";
    stage.put(&format!("{PREFIX}20261121"), broken.into_bytes());
    stage.put(&format!("{PREFIX}readme.txt"), b"not a day".to_vec());
    stage.put(
        "events/quarantine/20261121",
        b"not under the prefix".to_vec(),
    );

    let out = stage.run(&["verify", "--dest", DEST, "--max-listed", "1000"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("s3://logpublish/events/prod/20261121: 599 findings in 601 lines (out of order 598, blank line 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 2: out of order: sorts before line 1"),
        "{stdout}"
    );
    assert!(stdout.contains("line 601: blank line"), "{stdout}");
    assert!(stdout.contains("checked 5 day files"), "{stdout}");

    stage.proxy.reset_counts();
    let out = stage.run(&["verify", "--dest", DEST, "--repair"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(stage.archive()["20261121"], good, "repaired byte for byte");
    assert_eq!(
        stage.proxy.count("s3:PutObject"),
        1,
        "only the broken day is written"
    );
    assert_eq!(stage.archive()["readme.txt"], b"not a day");

    let out = stage.run(&["verify", "--dest", DEST]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn verify_repair_does_not_lose_a_concurrent_writers_line() {
    needs_emulators!();
    let expected = fixture("malformed").join("expected");
    let stage = Stage::bucket(Some(&expected));
    let good = std::fs::read(expected.join("20261124")).unwrap();
    let owned = text(&good);
    let mut lines: Vec<&str> = owned.lines().collect();
    lines.swap(0, 1);
    stage.put(
        &format!("{PREFIX}20261124"),
        (lines.join("\n") + "\n").into_bytes(),
    );
    // Just before the repair's PutObject, another writer adds a line: the conditional write
    // fails, and the repair reads the day again.
    let extra = r#"{"timestamp": "2026-11-24T23:59:59+00:00", "channel": "x", "endpoint": "x", "event": "late"}"#;
    let s3 = stage.s3.clone();
    let mut all: Vec<&str> = owned.lines().chain([extra]).collect();
    all.sort_unstable();
    let sorted_plus_extra = all.join("\n") + "\n";
    let body = {
        let mut l = lines.clone();
        l.push(extra);
        l.join("\n") + "\n"
    };
    stage.proxy.inject(
        "s3:PutObject",
        support::Fault::hook(move || {
            let s3 = s3.clone();
            let body = body.clone();
            support::block_on_fresh(async move {
                support::put_object(&s3, BUCKET, &format!("{PREFIX}20261124"), body.into_bytes())
                    .await;
            });
        }),
        1,
    );
    let out = stage.run(&["verify", "--dest", DEST, "--repair"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(stage.proxy.injected("s3:PutObject"), 1);
    assert_eq!(text(&stage.archive()["20261124"]), sorted_plus_extra);
}

const CALLER: &str = "+15035550199";

#[test]
fn backfill_into_s3_matches_local_mode() {
    needs_emulators!();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("metrics.log");
    let lines = [
        "2022-03-13 01:59:59,999 UNIQUEID=1.2, CHANNEL=SIP/630-00000002, CALLERID(number)=+15035550199, name=operator",
        "2022-03-13 03:00:01,500 UNIQUEID=1.4, CHANNEL=SIP/630-00000004, CALLERID(number)=+15035550199, name=operator",
        "garbage",
        "2022-11-06 01:30:00,100 UNIQUEID=1.6, CHANNEL=SIP/630-00000007, CALLERID(number)=+15035550199, name=filterdial",
        "2022-11-06 02:00:00,000 UNIQUEID=1.7, CHANNEL=SIP/630-00000008, CALLERID(number)=+15035550199, name=filterdial",
    ];
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    // An existing day in both archives.
    let existing = tmp.path().join("existing");
    std::fs::create_dir_all(&existing).unwrap();
    std::fs::write(
        existing.join("20221106"),
        "{\"timestamp\": \"2022-11-06T00:00:01-07:00\", \"channel\": \"SIP/1\", \"event\": \"old\"}\n",
    )
    .unwrap();
    let local = tmp.path().join("local");
    copy_dir(&existing, &local);
    let out = bin()
        .args([
            "backfill",
            "--source",
            log.to_str().unwrap(),
            "--dest",
            local.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    let stage = Stage::bucket(Some(&existing));
    let report = tmp.path().join("report.json");
    let out = stage.run(&[
        "backfill",
        "--source",
        log.to_str().unwrap(),
        "--dest",
        DEST,
        "--report",
        report.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("skipped 1 line (not metrics lines): line 3"),
        "{stderr}"
    );
    let archive = stage.archive();
    assert_eq!(archive, tree(&local));
    assert_eq!(archive.len(), 2);
    assert!(text(&archive["20221106"]).contains("2022-11-06T01:30:00-07:00"));
    assert!(text(&archive["20221106"]).contains("2022-11-06T02:00:00-08:00"));
    for bytes in archive.values() {
        assert!(!text(bytes).contains(CALLER));
    }
    let r = support::read_json(&report);
    assert_eq!(r["skipped"], 1);
    assert_eq!(r["days"]["20221106"]["new_lines"], 2);
    assert_eq!(r["days"]["20221106"]["total_lines"], 3);
    assert!(r["requests"]["s3:PutObject"].as_u64().unwrap() >= 2);
}

#[test]
fn stats_on_s3_matches_local_mode() {
    needs_emulators!();
    let expected = fixture("emulator").join("expected");
    let stage = Stage::bucket(Some(&expected));
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    copy_dir(&expected, &local);
    for by in ["event", "endpoint", "day", "hour"] {
        let s3 = stage.run(&["stats", "--dest", DEST, "--by", by, "--format", "json"]);
        assert_eq!(s3.status.code(), Some(0), "{}", text(&s3.stderr));
        let here = bin()
            .args([
                "stats",
                "--dest",
                local.to_str().unwrap(),
                "--by",
                by,
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert_eq!(text(&s3.stdout), text(&here.stdout), "by {by}");
        let v: serde_json::Value = serde_json::from_slice(&s3.stdout).unwrap();
        assert_eq!(v["total"], 500);
    }
    let s3 = stage.run(&[
        "stats", "--dest", DEST, "--by", "day", "--format", "csv", "--from", "20261127",
    ]);
    assert_eq!(text(&s3.stdout), "day,count\n20261127,143\n20261128,168\n");
}

fn quarantine_records(bodies: &[String]) -> String {
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({
                "reason": "bad_timestamp",
                "message_id": format!("m-{i}"),
                "received_at": "2026-11-27T22:27:59.425Z",
                "body": body,
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn requeue_sends_every_quarantined_body_back_in_batches() {
    needs_emulators!();
    let stage = Stage::bucket(None);
    let queue = stage
        .rt
        .block_on(support::create_queue(&stage.sqs, "events"));
    let bodies: Vec<String> = (0..23)
        .map(|i| {
            serde_json::json!({
                "Type": "Notification",
                "Message": serde_json::json!({"timestamp": format!("bad-{i}"), "event": {}}).to_string(),
                "note": format!("caf\u{e9} \u{1f4de} \"{i}\"\ttab"),
            })
            .to_string()
        })
        .collect();
    let key = "events/quarantine/20261127T222759Z-ab12cd-0001.jsonl";
    stage.put(key, quarantine_records(&bodies).into_bytes());
    let from = format!("s3://{BUCKET}/{key}");

    // A dry run sends nothing.
    let out = stage.run(&["requeue", "--from", &from, "--to", &queue, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 23);
    assert!(text(&out.stdout).starts_with("would send m-0 (bad_timestamp, "));
    assert_eq!(stage.proxy.count("sqs:SendMessageBatch"), 0);
    assert_eq!(
        stage.rt.block_on(support::queue_depth(&stage.sqs, &queue)),
        (0, 0)
    );

    let out = stage.run(&["requeue", "--from", &from, "--to", &queue]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("read 23 records"), "{stderr}");
    assert!(
        stderr.contains("sent 23, failed 0 (3 SendMessageBatch calls)"),
        "{stderr}"
    );
    assert_eq!(stage.proxy.count("sqs:SendMessageBatch"), 3, "10 + 10 + 3");
    let mut got = stage
        .rt
        .block_on(support::receive_all_bodies(&stage.sqs, &queue));
    got.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got, want, "bodies arrive intact");
    // The quarantine object is left as it was.
    let kept = stage
        .rt
        .block_on(support::get_object(&stage.s3, BUCKET, key))
        .unwrap();
    assert_eq!(text(&kept), quarantine_records(&bodies));
}

#[test]
fn requeue_reports_unreadable_records_and_a_failing_queue() {
    needs_emulators!();
    let stage = Stage::bucket(None);
    let queue = stage
        .rt
        .block_on(support::create_queue(&stage.sqs, "events"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("q.jsonl");
    let bodies = vec!["{\"a\": 1}".to_owned(), "{\"b\": 2}".to_owned()];
    std::fs::write(&file, quarantine_records(&bodies) + "not a record\n").unwrap();
    let out = stage.run(&["requeue", "--from", file.to_str().unwrap(), "--to", &queue]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sent 2, failed 0"), "{stderr}");
    assert!(
        stderr.contains("line 3 is not a quarantine record"),
        "{stderr}"
    );

    // Every attempt answered 500: the SDK's retries and ours give up, and the bodies are listed.
    stage
        .proxy
        .inject("sqs:SendMessageBatch", support::Fault::Status(500), 1000);
    std::fs::write(&file, quarantine_records(&bodies)).unwrap();
    let out = stage.run(&[
        "requeue",
        "--from",
        file.to_str().unwrap(),
        "--to",
        &queue,
        "--max-attempts",
        "1",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sent 0, failed 2"), "{stderr}");
    assert!(stderr.contains("FAILED m-0: "), "{stderr}");
    assert_eq!(
        stage.proxy.injected("sqs:SendMessageBatch"),
        4,
        "4 attempts of one batch"
    );
}

/// A body SQS refuses (a character SQS does not allow) is reported with the queue's error; the
/// valid bodies of its batch are sent. SQS blames such an entry on the sender (`SenderFault`):
/// it is not sent again. An entry failed for a reason that may pass is sent again: LocalStack
/// does not mark this one as the sender's fault, and the proxy makes its answer AWS's.
#[test]
fn requeue_does_not_send_again_a_body_the_queue_refuses_as_the_senders_fault() {
    needs_emulators!();
    // moto accepts any character in a body.
    let stage = Stage::bucket_on(Emulator::of(Kind::LocalStack), None);
    let queue = stage
        .rt
        .block_on(support::create_queue(&stage.sqs, "events"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("q.jsonl");
    let bodies = vec![
        "{\"a\": 1}".to_owned(),
        "{\"b\": \"\u{1}\"}".to_owned(),
        "{\"c\": 3}".to_owned(),
    ];
    std::fs::write(&file, quarantine_records(&bodies)).unwrap();
    let requeue = || {
        let out = stage.run(&["requeue", "--from", file.to_str().unwrap(), "--to", &queue]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("FAILED m-1: InvalidMessageContents: Invalid characters found."),
            "{stderr}"
        );
        let mut got = stage
            .rt
            .block_on(support::receive_all_bodies(&stage.sqs, &queue));
        got.sort();
        assert_eq!(got, [bodies[0].clone(), bodies[2].clone()]);
        stderr
    };

    // As LocalStack answers (SenderFault false): sent again, 4 calls in all.
    let stderr = requeue();
    assert!(
        stderr.contains("sent 2, failed 1 (4 SendMessageBatch calls)"),
        "{stderr}"
    );
    assert_eq!(stage.proxy.count("sqs:SendMessageBatch"), 4);

    // As AWS answers (SenderFault true): one call.
    let senders_fault = |body: bytes::Bytes| {
        let mut answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for failed in answer["Failed"].as_array_mut().unwrap() {
            failed["SenderFault"] = true.into();
        }
        serde_json::to_vec(&answer).unwrap().into()
    };
    stage.proxy.inject(
        "sqs:SendMessageBatch",
        support::Fault::Rewrite(std::sync::Arc::new(senders_fault)),
        1,
    );
    let stderr = requeue();
    assert!(
        stderr.contains("sent 2, failed 1 (1 SendMessageBatch call)"),
        "{stderr}"
    );
    assert_eq!(stage.proxy.count("sqs:SendMessageBatch"), 5);
}

/// Runs a tool on the size-class matrix at `t` on S3 (the emulator and thresholds of
/// [`sizes::emulator`]) and checks every day byte for byte and the write calls each size needs.
fn size_matrix_on_s3(
    (emulator, t): (Emulator, sizes::Thresholds),
    matrix: &[sizes::SizedDay],
    args: &[&str],
    what: &str,
) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let existing = tmp.path().join("existing");
    sizes::write_existing(&existing, matrix);
    let stage = Stage::bucket_on(emulator, Some(&existing));
    let mut cmd = stage.bin();
    cmd.args(args).args(["--dest", DEST]).args(t.flags());
    let started = std::time::Instant::now();
    let out = cmd.output().unwrap();
    eprintln!(
        "{what}: {} in {:.1?}",
        sizes::describe(matrix),
        started.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    sizes::assert_days(&stage.archive(), matrix, what);
    let p = &stage.proxy;
    let (puts, uploads, parts) = sizes::expected_writes(&t, matrix);
    assert_eq!(
        (
            p.count("s3:PutObject"),
            p.count("s3:CreateMultipartUpload"),
            p.count("s3:UploadPart"),
            p.count("s3:CompleteMultipartUpload")
        ),
        (puts, uploads, parts, uploads),
        "{what}: {:?}",
        p.counts()
    );
    assert_eq!((uploads, parts), (2, 10), "multipart+1 and 5 parts");
    out
}

const MATRIX_DAYS: [&str; 7] = [
    "20261101", "20261102", "20261103", "20261104", "20261105", "20261106", "20261107",
];

/// `verify --repair` rewrites unsorted days of every size class sorted, byte for byte.
#[test]
fn every_size_class_is_repaired_through_verify_on_s3() {
    needs_emulators!();
    let (emulator, t) = sizes::emulator(Kind::for_suite());
    let matrix = sizes::matrix(&t, &MATRIX_DAYS, 0, |_, _| Vec::new(), true);
    let out = size_matrix_on_s3(
        (emulator, t),
        &matrix,
        &["verify", "--repair"],
        "verify --repair on S3",
    );
    assert!(
        text(&out.stdout).contains("repaired 7 files"),
        "{}",
        text(&out.stdout)
    );
}

/// `backfill` adds metrics lines to days of every size class.
#[test]
fn every_size_class_is_merged_through_backfill_on_s3() {
    needs_emulators!();
    let tmp = tempfile::tempdir().unwrap();
    let days = [
        "20220110", "20220111", "20220112", "20220113", "20220114", "20220115", "20220116",
    ];
    let (emulator, t) = sizes::emulator(Kind::for_suite());
    let matrix = sizes::matrix(&t, &days, 3, |d, i| sizes::metrics(d, i).1, false);
    let log = tmp.path().join("metrics.log");
    let lines: Vec<String> = days
        .iter()
        .flat_map(|d| (0..3).map(move |i| sizes::metrics(d, i).0))
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    size_matrix_on_s3(
        (emulator, t),
        &matrix,
        &["backfill", "--source", log.to_str().unwrap()],
        "backfill on S3",
    );
}

fn record_line(reason: &str, id: &str, body: &str) -> String {
    serde_json::json!({
        "reason": reason,
        "message_id": id,
        "received_at": "2026-11-27T22:27:59.425Z",
        "body": body,
    })
    .to_string()
        + "\n"
}

#[test]
fn requeue_reads_a_whole_prefix_in_both_layouts_and_sends_each_record_once() {
    needs_emulators!();
    let stage = Stage::bucket(None);
    let queue = stage
        .rt
        .block_on(support::create_queue(&stage.sqs, "events"));
    let bodies: Vec<String> = (0..4).map(|i| format!("{{\"bad\": {i}")).collect();
    // An older writer's per-run file with three records...
    let old: String = (0..3)
        .map(|i| record_line("not_json", &format!("m-{i}"), &bodies[i]))
        .collect();
    stage.put(
        "events/quarantine/20261127T222759Z-ab12cd-0001.jsonl",
        old.into_bytes(),
    );
    // ...this version's one-record objects, one of them the same record as in the old file...
    for i in [0, 3] {
        let id = format!("m-{i}");
        stage.put(
            &format!("events/quarantine/{}", record_name(&id, &bodies[i])),
            record_line("not_json", &id, &bodies[i]).into_bytes(),
        );
    }
    // ...and what is no record: doctor's probe, and something that is not JSON lines.
    stage.put("events/quarantine/.doctor-probe-20261127", Vec::new());
    stage.put("events/quarantine/notes.txt", b"not a record".to_vec());
    let from = format!("s3://{BUCKET}/events/quarantine/");

    let out = stage.run(&["requeue", "--from", &from, "--to", &queue, "--dry-run"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        text(&out.stdout).lines().count(),
        4,
        "{}",
        text(&out.stdout)
    );
    assert!(
        stderr.contains("would send 4 bodies") && stderr.contains("read 5 records from 3 objects"),
        "{stderr}"
    );

    let out = stage.run(&["requeue", "--from", &from, "--to", &queue]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "read 5 records from 3 objects in s3://logpublish/events/quarantine/: sent 4, failed 0"
        ) && stderr.contains("1 record met again, sent once"),
        "{stderr}"
    );
    let mut got = stage
        .rt
        .block_on(support::receive_all_bodies(&stage.sqs, &queue));
    got.sort();
    assert_eq!(got, bodies, "each body once");

    // A bucket without a prefix or key is refused before anything is read.
    let out = stage.run(&["requeue", "--from", "s3://logpublish/", "--to", &queue]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("s3://BUCKET/PREFIX/"));
}

/// Drains `queue` into the stage's archive; the report.
fn drain_queue(stage: &Stage, queue: &str, tmp: &Path, name: &str) -> serde_json::Value {
    let report = tmp.join(name);
    let out = stage
        .bin()
        .args([
            "drain",
            "--source",
            queue,
            "--dest",
            DEST,
            "--wait-secs",
            "1",
            "--progress",
            "off",
            "--receivers",
            "1",
        ])
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    support::read_json(&report)
}

#[test]
fn requeued_minimised_bodies_give_the_archive_and_reasons_the_raw_ones_give() {
    needs_emulators!();
    // Records of good bodies, written the way the writer writes them (minimised, one per
    // object), stand for messages quarantined by a cause since fixed; the realistic bad bodies
    // are quarantined again. Sent back with requeue and drained, they give byte for byte the
    // archive the raw bodies give, with the same counts and reasons.
    let tmp = tempfile::tempdir().unwrap();
    let existing = fixture("emulator").join("existing");
    let mut raw: Vec<String> = std::fs::read_to_string(fixture("emulator").join("messages.jsonl"))
        .unwrap()
        .lines()
        .take(80)
        .map(str::to_owned)
        .collect();
    raw.extend(support::ami_quarantine_bodies().into_iter().map(|(_, b)| b));
    assert!(raw.iter().filter(|b| b.contains("CallerIDName")).count() > 40);
    let oracle = tmp.path().join("oracle/prod");
    copy_dir(&existing, &oracle);
    let msgs = tmp.path().join("raw.jsonl");
    std::fs::write(&msgs, raw.join("\n") + "\n").unwrap();
    let oracle_report = tmp.path().join("oracle.json");
    support::run_ok(
        bin()
            .args(["drain", "--source", msgs.to_str().unwrap(), "--dest"])
            .arg(&oracle)
            .arg("--report")
            .arg(&oracle_report),
    );
    let oracle_report = support::read_json(&oracle_report);

    let stage = Stage::bucket(Some(&existing));
    let queue = stage
        .rt
        .block_on(support::create_queue(&stage.sqs, "events"));
    for (i, body) in raw.iter().enumerate() {
        let id = format!("m-{i}");
        let minimised = minimise(body, &Redaction::default());
        stage.put(
            &format!("events/quarantine/{}", record_name(&id, &minimised)),
            record_line("bad_timestamp", &id, &minimised).into_bytes(),
        );
    }
    let from = format!("s3://{BUCKET}/events/quarantine/");
    let out = stage.run(&["requeue", "--from", &from, "--to", &queue]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = drain_queue(&stage, &queue, tmp.path(), "r.json");

    let archive = stage.archive();
    assert_eq!(
        archive,
        tree(&oracle),
        "the archive of the raw bodies, byte for byte"
    );
    for k in [
        "kept",
        "dropped",
        "quarantined",
        "dropped_by",
        "quarantined_by",
    ] {
        assert_eq!(report[k], oracle_report[k], "{k}");
    }
    assert!(report["kept"].as_u64().unwrap() > 30, "{report}");
}

#[test]
fn quarantine_list_and_show_read_both_layouts_on_s3_with_only_list_and_get() {
    needs_emulators!();
    let stage = Stage::bucket(None);
    let bodies: Vec<String> = (0..4).map(|i| format!("{{\"bad\": {i}")).collect();
    // An older writer's per-run object with three records, two reasons...
    let old = record_line("not_json", "m-0", &bodies[0])
        + &record_line("bad_timestamp", "m-1", &bodies[1])
        + &record_line("not_json", "m-2", &bodies[2]);
    let old_key = "events/quarantine/20261127T222759Z-ab12cd-0001.jsonl";
    stage.put(old_key, old.into_bytes());
    // ...this version's one-record objects...
    let new_name = record_name("m-3", &bodies[3]);
    stage.put(
        &format!("events/quarantine/{new_name}"),
        record_line("no_event_object", "m-3", &bodies[3]).into_bytes(),
    );
    let denied_name = record_name("m-4", "{}");
    stage.put(
        &format!("events/quarantine/{denied_name}"),
        record_line("not_json", "m-4", "{}").into_bytes(),
    );
    // ...what is no record, and a day file the default location must not reach.
    stage.put("events/quarantine/.doctor-probe-20261127", Vec::new());
    stage.put("events/quarantine/notes.txt", b"not a record".to_vec());
    stage.put("events/prod/20261127.jsonl", b"{}\n".to_vec());

    // One object is denied: it is listed as unreadable with its key, and the rest are counted.
    stage.proxy.reset_counts();
    stage.proxy.inject_on_path(
        "s3:GetObject",
        &denied_name,
        support::Fault::Status(403),
        100,
    );
    let out = stage.run(&["quarantine", "list", "--dest", DEST]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "quarantine s3://logpublish/events/quarantine/");
    assert!(
        lines.contains(
            &"  20261127T222759Z-ab12cd-0001.jsonl          3  bad_timestamp 1, not_json 2"
        ),
        "{stdout}"
    );
    assert!(
        lines.contains(&format!("  {new_name}      1  no_event_object 1").as_str()),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "    unreadable: s3://logpublish/events/quarantine/{denied_name}: cannot read s3://logpublish/events/quarantine/{denied_name}: "
        )),
        "{stdout}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "total: 4 records in 3 objects: bad_timestamp 1, no_event_object 1, not_json 2; 1 unreadable (listed above)"
    );
    // What the operator policy grants (deploy/terraform/operator.tf): nothing else is called.
    let ops: Vec<String> = stage.proxy.counts().into_keys().collect();
    assert_eq!(ops, ["s3:GetObject", "s3:ListObjectsV2"], "{ops:?}");
    stage.proxy.clear_faults();

    // show: an old object's records, one per line, by name or by whole key.
    let want = format!(
        "bad_timestamp  m-1  2026-11-27T22:27:59.425Z  {}",
        bodies[1]
    );
    for key in [
        "20261127T222759Z-ab12cd-0001.jsonl".to_owned(),
        format!("s3://{BUCKET}/{old_key}"),
    ] {
        let out = stage.run(&["quarantine", "show", "--dest", DEST, &key]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let got = text(&out.stdout);
        assert_eq!(got.lines().count(), 3, "{got}");
        assert_eq!(got.lines().nth(1), Some(want.as_str()), "{got}");
    }

    // A key that is not there, and a bucket that is not there: exit 3, named.
    let out = stage.run(&["quarantine", "show", "--dest", DEST, "gone.jsonl"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("s3://logpublish/events/quarantine/gone.jsonl"),
        "{}",
        text(&out.stderr)
    );
    let out = stage.run(&[
        "quarantine",
        "list",
        "--quarantine",
        "s3://no-such-bucket/q/",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("cannot list s3://no-such-bucket/q/"),
        "{}",
        text(&out.stderr)
    );
}
