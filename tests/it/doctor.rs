//! `doctor` end to end: the binary against an AWS emulator of its own per test, and in local
//! mode. Checks the checklist's lines, the exit status, and that doctor changes nothing it
//! should not (queue depth, objects).

use std::process::Output;

use crate::support::{self, bin, needs_emulators, rt, Emulator, BUCKET, DEST, QPREFIX};

fn doctor(emulator: &Emulator, args: &[&str]) -> Output {
    let mut c = bin();
    c.arg("doctor").args(args);
    for (k, v) in support::env_for(&emulator.endpoint) {
        c.env(k, v);
    }
    c.output().expect("running s3-event-writer doctor")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The line starting with `tag` that contains `text`, and the line after it.
fn line_with<'a>(text: &'a str, tag: &str, needle: &str) -> Option<(&'a str, Option<&'a str>)> {
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with(tag) && l.contains(needle))?;
    Some((lines[i], lines.get(i + 1).copied()))
}

fn today() -> String {
    jiff::Timestamp::now().strftime("%Y%m%d").to_string()
}

#[test]
fn staged_setup_passes_shows_depth_and_consumes_nothing() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    let (s3, sqs) = rt.block_on(async { (emulator.s3().await, emulator.sqs().await) });
    let queue = rt.block_on(async {
        support::create_bucket(&s3, BUCKET).await;
        support::put_object(&s3, BUCKET, &format!("events/prod/{}", today()), "x\n").await;
        let (url, _dlq) = support::create_queue_with_dlq(&sqs, "events", 5).await;
        let bodies: Vec<String> = (0..3).map(|i| format!("{{\"n\": {i}}}")).collect();
        support::send_bodies(&sqs, &url, &bodies).await;
        url
    });

    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!text.contains("[FAIL]"), "{}", describe(&out));
    assert!(
        line_with(&text, "[ok]", "AWS credentials").is_some(),
        "{text}"
    );
    let (depth, _) = line_with(&text, "[ok]", &queue).expect("an [ok] line naming the queue");
    assert!(depth.contains("3 visible, 0 in flight"), "{text}");
    assert!(
        line_with(&text, "[ok]", "dead-letter queue").is_some_and(|(l, _)| l.contains("-dlq")),
        "{text}"
    );
    assert!(
        line_with(&text, "[ok]", "bucket logpublish").is_some(),
        "{text}"
    );
    let day = format!("s3://logpublish/events/prod/{}", today());
    assert!(
        line_with(&text, "[ok]", &day).is_some_and(|(l, _)| l.contains("readable")),
        "{text}"
    );
    assert!(
        line_with(&text, "[skip]", "--write-probe").is_some(),
        "{text}"
    );

    // Nothing received, nothing deleted: the three messages are still visible.
    let depth = rt.block_on(support::queue_depth(&sqs, &queue));
    assert_eq!(depth, (3, 0), "doctor must not receive or delete messages");
}

#[test]
fn missing_queue_fails_naming_it_with_a_fix() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    rt.block_on(async { support::create_bucket(&emulator.s3().await, BUCKET).await });
    let queue = format!("{}/123456789012/no-such-queue", emulator.endpoint);

    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (line, next) = line_with(&text, "[FAIL]", &queue).expect("a [FAIL] line naming the queue");
    assert!(line.contains("does not exist"), "{text}");
    let fix = next.unwrap_or_default().trim_start();
    assert!(
        fix.starts_with("fix:") && fix.contains("QUEUE_URL"),
        "{text}"
    );
    // The other checks still ran.
    assert!(
        line_with(&text, "[ok]", "bucket logpublish").is_some(),
        "{text}"
    );
}

#[test]
fn missing_bucket_fails_naming_it() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    let queue = rt.block_on(async {
        support::create_queue_with_dlq(&emulator.sqs().await, "events", 5)
            .await
            .0
    });

    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (line, next) =
        line_with(&text, "[FAIL]", "bucket logpublish").expect("a [FAIL] line naming the bucket");
    assert!(line.contains("does not exist"), "{text}");
    assert!(
        next.is_some_and(|l| l.trim_start().starts_with("fix:")),
        "{text}"
    );
    assert!(line_with(&text, "[ok]", &queue).is_some(), "{text}");
}

#[test]
fn queue_without_redrive_policy_is_a_warning_only() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    let queue = rt.block_on(async {
        support::create_bucket(&emulator.s3().await, BUCKET).await;
        support::create_queue(&emulator.sqs().await, "events").await
    });

    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (_, fix) = line_with(&text, "[warn]", "no redrive policy").expect("a [warn] line");
    assert!(
        fix.is_some_and(|f| f.contains("deploy/terraform")),
        "{text}"
    );
    // No day file staged: a 404 is fine.
    let day = format!("s3://logpublish/events/prod/{}", today());
    assert!(
        line_with(&text, "[ok]", &day).is_some_and(|(l, _)| l.contains("missing (404)")),
        "{text}"
    );
    assert!(text.contains("1 warning, 0 failures"), "{text}");
}

#[test]
fn write_probe_creates_exactly_one_object_under_the_quarantine_prefix() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    let s3 = rt.block_on(emulator.s3());
    let queue = rt.block_on(async {
        support::create_bucket(&s3, BUCKET).await;
        support::create_queue_with_dlq(&emulator.sqs().await, "events", 5)
            .await
            .0
    });
    assert!(rt.block_on(support::list_keys(&s3, BUCKET, "")).is_empty());

    let out = doctor(
        &emulator,
        &["--source", &queue, "--dest", DEST, "--write-probe"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let keys = rt.block_on(support::list_keys(&s3, BUCKET, ""));
    assert_eq!(keys.len(), 1, "one probe object and nothing else: {keys:?}");
    assert!(
        keys[0].starts_with(&format!("{QPREFIX}.doctor-probe-")),
        "{keys:?}"
    );
    let (line, _) = line_with(&text, "[ok]", &keys[0]).expect("an [ok] line naming the probe");
    assert!(line.contains("s3:DeleteObject"), "{text}");
}

#[test]
fn local_file_source_and_directory_dest_pass_without_creating_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("messages.jsonl");
    std::fs::write(&source, "{}\n").unwrap();
    let dest = tmp.path().join("archive/prod");

    let out = bin()
        .args(["doctor", "--source"])
        .arg(&source)
        .arg("--dest")
        .arg(&dest)
        .arg("--write-probe")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        line_with(&text, "[ok]", &source.display().to_string()).is_some(),
        "{text}"
    );
    assert!(
        line_with(&text, "[ok]", &dest.display().to_string())
            .is_some_and(|(l, _)| l.contains("can be created")),
        "{text}"
    );
    assert!(
        line_with(&text, "[skip]", "AWS credentials").is_some(),
        "{text}"
    );
    // Doctor creates no directory, and its write probes leave nothing behind.
    assert!(!dest.exists());
    assert_eq!(support::tree(tmp.path()).len(), 1, "only the message file");
}

#[test]
fn missing_file_source_and_unwritable_dest_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let not_a_dir = tmp.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let missing = tmp.path().join("missing.jsonl");

    let out = bin()
        .args(["doctor", "--source"])
        .arg(&missing)
        .arg("--dest")
        .arg(&not_a_dir)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        line_with(&text, "[FAIL]", &missing.display().to_string()).is_some(),
        "{text}"
    );
    assert!(
        line_with(&text, "[FAIL]", &not_a_dir.display().to_string())
            .is_some_and(|(l, _)| l.contains("not a directory")),
        "{text}"
    );
}

#[test]
fn no_source_at_all_is_a_failed_check() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["doctor", "--dest"])
        .arg(tmp.path().join("prod"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (_, fix) = line_with(&text, "[FAIL]", "QUEUE_URL").expect("a [FAIL] line");
    assert!(fix.is_some_and(|f| f.contains("fix:")), "{text}");
}
