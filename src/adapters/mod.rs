//! Sources and destinations behind small traits.
//!
//! A [`Source`] hands out batches of [`Message`]s and deletes (acknowledges) them when told to;
//! a [`DayStore`] merges sorted new lines into one day file; a [`QuarantineStore`] creates one
//! object or file per quarantine record, once per identity. The pipeline decides *when* to
//! acknowledge; adapters only do I/O and report precise errors naming the file, queue or key
//! involved.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use crate::core::{DayKey, MergeStats};

pub mod aws;
pub mod dir;
pub mod file;
pub mod retry;
pub mod s3;
pub mod spool;
pub mod sqs;

/// One message as read from a source.
#[derive(Debug, Clone)]
pub struct Message {
    /// The SQS MessageId, or `FILE:LINE` for a file source.
    pub id: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// The handle that deletes it (empty for a file source).
    pub receipt: Receipt,
    /// When it was received, RFC 3339.
    pub received_at: String,
}

/// What deletes a message from its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    pub id: String,
    pub handle: String,
}

/// The answer to [`Source::next_batch`].
#[derive(Debug)]
pub enum Batch {
    /// Some messages (never empty).
    Messages(Vec<Message>),
    /// Nothing arrived this time; the source is still live (follow mode).
    Idle,
    /// The source is exhausted (end of file, or every receiver had an empty poll).
    Drained,
}

/// The outcome of acknowledging messages.
#[derive(Debug, Default)]
pub struct AckOutcome {
    pub deleted: u64,
    /// Messages that could not be deleted, with why; they will come back.
    pub failed: Vec<(Receipt, String)>,
}

/// Where messages come from.
pub trait Source: Send {
    /// The next batch of at most `max` messages. Cancel-safe: dropping the future loses nothing.
    fn next_batch(&mut self, max: usize)
        -> impl Future<Output = Result<Batch, SourceError>> + Send;
    /// Deletes messages whose outcome is durable.
    fn ack(&mut self, receipts: Vec<Receipt>) -> impl Future<Output = AckOutcome> + Send;
    /// Messages whose write failed: stop keeping them invisible so they come back.
    fn abandon(&mut self, receipts: Vec<Receipt>) -> impl Future<Output = ()> + Send;
    /// Makes messages visible again at once (dry runs).
    fn release(&mut self, receipts: Vec<Receipt>) -> impl Future<Output = ()> + Send;
    /// Stops receiving and gives back messages received but never handed out.
    fn finish(&mut self) -> impl Future<Output = ()> + Send;
    /// Requests made so far, by API call.
    fn requests(&self) -> BTreeMap<String, u64>;
    /// Whether deletes mean anything (false for files).
    fn deletes(&self) -> bool;
}

/// Where day files live.
pub trait DayStore: Send + Sync {
    /// Merges `lines` (sorted, distinct) into the day file, atomically and without losing a
    /// concurrent writer's lines. A day with no new lines is not written.
    fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> impl Future<Output = Result<MergeStats, DestError>> + Send;
    /// What [`DayStore::merge_day`] would do, without writing.
    fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> impl Future<Output = Result<MergeStats, DestError>> + Send;
    /// Requests made so far, by API call.
    fn requests(&self) -> BTreeMap<String, u64>;
    /// Read-merge-writes started again so far because another writer changed the day (S3's
    /// 412/409); 0 for stores without optimistic concurrency.
    fn conflict_retries(&self) -> u64 {
        0
    }
}

/// What became of one quarantine record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The record was created at this location.
    Created(String),
    /// A record of that name was already there: the same message quarantined before (a rerun,
    /// a re-delivery, or a retried request whose first answer was lost). Nothing was written.
    AlreadyThere(String),
}

/// Where quarantine records go: one object or file per record, named by its identity
/// ([`crate::core::QuarantineRecord::name`]), created only if absent.
pub trait QuarantineStore: Send + Sync {
    /// Creates the record `name` holding `line` (one JSON line), atomically and durably, unless
    /// a record of that name exists: that is success too ([`Recorded::AlreadyThere`]).
    fn put_record(
        &self,
        name: &str,
        line: Vec<u8>,
    ) -> impl Future<Output = Result<Recorded, DestError>> + Send;
    /// The quarantine location, for messages.
    fn location(&self) -> String;
}

/// Reading from a source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    // The I/O error is part of the message, not a `source()`, so a chain of causes (`{:#}`)
    // names it once.
    #[error("cannot open the message file {path}: {error} (check the path given to --source)")]
    Open { path: String, error: std::io::Error },
    #[error("reading {path} failed at line {line}: {error}")]
    Read {
        path: String,
        line: u64,
        error: std::io::Error,
    },
    #[error("queue {queue}: {operation} failed: {message}")]
    Queue {
        queue: String,
        operation: &'static str,
        message: String,
    },
}

/// Writing to a destination failed.
#[derive(Debug, thiserror::Error)]
pub enum DestError {
    /// The I/O error is part of the message, not a `source()`, so it is named once.
    #[error("{path}: {action} failed: {error}")]
    Io {
        path: String,
        action: &'static str,
        error: std::io::Error,
    },
    #[error("{location}: {message}")]
    Store { location: String, message: String },
    #[error("{location}: access denied for {operation}; the writer needs {permission} on it")]
    AccessDenied {
        location: String,
        operation: &'static str,
        permission: &'static str,
    },
    /// Every read-merge-write attempt met a concurrent change (412/409) or a failed read; `last`
    /// says what the last attempt met, so a disk or network problem is not mistaken for
    /// contention.
    #[error("{location}: gave up after {attempts} read-merge-write attempts (last: {last}); its messages stay in the queue")]
    Contended {
        location: String,
        attempts: u32,
        last: String,
    },
}

impl DestError {
    pub(crate) fn io(
        path: &std::path::Path,
        action: &'static str,
        error: std::io::Error,
    ) -> DestError {
        DestError::Io {
            path: path.display().to_string(),
            action,
            error,
        }
    }
}

/// Any source the CLI can build.
#[derive(Debug)]
pub enum AnySource {
    File(file::FileSource),
    Sqs(sqs::SqsSource),
}

impl Source for AnySource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        match self {
            AnySource::File(s) => s.next_batch(max).await,
            AnySource::Sqs(s) => s.next_batch(max).await,
        }
    }
    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        match self {
            AnySource::File(s) => s.ack(receipts).await,
            AnySource::Sqs(s) => s.ack(receipts).await,
        }
    }
    async fn abandon(&mut self, receipts: Vec<Receipt>) {
        match self {
            AnySource::File(s) => s.abandon(receipts).await,
            AnySource::Sqs(s) => s.abandon(receipts).await,
        }
    }
    async fn release(&mut self, receipts: Vec<Receipt>) {
        match self {
            AnySource::File(s) => s.release(receipts).await,
            AnySource::Sqs(s) => s.release(receipts).await,
        }
    }
    async fn finish(&mut self) {
        match self {
            AnySource::File(s) => s.finish().await,
            AnySource::Sqs(s) => s.finish().await,
        }
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        match self {
            AnySource::File(s) => s.requests(),
            AnySource::Sqs(s) => s.requests(),
        }
    }
    fn deletes(&self) -> bool {
        match self {
            AnySource::File(s) => s.deletes(),
            AnySource::Sqs(s) => s.deletes(),
        }
    }
}

/// Any day store the CLI can build.
#[derive(Debug)]
pub enum AnyDayStore {
    Dir(dir::DirStore),
    S3(s3::S3Store),
}

impl DayStore for AnyDayStore {
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> Result<MergeStats, DestError> {
        match self {
            AnyDayStore::Dir(s) => s.merge_day(day, lines).await,
            AnyDayStore::S3(s) => s.merge_day(day, lines).await,
        }
    }
    async fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> Result<MergeStats, DestError> {
        match self {
            AnyDayStore::Dir(s) => s.preview_day(day, lines).await,
            AnyDayStore::S3(s) => s.preview_day(day, lines).await,
        }
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        match self {
            AnyDayStore::Dir(s) => s.requests(),
            AnyDayStore::S3(s) => s.requests(),
        }
    }
    fn conflict_retries(&self) -> u64 {
        match self {
            AnyDayStore::Dir(s) => s.conflict_retries(),
            AnyDayStore::S3(s) => s.conflict_retries(),
        }
    }
}

/// Any quarantine store the CLI can build.
#[derive(Debug)]
pub enum AnyQuarantine {
    Dir(dir::DirQuarantine),
    S3(s3::S3Quarantine),
}

impl QuarantineStore for AnyQuarantine {
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        match self {
            AnyQuarantine::Dir(s) => s.put_record(name, line).await,
            AnyQuarantine::S3(s) => s.put_record(name, line).await,
        }
    }
    fn location(&self) -> String {
        match self {
            AnyQuarantine::Dir(s) => s.location(),
            AnyQuarantine::S3(s) => s.location(),
        }
    }
}
