//! orderly: an order-workflow rules engine.
//!
//! The pipeline, one way: workflow text -> [`syntax::parse`] (AST with spans) ->
//! [`check::check`] (every finding, or a compiled [`model::Workflow`]) -> engine -> store.
//! The command line ([`cli`]) and, later, HTTP and hot reload sit at the edge and call inward.

pub mod check;
pub mod cli;
pub mod diagnostics;
pub mod graph;
pub mod load;
pub mod model;
pub mod schema;
pub mod syntax;
pub mod order;
pub mod engine;
pub mod store;
pub mod registry;
pub mod service;
