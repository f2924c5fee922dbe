//! SDK clients and helpers to stage and inspect an emulator (or a proxy in front of one): buckets,
//! objects, queues, messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};

/// The region every emulator test uses.
pub const REGION: &str = "us-west-2";
/// The fake credentials every emulator test uses (both emulators accept anything).
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

/// Environment for the program under test (or any SDK) talking to `endpoint` (an emulator, or
/// a proxy in front of one): fake credentials, the test region, the endpoint, path-style S3
/// addressing, and no instance-metadata lookups.
pub fn env_for(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_REGION", REGION),
        ("AWS_ENDPOINT_URL", endpoint),
        ("S3EW_S3_PATH_STYLE", "true"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// SDK clients and helpers

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "s3ew-tests",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An S3 client for `endpoint` (an emulator or a proxy), path-style, default retries (3 attempts).
pub async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An SQS client for `endpoint` (an emulator or a proxy), default retries (3 attempts).
pub async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(endpoint).await)
}

/// The SDK's default retry policy (standard, 3 attempts) with a 10 ms initial backoff instead of
/// 1 s, so fault tests that exhaust retries stay fast.
pub fn quick_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
}

/// `s3` with [`quick_retries`].
pub fn with_quick_retries_s3(s3: &aws_sdk_s3::Client) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .retry_config(quick_retries())
            .build(),
    )
}

/// `sqs` with [`quick_retries`].
pub fn with_quick_retries_sqs(sqs: &aws_sdk_sqs::Client) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        sqs.config()
            .to_builder()
            .retry_config(quick_retries())
            .build(),
    )
}

/// Creates `name` in the test region.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating bucket {name}: {e:?}"));
}

/// Writes an object unconditionally; returns its ETag (with quotes, as S3 gives it).
pub async fn put_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: impl Into<Vec<u8>>,
) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("putting s3://{bucket}/{key}: {e:?}"));
    out.e_tag().unwrap_or_default().to_owned()
}

/// The object's bytes, or `None` when there is no such key.
pub async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Some(
            out.body
                .collect()
                .await
                .unwrap_or_else(|e| panic!("reading s3://{bucket}/{key}: {e}"))
                .to_vec(),
        ),
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_no_such_key(), "getting s3://{bucket}/{key}: {e:?}");
            None
        }
    }
}

/// The object's ETag (with quotes), or `None` when there is no such key.
pub async fn head_etag(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(out) => Some(out.e_tag().unwrap_or_default().to_owned()),
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_not_found(), "heading s3://{bucket}/{key}: {e:?}");
            None
        }
    }
}

/// Every key under `prefix`, in S3's (lexicographic) order.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("listing s3://{bucket}/{prefix}: {e:?}"));
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return keys,
        }
    }
}

/// `prefix` as a "directory": empty stays empty, otherwise it ends with exactly one `/`.
fn dir_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// Uploads every file under `dir` (recursively) to `prefix/<relative path>`.
/// A prefix without a trailing `/` gets one.
pub async fn upload_dir(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, dir: &Path) {
    let prefix = dir_prefix(prefix);
    for (rel, path) in files_under(dir) {
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        put_object(s3, bucket, &format!("{prefix}{rel}"), body).await;
    }
}

/// Every object under `prefix` (a `/` is added if missing), keyed by the rest of its key.
pub async fn download_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> BTreeMap<String, Vec<u8>> {
    let prefix = dir_prefix(prefix);
    let mut out = BTreeMap::new();
    for key in list_keys(s3, bucket, &prefix).await {
        let body = get_object(s3, bucket, &key)
            .await
            .unwrap_or_else(|| panic!("s3://{bucket}/{key} vanished while downloading"));
        out.insert(key[prefix.len()..].to_owned(), body);
    }
    out
}

/// Files under `dir`, as (relative path with `/` separators, full path), sorted.
pub fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("reading a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("a path under the root");
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((rel.join("/"), path));
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// The same files as a map (relative path → bytes), to compare with [`download_prefix`].
pub fn read_dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|(rel, path)| {
            let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (rel, body)
        })
        .collect()
}

/// Creates a standard queue; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating queue {name}: {e:?}"))
        .queue_url()
        .expect("CreateQueue returned no URL")
        .to_owned()
}

/// The queue's ARN.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("getting the ARN of {url}: {e:?}"))
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("GetQueueAttributes returned no QueueArn")
        .clone()
}

/// Creates `name-dlq`, then `name` redriving into it after `max_receive_count` receives;
/// returns `(url, dlq_url)`.
pub async fn create_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> (String, String) {
    let dlq_url = create_queue(sqs, &format!("{name}-dlq")).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    })
    .to_string();
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating queue {name}: {e:?}"))
        .queue_url()
        .expect("CreateQueue returned no URL")
        .to_owned();
    (url, dlq_url)
}

/// Sends every body (10 per SendMessageBatch), asserting none failed.
pub async fn send_bodies(sqs: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) {
    for (chunk_no, chunk) in bodies.chunks(10).enumerate() {
        let entries: Vec<SendMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{chunk_no}-{i}"))
                    .message_body(body)
                    .build()
                    .expect("a complete batch entry")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap_or_else(|e| panic!("sending to {url}: {e:?}"));
        assert!(
            out.failed().is_empty(),
            "SendMessageBatch to {url} failed entries: {:?}",
            out.failed()
        );
    }
}

/// `(ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible)`.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap_or_else(|e| panic!("getting the depth of {url}: {e:?}"));
    let attrs = out.attributes().expect("GetQueueAttributes returned none");
    let get = |name: &QueueAttributeName| -> u64 {
        attrs
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name:?} missing or not a number in {attrs:?}"))
    };
    (
        get(&QueueAttributeName::ApproximateNumberOfMessages),
        get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Receives (10 at a time, no long polling) and deletes every visible message; returns the
/// bodies in the order received. For checking what ended up in a queue, e.g. a DLQ.
pub async fn receive_all_bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receiving from {url}: {e:?}"));
        let messages = out.messages();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().expect("a receipt handle"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("deleting from {url}: {e:?}"));
        }
    }
}

/// The HTTP status of a failed call's raw response (None when there was no response).
pub fn raw_status<E, R: HasStatus>(err: &SdkError<E, R>) -> Option<u16> {
    err.raw_response().map(HasStatus::status_code)
}

/// A raw HTTP response's status code.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
