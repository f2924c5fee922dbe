//! s3-event-writer: drains a queue of telephone-system events into a daily archive.
//!
//! Layers, inner to outer:
//! - [`core`]: pure decode, classification, the byte-exact line format, day keys and the
//!   streaming merge (no async, no SDK types);
//! - [`adapters`]: sources (SQS, a file or stdin) and destinations (S3, a local directory)
//!   behind the small traits of [`adapters`];
//! - [`pipeline`]: wires a source to a destination with the delivery rules (a message leaves the
//!   source only after what it produced is durable);
//! - [`preflight`]: what a drain checks before it reads or writes anything (the source file,
//!   the day-file location and the quarantine can be used at all);
//! - [`metrics`]: CloudWatch Embedded Metric Format records of each flush (pure);
//! - [`cli`]: argument and configuration parsing for the thin `main`;
//! - [`doctor`] and [`tools`]: setup checks and the archive tools (backfill, verify, stats,
//!   requeue), built on the same adapters and merge.

pub mod adapters;
pub mod cli;
pub mod core;
pub mod doctor;
pub mod lambda;
pub mod location;
pub mod metrics;
pub mod pipeline;
pub mod preflight;
pub mod report;
pub mod tools;
