//! The integration tests, in one binary (one link instead of one per file): each module is a
//! former test file, `support` their shared helpers (both backends, a free port, folders).
//! `cargo test` runs them; `cargo test --test it api::` one module.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]

mod support;

mod api;
mod cli;
mod codes;
mod config;
mod customers;
mod delivery;
mod diagnostics;
mod email;
mod graph;
mod guards;
mod hooks;
mod invariants;
mod pages;
mod reload;
mod replay;
mod robustness;
mod scenarios;
mod serve;
mod service;
mod store;
mod workflows;
