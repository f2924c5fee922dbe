//! The library items the tests use, re-exported in one place: when a path under `src/` moves,
//! only this file changes. The tests mostly run the binary; these are for the in-process ones
//! (`lambda`, `properties`) and for building the records the binary writes.

pub use s3_event_writer::core::merge::{sort_new_lines, trim_line_end};
pub use s3_event_writer::core::{
    classify, classify_bytes, merge_sorted, merge_unsorted, minimise, record_line, record_name,
    BodyPolicy, Outcome, QuarantineReason, Record, Redaction, Rules, SortOptions,
};

/// The adapters the Lambda handler is given.
pub mod adapters {
    pub use s3_event_writer::adapters::aws::RequestCounter;
    pub use s3_event_writer::adapters::dir::{DirQuarantine, DirStore};
    pub use s3_event_writer::adapters::s3::{S3Quarantine, S3Settings, S3Store};
}

/// The Lambda handler.
pub mod lambda {
    pub use s3_event_writer::commands::lambda::{handle_batch, Record};
}

/// What the simulation runs and models (`simulation`): the pipeline, the source and object
/// store traits, and the day store built on an object store.
pub mod sim {
    pub use s3_event_writer::adapters::object::{
        Body, Condition, DaySettings, Fetched, ObjectDayStore, ObjectStore, PutError,
    };
    pub use s3_event_writer::adapters::spool::Spooled;
    pub use s3_event_writer::adapters::{
        AckOutcome, Batch, DayStore, DestError, Message, QuarantineStore, Receipt, Recorded,
        Source, SourceError,
    };
    pub use s3_event_writer::pipeline::{drain, DrainOptions, Progress, Stores};
}
