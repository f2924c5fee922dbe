//! Sources and destinations behind small traits.
//!
//! A [`Source`] hands out batches of [`Message`]s and deletes (acknowledges) them when told to;
//! a [`DayStore`] merges sorted new lines into one day file, and lists, reads and rewrites day
//! files for the archive tools; a [`QuarantineStore`] creates one object or file per quarantine
//! record, once per identity. The pipeline decides *when* to acknowledge; adapters only do I/O
//! and report precise errors naming the file, queue or key involved.
//!
//! Backends: [`file`](mod@file) and [`sqs`] are sources; [`dir`] is a directory archive and quarantine;
//! an object store ([`s3`]) gets its day store from [`object::ObjectDayStore`]. The wiring picks
//! backends at run time through the enums of [`any`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use crate::core::{DayKey, MergeStats};

pub mod any;
pub mod aws;
pub mod dir;
pub mod file;
pub mod object;
pub mod retry;
pub mod s3;
pub mod spool;
pub mod sqs;
pub mod sqs_batch;

pub use any::{AnyDayStore, AnyQuarantine, AnySource};

/// A day file opened for reading, line by line. Blocking: read it on a blocking thread
/// (`spawn_blocking`), never on the async runtime's own threads (an object store's reader
/// drives its download through the runtime it was opened on).
pub type DayReader = Box<dyn std::io::BufRead + Send>;

/// One message as read from a source.
#[derive(Debug, Clone)]
pub struct Message {
    /// The SQS MessageId, or `FILE:LINE` for a file source.
    pub id: String,
    /// The raw body (a file source's bodies are slices of one shared read buffer).
    pub body: bytes::Bytes,
    /// The handle that deletes it (empty for a file source).
    pub receipt: Receipt,
    /// When it was received, RFC 3339 (one string shared by every message of a receive, or of
    /// a whole file: no allocation per message).
    pub received_at: Arc<str>,
}

/// The `received_at` of messages received now: RFC 3339, one string for a whole receive.
pub fn received_now() -> Arc<str> {
    jiff::Timestamp::now().to_string().into()
}

/// A batch of at most `max` messages from the front of `pending`, or `end` when there are none.
pub(crate) fn take_batch(pending: &mut Vec<Message>, max: usize, end: Batch) -> Batch {
    if pending.is_empty() {
        return end;
    }
    let rest = pending.split_off(max.min(pending.len()));
    Batch::Messages(std::mem::replace(pending, rest))
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

/// Where messages come from. The provided methods are those of a source that deletes nothing
/// (a file): acknowledging does nothing and no requests are made.
pub trait Source: Send {
    /// The next batch of at most `max` messages. Cancel-safe: dropping the future loses nothing.
    fn next_batch(&mut self, max: usize)
        -> impl Future<Output = Result<Batch, SourceError>> + Send;
    /// Deletes messages whose outcome is durable.
    fn ack(&mut self, _receipts: Vec<Receipt>) -> impl Future<Output = AckOutcome> + Send {
        std::future::ready(AckOutcome::default())
    }
    /// Messages whose write failed: stop keeping them invisible so they come back.
    fn abandon(&mut self, _receipts: Vec<Receipt>) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
    /// Makes messages visible again at once (dry runs).
    fn release(&mut self, _receipts: Vec<Receipt>) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
    /// Stops receiving and gives back messages received but never handed out.
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
    /// Requests made so far, by API call.
    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
    /// Whether deletes mean anything.
    fn deletes(&self) -> bool {
        false
    }
}

/// Where day files live.
pub trait DayStore: Send + Sync {
    /// Merges `lines` (sorted, distinct) into the day file and writes it back as `policy` says,
    /// atomically and without losing a concurrent writer's lines. `None` when
    /// [`WritePolicy::Always`] finds no day file.
    fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> impl Future<Output = Result<Option<MergeStats>, DestError>> + Send;
    /// Requests made so far, by API call (none for a local store).
    fn requests(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
    /// Read-merge-writes started again so far because another writer changed the day (S3's
    /// 412/409); 0 for stores without optimistic concurrency.
    fn conflict_retries(&self) -> u64 {
        0
    }
    /// The days that have a day file, in date order (the archive tools' listing).
    fn list_days(&self) -> impl Future<Output = Result<Vec<DayKey>, DestError>> + Send;
    /// One day file, streamed (see [`DayReader`]); `None` when the day has none.
    fn open_day(
        &self,
        day: DayKey,
    ) -> impl Future<Output = Result<Option<DayReader>, DestError>> + Send;
}

/// When a read-merge-write writes the day back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// Never (dry runs).
    Preview,
    /// When the merge added lines (a day with no new lines is not touched).
    NewLinesOnly,
    /// Whenever the day file exists: the merge of no new lines rewrites it sorted,
    /// de-duplicated, without blank lines or trailing white space (repairs).
    Always,
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
    // names it once (here and in [`DestError::Io`]).
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
    /// Every read-merge-write attempt met a concurrent change (412/409) or a broken read; `last`
    /// says what the last attempt met, so a network problem is not mistaken for contention (a
    /// local disk problem fails at once, as [`DestError::Io`]).
    #[error("{location}: gave up after {attempts} read-merge-write attempts (last: {last}); its messages stay in the queue")]
    Contended {
        location: String,
        attempts: u32,
        last: String,
    },
}

/// An I/O failure as a [`DestError::Io`] naming the path and what was being done.
pub(crate) trait At<T> {
    fn at(self, path: &std::path::Path, action: &'static str) -> Result<T, DestError>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path, action: &'static str) -> Result<T, DestError> {
        let path = path.display().to_string();
        self.map_err(|error| DestError::Io {
            path,
            action,
            error,
        })
    }
}
