//! The backends the wiring picks at run time: one enum per role ([`AnySource`],
//! [`AnyDayStore`], [`AnyQuarantine`]), each implementing its role's trait by forwarding every
//! call to the backend it holds, so the generic pipeline and tools take them unchanged.
//!
//! Invariant: an enum behaves exactly as the backend it holds; every method forwards, default
//! methods included (so a store's own `conflict_retries` is never replaced by the default). How
//! a backend is added is in [`crate::wiring`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::dir::{DirQuarantine, DirStore};
use super::file::FileSource;
use super::s3::{S3Quarantine, S3Store};
use super::sqs::SqsSource;
use super::{
    AckOutcome, Batch, DayReader, DayStore, DestError, QuarantineStore, Receipt, Recorded, Source,
    SourceError, WritePolicy,
};
use crate::core::{DayKey, MergeStats};

/// `$body` with `$b` bound to the backend `$any` holds, whichever of the variants it is.
macro_rules! forward {
    ($any:expr, $b:ident => $body:expr, $($variant:ident),+) => {
        match $any {
            $(Self::$variant($b) => $body,)+
        }
    };
}

/// A source: a message file (or stdin), or an SQS queue.
#[derive(Debug)]
pub enum AnySource {
    File(FileSource),
    Sqs(SqsSource),
}

impl Source for AnySource {
    async fn next_batch(&mut self, max: usize) -> Result<Batch, SourceError> {
        forward!(self, s => Source::next_batch(s, max).await, File, Sqs)
    }
    async fn ack(&mut self, receipts: Vec<Receipt>) -> AckOutcome {
        forward!(self, s => Source::ack(s, receipts).await, File, Sqs)
    }
    async fn abandon(&mut self, receipts: Vec<Receipt>) {
        forward!(self, s => Source::abandon(s, receipts).await, File, Sqs);
    }
    async fn release(&mut self, receipts: Vec<Receipt>) {
        forward!(self, s => Source::release(s, receipts).await, File, Sqs);
    }
    async fn finish(&mut self) {
        forward!(self, s => Source::finish(s).await, File, Sqs);
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        forward!(self, s => Source::requests(s), File, Sqs)
    }
    fn deletes(&self) -> bool {
        forward!(self, s => Source::deletes(s), File, Sqs)
    }
}

/// A day-file store: a local directory, or an S3 prefix.
#[derive(Debug)]
pub enum AnyDayStore {
    Dir(DirStore),
    S3(S3Store),
}

impl DayStore for AnyDayStore {
    async fn merge_day(
        &self,
        day: DayKey,
        lines: Arc<Vec<Vec<u8>>>,
        policy: WritePolicy,
    ) -> Result<Option<MergeStats>, DestError> {
        forward!(self, d => DayStore::merge_day(d, day, lines, policy).await, Dir, S3)
    }
    fn requests(&self) -> BTreeMap<String, u64> {
        forward!(self, d => DayStore::requests(d), Dir, S3)
    }
    fn conflict_retries(&self) -> u64 {
        forward!(self, d => DayStore::conflict_retries(d), Dir, S3)
    }
    async fn list_days(&self) -> Result<Vec<DayKey>, DestError> {
        forward!(self, d => DayStore::list_days(d).await, Dir, S3)
    }
    async fn open_day(&self, day: DayKey) -> Result<Option<DayReader>, DestError> {
        forward!(self, d => DayStore::open_day(d, day).await, Dir, S3)
    }
}

/// A quarantine store: a local directory, or an S3 prefix.
#[derive(Debug)]
pub enum AnyQuarantine {
    Dir(DirQuarantine),
    S3(S3Quarantine),
}

impl QuarantineStore for AnyQuarantine {
    async fn put_record(&self, name: &str, line: Vec<u8>) -> Result<Recorded, DestError> {
        forward!(self, q => QuarantineStore::put_record(q, name, line).await, Dir, S3)
    }
    fn location(&self) -> String {
        forward!(self, q => QuarantineStore::location(q), Dir, S3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_backend_behaves_as_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let mut source = AnySource::File(FileSource::from_reader("f".into(), &b"{\"a\":1}\n"[..]));
        let Batch::Messages(got) = source.next_batch(10).await.unwrap() else {
            panic!("a message was expected");
        };
        assert_eq!(got[0].id, "f:1");
        assert!(!source.deletes());

        let days = AnyDayStore::Dir(DirStore::new(tmp.path().join("days")));
        let day: DayKey = "20261120".parse().unwrap();
        let lines = Arc::new(vec![b"a".to_vec(), b"b".to_vec()]);
        let stats = days.merge_day(day, lines, WritePolicy::NewLinesOnly);
        let stats = stats.await.unwrap().unwrap();
        assert_eq!(stats.new_lines, 2);
        assert_eq!(days.list_days().await.unwrap(), vec![day]);
        assert_eq!(days.conflict_retries(), 0);

        let quarantine = AnyQuarantine::Dir(DirQuarantine::new(tmp.path().join("q")));
        let first = quarantine.put_record("r.jsonl", b"x\n".to_vec()).await;
        assert!(matches!(first, Ok(Recorded::Created(_))), "{first:?}");
        let again = quarantine.put_record("r.jsonl", b"x\n".to_vec()).await;
        assert!(matches!(again, Ok(Recorded::AlreadyThere(_))), "{again:?}");
    }
}
