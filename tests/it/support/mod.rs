//! Everything the integration tests share: the conformance fixtures, running the binary,
//! comparing trees, the size-class matrix, a private moto server per test with SDK helpers
//! ([`moto`]), the loopback fault-injecting proxy ([`proxy`]), and a staged emulator
//! ([`Stage`]). The library items the tests use are re-exported from [`api`], in one place.

pub mod api;
pub mod fixtures;
pub mod moto;
pub mod proxy;
pub mod run;
pub mod sizes;
pub mod stage;
pub mod tree;

pub use fixtures::*;
pub use moto::*;
pub use proxy::{block_on_fresh, Fault, FaultProxy};
pub use run::*;
pub use stage::*;
pub use tree::*;

/// A runtime to drive the SDK helpers from a plain (non-async) test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
