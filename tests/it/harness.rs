//! Proves the emulator harness (`support::emulator` and `support::proxy`): both emulators behave
//! the way the program relies on (S3 conditional writes, NoSuchKey, SQS batches, dead-letter
//! redrive), and the fault proxy counts, forwards and breaks requests the way the fault tests
//! need (on the suite's emulator).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    block_on_fresh, create_bucket, create_queue, create_queue_with_dlq, download_prefix,
    get_object, head_etag, list_keys, needs_emulators, put_object, queue_depth, raw_status,
    read_dir_files, receive_all_bodies, s3_client, send_bodies, sqs_client, upload_dir,
    with_quick_retries_s3, with_quick_retries_sqs, Emulator, Fault, FaultProxy, Kind,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

const BUCKET: &str = "archive";

/// The emulator properties the program relies on, checked on each emulator: a test module
/// `NAME` with one test per emulator, each running `NAME(kind)`.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use crate::support::{needs_emulators, Kind};

            #[tokio::test(flavor = "multi_thread")]
            async fn localstack() {
                needs_emulators!();
                super::$name(Kind::LocalStack).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn moto() {
                needs_emulators!();
                super::$name(Kind::Moto).await;
            }
        }
    };
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|i| format!(r#"{{"n":{i}}}"#)).collect()
}

async fn put_if_none_match(
    s3: &aws_sdk_s3::Client,
    key: &str,
    body: &str,
) -> Result<String, SdkError<aws_sdk_s3::operation::put_object::PutObjectError>> {
    let out = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .if_none_match("*")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await?;
    Ok(out.e_tag().unwrap_or_default().to_owned())
}

async fn put_if_match(
    s3: &aws_sdk_s3::Client,
    key: &str,
    etag: &str,
    body: &str,
) -> Result<String, SdkError<aws_sdk_s3::operation::put_object::PutObjectError>> {
    let out = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .if_match(etag)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await?;
    Ok(out.e_tag().unwrap_or_default().to_owned())
}

/// A failed conditional write as the SDK reports it: a service error, raw status 412,
/// code `PreconditionFailed` (PutObjectError has no modeled variant for it).
fn assert_precondition_failed<T: std::fmt::Debug>(
    result: Result<T, SdkError<aws_sdk_s3::operation::put_object::PutObjectError>>,
) {
    let err = result.expect_err("the conditional write should fail");
    assert!(
        matches!(err, SdkError::ServiceError(_)),
        "not a service error: {err:?}"
    );
    assert_eq!(raw_status(&err), Some(412), "{err:?}");
    let service = err.into_service_error();
    assert_eq!(service.code(), Some("PreconditionFailed"), "{service:?}");
    assert!(service.meta().message().is_some(), "{service:?}");
}

on_both!(s3_conditional_writes_work);
async fn s3_conditional_writes_work(kind: Kind) {
    let emulator = Emulator::of(kind);
    let s3 = emulator.s3().await;
    create_bucket(&s3, BUCKET).await;

    let etag = put_if_none_match(&s3, "day.jsonl", "one\n").await.unwrap();
    assert!(etag.starts_with('"'), "ETag {etag:?}");
    assert_precondition_failed(put_if_none_match(&s3, "day.jsonl", "two\n").await);
    assert_eq!(
        get_object(&s3, BUCKET, "day.jsonl").await.unwrap(),
        b"one\n"
    );

    let etag2 = put_if_match(&s3, "day.jsonl", &etag, "one\ntwo\n")
        .await
        .unwrap();
    assert_ne!(etag, etag2);
    assert_precondition_failed(put_if_match(&s3, "day.jsonl", &etag, "stale\n").await);
    assert_eq!(head_etag(&s3, BUCKET, "day.jsonl").await, Some(etag2));
    assert_eq!(
        get_object(&s3, BUCKET, "day.jsonl").await.unwrap(),
        b"one\ntwo\n"
    );

    // If-Match on a key that does not exist: 404 NoSuchKey, as on S3.
    let err = put_if_match(&s3, "missing.jsonl", &etag, "x\n")
        .await
        .expect_err("If-Match on a missing key");
    assert_eq!(raw_status(&err), Some(404), "{err:?}");
    assert_eq!(err.into_service_error().code(), Some("NoSuchKey"));
}

on_both!(s3_missing_key_is_no_such_key_and_dirs_round_trip);
async fn s3_missing_key_is_no_such_key_and_dirs_round_trip(kind: Kind) {
    let emulator = Emulator::of(kind);
    let s3 = emulator.s3().await;
    create_bucket(&s3, BUCKET).await;

    let err = s3
        .get_object()
        .bucket(BUCKET)
        .key("nope")
        .send()
        .await
        .expect_err("a missing key");
    assert_eq!(raw_status(&err), Some(404));
    assert!(err.into_service_error().is_no_such_key());
    assert_eq!(get_object(&s3, BUCKET, "nope").await, None);
    assert_eq!(head_etag(&s3, BUCKET, "nope").await, None);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("host-a")).unwrap();
    std::fs::write(dir.path().join("2026-01-01.jsonl"), "a\n").unwrap();
    std::fs::write(dir.path().join("host-a/2026-01-02.jsonl"), "b\n").unwrap();
    upload_dir(&s3, BUCKET, "prod", dir.path()).await;
    put_object(&s3, BUCKET, "prodigal/x", "not under prod/").await;
    assert_eq!(
        list_keys(&s3, BUCKET, "prod/").await,
        ["prod/2026-01-01.jsonl", "prod/host-a/2026-01-02.jsonl"]
    );
    assert_eq!(
        download_prefix(&s3, BUCKET, "prod/").await,
        read_dir_files(dir.path())
    );
}

on_both!(sqs_batches_drain_a_queue);
async fn sqs_batches_drain_a_queue(kind: Kind) {
    let emulator = Emulator::of(kind);
    let sqs = emulator.sqs().await;
    let url = create_queue(&sqs, "events").await;
    let sent = bodies(25);
    send_bodies(&sqs, &url, &sent).await;
    assert_eq!(queue_depth(&sqs, &url).await, (25, 0));

    let mut received = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        let messages = out.messages();
        if messages.is_empty() {
            break;
        }
        assert!(messages.len() <= 10);
        let entries: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                received.push(m.body().unwrap().to_owned());
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        let out = sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
    received.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(received, expected);
    assert_eq!(queue_depth(&sqs, &url).await, (0, 0));
}

on_both!(sqs_redrives_to_the_dlq_after_max_receive_count);
async fn sqs_redrives_to_the_dlq_after_max_receive_count(kind: Kind) {
    let emulator = Emulator::of(kind);
    let sqs = emulator.sqs().await;
    let (url, dlq) = create_queue_with_dlq(&sqs, "events", 2).await;
    send_bodies(&sqs, &url, &["poison".to_owned()]).await;

    let mut seen = Vec::new();
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        seen.push(out.messages().len());
    }
    // The message moves when a receive finds it already received maxReceiveCount times:
    // receives 1 and 2 return it, receive 3 returns nothing and the message is in the DLQ.
    assert_eq!(seen, [1, 1, 0]);
    assert_eq!(queue_depth(&sqs, &url).await, (0, 0));
    assert_eq!(queue_depth(&sqs, &dlq).await, (1, 0));
    assert_eq!(receive_all_bodies(&sqs, &dlq).await, ["poison"]);
    assert_eq!(queue_depth(&sqs, &dlq).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_counts_operations_and_injected_errors_are_retried() {
    needs_emulators!();
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator.endpoint);
    let s3 = with_quick_retries_s3(&s3_client(&proxy.endpoint).await);
    let sqs = with_quick_retries_sqs(&sqs_client(&proxy.endpoint).await);

    create_bucket(&s3, BUCKET).await;
    put_object(&s3, BUCKET, "prod/a", "a\n").await;
    assert_eq!(
        head_etag(&s3, BUCKET, "prod/a")
            .await
            .as_deref()
            .map(str::len),
        Some(34)
    );
    assert_eq!(get_object(&s3, BUCKET, "prod/a").await.unwrap(), b"a\n");
    assert_eq!(get_object(&s3, BUCKET, "prod/missing").await, None);
    assert_eq!(list_keys(&s3, BUCKET, "prod/").await, ["prod/a"]);
    let url = create_queue(&sqs, "events").await;
    send_bodies(&sqs, &url, &bodies(3)).await;
    assert_eq!(queue_depth(&sqs, &url).await, (3, 0));
    let counts = proxy.counts();
    let expected: Vec<(&str, u64)> = vec![
        ("s3:CreateBucket", 1),
        ("s3:GetObject", 2),
        ("s3:HeadObject", 1),
        ("s3:ListObjectsV2", 1),
        ("s3:PutObject", 1),
        ("sqs:CreateQueue", 1),
        ("sqs:GetQueueAttributes", 1),
        ("sqs:SendMessageBatch", 1),
    ];
    let counts_vec: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(counts_vec, expected);
    let secs = proxy.upstream_secs();
    assert_eq!(
        secs.keys().collect::<Vec<_>>(),
        counts.keys().collect::<Vec<_>>(),
        "every forwarded operation is timed"
    );
    assert!(secs.values().all(|s| *s > 0.0), "{secs:?}");
    let busy = proxy.upstream_busy_secs();
    assert!(
        busy > 0.0 && busy <= secs.values().sum::<f64>() * 1.01 + 1e-3,
        "busy {busy} s: at most the sum of the service times, one request at a time here: {secs:?}"
    );

    // S3 503 SlowDown twice: the SDK's third (last default) attempt succeeds.
    proxy.reset_counts();
    proxy.inject("s3:PutObject", Fault::Status(503), 2);
    put_object(&s3, BUCKET, "prod/b", "b\n").await;
    assert_eq!(proxy.injected("s3:PutObject"), 2);
    assert_eq!(proxy.count("s3:PutObject"), 3);
    assert_eq!(get_object(&s3, BUCKET, "prod/b").await.unwrap(), b"b\n");

    // Three 500s exhaust the retries; the SDK reports the injected S3 error.
    proxy.inject("s3:PutObject", Fault::Status(500), 3);
    let err = s3
        .put_object()
        .bucket(BUCKET)
        .key("prod/c")
        .body(ByteStream::from_static(b"c\n"))
        .send()
        .await
        .expect_err("three 500s");
    assert_eq!(raw_status(&err), Some(500));
    assert_eq!(err.into_service_error().code(), Some("InternalError"));
    assert_eq!(proxy.injected("s3:PutObject"), 5);

    // SQS JSON errors: 500 InternalError and 400 RequestThrottled are both retried.
    proxy.inject("sqs:SendMessageBatch", Fault::Status(500), 1);
    proxy.inject("sqs:SendMessageBatch", Fault::Status(400), 1);
    send_bodies(&sqs, &url, &bodies(2)).await;
    assert_eq!(proxy.injected("sqs:SendMessageBatch"), 2);
    assert_eq!(queue_depth(&sqs, &url).await, (5, 0));

    // ... and parsed as the modeled error once the retries run out.
    proxy.inject("sqs:ReceiveMessage", Fault::Status(400), 3);
    let err = sqs
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect_err("three throttles");
    assert_eq!(raw_status(&err), Some(400));
    let err = err.into_service_error();
    assert!(err.is_request_throttled(), "{err:?}");
    assert_eq!(proxy.injected("sqs:ReceiveMessage"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_put_responses_take_effect_and_conditional_retries_see_412() {
    needs_emulators!();
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator.endpoint);
    let s3 = with_quick_retries_s3(&s3_client(&proxy.endpoint).await);
    let direct = emulator.s3().await;
    create_bucket(&s3, BUCKET).await;

    // A plain put: written upstream, the SDK retries and simply overwrites.
    proxy.inject("s3:PutObject", Fault::LoseResponse, 1);
    put_object(&s3, BUCKET, "plain", "p\n").await;
    assert_eq!(proxy.injected("s3:PutObject"), 1);
    assert_eq!(proxy.count("s3:PutObject"), 2);
    assert_eq!(get_object(&direct, BUCKET, "plain").await.unwrap(), b"p\n");

    // A create-only put: the first attempt creates the object, the retry finds it and gets
    // 412 — so a writer must treat 412-after-retry as "maybe it was my own write".
    proxy.reset_counts();
    proxy.inject("s3:PutObject", Fault::LoseResponse, 1);
    assert_precondition_failed(put_if_none_match(&s3, "day.jsonl", "mine\n").await);
    assert_eq!(proxy.count("s3:PutObject"), 2);
    assert_eq!(
        get_object(&direct, BUCKET, "day.jsonl").await.unwrap(),
        b"mine\n"
    );

    // The same for If-Match: the retry carries the now-stale ETag.
    let etag = head_etag(&direct, BUCKET, "day.jsonl").await.unwrap();
    proxy.inject("s3:PutObject", Fault::LoseResponse, 1);
    assert_precondition_failed(put_if_match(&s3, "day.jsonl", &etag, "mine\nmore\n").await);
    assert_eq!(
        get_object(&direct, BUCKET, "day.jsonl").await.unwrap(),
        b"mine\nmore\n"
    );

    // A lost response on every attempt: a dispatch failure (hyper's IncompleteMessage, which
    // the SDK classifies as transient, hence the retries), not a service error.
    proxy.inject("s3:GetObject", Fault::LoseResponse, 3);
    let err = s3
        .get_object()
        .bucket(BUCKET)
        .key("plain")
        .send()
        .await
        .expect_err("three lost responses");
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert_eq!(proxy.injected("s3:GetObject"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_run_before_forwarding_and_delays_hold_requests() {
    needs_emulators!();
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator.endpoint);
    let s3 = s3_client(&proxy.endpoint).await;
    create_bucket(&s3, BUCKET).await;
    let etag = put_object(&s3, BUCKET, "day.jsonl", "ours\n").await;

    // Another writer edits the object between our read and our conditional write.
    let calls = Arc::new(AtomicU32::new(0));
    let hook_calls = Arc::clone(&calls);
    let endpoint = emulator.endpoint.clone();
    proxy.inject(
        "s3:PutObject",
        Fault::hook(move || {
            hook_calls.fetch_add(1, Ordering::SeqCst);
            block_on_fresh(async {
                let other = s3_client(&endpoint).await;
                put_object(&other, BUCKET, "day.jsonl", "theirs\n").await;
            });
        }),
        1,
    );
    assert_precondition_failed(put_if_match(&s3, "day.jsonl", &etag, "ours\nnew\n").await);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.injected("s3:PutObject"), 1);
    assert_eq!(
        get_object(&s3, BUCKET, "day.jsonl").await.unwrap(),
        b"theirs\n"
    );

    // Fault::Delay holds one request; set_delay every request.
    proxy.inject("s3:GetObject", Fault::Delay(Duration::from_millis(300)), 1);
    let t = Instant::now();
    get_object(&s3, BUCKET, "day.jsonl").await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // The fault held that one request only.
    get_object(&s3, BUCKET, "day.jsonl").await.unwrap();
    assert_eq!(proxy.injected("s3:GetObject"), 1);
    assert_eq!(proxy.max_concurrent_delays(), 1);
    proxy.set_delay(Duration::from_millis(100));
    let t = Instant::now();
    get_object(&s3, BUCKET, "day.jsonl").await.unwrap();
    head_etag(&s3, BUCKET, "day.jsonl").await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    proxy.set_delay(Duration::ZERO);

    // A delay longer than the client's attempt timeout: the attempt times out, the retry
    // goes through.
    let impatient = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(200))
                    .build(),
            )
            .build(),
    );
    proxy.reset_counts();
    proxy.inject("s3:GetObject", Fault::Delay(Duration::from_secs(1)), 1);
    assert_eq!(
        get_object(&impatient, BUCKET, "day.jsonl").await.unwrap(),
        b"theirs\n"
    );
    assert_eq!(proxy.count("s3:GetObject"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn serialized_s3_still_completes_concurrent_requests() {
    needs_emulators!();
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator.endpoint);
    let s3 = s3_client(&proxy.endpoint).await;
    create_bucket(&s3, BUCKET).await;
    proxy.serialize_s3(true);
    proxy.set_delay(Duration::from_millis(20));

    let keys: Vec<String> = (0..16).map(|i| format!("k{i:02}")).collect();
    futures::future::join_all(keys.iter().map(|k| put_object(&s3, BUCKET, k, k.clone()))).await;
    // The delay is taken before queuing for the S3 turn, so the delays overlap, while the
    // emulator sees one request at a time.
    assert!(
        proxy.max_concurrent_delays() > 1,
        "the delays did not overlap"
    );
    assert_eq!(proxy.max_concurrent_upstream(), 1);
    assert_eq!(list_keys(&s3, BUCKET, "").await, keys);
    for k in &keys {
        assert_eq!(get_object(&s3, BUCKET, k).await.unwrap(), k.as_bytes());
    }
    assert_eq!(proxy.count("s3:PutObject"), 16);
}

/// The harness from a plain (sync) test, the way the binary's tests use it.
#[test]
fn harness_works_from_sync_tests() {
    needs_emulators!();
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator.endpoint);
    let env = emulator.env_for(&proxy.endpoint);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(proxy.endpoint.as_str()));
    assert_eq!(get("AWS_REGION"), Some("us-west-2"));
    assert_eq!(get("S3EW_S3_PATH_STYLE"), Some("true"));

    let endpoint = proxy.endpoint.clone();
    block_on_fresh(async {
        let s3 = s3_client(&endpoint).await;
        create_bucket(&s3, BUCKET).await;
        put_object(&s3, BUCKET, "x", "x").await;
    });
    assert_eq!(proxy.count("s3:PutObject"), 1);

    emulator.reset();
    let endpoint = emulator.endpoint.clone();
    let buckets = block_on_fresh(async {
        let s3 = s3_client(&endpoint).await;
        s3.list_buckets().send().await.unwrap().buckets().len()
    });
    assert_eq!(buckets, 0);
}

/// Without the emulators installed (an empty cache), an emulator test returns at once after one
/// line saying how to install them, so a plain `cargo test` on a fresh clone passes the rest;
/// with `S3EW_REQUIRE_EMULATORS` (what scripts/test.sh sets) the same test fails instead.
#[test]
fn without_the_emulators_a_test_says_so_once_and_passes_unless_they_are_required() {
    let empty = tempfile::tempdir().unwrap();
    let run = |require: bool| {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "--test-threads",
            "1",
            "harness::harness_works_from_sync_tests",
            "harness::sqs_batches_drain_a_queue::moto",
        ])
        .env("S3EW_CACHE", empty.path())
        .env_remove("S3EW_REQUIRE_EMULATORS");
        if require {
            c.env("S3EW_REQUIRE_EMULATORS", "1");
        }
        c.output().unwrap()
    };
    let out = run(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("2 passed"), "{stdout}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("emulator tests skipped"))
        .collect();
    assert_eq!(said.len(), 1, "once, in one line: {stderr}");
    assert!(
        said[0].contains("run scripts/test.sh") && said[0].contains("moto and LocalStack"),
        "{}",
        said[0]
    );

    let out = run(true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("2 failed"), "{stdout}");
}
