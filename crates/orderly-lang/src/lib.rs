//! orderly's workflow language, from text to a checked model.
//!
//! The pipeline, one way: workflow text -> [`syntax::parse`] (AST with spans) ->
//! [`check::compile`] (parse and check: every finding, or a compiled [`model::Workflow`]). Around it:
//! [`diagnostics`] (findings with a line, a column, a caret and a did-you-mean), [`schema`] (the
//! field catalogue: every order field a guard, a hook or a payload may read, and the only list
//! of them) and [`graph`] (a workflow's picture as SVG, DOT or Mermaid).
//!
//! This crate knows nothing of orders being run, storage, HTTP or the hooks' runtime: no tokio,
//! sqlx, axum or rhai in its dependency tree.

pub mod check;
mod code;
pub mod diagnostics;
pub mod graph;
pub mod model;
pub mod schema;
pub mod syntax;

#[doc(hidden)]
pub use strum;
