//! Listing, opening and rewriting day files on any store: what the archive tools (backfill,
//! verify, stats) stand on.
//!
//! Each tool works on both kinds of archive (`s3://BUCKET/PREFIX/` and a local DIR) through the
//! same day stores as `drain`: every write is a merge or a rewrite with the same conditional
//! write (`If-Match` on the ETag read for S3, an atomic rename under the directory lock for a
//! DIR), so a tool can run next to a drain without losing anyone's lines. Reads stream the day
//! files line by line; no tool holds a whole day file in memory.
//!
//! Exit statuses follow `drain`'s: 0 done and clean, 1 something was found or failed (each tool
//! says what), 2 usage error, 3 the archive or queue could not be used at all.

use std::io::{self, BufRead};

use anyhow::Context as _;

use crate::adapters::{AnyDayStore, DayStore as _, WritePolicy};
use crate::core::DayKey;
use crate::location::Location;

/// An archive (day-file location) opened for reading and rewriting (built by
/// `wiring::open_archive`).
#[derive(Debug)]
pub struct Archive {
    pub location: Location,
    pub store: AnyDayStore,
}

impl Archive {
    /// The day files from `from` to `to` (both included, either open), in date order.
    pub async fn days(
        &self,
        from: Option<DayKey>,
        to: Option<DayKey>,
    ) -> anyhow::Result<Vec<DayKey>> {
        let listed = self.store.list_days().await;
        let all =
            listed.with_context(|| format!("cannot list the day files of {}", self.location))?;
        let within = |d: &DayKey| from.is_none_or(|f| *d >= f) && to.is_none_or(|t| *d <= t);
        Ok(all.into_iter().filter(within).collect())
    }

    /// Runs `f` over a streamed reader of one day file on a blocking thread; `None` when the day
    /// has no file (it was removed since the listing).
    pub async fn scan<T, F>(&self, day: DayKey, f: F) -> anyhow::Result<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn BufRead) -> io::Result<T> + Send + 'static,
    {
        let read = async {
            let Some(mut reader) = self.store.open_day(day).await? else {
                return Ok(None);
            };
            let task = tokio::task::spawn_blocking(move || f(&mut reader));
            anyhow::Ok(Some(task.await.expect("reading task panicked")?))
        };
        let what = || format!("reading {}{day} failed", self.location_prefix());
        read.await.with_context(what)
    }

    /// Rewrites one day sorted and de-duplicated ([`WritePolicy::Always`]).
    pub async fn rewrite(&self, day: DayKey) -> anyhow::Result<Option<crate::core::MergeStats>> {
        let no_lines = std::sync::Arc::default();
        Ok(self
            .store
            .merge_day(day, no_lines, WritePolicy::Always)
            .await?)
    }

    /// Where day files are, as a prefix their names follow (`s3://b/p/` or `DIR/`).
    pub fn location_prefix(&self) -> String {
        let s = self.location.to_string();
        if s.ends_with('/') {
            s
        } else {
            format!("{s}/")
        }
    }
}

/// The range as written in summaries: `20261119..20261123`, `..`, `20261119..`.
pub fn range_text(from: Option<DayKey>, to: Option<DayKey>) -> String {
    let text = |d: Option<DayKey>| d.map(|d| d.to_string()).unwrap_or_default();
    format!("{}..{}", text(from), text(to))
}
