//! `doctor` end to end: the binary against an AWS emulator of its own per test, and in local
//! mode. Checks the checklist's lines, the exit status, and that doctor changes nothing it
//! should not (queue depth, objects).

use std::process::Output;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::support::{
    self, bin, needs_emulators, rt, Emulator, Fault, Kind, Stage, BUCKET, DEST, QPREFIX,
};

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

async fn set_versioning(s3: &aws_sdk_s3::Client, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("PutBucketVersioning");
}

async fn set_queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
    value: &str,
) {
    sqs.set_queue_attributes()
        .queue_url(url)
        .attributes(name, value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SetQueueAttributes on {url}: {e:?}"));
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
    // SQS's default retention, 4 days, is just enough.
    assert!(
        line_with(
            &text,
            "[ok]",
            "messages are kept 4 days (MessageRetentionPeriod 345600 s)"
        )
        .is_some(),
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
    let fix = fix.unwrap_or_default();
    assert!(
        fix.contains("deploy/terraform")
            && fix.contains("aws sqs create-queue --queue-name events-dlq")
            && fix.contains(&format!("aws sqs set-queue-attributes --queue-url {queue}")),
        "{text}"
    );
    // No day file staged: a 404 is fine.
    let day = format!("s3://logpublish/events/prod/{}", today());
    assert!(
        line_with(&text, "[ok]", &day).is_some_and(|(l, _)| l.contains("missing (404)")),
        "{text}"
    );
    // The other warning: the bucket is not versioned (LocalStack), or its versioning cannot be
    // read (moto's answer has a root element the SDK refuses).
    assert!(
        line_with(&text, "[warn]", "bucket logpublish: versioning").is_some(),
        "{text}"
    );
    assert!(text.contains("2 warnings, 0 failures"), "{text}");
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

#[test]
fn bucket_versioning_enabled_passes_and_otherwise_warns_with_the_command() {
    needs_emulators!();
    // LocalStack: moto answers GetBucketVersioning with the root element
    // GetBucketVersioningResponse instead of S3's VersioningConfiguration, which the SDK refuses.
    let emulator = Emulator::of(Kind::LocalStack);
    let rt = rt();
    let s3 = rt.block_on(emulator.s3());
    let queue = rt.block_on(async {
        support::create_bucket(&s3, BUCKET).await;
        support::create_queue_with_dlq(&emulator.sqs().await, "events", 5)
            .await
            .0
    });
    let fix = "fix: aws s3api put-bucket-versioning --bucket logpublish --versioning-configuration Status=Enabled";

    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning only: {}",
        describe(&out)
    );
    let (line, next) = line_with(
        &text,
        "[warn]",
        "bucket logpublish: versioning was never enabled",
    )
    .expect("a [warn] line for a bucket never versioned");
    assert!(line.contains("cannot be recovered"), "{text}");
    assert!(
        next.is_some_and(|l| l.trim_start().starts_with(fix)),
        "{text}"
    );

    rt.block_on(set_versioning(&s3, BucketVersioningStatus::Suspended));
    let text = stdout(&doctor(&emulator, &["--source", &queue, "--dest", DEST]));
    let (_, next) = line_with(&text, "[warn]", "bucket logpublish: versioning Suspended")
        .expect("a [warn] line for suspended versioning");
    assert!(
        next.is_some_and(|l| l.trim_start().starts_with(fix)),
        "{text}"
    );

    rt.block_on(set_versioning(&s3, BucketVersioningStatus::Enabled));
    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert!(
        line_with(&text, "[ok]", "bucket logpublish: versioning Enabled").is_some(),
        "{text}"
    );
    assert!(text.contains("0 warnings, 0 failures"), "{text}");
}

#[test]
fn denied_versioning_names_the_permission() {
    needs_emulators!();
    let stage = Stage::bucket(None);
    let queue = stage
        .rt
        .block_on(support::create_queue_with_dlq(&stage.sqs, "events", 5))
        .0;
    stage
        .proxy
        .inject("s3:GetBucketVersioning", Fault::Status(403), 1);

    let out = stage.run(&["doctor", "--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stage.proxy.injected("s3:GetBucketVersioning"), 1);
    let (line, next) = line_with(&text, "[warn]", "bucket logpublish: versioning not checked")
        .expect("a [warn] line");
    assert!(
        line.contains("access denied to s3:GetBucketVersioning"),
        "{text}"
    );
    let fix = next.unwrap_or_default();
    assert!(
        fix.contains("allow s3:GetBucketVersioning on arn:aws:s3:::logpublish")
            && fix.contains("your own credentials"),
        "{text}"
    );
}

#[test]
fn queue_retention_fails_below_two_hours_warns_below_four_days() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    let sqs = rt.block_on(emulator.sqs());
    rt.block_on(async { support::create_bucket(&emulator.s3().await, BUCKET).await });
    // Each queue has a dead-letter queue kept 14 days, so only the retention line differs.
    let queue_kept = |name: &str, secs: u64| {
        rt.block_on(async {
            let (url, dlq) = support::create_queue_with_dlq(&sqs, name, 5).await;
            let secs = secs.to_string();
            set_queue_attribute(
                &sqs,
                &url,
                QueueAttributeName::MessageRetentionPeriod,
                &secs,
            )
            .await;
            set_queue_attribute(
                &sqs,
                &dlq,
                QueueAttributeName::MessageRetentionPeriod,
                "1209600",
            )
            .await;
            url
        })
    };
    let set_fix = |url: &str| {
        format!("aws sqs set-queue-attributes --queue-url {url} --attributes MessageRetentionPeriod=1209600")
    };

    let short = queue_kept("short", 3_600);
    let out = doctor(&emulator, &["--source", &short, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (line, next) = line_with(&text, "[FAIL]", "MessageRetentionPeriod 3600 s")
        .expect("a [FAIL] line for 1 h of retention");
    assert!(
        line.contains("less than 2 × the job's interval of 1 h"),
        "{text}"
    );
    assert!(next.is_some_and(|f| f.contains(&set_fix(&short))), "{text}");

    let medium = queue_kept("medium", 86_400);
    let out = doctor(&emulator, &["--source", &medium, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (line, next) = line_with(&text, "[warn]", "MessageRetentionPeriod 86400 s")
        .expect("a [warn] line for 1 day of retention");
    assert!(line.contains("less than 4 days"), "{text}");
    assert!(
        next.is_some_and(|f| f.contains(&set_fix(&medium))),
        "{text}"
    );

    let long = queue_kept("long", 1_209_600);
    let out = doctor(&emulator, &["--source", &long, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        line_with(
            &text,
            "[ok]",
            "messages are kept 14 days (MessageRetentionPeriod 1209600 s)"
        )
        .is_some(),
        "{text}"
    );
    assert!(
        line_with(&text, "[ok]", "no less than the queue's 14 days")
            .is_some_and(|(l, _)| l.contains("dead-letter queue arn:aws:sqs:")),
        "the dead-letter queue's retention was read: {text}"
    );
}

#[test]
fn a_low_max_receive_count_and_a_short_lived_dead_letter_queue_warn() {
    needs_emulators!();
    let emulator = Emulator::start();
    let rt = rt();
    let sqs = rt.block_on(emulator.sqs());
    let (queue, dlq) = rt.block_on(async {
        support::create_bucket(&emulator.s3().await, BUCKET).await;
        let (url, dlq) = support::create_queue_with_dlq(&sqs, "events", 2).await;
        set_queue_attribute(
            &sqs,
            &url,
            QueueAttributeName::MessageRetentionPeriod,
            "1209600",
        )
        .await;
        set_queue_attribute(
            &sqs,
            &dlq,
            QueueAttributeName::MessageRetentionPeriod,
            "345600",
        )
        .await;
        (url, dlq)
    });
    let dlq_arn = rt.block_on(support::queue_arn(&sqs, &dlq));

    let out = doctor(&emulator, &["--source", &queue, "--dest", DEST]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (line, next) = line_with(&text, "[warn]", "after only 2 receives")
        .expect("a [warn] line for maxReceiveCount 2");
    assert!(
        line.contains(&dlq_arn) && line.contains("every dry run"),
        "{text}"
    );
    assert!(
        next.is_some_and(|f| f.contains(r#"\"maxReceiveCount\":\"5\""#)),
        "{text}"
    );
    let (line, next) = line_with(
        &text,
        "[warn]",
        &format!("dead-letter queue {dlq_arn}: messages are kept 4 days"),
    )
    .expect("a [warn] line for the dead-letter queue's shorter retention");
    assert!(line.contains("less than the queue's 14 days"), "{text}");
    assert!(
        next.is_some_and(|f| f.contains(&format!(
            "--queue-url {dlq} --attributes MessageRetentionPeriod=1209600"
        ))),
        "{text}"
    );

    // Raised to 5 receives: the redrive line passes.
    let policy =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}).to_string();
    rt.block_on(set_queue_attribute(
        &sqs,
        &queue,
        QueueAttributeName::RedrivePolicy,
        &policy,
    ));
    let text = stdout(&doctor(&emulator, &["--source", &queue, "--dest", DEST]));
    assert!(
        line_with(
            &text,
            "[ok]",
            &format!("dead-letter queue {dlq_arn} after 5 receives")
        )
        .is_some(),
        "{text}"
    );
}
