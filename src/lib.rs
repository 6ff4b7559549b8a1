//! orderly: an order-workflow rules engine.
//!
//! The pipeline, one way: workflow text -> [`syntax::parse`] (AST with spans) ->
//! [`check::compile`] (parse and check: every finding, or a compiled [`model::Workflow`]) -> engine -> store.
//! The language (the first two steps, the model, diagnostics, the field catalogue and the
//! pictures) is the `orderly-lang` crate, re-exported here under the same module names. The
//! command line ([`cli`]), HTTP ([`http`]), hot reload ([`reload`]) and delivery sit at the
//! edge and call inward.

#![expect(
    clippy::result_large_err,
    reason = "a Rejection carries its explanation (candidates, problems); refusals are the slow path"
)]

pub use orderly_engine::{engine, hooks, limits, order};
pub use orderly_lang::{check, diagnostics, graph, model, schema, syntax};
pub use orderly_store as store;

pub mod cli;
pub mod config;
pub mod delivery;
pub mod http;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod pages;
pub mod registry;
pub mod reload;
pub mod replay;
pub mod scenario;
pub mod serve;
pub mod service;
