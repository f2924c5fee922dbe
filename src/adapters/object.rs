//! Day files in any object store: the one read-merge-conditional-write loop.
//!
//! An object store only has to offer four primitive operations ([`ObjectStore`]): a GET that
//! streams the body and names its version (S3's ETag), optionally only if the version is still
//! the one read; a PUT of a finished [`Spooled`] output that succeeds only if the object is still
//! at the version read (`If-Match`) or still absent (`If-None-Match: *`), and says `Conflict`
//! when another writer got there first; a listing of the keys directly under a prefix; and its
//! request counts. [`ObjectDayStore`] builds a complete [`DayStore`] on them.
//!
//! A day is merged by optimistic concurrency: GET (its version remembered) → the core's
//! streaming merge into a [`Spool`] → conditional PUT. If another writer changed the object in
//! between, the PUT answers `Conflict` and the day is read and merged again, with jittered
//! backoff ([`super::retry::DAY_CONFLICT`]), at most `conflict_attempts` times in all, then
//! [`DestError::Contended`]. No writer's lines are lost, and a retried PUT whose first success
//! answer was lost meets a conflict, re-reads, finds its lines already there and stops. Each new
//! attempt is counted ([`DayStore::conflict_retries`]). A read that breaks mid-body is worth
//! another attempt too; any other failure ends the merge at once.
//!
//! Invariants: the spooled output is handed to the store's PUT by value and lives until that PUT
//! has completed (retries included); a day with no new lines is not written; an unsorted day is
//! merged again with the fallback sort from a second GET of *the same version* (a different
//! version starts the attempt over). How the output is sent (one request, a multipart upload) is
//! the store's business.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::retry;
use super::spool::{merge_with_fallback, Spool, Spooled};
use super::{DayReader, DayStore, DestError};
use crate::core::{DayKey, MergeStats, SortOptions};

/// A streamed object body.
pub type Body = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// The answer to [`ObjectStore::get`].
pub enum Fetched {
    /// There is no such object.
    Missing,
    /// The object, at this version (S3: its ETag).
    Found { version: String, body: Body },
    /// The object is no longer at the version asked for.
    Changed,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetched::Missing => f.write_str("Missing"),
            Fetched::Found { version, .. } => write!(f, "Found({version})"),
            Fetched::Changed => f.write_str("Changed"),
        }
    }
}

/// When a [`ObjectStore::put`] may replace or create the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Only while the object is at this version (`If-Match`).
    IfMatch(&'a str),
    /// Only while there is no object (`If-None-Match: *`).
    IfAbsent,
}

impl<'a> Condition<'a> {
    /// `IfMatch(version)`, or `IfAbsent` when there was no object.
    pub fn from_version(version: Option<&'a str>) -> Condition<'a> {
        version.map_or(Condition::IfAbsent, Condition::IfMatch)
    }
}

/// Why a conditional write did not happen.
#[derive(Debug)]
pub enum PutError {
    /// Another writer got there first (S3's 412 or 409): read and merge again. Says what the
    /// store answered.
    Conflict(String),
    /// Anything else; the merge ends with this error.
    Failed(DestError),
}

/// The primitive operations of an object store, enough for [`ObjectDayStore`].
pub trait ObjectStore: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Where `key` is, for messages (`s3://BUCKET/KEY`).
    fn location(&self, key: &str) -> String;
    /// The object `key`, streamed; with `if_version`, only while it is at that version
    /// ([`Fetched::Changed`] otherwise). A missing object is [`Fetched::Missing`], never an
    /// error; a refused read is an error (never "empty").
    fn get(
        &self,
        key: &str,
        if_version: Option<&str>,
    ) -> impl Future<Output = Result<Fetched, DestError>> + Send;
    /// Writes `data` to `key` under `condition`. `data` lives until the write has completed.
    fn put(
        &self,
        key: &str,
        data: Spooled,
        condition: Condition<'_>,
    ) -> impl Future<Output = Result<(), PutError>> + Send;
    /// The keys directly under `prefix` (not in deeper "directories"), in any order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, DestError>> + Send;
    /// Requests made so far, by API call.
    fn requests(&self) -> BTreeMap<String, u64>;
}

/// How [`ObjectDayStore`] reads, merges and writes.
#[derive(Debug, Clone)]
pub struct DaySettings {
    /// Day objects are `PREFIX` + `YYYYMMDD`; ends in `/` or is empty.
    pub prefix: String,
    /// Read-merge-write attempts per day before giving up on contention.
    pub conflict_attempts: u32,
    /// Merged output kept in memory before it spills to a temporary file.
    pub spool_memory_bytes: usize,
    /// Temporary files (spool, fallback sort) go here; the system default when `None`.
    pub temp_dir: Option<PathBuf>,
    /// Memory of the fallback sort for unsorted day files.
    pub sort_memory_bytes: usize,
}

/// Day files in an object store (see the module docs).
#[derive(Debug, Clone)]
pub struct ObjectDayStore<O> {
    objects: O,
    settings: Arc<DaySettings>,
    /// Read-merge-writes started again after a conflict (shared by clones).
    conflict_retries: Arc<AtomicU64>,
}

/// Why one read-merge-write attempt did not finish.
enum Attempt {
    /// Another writer changed the day, or the read broke: try again.
    Again(String),
    Failed(DestError),
}

/// When [`ObjectDayStore::read_merge_write`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WritePolicy {
    /// Never (dry runs).
    Preview,
    /// When the merge added lines (a day with no new lines is not touched).
    NewLinesOnly,
    /// Whenever the object exists (repairs rewrite it sorted and de-duplicated).
    Always,
}

/// A marker error: the object changed while we re-read it for the fallback sort.
#[derive(Debug, thiserror::Error)]
#[error("the object changed while it was being read")]
struct ChangedWhileReading;

/// What one read and merge produced: the version read (`None` for a new day), the stats, and
/// the output (unless previewing).
type Merged = (Option<String>, MergeStats, Option<Spooled>);

impl<O: ObjectStore> ObjectDayStore<O> {
    /// Day files in `objects`.
    pub fn with_objects(objects: O, settings: DaySettings) -> ObjectDayStore<O> {
        ObjectDayStore {
            objects,
            settings: Arc::new(settings),
            conflict_retries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The object store underneath.
    pub fn objects(&self) -> &O {
        &self.objects
    }

    fn key(&self, day: DayKey) -> String {
        format!("{}{}", self.settings.prefix, day)
    }

    /// The optimistic-concurrency loop shared by merges and repairs: read the day, merge, and
    /// write it back conditionally; on a conflict start over (jittered backoff, bounded).
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
            let (version, stats, spooled) =
                match self.read_and_merge(key, lines.clone(), keep_output).await {
                    Ok(v) => v,
                    Err(Attempt::Again(why)) => {
                        tracing::info!(%key, attempt, why, "reading the day again");
                        last = why;
                        continue;
                    }
                    Err(Attempt::Failed(e)) => return Err(e),
                };
            match policy {
                WritePolicy::Preview => return Ok(Some(stats)),
                WritePolicy::NewLinesOnly if stats.new_lines == 0 => return Ok(Some(stats)),
                WritePolicy::Always if version.is_none() => return Ok(None),
                _ => {}
            }
            let data = spooled.expect("kept output");
            let condition = Condition::from_version(version.as_deref());
            match self.objects.put(key, data, condition).await {
                Ok(()) => return Ok(Some(stats)),
                Err(PutError::Conflict(why)) => {
                    tracing::info!(%key, attempt, why, "the day changed since it was read; merging again");
                    last = why;
                }
                Err(PutError::Failed(e)) => return Err(e),
            }
        }
        tracing::warn!(%key, attempts, last, "giving up on a contended day");
        Err(DestError::Contended {
            location: self.objects.location(key),
            attempts,
            last,
        })
    }

    /// Reads the day (if any) and merges `lines` into a spool (or nowhere, previewing).
    async fn read_and_merge(
        &self,
        key: &str,
        lines: Arc<Vec<Vec<u8>>>,
        keep_output: bool,
    ) -> Result<Merged, Attempt> {
        let (version, body) = match self.objects.get(key, None).await {
            Ok(Fetched::Missing) => (None, None),
            Ok(Fetched::Found { version, body }) => (Some(version), Some(body)),
            Ok(Fetched::Changed) => return Err(Attempt::Again("changed while reading".into())),
            Err(e) => return Err(Attempt::Failed(e)),
        };
        let handle = tokio::runtime::Handle::current();
        let objects = self.objects.clone();
        let settings = self.settings.clone();
        let key = key.to_owned();
        let reread = version.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut body = body;
            let open = |again: bool| -> io::Result<Option<Box<dyn io::BufRead>>> {
                if again {
                    // The fallback sort needs the object again: the same version, or we start
                    // over.
                    let got = handle
                        .block_on(objects.get(&key, reread.as_deref()))
                        .map_err(io::Error::other)?;
                    body = match got {
                        Fetched::Found { body, .. } => Some(body),
                        Fetched::Missing | Fetched::Changed => {
                            return Err(io::Error::other(ChangedWhileReading))
                        }
                    };
                }
                Ok(body.take().map(|b| {
                    let _guard = handle.enter();
                    let reader = tokio_util::io::SyncIoBridge::new(b);
                    Box::new(BufReader::with_capacity(1 << 20, reader)) as Box<dyn io::BufRead>
                }))
            };
            merge_blocking(
                open,
                &lines,
                &settings,
                &objects.location(&key),
                keep_output,
            )
        })
        .await
        .expect("merge task panicked");
        match result {
            Ok((stats, spooled)) => Ok((version, stats, spooled)),
            Err(e) if is_changed(&e) => Err(Attempt::Again(
                "changed while re-reading for the fallback sort".into(),
            )),
            // A broken connection mid-body is worth another read.
            Err(e) => Err(Attempt::Again(format!("reading or merging failed: {e}"))),
        }
    }

    async fn merge(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> Result<MergeStats, DestError> {
        let stats = self.read_merge_write(&self.key(day), lines, policy).await?;
        // Only `WritePolicy::Always` answers None (for a missing object).
        Ok(stats.unwrap_or_default())
    }
}

/// The merge itself, on a blocking thread: into a spool when the output is kept, else nowhere.
fn merge_blocking<F>(
    open: F,
    lines: &[Vec<u8>],
    settings: &DaySettings,
    location: &str,
    keep_output: bool,
) -> io::Result<(MergeStats, Option<Spooled>)>
where
    F: FnMut(bool) -> io::Result<Option<Box<dyn io::BufRead>>>,
{
    let sort = SortOptions {
        memory_budget_bytes: settings.sort_memory_bytes,
        spill_dir: settings.temp_dir.clone(),
    };
    if keep_output {
        let mut spool = Spool::new(settings.spool_memory_bytes, settings.temp_dir.clone());
        let stats = merge_with_fallback(open, lines, &mut spool, &sort, location)?;
        Ok((stats, Some(spool.finish()?)))
    } else {
        let stats = merge_with_fallback(open, lines, io::sink(), &sort, location)?;
        Ok((stats, None))
    }
}

fn is_changed(e: &io::Error) -> bool {
    let Some(inner) = e.get_ref() else {
        return false;
    };
    inner.is::<ChangedWhileReading>()
}

impl<O: ObjectStore> DayStore for ObjectDayStore<O> {
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> Result<MergeStats, DestError> {
        self.merge(day, lines, WritePolicy::NewLinesOnly).await
    }

    async fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> Result<MergeStats, DestError> {
        self.merge(day, lines, WritePolicy::Preview).await
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        self.objects.requests()
    }

    fn conflict_retries(&self) -> u64 {
        self.conflict_retries.load(Ordering::Relaxed)
    }

    /// The day objects directly under the prefix (`PREFIX/YYYYMMDD`), in date order. Other keys
    /// are skipped.
    async fn list_days(&self) -> Result<Vec<DayKey>, DestError> {
        let prefix = &self.settings.prefix;
        let mut days: Vec<DayKey> = self
            .objects
            .list(prefix)
            .await?
            .iter()
            .filter_map(|key| DayKey::from_name(key.strip_prefix(prefix.as_str())?))
            .collect();
        days.sort_unstable();
        days.dedup();
        Ok(days)
    }

    /// The body of one day object, streamed through a blocking reader bound to the current
    /// runtime (read it on a blocking thread); `None` when there is none.
    async fn open_day(&self, day: DayKey) -> Result<Option<DayReader>, DestError> {
        match self.objects.get(&self.key(day), None).await? {
            Fetched::Found { body, .. } => {
                let handle = tokio::runtime::Handle::current();
                let bridge = tokio_util::io::SyncIoBridge::new_with_handle(body, handle);
                Ok(Some(Box::new(BufReader::with_capacity(1 << 20, bridge))))
            }
            Fetched::Missing | Fetched::Changed => Ok(None),
        }
    }

    /// Rewrites a day object sorted, de-duplicated, without blank lines or trailing white space
    /// (the merge of zero new lines), with the same conditional write as a merge. `None` when
    /// the day has no object.
    async fn rewrite_day(&self, day: DayKey) -> Result<Option<MergeStats>, DestError> {
        self.read_merge_write(&self.key(day), Arc::new(Vec::new()), WritePolicy::Always)
            .await
    }
}
