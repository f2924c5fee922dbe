//! The pure core: decode, classify, format, day key, streaming merge and comparison, quarantine
//! records and their minimisation.
//!
//! Nothing here is async or knows about AWS; everything is a function of its inputs (the merge
//! reads and writes through `std::io` traits). The SPEC's byte-exact rules live here and only
//! here, so the adapters and the pipeline cannot disagree about them.

pub mod classify;
pub mod compare;
pub mod day;
pub mod fast;
pub mod format;
pub mod merge;
pub mod metrics_log;
pub mod quarantine;
pub mod redact;
pub mod rules;

pub use classify::{classify, classify_bytes, classify_serde};
pub use day::DayKey;
pub use format::{record_line, write_record, Record};
pub use merge::{merge_sorted, merge_unsorted, MergeError, MergeStats, SortOptions};
pub use quarantine::{record_name, QuarantineRecord};
pub use redact::{minimise, BodyPolicy, Redaction, RedactionError};
pub use rules::{DropReason, Field, Outcome, QuarantineReason, Rules};
