//! A local directory as the archive (`DIR/YYYYMMDD`) and as a quarantine location.
//!
//! A day file is replaced atomically: the merge is written to a temporary file in the same
//! directory (`.s3ew-*`), flushed and fsynced, renamed over the day file, and the directory is
//! fsynced; a crash leaves either the old file or the new one, never half of one. Concurrent
//! runs on one directory take an exclusive `flock` on the directory itself while they merge, so
//! no run's lines are lost and nothing but day files ever appears in it. Temporary files left by
//! a killed run are removed by the next one.
//!
//! Quarantine records are one file each, created once per identity (see [`DirQuarantine`]).

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::spool::{merge_with_fallback, Restart};
use super::{At, DayReader, DayStore, DestError, QuarantineStore, Recorded, WritePolicy};
use crate::core::merge::{MergeStats, SortOptions};
use crate::core::DayKey;

const TMP_PREFIX: &str = ".s3ew-";

/// Removes the temporary files (`.s3ew-*`) in `dir` older than `age` (all of them for zero).
fn sweep(dir: &Path, age: Duration) {
    // An unreadable directory, or entry, is left for the next sweep.
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let old = || {
            let modified = entry.metadata().and_then(|m| m.modified());
            modified.is_ok_and(|t| t.elapsed().is_ok_and(|a| a > age))
        };
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) && (age.is_zero() || old()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `f` on a clone of `of`, on a blocking thread.
async fn blocking<S, T, F>(of: &S, f: F) -> T
where
    S: Clone + Send + 'static,
    T: Send + 'static,
    F: FnOnce(S) -> T + Send + 'static,
{
    let of = of.clone();
    tokio::task::spawn_blocking(move || f(of))
        .await
        .expect("directory task panicked")
}

/// Day files in a local directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
    sort: SortOptions,
}

impl DirStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> DirStore {
        DirStore {
            dir: dir.into(),
            sort: SortOptions::default(),
        }
    }

    /// Memory limit of the fallback sort for unsorted day files.
    #[must_use]
    pub fn with_sort_options(mut self, sort: SortOptions) -> DirStore {
        self.sort = sort;
        self
    }

    fn lock(&self) -> Result<File, DestError> {
        fs::create_dir_all(&self.dir).at(&self.dir, "creating the directory")?;
        let handle = File::open(&self.dir).at(&self.dir, "opening the directory")?;
        handle.lock().at(&self.dir, "locking the directory")?;
        Ok(handle)
    }

    /// Merges `lines` into the day file as `policy` says; writing, under the directory lock
    /// (temporary files of killed runs are removed first). `None` when [`WritePolicy::Always`]
    /// finds no day file.
    fn merge_blocking(
        &self,
        day: DayKey,
        lines: &[Vec<u8>],
        policy: WritePolicy,
    ) -> Result<Option<MergeStats>, DestError> {
        let path = self.dir.join(day.as_str());
        let lock = (policy != WritePolicy::Preview)
            .then(|| self.lock())
            .transpose()?;
        if lock.is_some() {
            sweep(&self.dir, Duration::ZERO);
        }
        let existing = open_day_file(&path)?;
        match policy {
            WritePolicy::Always if existing.is_none() => return Ok(None),
            WritePolicy::Preview => {
                return merge_file(existing.as_ref(), lines, io::sink(), &self.sort, &path)
                    .map(Some)
            }
            _ => {}
        }
        let mode = existing
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0o644, |m| m.permissions().mode() & 0o7777);
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(&self.dir)
            .at(&self.dir, "creating a temporary file")?;
        let out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let stats = merge_file(existing.as_ref(), lines, out, &self.sort, &path)?;
        if stats.new_lines == 0 && policy == WritePolicy::NewLinesOnly {
            return Ok(Some(stats)); // nothing new: the day file is not touched
        }
        self.install(tmp, mode, &path)?;
        Ok(Some(stats))
    }

    /// Puts a finished temporary file in place of `path`: permissions, fsync, atomic rename,
    /// fsync of the directory. Call with the directory lock held.
    fn install(
        &self,
        tmp: tempfile::NamedTempFile,
        mode: u32,
        path: &Path,
    ) -> Result<(), DestError> {
        let f = tmp.as_file();
        f.set_permissions(fs::Permissions::from_mode(mode))
            .at(tmp.path(), "setting permissions")?;
        f.sync_all().at(tmp.path(), "fsync")?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .at(path, "renaming the new file into place")?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .at(&self.dir, "fsync of the directory")
    }

    /// The day files in the directory (`YYYYMMDD` names of regular files), in date order. Other
    /// names (temporary files, anything else) are skipped.
    fn list_days_blocking(&self) -> Result<Vec<DayKey>, DestError> {
        let listing = "listing the directory";
        let mut days = Vec::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir, listing)? {
            let entry = entry.at(&self.dir, listing)?;
            let day = entry.file_name().to_str().and_then(DayKey::from_name);
            days.extend(day.filter(|_| fs::metadata(entry.path()).is_ok_and(|m| m.is_file())));
        }
        days.sort_unstable();
        Ok(days)
    }
}

/// The day file at `path`, `None` when there is none.
fn open_day_file(path: &Path) -> Result<Option<File>, DestError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at(path, "opening the day file"),
    }
}

/// Streams `existing` and `lines` into `out`; an unsorted file is re-read and sorted externally.
fn merge_file<W: Write + Restart>(
    existing: Option<&File>,
    lines: &[Vec<u8>],
    mut out: W,
    sort: &SortOptions,
    path: &Path,
) -> Result<MergeStats, DestError> {
    let open = |again: bool| -> io::Result<Option<BufReader<File>>> {
        let Some(f) = existing else { return Ok(None) };
        let mut handle = f.try_clone()?;
        if again {
            handle.rewind()?;
        }
        Ok(Some(BufReader::with_capacity(1 << 20, handle)))
    };
    merge_with_fallback(open, lines, &mut out, sort, &path.display().to_string())
        .at(path, "merging")
}

impl DayStore for DirStore {
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> Result<Option<MergeStats>, DestError> {
        blocking(self, move |d| d.merge_blocking(day, &lines, policy)).await
    }

    async fn list_days(&self) -> Result<Vec<DayKey>, DestError> {
        blocking(self, |d| d.list_days_blocking()).await
    }

    async fn open_day(&self, day: DayKey) -> Result<Option<DayReader>, DestError> {
        let file = blocking(self, move |d| open_day_file(&d.dir.join(day.as_str())));
        Ok(file
            .await?
            .map(|f| Box::new(BufReader::with_capacity(1 << 20, f)) as DayReader))
    }
}

/// Quarantine records in a local directory, one file per record (`DIR/NAME.jsonl`, mode 0600:
/// they are for the writer's user and whoever it lets in).
///
/// A record is written to a temporary file (`.s3ew-*`) in the directory, fsynced, and linked
/// into place without replacing anything (`persist_noclobber`), then the directory is fsynced;
/// a name that exists already means the record is there. Temporary files older than
/// `STALE_TEMP` (left by a killed run) are removed on a store's first write.
#[derive(Debug)]
pub struct DirQuarantine {
    dir: PathBuf,
    swept: AtomicBool,
}

/// A temporary quarantine file this old belongs to no live writer.
const STALE_TEMP: Duration = Duration::from_secs(600);

impl DirQuarantine {
    pub fn new(dir: impl Into<PathBuf>) -> DirQuarantine {
        DirQuarantine {
            dir: dir.into(),
            swept: AtomicBool::new(false),
        }
    }
}

fn put_record_blocking(dir: &Path, name: &str, line: &[u8]) -> Result<Recorded, DestError> {
    let path = dir.join(name);
    let location = path.display().to_string();
    if fs::symlink_metadata(&path).is_ok() {
        return Ok(Recorded::AlreadyThere(location));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .at(dir, "creating a temporary quarantine file")?;
    tmp.write_all(line)
        .and_then(|()| tmp.as_file().sync_all())
        .at(tmp.path(), "writing the quarantine record")?;
    if let Err(e) = tmp.persist_noclobber(&path) {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            return Ok(Recorded::AlreadyThere(location));
        }
        return Err(e.error).at(&path, "linking the quarantine record into place");
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at(dir, "fsync of the quarantine directory")?;
    Ok(Recorded::Created(location))
}

impl QuarantineStore for DirQuarantine {
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        let first = !self.swept.swap(true, Ordering::Relaxed);
        let name = name.to_owned();
        blocking(&self.dir, move |dir| {
            fs::create_dir_all(&dir).at(&dir, "creating the quarantine directory")?;
            if first {
                sweep(&dir, STALE_TEMP);
            }
            put_record_blocking(&dir, &name, &line)
        })
        .await
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}
