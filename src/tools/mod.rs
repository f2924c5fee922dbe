//! The archive tools: backfill, verify, stats, requeue.

pub mod backfill;
pub mod requeue;
pub mod stats;
pub mod verify;
