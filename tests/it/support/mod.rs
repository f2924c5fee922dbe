//! Everything the integration tests share: the conformance fixtures, running the binary,
//! comparing trees, the size-class matrix, an emulator per test ([`emulator`]: LocalStack or
//! moto) with SDK helpers ([`sdk`]), the loopback fault-injecting proxy ([`proxy`]), and a staged
//! emulator ([`Stage`]). The library items the tests use are re-exported from [`api`], in one
//! place.

pub mod api;
pub mod emulator;
pub mod fixtures;
pub mod proxy;
pub mod run;
pub mod sdk;
pub mod sizes;
pub mod stage;
pub mod tree;

pub use emulator::{emulators_missing, Emulator, Kind};
pub use fixtures::*;
pub use proxy::{block_on_fresh, Fault, FaultProxy};
pub use run::*;
pub use sdk::*;
pub use stage::*;
pub use tree::*;

/// Returns from the calling test, after one line saying how to install them, when the
/// emulators are not installed (see [`emulator`]): the first line of every emulator test.
macro_rules! needs_emulators {
    () => {
        if $crate::support::emulators_missing() {
            return;
        }
    };
}
pub(crate) use needs_emulators;

/// A runtime to drive the SDK helpers from a plain (non-async) test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
