//! Day files in any object store: the one read-merge-conditional-write loop.
//!
//! An object store only has to offer four primitive operations ([`ObjectStore`]: a streamed GET
//! naming the version, a PUT conditional on that version or on absence, a listing, request
//! counts); [`ObjectDayStore`] builds a complete [`DayStore`] on them.
//!
//! A day is merged by optimistic concurrency: GET (its version remembered) → the core's
//! streaming merge into a [`Spool`] → conditional PUT. If another writer changed the object in
//! between, the PUT answers `Conflict` and the day is read and merged again, with jittered
//! backoff ([`super::retry::DAY_CONFLICT`]), at most `conflict_attempts` times in all, then
//! [`DestError::Contended`]. No writer's lines are lost, and a retried PUT whose first success
//! answer was lost meets a conflict, re-reads, finds its lines already there and stops. Each new
//! attempt is counted ([`DayStore::conflict_retries`]). A read that breaks mid-body is worth
//! another attempt too; any other failure ends the merge at once: a refused GET or PUT, and a
//! local error (the spool or the fallback sort's temporary files: a full disk, a missing
//! directory), which is reported as such, naming the temporary directory.
//!
//! Invariants: the spooled output is handed to the store's PUT by value and lives until that PUT
//! has completed (retries included); a day with no new lines is not written; an unsorted day is
//! merged again with the fallback sort from a second GET of *the same version* (a different
//! version starts the attempt over). How the output is sent (one request, a multipart upload) is
//! the store's business.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use super::retry;
use super::spool::{merge_with_fallback, Spool, Spooled};
use super::{At, DayReader, DayStore, DestError, WritePolicy};
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
    /// The fallback sort for unsorted day files; its `spill_dir` holds the spool's file too.
    pub sort: SortOptions,
}

/// Day files in an object store (see the module docs).
#[derive(Debug, Clone)]
pub struct ObjectDayStore<O> {
    objects: O,
    settings: Arc<DaySettings>,
    /// Read-merge-writes started again after a conflict (shared by clones).
    conflict_retries: Arc<AtomicU64>,
}

/// Why the merge on the blocking thread failed. The merge only sees `io::Error`s, so the
/// failures worth another read travel inside one (tagged where they arise: the object's body,
/// the second GET) and are told apart by type, never by text; any other error is local.
#[derive(Debug, thiserror::Error)]
enum MergeFailure {
    /// The object changed (or went) while it was re-read for the fallback sort.
    #[error("changed while re-reading for the fallback sort")]
    Changed,
    /// Reading the object's body broke (a dropped connection mid-body).
    #[error("reading the object failed: {0}")]
    Read(io::Error),
    /// The second GET, for the fallback sort, failed (like the first, it ends the merge).
    #[error(transparent)]
    Get(DestError),
    /// A local error (the spool, the fallback sort's files): reading again would not help.
    #[error("{0}")]
    Local(io::Error),
}

impl MergeFailure {
    /// A failure to pass through the merge as an `io::Error` (keeping its kind).
    fn into_io(self) -> io::Error {
        let kind = match &self {
            MergeFailure::Read(e) => e.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// The object's body, its read errors tagged as [`MergeFailure::Read`].
struct BodyReader<R>(R);

impl<R: io::Read> io::Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| MergeFailure::Read(e).into_io())
    }
}

/// What one read and merge produced: the version read (`None` for a new day), the stats, and
/// the output (unless previewing); or why the day is to be read again (`Err`).
type Merged = Result<(Option<String>, MergeStats, Option<Spooled>), String>;

impl<O: ObjectStore> ObjectDayStore<O> {
    pub fn with_objects(objects: O, settings: DaySettings) -> ObjectDayStore<O> {
        ObjectDayStore {
            objects,
            settings: Arc::new(settings),
            conflict_retries: Arc::new(AtomicU64::new(0)),
        }
    }

    fn key(&self, day: DayKey) -> String {
        format!("{}{}", self.settings.prefix, day)
    }

    /// Reads the day (if any) and merges `lines` into a spool (or nowhere, previewing), on a
    /// blocking thread.
    async fn read_and_merge(
        &self,
        key: &str,
        lines: &Arc<Vec<Vec<u8>>>,
        keep_output: bool,
    ) -> Result<Merged, DestError> {
        let (version, mut body) = match self.objects.get(key, None).await? {
            Fetched::Missing => (None, None),
            Fetched::Found { version, body } => (Some(version), Some(body)),
            Fetched::Changed => return Ok(Err("changed while reading".into())),
        };
        let handle = Handle::current();
        let (objects, settings, lines) =
            (self.objects.clone(), self.settings.clone(), lines.clone());
        let (key, reread) = (key.to_owned(), version.clone());
        let merged = tokio::task::spawn_blocking(move || {
            let open = |again: bool| {
                if again {
                    // The fallback sort needs the object again: the same version, or start over.
                    body = match handle.block_on(objects.get(&key, reread.as_deref())) {
                        Ok(Fetched::Found { body, .. }) => Some(body),
                        Ok(Fetched::Missing | Fetched::Changed) => {
                            return Err(MergeFailure::Changed.into_io())
                        }
                        Err(e) => return Err(MergeFailure::Get(e).into_io()),
                    };
                }
                Ok(body.take().map(|b| {
                    let bridge = SyncIoBridge::new_with_handle(b, handle.clone());
                    BufReader::with_capacity(1 << 20, BodyReader(bridge))
                }))
            };
            let (sort, location) = (&settings.sort, objects.location(&key));
            if !keep_output {
                let stats = merge_with_fallback(open, &lines, &mut io::sink(), sort, &location)?;
                return Ok((stats, None));
            }
            let mut spool = Spool::new(settings.spool_memory_bytes, sort.spill_dir.clone());
            let stats = merge_with_fallback(open, &lines, &mut spool, sort, &location)?;
            Ok((stats, Some(spool.finish()?)))
        })
        .await
        .expect("merge task panicked");
        match merged.map_err(|e: io::Error| e.downcast().unwrap_or_else(MergeFailure::Local)) {
            Ok((stats, spooled)) => Ok(Ok((version, stats, spooled))),
            // A changed object or a broken connection mid-body is worth another read.
            Err(e @ (MergeFailure::Changed | MergeFailure::Read(_))) => Ok(Err(e.to_string())),
            Err(MergeFailure::Get(e)) => Err(e),
            // A full disk or a missing temporary directory stays so: the day fails at once.
            Err(MergeFailure::Local(e)) => {
                let dir = self.settings.sort.spill_dir.clone();
                let dir = dir.unwrap_or_else(std::env::temp_dir);
                Err(e).at(&dir, "writing the merge to temporary files")
            }
        }
    }
}

impl<O: ObjectStore> DayStore for ObjectDayStore<O> {
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> Result<Option<MergeStats>, DestError> {
        let key = &self.key(day);
        let attempts = self.settings.conflict_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                self.conflict_retries.fetch_add(1, Ordering::Relaxed);
                retry::DAY_CONFLICT.pause(attempt - 1).await;
            }
            let keep_output = policy != WritePolicy::Preview;
            let (version, stats, spooled) =
                match self.read_and_merge(key, &lines, keep_output).await? {
                    Ok(merged) => merged,
                    Err(why) => {
                        tracing::info!(%key, attempt, why, "reading the day again");
                        last = why;
                        continue;
                    }
                };
            let data = match (policy, spooled) {
                (WritePolicy::Always, _) if version.is_none() => return Ok(None),
                (WritePolicy::NewLinesOnly, _) if stats.new_lines == 0 => return Ok(Some(stats)),
                (_, Some(data)) => data,
                (_, None) => return Ok(Some(stats)), // previewing
            };
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

    fn requests(&self) -> BTreeMap<String, u64> {
        self.objects.requests()
    }

    fn conflict_retries(&self) -> u64 {
        self.conflict_retries.load(Ordering::Relaxed)
    }

    /// The day objects directly under the prefix (`PREFIX/YYYYMMDD`); other keys are skipped.
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

    /// Streamed through a blocking reader bound to the current runtime.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Objects by key: (version, body).
    type Objects = BTreeMap<String, (u64, Vec<u8>)>;

    /// Objects in memory. GETs are counted; the bodies of the next `broken_reads` GETs break at
    /// their end, as a connection dropped mid-body.
    #[derive(Debug, Clone, Default)]
    struct MemObjects {
        objects: Arc<Mutex<Objects>>,
        gets: Arc<AtomicU64>,
        broken_reads: Arc<AtomicU64>,
    }

    /// A body read that fails.
    struct Broken;

    impl tokio::io::AsyncRead for Broken {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            )))
        }
    }

    impl ObjectStore for MemObjects {
        fn location(&self, key: &str) -> String {
            format!("mem://{key}")
        }

        async fn get(&self, key: &str, if_version: Option<&str>) -> Result<Fetched, DestError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let Some((version, data)) = self.objects.lock().unwrap().get(key).cloned() else {
                return Ok(Fetched::Missing);
            };
            let version = version.to_string();
            if if_version.is_some_and(|v| v != version) {
                return Ok(Fetched::Changed);
            }
            let broken = self
                .broken_reads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let data = io::Cursor::new(data);
            let body: Body = if broken {
                Box::new(tokio::io::AsyncReadExt::chain(data, Broken))
            } else {
                Box::new(data)
            };
            Ok(Fetched::Found { version, body })
        }

        async fn put(
            &self,
            key: &str,
            data: Spooled,
            condition: Condition<'_>,
        ) -> Result<(), PutError> {
            let bytes = match data {
                Spooled::Memory(v) => v,
                Spooled::File(f, _) => std::fs::read(f.path()).unwrap(),
            };
            let mut objects = self.objects.lock().unwrap();
            let current = objects.get(key).map(|(v, _)| *v);
            let allowed = match condition {
                Condition::IfMatch(v) => current.map(|c| c.to_string()).as_deref() == Some(v),
                Condition::IfAbsent => current.is_none(),
            };
            if !allowed {
                return Err(PutError::Conflict("PreconditionFailed".into()));
            }
            objects.insert(key.to_owned(), (current.unwrap_or(0) + 1, bytes));
            Ok(())
        }

        async fn list(&self, prefix: &str) -> Result<Vec<String>, DestError> {
            let objects = self.objects.lock().unwrap();
            Ok(objects
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }

        fn requests(&self) -> BTreeMap<String, u64> {
            BTreeMap::new()
        }
    }

    const DAY: &str = "20261201";

    /// A store whose day `DAY` holds `body`, and the day store on it; every merged output
    /// spills to a file in `temp_dir`.
    fn day_store(
        body: &str,
        temp_dir: Option<PathBuf>,
    ) -> (MemObjects, ObjectDayStore<MemObjects>) {
        let objects = MemObjects::default();
        objects
            .objects
            .lock()
            .unwrap()
            .insert(format!("days/{DAY}"), (1, body.as_bytes().to_vec()));
        let days = ObjectDayStore::with_objects(
            objects.clone(),
            DaySettings {
                prefix: "days/".into(),
                conflict_attempts: 3,
                spool_memory_bytes: 0,
                sort: SortOptions {
                    memory_budget_bytes: 1,
                    spill_dir: temp_dir,
                },
            },
        );
        (objects, days)
    }

    fn lines(lines: &[&str]) -> Arc<Vec<Vec<u8>>> {
        Arc::new(lines.iter().map(|l| l.as_bytes().to_vec()).collect())
    }

    fn stored(objects: &MemObjects) -> (u64, String) {
        let (version, body) = objects.objects.lock().unwrap()[&format!("days/{DAY}")].clone();
        (version, String::from_utf8(body).unwrap())
    }

    /// A local error (the spool's, or the fallback sort's, temporary directory is missing)
    /// fails the day at once, naming the directory and the io error: not read again, not
    /// reported as contention, nothing written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_local_error_fails_the_day_at_once_naming_the_temporary_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("no-such-dir");
        let day: DayKey = DAY.parse().unwrap();
        // A merge's output spools to the missing directory; a preview of an unsorted day
        // spills the fallback sort's runs there, after a second GET of the day.
        for (existing, preview, gets) in [("{\"a\": 1}\n", false, 1), ("b\na\n", true, 2)] {
            let (objects, days) = day_store(existing, Some(missing.clone()));
            let policy = if preview {
                WritePolicy::Preview
            } else {
                WritePolicy::NewLinesOnly
            };
            let merged = days.merge_day(day, lines(&["c"]), policy).await;
            let err = merged.unwrap_err();
            match &err {
                DestError::Io { path, error, .. } => {
                    assert_eq!(path, &missing.display().to_string());
                    assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
                }
                other => panic!("not a local error: {other}"),
            }
            assert!(
                err.to_string().starts_with(&format!(
                    "{}: writing the merge to temporary files failed: ",
                    missing.display()
                )),
                "{err}"
            );
            assert_eq!(objects.gets.load(Ordering::SeqCst), gets, "no read again");
            assert_eq!(days.conflict_retries(), 0);
            assert_eq!(
                stored(&objects),
                (1, existing.to_owned()),
                "nothing written"
            );
        }
    }

    /// A body that breaks mid-read is still read again (an attempt counted as a retry); when
    /// every read breaks, the day gives up after its attempts, saying why.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_read_is_read_again() {
        let (objects, days) = day_store("{\"a\": 1}\n", None);
        let day: DayKey = DAY.parse().unwrap();
        objects.broken_reads.store(1, Ordering::SeqCst);
        let merged = days.merge_day(day, lines(&["{\"b\": 2}"]), WritePolicy::NewLinesOnly);
        let stats = merged.await.unwrap().unwrap();
        assert_eq!((stats.new_lines, stats.total_lines), (1, 2));
        assert_eq!(objects.gets.load(Ordering::SeqCst), 2);
        assert_eq!(days.conflict_retries(), 1);
        assert_eq!(stored(&objects), (2, "{\"a\": 1}\n{\"b\": 2}\n".to_owned()));

        objects.broken_reads.store(u64::MAX, Ordering::SeqCst);
        let err = days
            .merge_day(day, lines(&["{\"c\": 3}"]), WritePolicy::NewLinesOnly)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DestError::Contended { attempts: 3, last, .. }
                if last == "reading the object failed: connection reset by peer"),
            "{err}"
        );
        assert_eq!(objects.gets.load(Ordering::SeqCst), 5);
        assert_eq!(stored(&objects).0, 2, "nothing written");
    }
}
