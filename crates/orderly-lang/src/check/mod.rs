//! AST -> compiled [`Workflow`]: resolves names, types guards, checks the flow of statuses.
//!
//! [`check`] never stops at the first finding: it collects every error and warning in one run.
//! A [`Workflow`] comes out only when there is no error. Submodules hold one concern each:
//! declarations (`decls`), guard expressions (`exprs`), actions (`actions`), channel defaults
//! (`channels`), and the shape of the status graph (`flow`).

mod actions;
mod channels;
mod decls;
mod durations;
mod exprs;
mod flow;
mod transitions;

use crate::diagnostics::{suggestion, Code, Diagnostic, Span};
use crate::model::Workflow;
use crate::syntax::ast::{self, Name};

pub use durations::{format_duration, parse_duration, DurationError};

/// What the checker may look at besides the file itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The hook files present in the workflow's `hooks/` folder, when known. `None` skips the
    /// check that referenced hook files exist.
    pub hook_files: Option<Vec<String>>,
    /// The email templates in the workflow's `templates/` folder (names without `.txt`), when
    /// known. `None` skips the check that named templates exist.
    pub template_files: Option<Vec<String>>,
}

/// The result of checking one file.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The compiled workflow, when there was no error.
    pub workflow: Option<Workflow>,
    /// Every finding, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and checks a workflow's text.
pub fn compile(source: &str, context: &Context) -> Outcome {
    let parsed = crate::syntax::parse(source);
    // With syntax errors the status graph is incomplete: its warnings would be noise.
    let mut outcome =
        run(&parsed.file, source, context, &parsed.skipped_words, parsed.diagnostics.is_empty());
    if !parsed.diagnostics.is_empty() {
        outcome.workflow = None;
    }
    outcome.diagnostics.extend(parsed.diagnostics);
    outcome.diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    outcome
}

fn run(file: &ast::File, source: &str, context: &Context, skipped_words: &[String], flow: bool) -> Outcome {
    let line_starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let mut checker = Checker {
        source,
        line_starts,
        context,
        diagnostics: Vec::new(),
        hooks_used: Vec::new(),
        hook_refs: Vec::new(),
        skipped_words,
        flow,
    };
    let decls = decls::collect(&mut checker, file);
    let workflow = transitions::compile(&mut checker, file, decls);
    let has_errors = checker.diagnostics.iter().any(Diagnostic::is_error);
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    Outcome { workflow: if has_errors { None } else { Some(workflow) }, diagnostics }
}

/// Shared state while checking one file.
struct Checker<'a> {
    /// The text being checked.
    source: &'a str,
    /// Byte offsets where lines start, for [`Checker::line_of`].
    line_starts: Vec<usize>,
    context: &'a Context,
    diagnostics: Vec<Diagnostic>,
    /// Hook files referenced so far, in first-use order.
    hooks_used: Vec<String>,
    /// Every hook reference (`file.rhai[::function]`) with where it is written.
    hook_refs: Vec<(String, Span)>,
    /// Words in text the parser skipped: a name among them may be declared there, so it is
    /// not reported as unknown on top of the syntax error.
    skipped_words: &'a [String],
    /// Whether to check the shape of the status graph (reachability, dead ends, shadowing).
    flow: bool,
}

impl Checker<'_> {
    fn report(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Reports an unknown name with a did-you-mean, or a help line saying how to declare it.
    fn unknown<'c>(
        &mut self,
        code: Code,
        what: &str,
        name: &Name,
        candidates: impl IntoIterator<Item = &'c str>,
        declare: impl FnOnce() -> String,
    ) {
        if self.skipped_words.contains(&name.text) {
            return;
        }
        let d = Diagnostic::error(code, format!("unknown {what} `{}`", name.text), name.span)
            .with_label(format!("no {what} has this name"));
        let d = match suggestion(&name.text, candidates) {
            Some(s) => d.with_help(s),
            None => d.with_help(declare()),
        };
        self.report(d);
    }

    /// Reports an unknown field `root.name`, suggesting a close `root.other`.
    fn unknown_field<'c>(
        &mut self,
        root: &str,
        field: &Name,
        owner: &str,
        candidates: impl IntoIterator<Item = &'c str>,
        otherwise: impl FnOnce() -> String,
    ) {
        if self.skipped_words.contains(&field.text) {
            return;
        }
        let help = crate::diagnostics::did_you_mean(&field.text, candidates)
            .map(|c| format!("did you mean `{root}.{c}`?"))
            .unwrap_or_else(otherwise);
        self.report(
            Diagnostic::error(
                Code::UnknownField,
                format!("unknown field `{root}.{}`", field.text),
                field.span,
            )
            .with_label(format!("{owner} has no field `{}`", field.text))
            .with_help(help),
        );
    }

    /// Reports a second declaration of the same name.
    fn duplicate(&mut self, what: &str, name: &Name, first: Span) {
        self.report(
            Diagnostic::error(
                Code::Duplicate,
                format!("{what} `{}` is declared twice", name.text),
                name.span,
            )
            .with_label("declared again here")
            .with_note(first, "first declared here")
            .with_help(format!("remove one of them, or give this {what} another name")),
        );
    }

    /// Checks a hook reference (`file.rhai` or `file.rhai::function`) and remembers its file.
    fn hook_ref(&mut self, hook: &ast::Str) {
        let file = hook.text.split("::").next().unwrap_or_default();
        if !file.ends_with(".rhai") || file.contains('/') || file.contains('\\') {
            self.report(
                Diagnostic::error(Code::InvalidHook, format!("`{}` is not a hook file name", hook.text), hook.span)
                    .with_label("expected `name.rhai` or `name.rhai::function`")
                    .with_help("hooks are rhai files in the `hooks/` folder beside the workflow, e.g. `\"crm_handoff.rhai\"`"),
            );
            return;
        }
        if let Some(files) = &self.context.hook_files {
            if !files.iter().any(|f| f == file) {
                let d = Diagnostic::error(
                    Code::UnknownHook,
                    format!("hook file `{file}` does not exist"),
                    hook.span,
                )
                .with_label("not found in the `hooks/` folder");
                let d = match suggestion(file, files.iter().map(String::as_str)) {
                    Some(s) => d.with_help(s),
                    None => d.with_help(format!("create `hooks/{file}` beside the workflow file")),
                };
                self.report(d);
                return;
            }
        }
        if !self.hooks_used.iter().any(|f| f == file) {
            self.hooks_used.push(file.to_string());
        }
        self.hook_refs.push((hook.text.clone(), hook.span));
    }

    /// The 1-based line a span starts on.
    fn line_of(&self, span: Span) -> usize {
        self.line_starts.partition_point(|start| *start <= span.start)
    }
}

#[cfg(test)]
mod tests;
