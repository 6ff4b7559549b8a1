//! orderly: an order-workflow rules engine.
//!
//! The pipeline, one way: workflow text -> [`syntax::parse`] (AST with spans) ->
//! [`check::check`] (every finding, or a compiled [`model::Workflow`]) -> engine -> store.
//! The command line ([`cli`]) and, later, HTTP and hot reload sit at the edge and call inward.

#![expect(
    clippy::result_large_err,
    reason = "a Rejection carries its explanation (candidates, problems); refusals are the slow path"
)]

pub mod check;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod diagnostics;
pub mod engine;
pub mod graph;
pub mod hooks;
pub mod http;
pub mod limits;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod order;
pub mod registry;
pub mod reload;
pub mod scenario;
pub mod schema;
pub mod serve;
pub mod service;
pub mod store;
pub mod syntax;
