//! Backends chosen at run time: the adapter traits made object-safe.
//!
//! [`Source`], [`DayStore`] and [`QuarantineStore`] return `impl Future`, which keeps the
//! pipeline's calls free of allocation but makes the traits unusable as `dyn`. Each has an
//! object-safe mirror here ([`DynSource`], [`DynDayStore`], [`DynQuarantine`]) whose methods
//! return boxed futures; every implementation of the trait (that is `Debug`) implements its
//! mirror by a blanket impl, and the boxed mirror implements the trait again, so the generic
//! pipeline and tools take `Box<dyn DynSource>` (alias [`AnySource`]) and the others unchanged.
//! A new backend needs no code here: box it where the wiring picks backends.
//!
//! Invariant: a boxed backend behaves exactly as the backend itself; every method forwards,
//! default methods included (so a store's own `conflict_retries` is never replaced by the
//! default).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{
    AckOutcome, Batch, DayReader, DayStore, DestError, QuarantineStore, Receipt, Recorded, Source,
    SourceError,
};
use crate::core::{DayKey, MergeStats};

/// Any source, chosen at run time.
pub type AnySource = Box<dyn DynSource>;
/// Any day store, chosen at run time.
pub type AnyDayStore = Box<dyn DynDayStore>;
/// Any quarantine store, chosen at run time.
pub type AnyQuarantine = Box<dyn DynQuarantine>;

/// [`Source`], object-safe.
pub trait DynSource: Send + Debug {
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Batch, SourceError>>;
    fn ack(&mut self, receipts: Vec<Receipt>) -> BoxFuture<'_, AckOutcome>;
    fn abandon(&mut self, receipts: Vec<Receipt>) -> BoxFuture<'_, ()>;
    fn release(&mut self, receipts: Vec<Receipt>) -> BoxFuture<'_, ()>;
    fn finish(&mut self) -> BoxFuture<'_, ()>;
    fn requests(&self) -> BTreeMap<String, u64>;
    fn deletes(&self) -> bool;
}

impl<T: Source + Debug> DynSource for T {
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Batch, SourceError>> {
        Box::pin(Source::next_batch(self, max))
    }
    fn ack(&mut self, receipts: Vec<Receipt>) -> BoxFuture<'_, AckOutcome> {
        Box::pin(Source::ack(self, receipts))
    }
    fn abandon(&mut self, receipts: Vec<Receipt>) -> BoxFuture<'_, ()> {
        Box::pin(Source::abandon(self, receipts))
    }
    fn release(&mut self, receipts: Vec<Receipt>) -> BoxFuture<'_, ()> {
        Box::pin(Source::release(self, receipts))
    }
    fn finish(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(Source::finish(self))
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        Source::requests(self)
    }
    fn deletes(&self) -> bool {
        Source::deletes(self)
    }
}

impl Source for Box<dyn DynSource> {
    fn next_batch(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Batch, SourceError>> + Send {
        DynSource::next_batch(&mut **self, max)
    }
    fn ack(&mut self, receipts: Vec<Receipt>) -> impl Future<Output = AckOutcome> + Send {
        DynSource::ack(&mut **self, receipts)
    }
    fn abandon(&mut self, receipts: Vec<Receipt>) -> impl Future<Output = ()> + Send {
        DynSource::abandon(&mut **self, receipts)
    }
    fn release(&mut self, receipts: Vec<Receipt>) -> impl Future<Output = ()> + Send {
        DynSource::release(&mut **self, receipts)
    }
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        DynSource::finish(&mut **self)
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        DynSource::requests(&**self)
    }
    fn deletes(&self) -> bool {
        DynSource::deletes(&**self)
    }
}

/// [`DayStore`], object-safe.
pub trait DynDayStore: Send + Sync + Debug {
    fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> BoxFuture<'_, Result<MergeStats, DestError>>;
    fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> BoxFuture<'_, Result<MergeStats, DestError>>;
    fn requests(&self) -> BTreeMap<String, u64>;
    fn conflict_retries(&self) -> u64;
    fn list_days(&self) -> BoxFuture<'_, Result<Vec<DayKey>, DestError>>;
    fn open_day(&self, day: DayKey) -> BoxFuture<'_, Result<Option<DayReader>, DestError>>;
    fn rewrite_day(&self, day: DayKey) -> BoxFuture<'_, Result<Option<MergeStats>, DestError>>;
}

impl<T: DayStore + Debug> DynDayStore for T {
    fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> BoxFuture<'_, Result<MergeStats, DestError>> {
        Box::pin(DayStore::merge_day(self, day, lines))
    }
    fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> BoxFuture<'_, Result<MergeStats, DestError>> {
        Box::pin(DayStore::preview_day(self, day, lines))
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        DayStore::requests(self)
    }
    fn conflict_retries(&self) -> u64 {
        DayStore::conflict_retries(self)
    }
    fn list_days(&self) -> BoxFuture<'_, Result<Vec<DayKey>, DestError>> {
        Box::pin(DayStore::list_days(self))
    }
    fn open_day(&self, day: DayKey) -> BoxFuture<'_, Result<Option<DayReader>, DestError>> {
        Box::pin(DayStore::open_day(self, day))
    }
    fn rewrite_day(&self, day: DayKey) -> BoxFuture<'_, Result<Option<MergeStats>, DestError>> {
        Box::pin(DayStore::rewrite_day(self, day))
    }
}

impl DayStore for Box<dyn DynDayStore> {
    fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> impl Future<Output = Result<MergeStats, DestError>> + Send {
        DynDayStore::merge_day(&**self, day, lines)
    }
    fn preview_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
    ) -> impl Future<Output = Result<MergeStats, DestError>> + Send {
        DynDayStore::preview_day(&**self, day, lines)
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        DynDayStore::requests(&**self)
    }
    fn conflict_retries(&self) -> u64 {
        DynDayStore::conflict_retries(&**self)
    }
    fn list_days(&self) -> impl Future<Output = Result<Vec<DayKey>, DestError>> + Send {
        DynDayStore::list_days(&**self)
    }
    fn open_day(
        &self,
        day: DayKey,
    ) -> impl Future<Output = Result<Option<DayReader>, DestError>> + Send {
        DynDayStore::open_day(&**self, day)
    }
    fn rewrite_day(
        &self,
        day: DayKey,
    ) -> impl Future<Output = Result<Option<MergeStats>, DestError>> + Send {
        DynDayStore::rewrite_day(&**self, day)
    }
}

/// [`QuarantineStore`], object-safe.
pub trait DynQuarantine: Send + Sync + Debug {
    fn put_record<'a>(
        &'a self,
        name: &'a str,
        line: Vec<u8>,
    ) -> BoxFuture<'a, Result<Recorded, DestError>>;
    fn location(&self) -> String;
}

impl<T: QuarantineStore + Debug> DynQuarantine for T {
    fn put_record<'a>(
        &'a self,
        name: &'a str,
        line: Vec<u8>,
    ) -> BoxFuture<'a, Result<Recorded, DestError>> {
        Box::pin(QuarantineStore::put_record(self, name, line))
    }
    fn location(&self) -> String {
        QuarantineStore::location(self)
    }
}

impl QuarantineStore for Box<dyn DynQuarantine> {
    // An `async fn`: the boxed future borrows `self` and `name`, two lifetimes one opaque type
    // of this edition cannot name together.
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        DynQuarantine::put_record(&**self, name, line).await
    }
    fn location(&self) -> String {
        DynQuarantine::location(&**self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dir::{DirQuarantine, DirStore};
    use crate::adapters::file::FileSource;

    #[tokio::test]
    async fn boxed_backends_behave_as_themselves() {
        let tmp = tempfile::tempdir().unwrap();
        let mut source: AnySource =
            Box::new(FileSource::from_reader("f".into(), &b"{\"a\":1}\n"[..]));
        let Batch::Messages(got) = Source::next_batch(&mut source, 10).await.unwrap() else {
            panic!("a message was expected");
        };
        assert_eq!(got[0].id, "f:1");
        assert!(!Source::deletes(&source));

        let days: AnyDayStore = Box::new(DirStore::new(tmp.path().join("days")));
        let day: DayKey = "20261120".parse().unwrap();
        let lines = Arc::new(vec![b"a".to_vec(), b"b".to_vec()]);
        let stats = DayStore::merge_day(&days, day, lines).await.unwrap();
        assert_eq!(stats.new_lines, 2);
        assert_eq!(DayStore::list_days(&days).await.unwrap(), vec![day]);
        assert_eq!(DayStore::conflict_retries(&days), 0);

        let quarantine: AnyQuarantine = Box::new(DirQuarantine::new(tmp.path().join("q")));
        let first = QuarantineStore::put_record(&quarantine, "r.jsonl", b"x\n".to_vec()).await;
        assert!(matches!(first, Ok(Recorded::Created(_))), "{first:?}");
        let again = QuarantineStore::put_record(&quarantine, "r.jsonl", b"x\n".to_vec()).await;
        assert!(matches!(again, Ok(Recorded::AlreadyThere(_))), "{again:?}");
    }
}
