//! S3 as an object store for day files (`s3://BUCKET/PREFIX/YYYYMMDD`) and as a quarantine
//! location.
//!
//! [`S3Objects`] is S3's [`ObjectStore`]: GetObject (streamed, its ETag the version; `If-Match`
//! when asked), PutObject with `If-Match: <etag>` or `If-None-Match: *`, and ListObjectsV2 page
//! by page; [`S3Store`] is the generic read-merge-write loop of
//! [`super::object::ObjectDayStore`] on it. A missing object is 404 NoSuchKey; a 412 (or a 409
//! for a concurrent conditional write) is a conflict: the day is read and merged again; a 403 is
//! never read as "empty" but an error naming the key and the permission the caller lacks.
//!
//! Size classes of a merged day (defaults in brackets): up to `spool_memory_bytes` (8 MiB) it is
//! held in memory and sent as one PutObject; above that it is spooled to a temporary file, sent
//! as one PutObject streamed from that file up to `multipart_threshold_bytes` (64 MiB), and as a
//! multipart upload of `part_size_bytes` parts (16 MiB) above it, with the same condition on
//! CompleteMultipartUpload; a day that would need more than S3's 10,000 parts goes up in larger
//! parts ([`part_size`]). Memory stays bounded by the spool's memory limit plus the parts in
//! flight. The spool file lives until the upload has completed, retries included (the SDK
//! re-opens it for every attempt).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::aws::{describe_sdk_error, http_status, list_keys, RequestCounter};
use super::object::{Condition, DaySettings, Fetched, ObjectDayStore, ObjectStore, PutError};
use super::retry;
use super::spool::Spooled;
use super::{DestError, QuarantineStore, Recorded};

/// What GET permission failures need, for error messages.
const GET_PERMISSION: &str =
    "s3:GetObject on the day-file prefix (and s3:ListBucket on the bucket: without it a missing day answers 403, not 404)";
const PUT_PERMISSION: &str = "s3:PutObject on the prefix";
const LIST_PERMISSION: &str = "s3:ListBucket on the bucket";
const QUARANTINE_PERMISSION: &str = "s3:PutObject on the quarantine prefix";

/// S3's smallest part (all but the last part of an upload may not be smaller).
pub const MIN_PART_BYTES: u64 = 5 << 20;
/// S3's largest part, and its largest PutObject.
pub const MAX_PART_BYTES: u64 = 5 << 30;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;

/// The part size of a multipart upload of `len` bytes: `configured`, or when that would take
/// more than [`MAX_PARTS`] parts, `len / MAX_PARTS` rounded up to a whole MiB. Any `len` up to
/// S3's largest object (5 TiB) then takes at most [`MAX_PARTS`] parts of at most
/// [`MAX_PART_BYTES`] (or `configured`, when larger).
pub fn part_size(configured: u64, len: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let configured = configured.max(1);
    if len.div_ceil(configured) <= MAX_PARTS {
        return configured;
    }
    len.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB
}

/// How day files are written.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Outputs above this size go up as a multipart upload.
    pub multipart_threshold_bytes: u64,
    /// Size of each part (at least 5 MiB on real S3); grown past [`MAX_PARTS`] parts.
    pub part_size_bytes: u64,
    /// Parts uploaded at once.
    pub part_concurrency: usize,
    /// The prefix, and how a day is read, merged and spooled.
    pub day: DaySettings,
}

/// Day files in S3: the generic read-merge-write loop on [`S3Objects`].
pub type S3Store = ObjectDayStore<S3Objects>;

impl ObjectDayStore<S3Objects> {
    /// Day files under `settings.bucket`/`settings.day.prefix`.
    pub fn new(client: aws_sdk_s3::Client, s: S3Settings, counter: RequestCounter) -> S3Store {
        let days = s.day.clone();
        let settings = Arc::new(s);
        let objects = S3Objects {
            client,
            settings,
            counter,
        };
        ObjectDayStore::with_objects(objects, days)
    }
}

/// One bucket as an [`ObjectStore`]; the size classes of a PUT follow its [`S3Settings`].
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    settings: Arc<S3Settings>,
    counter: RequestCounter,
}

/// An S3 error as the error to report: a 403 as [`DestError::AccessDenied`] naming the
/// permission, anything else as `OPERATION failed: CODE: MESSAGE`.
fn s3_error<E>(
    e: &SdkError<E, HttpResponse>,
    location: String,
    operation: &'static str,
    permission: &'static str,
) -> DestError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if http_status(e) == Some(403) {
        DestError::AccessDenied {
            location,
            operation,
            permission,
        }
    } else {
        let message = format!("{operation} failed: {}", describe_sdk_error(e));
        DestError::Store { location, message }
    }
}

impl S3Objects {
    /// A write's failure: 412/409 is a conflict (read and merge again), the rest fails.
    fn write_error<E>(
        &self,
        key: &str,
        operation: &'static str,
        e: &SdkError<E, HttpResponse>,
    ) -> PutError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match http_status(e) {
            Some(412 | 409) => PutError::Conflict(describe_sdk_error(e)),
            _ => PutError::Failed(s3_error(e, self.location(key), operation, PUT_PERMISSION)),
        }
    }

    fn spool_error(&self, key: &str, e: impl std::fmt::Display) -> PutError {
        let message = format!("reading the spool: {e}");
        PutError::Failed(DestError::Store {
            location: self.location(key),
            message,
        })
    }

    async fn put_single(
        &self,
        key: &str,
        data: Spooled,
        condition: Condition<'_>,
    ) -> Result<(), PutError> {
        // `from_path` opens the path at every attempt: `spool_file` lives until the PUT is done.
        let (body, spool_file) = match data {
            Spooled::Memory(v) => (ByteStream::from(v), None),
            Spooled::File(f, _) => {
                let body = ByteStream::from_path(f.path()).await;
                (body.map_err(|e| self.spool_error(key, e))?, Some(f))
            }
        };
        let (if_match, if_none_match) = headers(condition);
        let put = self.client.put_object().bucket(&self.settings.bucket);
        let sent = put
            .key(key)
            .body(body)
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .send()
            .await;
        drop(spool_file);
        sent.map(|_| ())
            .map_err(|e| self.write_error(key, "PutObject", &e))
    }

    /// A multipart upload of the spool file (aborted when it fails).
    async fn put_multipart(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
        len: u64,
        condition: Condition<'_>,
    ) -> Result<(), PutError> {
        let bucket = &self.settings.bucket;
        let create = self.client.create_multipart_upload().bucket(bucket);
        let created = create
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.write_error(key, "CreateMultipartUpload", &e))?;
        let upload_id = created.upload_id.unwrap_or_default();
        let part_size = part_size(self.settings.part_size_bytes, len);
        let uploads = (0..len.div_ceil(part_size)).map(|i| {
            let (path, upload_id) = (file.path(), &upload_id);
            async move {
                let offset = i * part_size;
                let body = ByteStream::read_from()
                    .path(path)
                    .offset(offset)
                    .length(Length::Exact(part_size.min(len - offset)))
                    .build()
                    .await
                    .map_err(|e| self.spool_error(key, e))?;
                let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let upload = self.client.upload_part().bucket(bucket).key(key);
                let out = upload
                    .upload_id(upload_id)
                    .part_number(number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| self.write_error(key, "UploadPart", &e))?;
                Ok::<_, PutError>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag)
                        .set_checksum_crc32(out.checksum_crc32)
                        .build(),
                )
            }
        });
        let result = async {
            let mut done: Vec<CompletedPart> = stream::iter(uploads)
                .buffer_unordered(self.settings.part_concurrency.max(1))
                .try_collect()
                .await?;
            done.sort_by_key(|p| p.part_number);
            let (if_match, if_none_match) = headers(condition);
            let parts = CompletedMultipartUpload::builder().set_parts(Some(done));
            let complete = self.client.complete_multipart_upload().bucket(bucket);
            complete
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(parts.build())
                .set_if_match(if_match)
                .set_if_none_match(if_none_match)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.write_error(key, "CompleteMultipartUpload", &e))
        }
        .await;
        if result.is_err() {
            let abort = self.client.abort_multipart_upload().bucket(bucket).key(key);
            if let Err(e) = abort.upload_id(&upload_id).send().await {
                tracing::warn!(key, error = %describe_sdk_error(&e), "could not abort a failed multipart upload; a bucket lifecycle rule should clean it up");
            }
        }
        result
    }
}

/// `condition` as the `If-Match` and `If-None-Match` headers of a PutObject or a
/// CompleteMultipartUpload.
fn headers(condition: Condition<'_>) -> (Option<String>, Option<String>) {
    match condition {
        Condition::IfMatch(etag) => (Some(etag.to_owned()), None),
        Condition::IfAbsent => (None, Some("*".to_owned())),
    }
}

impl ObjectStore for S3Objects {
    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.settings.bucket)
    }

    async fn get(&self, key: &str, if_version: Option<&str>) -> Result<Fetched, DestError> {
        let get = self.client.get_object().bucket(&self.settings.bucket);
        let if_match = if_version.map(str::to_owned);
        let e = match get.key(key).set_if_match(if_match).send().await {
            Ok(out) => {
                let version = out.e_tag.unwrap_or_default();
                let body = Box::new(out.body.into_async_read());
                return Ok(Fetched::Found { version, body });
            }
            Err(e) => e,
        };
        match http_status(&e) {
            Some(404) => Ok(Fetched::Missing),
            _ if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchKey") => {
                Ok(Fetched::Missing)
            }
            Some(412) => Ok(Fetched::Changed),
            _ => Err(s3_error(
                &e,
                self.location(key),
                "GetObject",
                GET_PERMISSION,
            )),
        }
    }

    async fn put(
        &self,
        key: &str,
        data: Spooled,
        condition: Condition<'_>,
    ) -> Result<(), PutError> {
        match data {
            Spooled::File(file, len) if len > self.settings.multipart_threshold_bytes => {
                self.put_multipart(key, file, len, condition).await
            }
            data => self.put_single(key, data, condition).await,
        }
    }

    /// ListObjectsV2 with the delimiter `/`, page by page.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, DestError> {
        list_keys(&self.client, &self.settings.bucket, prefix, Some("/"))
            .await
            .map_err(|e| s3_error(&e, self.location(prefix), "ListObjectsV2", LIST_PERMISSION))
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }
}

/// Quarantine records in S3, one object per record under the prefix, each created once per
/// identity with `If-None-Match: *`.
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
            let put = self.client.put_object().bucket(&self.bucket).key(&key);
            let res = put
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
                _ => return Err(s3_error(&e, location, "PutObject", QUARANTINE_PERMISSION)),
            }
        }
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn parts(configured: u64, len: u64) -> u64 {
        len.div_ceil(part_size(configured, len))
    }

    #[test]
    fn a_day_of_exactly_the_most_parts_keeps_the_configured_size() {
        let configured = 16 * MIB;
        assert_eq!(part_size(configured, MAX_PARTS * configured), configured);
        assert_eq!(parts(configured, MAX_PARTS * configured), MAX_PARTS);
        assert_eq!(part_size(configured, 100 * MIB), configured);
        // A part under a MiB (an emulator's) is kept while it suffices.
        assert_eq!(part_size(256 << 10, 4 * MIB + 1), 256 << 10);
        assert_eq!(part_size(1, MAX_PARTS), 1);
        assert_eq!(part_size(1, MAX_PARTS + 1), MIB);
    }

    #[test]
    fn one_byte_more_grows_the_part_to_the_next_mib() {
        let configured = 16 * MIB;
        let len = MAX_PARTS * configured + 1;
        assert_eq!(
            len.div_ceil(configured),
            MAX_PARTS + 1,
            "the configured size"
        );
        assert_eq!(part_size(configured, len), 17 * MIB);
        assert!(parts(configured, len) <= MAX_PARTS);
    }

    #[test]
    fn every_size_up_to_s3s_largest_object_fits_the_limits() {
        let largest = 5u64 << 40;
        for configured in [1, 256 << 10, MIN_PART_BYTES, 16 * MIB, MAX_PART_BYTES] {
            for len in [
                1,
                MAX_PARTS * MIB - 1,
                MAX_PARTS * MIB,
                MAX_PARTS * MIB + 1,
                MAX_PARTS * MIN_PART_BYTES + 1,
                largest / 3,
                largest - 1,
                largest,
            ] {
                let size = part_size(configured, len);
                assert!(size >= configured, "{configured} {len}");
                assert!(size <= MAX_PART_BYTES.max(configured), "{configured} {len}");
                assert!(parts(configured, len) <= MAX_PARTS, "{configured} {len}");
            }
        }
    }
}
