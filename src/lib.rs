//! s3-event-writer: drains a queue of telephone-system events into a daily archive.
//!
//! The layers, top to bottom; each imports only the ones below it:
//! - [`cli`]: the clap definition of the program (only `main` uses it);
//! - [`commands`]: one file per subcommand (drain, lambda, doctor, backfill, verify, stats,
//!   compare, requeue, quarantine), each resolving its settings and running;
//! - [`settings`]: flag, then environment, then `--config`, then the default, resolved once into
//!   typed settings; every default lives here;
//! - [`wiring`]: builds sources and stores from settings (the one place that maps a location to
//!   an adapter);
//! - [`archive`] and [`records`]: listing, reading and rewriting day files and quarantine
//!   records on any store;
//! - [`pipeline`]: the delivery rules (a message leaves the source only after what it produced
//!   is durable), with [`preflight`] checks, the run [`report`] and [`metrics`];
//! - [`adapters`]: sources (SQS, a file or stdin, the PBX's metrics log) and stores (S3, a local
//!   directory) behind small traits, and [`location`] parsing;
//! - [`core`]: pure decode, classification, the byte-exact line format, day keys, the
//!   streaming merge and comparison (no async, no SDK types).

pub mod adapters;
pub mod archive;
pub mod cli;
pub mod commands;
pub mod core;
pub mod location;
pub mod metrics;
pub mod pipeline;
pub mod preflight;
pub mod records;
pub mod report;
pub mod settings;
pub mod wiring;
