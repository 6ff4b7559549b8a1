//! Text -> AST: the only module that sees pest's `Pairs` and `Rule`.
//!
//! [`parse`] reads a whole file item by item. After a syntax error it skips to the next line that
//! starts a top-level item and goes on, so one run reports every broken item, not just the first.
//! The items large files are made of (statuses, transitions, ...) are read by a hand-written
//! fast path (`fast`) that builds exactly what pest would; pest reads the rest, and every item
//! with a mistake, so the syntax errors are pest's alone.

pub mod ast;
mod build;
mod errors;
mod fast;
mod print;

pub use print::print;

use crate::diagnostics::{Code, Diagnostic, Span};
use pest::Parser as _;

mod grammar {
    #![allow(missing_docs, unreachable_pub, reason = "pest_derive generates the Rule enum")]
    /// The parser generated from `grammar/workflow.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../../../grammar/workflow.pest"]
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
    parse_with(source, true)
}

/// Parses a workflow file, reading the common items on the fast path when `use_fast` (the tests
/// compare both ways).
fn parse_with(source: &str, use_fast: bool) -> Parsed {
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    let mut skipped_words = Vec::new();
    let mut pos = 0;
    let mut recovering = false;
    while pos <= source.len() {
        if recovering {
            pos = skip_closing_braces(source, pos);
        }
        if let Some((item, end)) = use_fast.then(|| fast::item(source, pos)).flatten() {
            items.push(item);
            recovering = false;
            pos = end;
            continue;
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
                            Code::TooManyErrors,
                            "too many syntax errors; the rest of the file was not read",
                            at,
                        )
                        .with_label("stopped here")
                        .with_help("fix the errors above and check again"),
                    );
                    break;
                }
                let diagnostic = errors::syntax_error(
                    &detailed(Rule::next_item, rest).unwrap_or(error),
                    source,
                    pos,
                    errors::Level::Item,
                );
                let error_at = diagnostic.span.start;
                // A mistake inside an action block: read the block statement by statement, so
                // each mistake is reported where it is, with the shape of its statement, and
                // the rest of the file is read from the block's end.
                if let Some(open) = block_open(source, pos, error_at) {
                    let (found, end) = read_block(source, open + 1);
                    let room = MAX_SYNTAX_ERRORS.saturating_sub(diagnostics.len()).max(1);
                    if found.is_empty() {
                        diagnostics.push(diagnostic);
                    } else {
                        diagnostics.extend(found.into_iter().take(room));
                    }
                    if let Some(end) = end {
                        skipped_words.extend(words(&source[pos..end]));
                        pos = end;
                        recovering = true;
                        continue;
                    }
                } else {
                    diagnostics.push(diagnostic);
                }
                recovering = true;
                let next = resync(source, error_at);
                let skipped = &source[pos..next.unwrap_or(source.len())];
                skipped_words.extend(words(skipped));
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
                    Code::TooDeep,
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
fn detailed(rule: Rule, rest: &str) -> Option<pest::error::Error<Rule>> {
    let _detail = Detail::on();
    WorkflowParser::parse(rule, rest).err()
}

/// Parses that need pest's error detail, which is one switch for the whole process: it is on
/// while any runs. (Switched on and off by each parse alone, one parse switched it off under
/// another running at the same time, on another thread, whose error then named less of what
/// it expected: two checks at once in the studio, or tests in parallel.) A parse that does not
/// need it and runs meanwhile is only slower.
static DETAILED_PARSES: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// One parse that needs the detail, while it lives.
struct Detail;

impl Detail {
    fn on() -> Detail {
        let mut running = DETAILED_PARSES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *running += 1;
        pest::set_error_detail(true);
        Detail
    }
}

impl Drop for Detail {
    fn drop(&mut self) {
        let mut running = DETAILED_PARSES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *running = running.saturating_sub(1);
        if *running == 0 {
            pest::set_error_detail(false);
        }
    }
}

/// The words of a piece of text (names, keywords, numbers).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
}

/// Items whose `{ }` holds actions.
const BLOCK_ITEMS: &[&str] = &["on", "automatically", "timer"];

/// Words that start a statement inside an action block.
pub(crate) const ACTION_KEYWORDS: &[&str] = &[
    "set", "clear", "record", "start", "cancel", "send", "run", "emit", "assign", "note", "pick", "invoice",
];

/// The offset of the `{` of the action block that `error_at` is inside, when the item starting
/// at `item_start` has one open there (strings and comments are skipped).
fn block_open(source: &str, item_start: usize, error_at: usize) -> Option<usize> {
    let item_start = skip_blank(source, item_start);
    let first: String =
        source[item_start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    if !BLOCK_ITEMS.contains(&first.as_str()) {
        return None;
    }
    let mut open = None;
    let mut chars = source.get(item_start..error_at.min(source.len()))?.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                // A text ends at its closing quote or, unterminated, at the end of the line.
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' | '\n' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '{' => open = Some(item_start + i),
            '}' => open = None,
            _ => {}
        }
    }
    open
}

/// Reads the statements of an action block from `start` (just after its `{`): the syntax
/// errors found, and the offset just after the block's `}` (`None` when the block is not
/// closed before the next item or the end of the file).
fn read_block(source: &str, start: usize) -> (Vec<Diagnostic>, Option<usize>) {
    let mut found = Vec::new();
    let mut p = start;
    loop {
        p = skip_blank(source, p);
        if p >= source.len() || starts_item_line(source, p) || found.len() >= MAX_SYNTAX_ERRORS {
            return (found, None);
        }
        let rest = &source[p..];
        match WorkflowParser::parse(Rule::next_action, rest) {
            Ok(mut pairs) => {
                let Some(statement) = pairs.next().and_then(|n| n.into_inner().next()) else {
                    return (found, None);
                };
                let end = statement.as_span().end();
                if statement.as_rule() == Rule::block_end {
                    return (found, Some(p + end));
                }
                if end == 0 {
                    return (found, None);
                }
                p += end;
            }
            Err(error) => {
                let d = errors::syntax_error(
                    &detailed(Rule::next_action, rest).unwrap_or(error),
                    source,
                    p,
                    errors::Level::Statement,
                );
                let at = d.span.start.max(p);
                found.push(d);
                match next_statement(source, at) {
                    Some(next) => p = next,
                    None => return (found, None),
                }
            }
        }
    }
}

/// Skips whitespace and comments from `p`.
fn skip_blank(source: &str, mut p: usize) -> usize {
    loop {
        let rest = &source[p..];
        let trimmed = rest.trim_start();
        p += rest.len() - trimmed.len();
        if trimmed.starts_with('#') {
            p += trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else {
            return p;
        }
    }
}

/// Whether `p` is at the start of an unindented line that starts a top-level item.
fn starts_item_line(source: &str, p: usize) -> bool {
    let at_line_start = p == 0 || source[..p].ends_with('\n');
    let word: String = source[p..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    at_line_start && ITEM_KEYWORDS.contains(&word.as_str())
}

/// After a mistake at `at` inside a block, where the next statement (or the block's `}`)
/// starts: the next word that starts a statement, outside texts and comments. `None` when the
/// next top-level item, another `{` or the end of the file comes first.
fn next_statement(source: &str, at: usize) -> Option<usize> {
    let mut p = at;
    // The word or character the mistake is at is not a new statement.
    let first = source[p..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
    p += if first > 0 { first } else { source[p..].chars().next().map_or(0, char::len_utf8) };
    let mut in_text = false;
    while p < source.len() {
        let rest = &source[p..];
        let Some(c) = rest.chars().next() else { break };
        if in_text {
            match c {
                '\\' => p += rest.chars().nth(1).map_or(1, |n| 1 + n.len_utf8()),
                '"' | '\n' => {
                    in_text = false;
                    p += 1;
                }
                _ => p += c.len_utf8(),
            }
            continue;
        }
        match c {
            '"' => {
                in_text = true;
                p += 1;
            }
            '#' => p += rest.find('\n').unwrap_or(rest.len()),
            '}' => return Some(p),
            '{' => return None,
            c if c.is_ascii_alphanumeric() || c == '_' => {
                if starts_item_line(source, p) {
                    return None;
                }
                let word: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let after_space = source[..p].ends_with(|c: char| c.is_whitespace());
                if after_space && ACTION_KEYWORDS.contains(&word.as_str()) {
                    return Some(p);
                }
                p += word.len();
            }
            _ => p += c.len_utf8(),
        }
    }
    None
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
