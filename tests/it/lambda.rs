//! The Lambda handler called in-process with SQS records built from the conformance bodies,
//! against the S3 emulator: the archive byte for byte, `batchItemFailures` holding exactly the
//! records of a day whose write failed, eight concurrent invocations on overlapping days, and
//! quarantine records minimised by default and raw with `S3EW_QUARANTINE_VERBATIM`'s policy.

use std::collections::BTreeMap;

use crate::support::api::adapters::{
    DirQuarantine, DirStore, RequestCounter, S3Quarantine, S3Settings, S3Store,
};
use crate::support::api::lambda::{handle_batch, Record};
use crate::support::api::{classify, BodyPolicy, Outcome, Rules, SortOptions};
use crate::support::{
    self, bodies_of, needs_emulators, sizes, Emulator, Fault, FaultProxy, Kind, BUCKET, PREFIX,
};

fn records(set: &str) -> Vec<Record> {
    bodies_of(set)
        .into_iter()
        .enumerate()
        .map(|(i, body)| Record {
            message_id: format!("{set}-{i:05}"),
            body,
        })
        .collect()
}

struct Env {
    _emulator: Emulator,
    proxy: FaultProxy,
    s3: aws_sdk_s3::Client,
    days: S3Store,
    quarantine: S3Quarantine,
}

async fn env(set: &str) -> Env {
    let emulator = Emulator::start();
    let proxy = emulator.proxy();
    let s3 = support::s3_client(&emulator.endpoint).await;
    support::create_bucket(&s3, BUCKET).await;
    support::upload_dir(&s3, BUCKET, PREFIX, &support::fixture(set).join("existing")).await;
    let via_proxy = support::with_quick_retries_s3(&support::s3_client(&proxy.endpoint).await);
    let mut settings = S3Settings {
        bucket: BUCKET.into(),
        ..S3Settings::default()
    };
    settings.day.prefix = PREFIX.into();
    let days = S3Store::new(via_proxy.clone(), settings, RequestCounter::default());
    let quarantine = S3Quarantine::new(via_proxy, BUCKET.into(), "events/quarantine/".into());
    Env {
        _emulator: emulator,
        proxy,
        s3,
        days,
        quarantine,
    }
}

async fn archive(env: &Env) -> BTreeMap<String, Vec<u8>> {
    support::download_prefix(&env.s3, BUCKET, PREFIX).await
}

fn assert_expected(got: &BTreeMap<String, Vec<u8>>, set: &str) {
    let expected = support::tree(&support::fixture(set).join("expected"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (day, bytes) in &expected {
        assert!(got[day] == *bytes, "day {day} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_written_byte_for_byte_and_nothing_fails() {
    needs_emulators!();
    let env = env("emulator").await;
    let records = records("emulator");
    let started = std::time::Instant::now();
    let out = handle_batch(
        &records,
        &env.days,
        &env.quarantine,
        &Rules::default(),
        &BodyPolicy::default(),
        "t1",
    )
    .await;
    eprintln!(
        "one invocation: {} records in {:?}",
        records.len(),
        started.elapsed()
    );
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_expected(&archive(&env).await, "emulator");
    let c: serde_json::Value = serde_json::from_slice(
        &std::fs::read(support::fixture("emulator").join("counts.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(out.report.kept, c["kept"].as_u64().unwrap());
    assert_eq!(out.report.quarantined, c["quarantined"].as_u64().unwrap());
    let q = support::list_keys(&env.s3, BUCKET, "events/quarantine/").await;
    assert_eq!(
        q.len() as u64,
        out.report.quarantined,
        "one quarantine object per quarantined record"
    );
    assert_eq!(out.report.quarantine_written, out.report.quarantined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_day_fails_exactly_its_records() {
    needs_emulators!();
    let env = env("emulator").await;
    let records = records("emulator");
    env.proxy
        .inject_on_path("s3:PutObject", "20261127", Fault::Status(500), 1000);
    let out = handle_batch(
        &records,
        &env.days,
        &env.quarantine,
        &Rules::default(),
        &BodyPolicy::default(),
        "t2",
    )
    .await;
    let expected: Vec<String> = records
        .iter()
        .filter(|r| {
            matches!(classify(&r.body, &Rules::default(), &mut Vec::new()),
                Outcome::Keep { day } if day.as_str() == "20261127")
        })
        .map(|r| r.message_id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        out.failed, expected,
        "exactly the failed day's records, and no dropped or quarantined one"
    );
    let got = archive(&env).await;
    let want = support::tree(&support::fixture("emulator").join("expected"));
    assert_eq!(got["20261126"], want["20261126"]);
    assert_eq!(got["20261128"], want["20261128"]);
    assert!(!got.contains_key("20261127"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_invocations_on_overlapping_days_give_the_exact_archive() {
    needs_emulators!();
    let env = env("emulator").await;
    let records = records("emulator");
    // Eight interleaved slices: every invocation touches every day.
    let slices: Vec<Vec<Record>> = (0..8)
        .map(|k| records.iter().skip(k).step_by(8).cloned().collect())
        .collect();
    let rules = Rules::default();
    let runs = slices.iter().enumerate().map(|(k, slice)| {
        let (days, quarantine, rules) = (&env.days, &env.quarantine, &rules);
        let body = BodyPolicy::default();
        async move { handle_batch(slice, days, quarantine, rules, &body, &format!("c{k}")).await }
    });
    let started = std::time::Instant::now();
    let outcomes = futures::future::join_all(runs).await;
    eprintln!(
        "eight concurrent invocations: {} records in {:?}; requests {:?}",
        records.len(),
        started.elapsed(),
        env.proxy.counts()
    );
    for o in &outcomes {
        assert!(o.failed.is_empty(), "{:?}", o.failed);
    }
    assert_expected(&archive(&env).await, "emulator");
    assert!(
        env.proxy.count("s3:PutObject") >= 8,
        "{:?}",
        env.proxy.counts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_records_hold_no_caller_by_default_and_the_raw_bodies_with_verbatim() {
    needs_emulators!();
    let env = env("emulator").await;
    let bad = support::ami_quarantine_bodies();
    let records: Vec<Record> = bad
        .iter()
        .enumerate()
        .map(|(i, (_, body))| Record {
            message_id: format!("ami-{i}"),
            body: body.clone(),
        })
        .collect();
    let rules = Rules::default();
    let q = || async { support::download_prefix(&env.s3, BUCKET, "events/quarantine/").await };
    let out = handle_batch(
        &records,
        &env.days,
        &env.quarantine,
        &rules,
        &BodyPolicy::default(),
        "d",
    )
    .await;
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    let minimised = q().await;
    assert_eq!(minimised.len(), bad.len());
    for bytes in minimised.values() {
        let text = String::from_utf8_lossy(bytes);
        for caller in support::CALLER_VALUES {
            assert!(!text.contains(caller), "{caller} in {text}");
        }
    }
    // The same messages again with raw bodies: other bodies, so other records beside them.
    let out = handle_batch(
        &records,
        &env.days,
        &env.quarantine,
        &rules,
        &BodyPolicy::Verbatim,
        "v",
    )
    .await;
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    let all = q().await;
    let mut raw: Vec<String> = all
        .iter()
        .filter(|(k, _)| !minimised.contains_key(*k))
        .map(|(_, b)| {
            let r: serde_json::Value = serde_json::from_slice(b).unwrap();
            r["body"].as_str().unwrap().to_owned()
        })
        .collect();
    raw.sort();
    let mut want: Vec<String> = bad.into_iter().map(|(_, b)| b).collect();
    want.sort();
    assert_eq!(raw, want, "with verbatim the records hold the raw bodies");
}

#[test]
fn started_by_lambda_without_arguments_it_runs_the_lambda_command() {
    // Lambda runs `bootstrap` with no arguments; without S3EW_DEST it must say what is missing.
    let out = support::bin()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("S3EW_DEST"), "{stderr}");
}

const MATRIX_DAYS: [&str; 7] = [
    "20261101", "20261102", "20261103", "20261104", "20261105", "20261106", "20261107",
];

/// The size-class matrix (`tests/it/support/sizes.rs`) as one invocation's records.
fn size_matrix(t: &sizes::Thresholds) -> (Vec<sizes::SizedDay>, Vec<Record>) {
    let matrix = sizes::matrix(t, &MATRIX_DAYS, 2, |d, i| sizes::event(d, i).1, false);
    let records = MATRIX_DAYS
        .iter()
        .flat_map(|d| {
            (0..2).map(move |i| Record {
                message_id: format!("{d}-{i}"),
                body: sizes::event(d, i).0,
            })
        })
        .collect();
    (matrix, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_size_class_goes_up_through_the_handler_on_s3() {
    needs_emulators!();
    let (emulator, t) = sizes::emulator(Kind::for_suite());
    let (matrix, records) = size_matrix(&t);
    let tmp = tempfile::tempdir().unwrap();
    sizes::write_existing(tmp.path(), &matrix);
    let proxy = emulator.proxy();
    let s3 = support::s3_client(&emulator.endpoint).await;
    support::create_bucket(&s3, BUCKET).await;
    support::upload_dir(&s3, BUCKET, PREFIX, tmp.path()).await;
    let via_proxy = support::s3_client(&proxy.endpoint).await;
    let mut settings = S3Settings {
        bucket: BUCKET.into(),
        part_size_bytes: t.part,
        multipart_threshold_bytes: t.multipart,
        ..S3Settings::default()
    };
    settings.day.prefix = PREFIX.into();
    settings.day.spool_memory_bytes = usize::try_from(t.spool).unwrap();
    settings.day.sort.memory_budget_bytes = usize::try_from(t.sort).unwrap();
    let days = S3Store::new(via_proxy.clone(), settings, RequestCounter::default());
    let quarantine = S3Quarantine::new(via_proxy, BUCKET.into(), "events/quarantine/".into());
    let out = handle_batch(
        &records,
        &days,
        &quarantine,
        &Rules::default(),
        &BodyPolicy::default(),
        "sizes",
    )
    .await;
    assert!(
        out.failed.is_empty(),
        "{:?} {:?}",
        out.failed,
        out.report.failures
    );
    sizes::assert_days(
        &support::download_prefix(&s3, BUCKET, PREFIX).await,
        &matrix,
        "the Lambda handler on S3",
    );
    let (puts, uploads, parts) = sizes::expected_writes(&t, &matrix);
    assert_eq!(
        (
            proxy.count("s3:PutObject"),
            proxy.count("s3:CreateMultipartUpload"),
            proxy.count("s3:UploadPart")
        ),
        (puts, uploads, parts),
        "{:?}",
        proxy.counts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_size_class_is_merged_through_the_handler_into_a_directory() {
    let (matrix, records) = size_matrix(&sizes::LOWERED);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    sizes::write_existing(&dest, &matrix);
    let days = DirStore::new(&dest).with_sort_options(SortOptions {
        memory_budget_bytes: usize::try_from(sizes::LOWERED.sort).unwrap(),
        spill_dir: None,
    });
    let quarantine = DirQuarantine::new(tmp.path().join("quarantine"));
    let out = handle_batch(
        &records,
        &days,
        &quarantine,
        &Rules::default(),
        &BodyPolicy::default(),
        "sizes",
    )
    .await;
    assert!(
        out.failed.is_empty(),
        "{:?} {:?}",
        out.failed,
        out.report.failures
    );
    sizes::assert_days(
        &support::tree(&dest),
        &matrix,
        "the Lambda handler into a directory",
    );
}
