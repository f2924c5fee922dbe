//! The emulator test harness: a private moto server per test ([`moto::Moto`]), SDK helpers to
//! stage and inspect its state, and a loopback fault-injecting proxy ([`proxy::FaultProxy`]) to
//! put in front of it.
//!
//! Integration tests include it with `mod support;`. Not every test uses every helper.
#![allow(dead_code, unused_imports, unreachable_pub)]

pub mod moto;
pub mod proxy;

pub use moto::*;
pub use proxy::{block_on_fresh, Fault, FaultProxy};
