//! The integration tests, as one test binary (one crate to link instead of one per file).
//!
//! One module per area; `support` holds everything they share. Run one area with
//! `cargo test --test it AREA::`, e.g. `cargo test --test it emulator::`. The emulator tests
//! use the emulators `scripts/test.sh` installs into its cache (see `support::emulator`); without
//! them they return at once, after one line saying so.

mod support;

mod acceptance;
mod compare;
mod doctor;
mod emulator;
mod harness;
mod lambda;
mod local;
mod metrics;
mod properties;
mod scale_out;
mod settings;
mod simulation;
mod tools_emulator;
mod tools_local;
