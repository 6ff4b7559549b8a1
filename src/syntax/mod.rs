//! Text -> AST: the only module that sees pest's `Pairs` and `Rule`.
//!
//! [`parse`] reads a whole file item by item. After a syntax error it skips to the next line that
//! starts a top-level item and goes on, so one run reports every broken item, not just the first.

pub mod ast;
mod build;
mod errors;
mod print;

pub use print::{print, print_expr};

use crate::diagnostics::{Diagnostic, Span};
use pest::Parser as _;

mod grammar {
    #![allow(missing_docs, unreachable_pub, reason = "pest_derive generates the Rule enum")]
    /// The parser generated from `grammar/workflow.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/workflow.pest"]
    pub(super) struct WorkflowParser;
}
use grammar::{Rule, WorkflowParser};

/// The result of parsing one file: the items that parsed and a diagnostic for each that did not.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The AST of every item that parsed.
    pub file: ast::File,
    /// Syntax errors, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// Words in the text skipped after syntax errors. Names declared there are unknown to the
    /// checker, which uses this list to avoid reporting them again as unknown.
    pub skipped_words: Vec<String>,
}

/// Parses a workflow file.
pub fn parse(source: &str) -> Parsed {
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    let mut skipped_words = Vec::new();
    let mut pos = 0;
    let mut recovering = false;
    while pos <= source.len() {
        if recovering {
            pos = skip_closing_braces(source, pos);
        }
        let rest = &source[pos..];
        match WorkflowParser::parse(Rule::next_item, rest) {
            Ok(mut pairs) => {
                let Some(next) = pairs.next() else { break };
                let Some(item) = next.into_inner().find(|p| p.as_rule() != Rule::EOI) else {
                    break;
                };
                let end = item.as_span().end();
                recovering = false;
                match too_deep(&item, pos) {
                    Some(d) => diagnostics.push(d),
                    None => items.push(build::item(item, pos)),
                }
                if end == 0 {
                    break;
                }
                pos += end;
            }
            Err(error) => {
                if diagnostics.len() >= MAX_SYNTAX_ERRORS {
                    let at = Span::new(pos, pos);
                    diagnostics.push(
                        Diagnostic::error(
                            "too-many-errors",
                            "too many syntax errors; the rest of the file was not read",
                            at,
                        )
                        .with_label("stopped here")
                        .with_help("fix the errors above and check again"),
                    );
                    break;
                }
                let diagnostic = errors::syntax_error(&detailed(rest).unwrap_or(error), rest, pos);
                let error_at = diagnostic.span.start;
                diagnostics.push(diagnostic);
                recovering = true;
                let next = resync(source, error_at);
                let skipped = &source[pos..next.unwrap_or(source.len())];
                skipped_words.extend(
                    skipped
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter(|w| !w.is_empty())
                        .map(str::to_string),
                );
                match next {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    Parsed { file: ast::File { items }, diagnostics, skipped_words }
}

/// Syntax errors reported per file before giving up on the rest.
const MAX_SYNTAX_ERRORS: usize = 50;

/// Deepest nesting accepted in one item, counting rule levels and operators (about 170 levels of
/// parentheses, or about 350 operators in one condition).
/// The AST builder and the checker recurse along it, so it is bounded here, before them.
const MAX_DEPTH: usize = 360;

/// A diagnostic when an item nests deeper than [`MAX_DEPTH`]; measured without recursion.
fn too_deep(item: &pest::iterators::Pair<'_, Rule>, base: usize) -> Option<Diagnostic> {
    let mut stack = vec![(item.clone(), 1usize)];
    while let Some((pair, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            let span = pair.as_span();
            return Some(
                Diagnostic::error(
                    "too-deep",
                    "this is nested too deeply",
                    Span::new(base + span.start(), base + span.end()),
                )
                .with_label("too many levels of parentheses or `not`")
                .with_help("split the condition, or remove parentheses that are not needed"),
            );
        }
        // Operators nest in the tree (`not not x`, `a or b or c`) although they are siblings here.
        let operators = pair
            .clone()
            .into_inner()
            .filter(|c| {
                matches!(
                    c.as_rule(),
                    Rule::not_op
                        | Rule::neg_op
                        | Rule::or_op
                        | Rule::and_op
                        | Rule::cmp_op
                        | Rule::add_op
                        | Rule::mul_op
                ) || c.as_rule() == Rule::in_tail
            })
            .count();
        stack.extend(pair.into_inner().map(|c| (c, depth + 1 + operators)));
    }
    None
}

/// After an error inside a block, the block's closing braces are left over: skip them.
fn skip_closing_braces(source: &str, mut pos: usize) -> usize {
    loop {
        let rest = &source[pos..];
        let trimmed = rest.trim_start();
        let at = pos + (rest.len() - trimmed.len());
        if let Some(after) = trimmed.strip_prefix('}') {
            pos = source.len() - after.len();
        } else if trimmed.starts_with('#') {
            pos = at + trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else {
            return pos;
        }
    }
}

/// Parses `rest` again with pest's error detail on, to learn the punctuation it expected.
/// Detail costs time, so it is only switched on to explain an error already found.
fn detailed(rest: &str) -> Option<pest::error::Error<Rule>> {
    pest::set_error_detail(true);
    let again = WorkflowParser::parse(Rule::next_item, rest).err();
    pest::set_error_detail(false);
    again
}

/// Words that start a top-level item.
pub(crate) const ITEM_KEYWORDS: &[&str] = &[
    "workflow",
    "phase",
    "status",
    "flag",
    "attribute",
    "event",
    "webhook",
    "fulfillment",
    "settings",
    "channel",
    "on",
    "automatically",
    "timer",
    "renamed",
];

/// The byte offset of the first line after `error_at` that starts, unindented, with a keyword
/// that begins a top-level item, or (indented) with `status`: statuses may stand alone, so
/// the rest of a broken phase is still read.
fn resync(source: &str, error_at: usize) -> Option<usize> {
    let mut offset = source[..error_at.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
    for line in source[offset..].split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        if line_start <= error_at {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let word: String =
            line[indent..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if (indent == 0 && ITEM_KEYWORDS.contains(&word.as_str())) || word == "status" {
            return Some(line_start + indent);
        }
    }
    None
}

#[cfg(test)]
mod tests;
