//! S3 as the archive (`s3://BUCKET/PREFIX/YYYYMMDD`) and as a quarantine location.
//!
//! A day is merged by optimistic concurrency: GetObject (streamed; its ETag remembered) → the
//! core's streaming merge into a [`Spool`] → PutObject with `If-Match: <etag>`, or
//! `If-None-Match: *` when the day is new. If another writer replaced the object in between,
//! S3 answers 412 (or 409 for a concurrent conditional write) and the day is read and merged
//! again, with jittered backoff, a bounded number of times. No writer's lines are lost, and a
//! retried PUT whose first success response was lost sees 412, re-reads, finds its lines
//! already there and stops. Each such new attempt is counted ([`DayStore::conflict_retries`],
//! the `ConflictRetries` metric).
//!
//! Size classes of a merged day (defaults in brackets): up to `spool_memory_bytes` (8 MiB) it is
//! held in memory and sent as one PutObject; above that it is spooled to a temporary file, sent
//! as one PutObject streamed from that file up to `multipart_threshold_bytes` (64 MiB), and as a
//! multipart upload of `part_size_bytes` parts (16 MiB) above it, with the same condition on
//! CompleteMultipartUpload. Memory stays bounded by the spool's memory limit plus the parts in
//! flight. The spool file lives until the upload has completed, retries included (the SDK
//! re-opens it for every attempt). A missing object is 404 NoSuchKey; a 403 is
//! never read as "empty": it is an error naming the key and the permission the writer lacks.
//!
//! Quarantine records are one object each, created once per identity (see [`S3Quarantine`]).

use std::collections::BTreeMap;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::aws::{describe_sdk_error, http_status, RequestCounter};
use super::retry;
use super::spool::{merge_with_fallback, Spool, Spooled};
use super::{DayStore, DestError, QuarantineStore, Recorded};
use crate::core::{DayKey, MergeStats, SortOptions};

/// What GET permission failures need, for error messages.
const GET_PERMISSION: &str =
    "s3:GetObject on the day-file prefix (and s3:ListBucket on the bucket: without it a missing day answers 403, not 404)";
const PUT_PERMISSION: &str = "s3:PutObject on the prefix";

/// How day files are written.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Ends in `/` or is empty.
    pub prefix: String,
    /// Outputs above this size go up as a multipart upload.
    pub multipart_threshold_bytes: u64,
    /// Size of each part (at least 5 MiB on real S3).
    pub part_size_bytes: u64,
    /// Parts uploaded at once.
    pub part_concurrency: usize,
    /// Read-merge-write attempts per day before giving up on contention.
    pub conflict_attempts: u32,
    /// Merged output kept in memory before it spills to a temporary file.
    pub spool_memory_bytes: usize,
    /// Temporary files (spool, fallback sort) go here; the system default when `None`.
    pub temp_dir: Option<PathBuf>,
    /// Memory of the fallback sort for unsorted day files.
    pub sort_memory_bytes: usize,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            bucket: String::new(),
            prefix: String::new(),
            multipart_threshold_bytes: 64 << 20,
            part_size_bytes: 16 << 20,
            part_concurrency: 2,
            conflict_attempts: 10,
            spool_memory_bytes: 8 << 20,
            temp_dir: None,
            sort_memory_bytes: 16 << 20,
        }
    }
}

/// Day files in S3.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    settings: Arc<S3Settings>,
    counter: RequestCounter,
    /// Read-merge-writes started again after a 412/409 (shared by clones).
    conflict_retries: Arc<AtomicU64>,
}

enum Got {
    Missing,
    Found {
        etag: String,
        body: ByteStream,
    },
    /// The object changed since the ETag we hold (a conditional GET answered 412).
    Changed,
}

/// Why a write attempt did not succeed.
enum Attempt {
    /// Another writer got there first: read and merge again.
    Conflict(String),
    Failed(DestError),
}

/// A marker error: the object changed while we re-read it for the fallback sort.
#[derive(Debug, thiserror::Error)]
#[error("the object changed while it was being read")]
struct ChangedWhileReading;

impl S3Store {
    pub fn new(
        client: aws_sdk_s3::Client,
        settings: S3Settings,
        counter: RequestCounter,
    ) -> S3Store {
        S3Store {
            client,
            settings: Arc::new(settings),
            counter,
            conflict_retries: Arc::new(AtomicU64::new(0)),
        }
    }

    fn key(&self, day: DayKey) -> String {
        format!("{}{}", self.settings.prefix, day)
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.settings.bucket)
    }

    async fn get(&self, key: &str, if_match: Option<&str>) -> Result<Got, DestError> {
        let mut req = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key);
        if let Some(etag) = if_match {
            req = req.if_match(etag);
        }
        match req.send().await {
            Ok(out) => Ok(Got::Found {
                etag: out.e_tag.unwrap_or_default(),
                body: out.body,
            }),
            Err(e) => {
                if let SdkError::ServiceError(se) = &e {
                    if se.err().is_no_such_key() {
                        return Ok(Got::Missing);
                    }
                }
                match http_status(&e) {
                    Some(404) => Ok(Got::Missing),
                    Some(412) => Ok(Got::Changed),
                    Some(403) => Err(DestError::AccessDenied {
                        location: self.location(key),
                        operation: "GetObject",
                        permission: GET_PERMISSION,
                    }),
                    _ => Err(DestError::Store {
                        location: self.location(key),
                        message: format!("GetObject failed: {}", describe_sdk_error(&e)),
                    }),
                }
            }
        }
    }

    /// Reads the day (if any) and merges `lines` into a spool. Returns the ETag read (None for a
    /// new day), the stats and the spooled output.
    async fn read_and_merge(
        &self,
        key: &str,
        lines: Arc<Vec<Vec<u8>>>,
        keep_output: bool,
    ) -> Result<(Option<String>, MergeStats, Option<Spooled>), Attempt> {
        let first = self.get(key, None).await.map_err(Attempt::Failed)?;
        let (etag, body) = match first {
            Got::Missing => (None, None),
            Got::Found { etag, body } => (Some(etag), Some(body)),
            Got::Changed => return Err(Attempt::Conflict("changed while reading".into())),
        };
        let handle = tokio::runtime::Handle::current();
        let this = self.clone();
        let key_owned = key.to_owned();
        let etag_for_reread = etag.clone();
        let settings = self.settings.clone();
        let result: io::Result<(MergeStats, Option<Spooled>)> =
            tokio::task::spawn_blocking(move || {
                let mut body = body;
                let open = |again: bool| -> io::Result<Option<Box<dyn io::BufRead>>> {
                    if again {
                        // The fallback sort needs the object again: the same version, or we start over.
                        let got = handle
                            .block_on(this.get(&key_owned, etag_for_reread.as_deref()))
                            .map_err(io::Error::other)?;
                        body = match got {
                            Got::Found { body, .. } => Some(body),
                            Got::Missing | Got::Changed => {
                                return Err(io::Error::other(ChangedWhileReading))
                            }
                        };
                    }
                    Ok(body.take().map(|b| {
                        let _guard = handle.enter();
                        let reader = tokio_util::io::SyncIoBridge::new(b.into_async_read());
                        Box::new(BufReader::with_capacity(1 << 20, reader)) as Box<dyn io::BufRead>
                    }))
                };
                let sort = SortOptions {
                    memory_budget_bytes: settings.sort_memory_bytes,
                    spill_dir: settings.temp_dir.clone(),
                };
                let location = format!("s3://{}/{key_owned}", settings.bucket);
                if keep_output {
                    let mut spool =
                        Spool::new(settings.spool_memory_bytes, settings.temp_dir.clone());
                    let stats = merge_with_fallback(open, &lines, &mut spool, &sort, &location)?;
                    Ok((stats, Some(spool.finish()?)))
                } else {
                    let stats = merge_with_fallback(open, &lines, io::sink(), &sort, &location)?;
                    Ok((stats, None))
                }
            })
            .await
            .expect("merge task panicked");
        match result {
            Ok((stats, spooled)) => Ok((etag, stats, spooled)),
            Err(e) if is_changed(&e) => Err(Attempt::Conflict(
                "changed while re-reading for the fallback sort".into(),
            )),
            // A broken connection mid-body is worth another read.
            Err(e) => Err(Attempt::Conflict(format!("reading or merging failed: {e}"))),
        }
    }

    async fn put(&self, key: &str, data: Spooled, etag: Option<&str>) -> Result<(), Attempt> {
        if data.len() > self.settings.multipart_threshold_bytes {
            if let Spooled::File(file, len) = data {
                return self.put_multipart(key, file, len, etag).await;
            }
        }
        // `ByteStream::from_path` opens the path lazily, at every attempt of the request (the
        // SDK's retries re-read it), so the spool file must outlive `send()`: it is held in
        // `spool_file` until the PUT has completed, however many attempts it took.
        let (body, spool_file) = match data {
            Spooled::Memory(v) => (ByteStream::from(v), None),
            Spooled::File(f, _) => {
                let body = ByteStream::from_path(f.path()).await.map_err(|e| {
                    Attempt::Failed(DestError::Store {
                        location: self.location(key),
                        message: format!("reading the spool: {e}"),
                    })
                })?;
                (body, Some(f))
            }
        };
        let mut req = self
            .client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .body(body);
        req = match etag {
            Some(t) => req.if_match(t),
            None => req.if_none_match("*"),
        };
        let sent = req.send().await;
        drop(spool_file);
        sent.map(|_| ())
            .map_err(|e| self.classify_write_error(key, "PutObject", &e))
    }

    fn classify_write_error<E, R>(&self, key: &str, op: &'static str, e: &SdkError<E, R>) -> Attempt
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + super::aws::HasStatus,
    {
        match http_status(e) {
            Some(412 | 409) => Attempt::Conflict(describe_sdk_error(e)),
            Some(403) => Attempt::Failed(DestError::AccessDenied {
                location: self.location(key),
                operation: op,
                permission: PUT_PERMISSION,
            }),
            _ => Attempt::Failed(DestError::Store {
                location: self.location(key),
                message: format!("{op} failed: {}", describe_sdk_error(e)),
            }),
        }
    }

    async fn put_multipart(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
        len: u64,
        etag: Option<&str>,
    ) -> Result<(), Attempt> {
        let bucket = &self.settings.bucket;
        let created = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.classify_write_error(key, "CreateMultipartUpload", &e))?;
        let upload_id = created.upload_id.unwrap_or_default();
        let result = self
            .upload_parts_and_complete(key, &file, len, etag, &upload_id)
            .await;
        if result.is_err() {
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = abort {
                tracing::warn!(key, error = %describe_sdk_error(&e), "could not abort a failed multipart upload; a bucket lifecycle rule should clean it up");
            }
        }
        result
    }

    async fn upload_parts_and_complete(
        &self,
        key: &str,
        file: &tempfile::NamedTempFile,
        len: u64,
        etag: Option<&str>,
        upload_id: &str,
    ) -> Result<(), Attempt> {
        let part_size = self.settings.part_size_bytes.max(1);
        let parts = len.div_ceil(part_size);
        let path = file.path().to_path_buf();
        let uploads = (0..parts).map(|i| {
            let path = path.clone();
            async move {
                let offset = i * part_size;
                let size = part_size.min(len - offset);
                let body = ByteStream::read_from()
                    .path(&path)
                    .offset(offset)
                    .length(Length::Exact(size))
                    .build()
                    .await
                    .map_err(|e| {
                        Attempt::Failed(DestError::Store {
                            location: self.location(key),
                            message: format!("reading the spool: {e}"),
                        })
                    })?;
                let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.settings.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| self.classify_write_error(key, "UploadPart", &e))?;
                Ok::<CompletedPart, Attempt>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag)
                        .set_checksum_crc32(out.checksum_crc32)
                        .build(),
                )
            }
        });
        let mut done: Vec<CompletedPart> = stream::iter(uploads)
            .buffer_unordered(self.settings.part_concurrency.max(1))
            .try_collect()
            .await?;
        done.sort_by_key(|p| p.part_number);
        let mut req = self
            .client
            .complete_multipart_upload()
            .bucket(&self.settings.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            );
        req = match etag {
            Some(t) => req.if_match(t),
            None => req.if_none_match("*"),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify_write_error(key, "CompleteMultipartUpload", &e))
    }

    async fn merge(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        write: bool,
    ) -> Result<MergeStats, DestError> {
        let policy = if write {
            WritePolicy::NewLinesOnly
        } else {
            WritePolicy::Preview
        };
        let stats = self.read_merge_write(&self.key(day), lines, policy).await?;
        // Only `WritePolicy::Always` answers None (for a missing object).
        Ok(stats.unwrap_or_default())
    }

    /// The optimistic-concurrency loop shared by merges and repairs: read the day, merge, and
    /// write it back conditionally; on 412/409 start over (jittered backoff, bounded).
    async fn read_merge_write(
        &self,
        key: &str,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> Result<Option<MergeStats>, DestError> {
        let attempts = self.settings.conflict_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                self.conflict_retries.fetch_add(1, Ordering::Relaxed);
                retry::DAY_CONFLICT.pause(attempt - 1).await;
            }
            let keep_output = policy != WritePolicy::Preview;
            let (etag, stats, spooled) =
                match self.read_and_merge(key, lines.clone(), keep_output).await {
                    Ok(v) => v,
                    Err(Attempt::Conflict(why)) => {
                        tracing::info!(%key, attempt, why, "reading the day again");
                        last = why;
                        continue;
                    }
                    Err(Attempt::Failed(e)) => return Err(e),
                };
            match policy {
                WritePolicy::Preview => return Ok(Some(stats)),
                WritePolicy::NewLinesOnly if stats.new_lines == 0 => return Ok(Some(stats)),
                WritePolicy::Always if etag.is_none() => return Ok(None),
                _ => {}
            }
            let data = spooled.expect("kept output");
            match self.put(key, data, etag.as_deref()).await {
                Ok(()) => return Ok(Some(stats)),
                Err(Attempt::Conflict(why)) => {
                    tracing::info!(%key, attempt, why, "the day changed since it was read; merging again");
                    last = why;
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        tracing::warn!(%key, attempts, last, "giving up on a contended day");
        Err(DestError::Contended {
            location: self.location(key),
            attempts,
            last,
        })
    }
}

/// When [`S3Store::read_merge_write`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WritePolicy {
    /// Never (dry runs).
    Preview,
    /// When the merge added lines (a day with no new lines is not touched).
    NewLinesOnly,
    /// Whenever the object exists (repairs rewrite it sorted and de-duplicated).
    Always,
}

fn is_changed(e: &io::Error) -> bool {
    let Some(inner) = e.get_ref() else {
        return false;
    };
    inner.is::<ChangedWhileReading>()
}

impl DayStore for S3Store {
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> Result<MergeStats, DestError> {
        self.merge(day, lines, true).await
    }

    async fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> Result<MergeStats, DestError> {
        self.merge(day, lines, false).await
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }

    fn conflict_retries(&self) -> u64 {
        self.conflict_retries.load(Ordering::Relaxed)
    }
}

/// Quarantine records in S3, one object per record under the prefix, each created with
/// `If-None-Match: *`.
///
/// A 412 means an object of that name exists: the same record (the name is its identity), from
/// an earlier run, another block or writer, or this very PUT whose success answer was lost and
/// which the SDK retried. Either way the record is there, so it is success, with no GET. A 409
/// (a concurrent conditional write of the same name in progress) is tried again a few times.
#[derive(Debug, Clone)]
pub struct S3Quarantine {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// PUT attempts per record while S3 answers 409 (a concurrent write of the same record).
const QUARANTINE_CONFLICT_ATTEMPTS: u32 = 4;

impl S3Quarantine {
    pub fn new(client: aws_sdk_s3::Client, bucket: String, prefix: String) -> S3Quarantine {
        S3Quarantine {
            client,
            bucket,
            prefix,
        }
    }
}

impl QuarantineStore for S3Quarantine {
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        let key = format!("{}{name}", self.prefix);
        let location = format!("s3://{}/{key}", self.bucket);
        let body = bytes::Bytes::from(line);
        let mut attempt = 1;
        loop {
            let res = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .if_none_match("*")
                .content_type("application/x-ndjson")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            let Err(e) = res else {
                return Ok(Recorded::Created(location));
            };
            match http_status(&e) {
                Some(412) => return Ok(Recorded::AlreadyThere(location)),
                Some(409) if attempt < QUARANTINE_CONFLICT_ATTEMPTS => {
                    retry::DAY_CONFLICT.pause(attempt).await;
                    attempt += 1;
                }
                Some(403) => {
                    return Err(DestError::AccessDenied {
                        location,
                        operation: "PutObject",
                        permission: "s3:PutObject on the quarantine prefix",
                    })
                }
                _ => {
                    return Err(DestError::Store {
                        location,
                        message: format!("PutObject failed: {}", describe_sdk_error(&e)),
                    })
                }
            }
        }
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Listing, reading and rewriting day objects, for the archive tools (`verify`, `stats`).
impl S3Store {
    /// The day objects directly under the prefix (`PREFIX/YYYYMMDD`), in date order, read with
    /// ListObjectsV2 page by page. Other keys are skipped.
    pub async fn list_days(&self) -> Result<Vec<DayKey>, DestError> {
        let prefix = &self.settings.prefix;
        let mut days = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.settings.bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| match http_status(&e) {
                    Some(403) => DestError::AccessDenied {
                        location: self.location(prefix),
                        operation: "ListObjectsV2",
                        permission: "s3:ListBucket on the bucket",
                    },
                    _ => DestError::Store {
                        location: self.location(prefix),
                        message: format!("ListObjectsV2 failed: {}", describe_sdk_error(&e)),
                    },
                })?;
            for object in out.contents() {
                let Some(name) = object.key().and_then(|k| k.strip_prefix(prefix.as_str())) else {
                    continue;
                };
                if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(day) = name.parse::<DayKey>() {
                        days.push(day);
                    }
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        days.sort_unstable();
        days.dedup();
        Ok(days)
    }

    /// The body of one day object, streamed (`None` when there is none). Read it on a blocking
    /// thread with [`blocking_reader`].
    pub async fn open_day(&self, day: DayKey) -> Result<Option<ByteStream>, DestError> {
        match self.get(&self.key(day), None).await? {
            Got::Found { body, .. } => Ok(Some(body)),
            Got::Missing | Got::Changed => Ok(None),
        }
    }

    /// Rewrites a day object sorted, de-duplicated, without blank lines or trailing white space
    /// (the merge of zero new lines), with the same conditional write as a merge: `If-Match` on
    /// the ETag read, read and rewritten again when another writer got there first. `None` when
    /// the day has no object.
    pub async fn rewrite_day(&self, day: DayKey) -> Result<Option<MergeStats>, DestError> {
        self.read_merge_write(&self.key(day), Arc::new(Vec::new()), WritePolicy::Always)
            .await
    }
}

/// A blocking, buffered reader of a streamed object body. Call it and read from it on a blocking
/// thread (`spawn_blocking`); `handle` is the runtime that drives the download.
pub fn blocking_reader(
    body: ByteStream,
    handle: tokio::runtime::Handle,
) -> BufReader<tokio_util::io::SyncIoBridge<impl tokio::io::AsyncRead + Unpin + Send>> {
    BufReader::with_capacity(
        1 << 20,
        tokio_util::io::SyncIoBridge::new_with_handle(body.into_async_read(), handle),
    )
}
