//! orderly's engine: what happens to an order, decided without touching anything.
//!
//! [`engine::create`] and [`engine::apply`] are pure functions from (workflow, order snapshot,
//! input, time) to a decision: the new order, the steps taken, history, timers and messages to
//! queue, or a rejection that explains itself. [`order`] holds the snapshot they read and
//! return; [`hooks`] the one sandboxed rhai engine that runs integrators' scripts (with a time
//! and memory budget per call); [`limits`] every bound on input and on answers; [`replay`] runs
//! the inputs an order received again, in memory, through another version of its workflow.
//!
//! This crate knows nothing of storage, HTTP or async runtimes: the store and the service (the
//! `orderly` crate) run a decision inside a transaction.

#![expect(
    clippy::result_large_err,
    reason = "a Rejection carries its explanation (candidates, problems); refusals are the slow path"
)]

use orderly_lang::{check, diagnostics, model, schema};

/// The workflow language this engine runs (`orderly-lang`): compile a workflow's text with
/// [`lang::check::compile`].
pub use orderly_lang as lang;

pub mod engine;
pub mod hooks;
pub mod limits;
pub mod order;
pub mod replay;
