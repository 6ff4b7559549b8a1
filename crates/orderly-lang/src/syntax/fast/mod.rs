//! A hand-written reader for the items large workflows are made of (statuses, phases, events,
//! flags, transitions, timers), in front of pest.
//!
//! pest spends about 100,000 instructions on a transition line (docs/benchmarks.md); this reads
//! the same text directly. It follows the grammar exactly, and where it is not sure (any
//! mistake, a rare item, `record`, deep nesting) it gives up on the item and pest reads it, so
//! pest stays the reference and the only source of syntax errors: an item read here is the one
//! pest would build, with the same spans, and ends where pest's would (`parse` goes on from
//! there). `tests.rs` compares the two on every shipped and test workflow and on mutations of them.

mod actions;
mod expr;
mod lex;
#[cfg(test)]
mod tests;

use super::ast::*;
use crate::diagnostics::Span;
use lex::Cursor;

/// Nesting of expressions (parentheses, aggregates, lists) read here; deeper ones go to pest.
const MAX_NESTING: usize = 16;
/// Operators in one item read here; more go to pest. With [`MAX_NESTING`], this keeps every
/// item read here far below the parser's `MAX_DEPTH`, which pest's path measures.
const MAX_OPS: usize = 128;

/// What an item may still spend on nesting and operators.
#[derive(Default)]
struct Budget {
    depth: usize,
    ops: usize,
}

impl Budget {
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn op(&mut self) -> Option<()> {
        self.ops += 1;
        (self.ops <= MAX_OPS).then_some(())
    }
}

/// The item at `pos` (after whitespace and comments) and the offset pest's `next_item` would
/// end it at, or `None` to let pest read it.
pub(super) fn item(source: &str, pos: usize) -> Option<(Item, usize)> {
    let mut c = Cursor::new(source, pos);
    let start = c.pos;
    let mut budget = Budget::default();
    // Whether the item's last part was optional and absent: pest then ends the item after the
    // whitespace it skipped looking for it.
    let (item, open_end) = match c.word() {
        "on" => {
            c.word_span();
            let event = c.ident()?;
            transition(&mut c, Some(event), start, &mut budget)?
        }
        "automatically" => {
            c.word_span();
            transition(&mut c, None, start, &mut budget)?
        }
        "status" => {
            let (status, open_end) = status(&mut c)?;
            (Item::Status(status), open_end)
        }
        "phase" => (Item::Phase(phase(&mut c)?), false),
        "event" => event(&mut c)?,
        "timer" => timer(&mut c, &mut budget)?,
        "workflow" | "flag" => {
            let is_workflow = c.word() == "workflow";
            c.word_span();
            let name = c.ident()?;
            let title = c.string();
            let open_end = title.is_none();
            let span = Span::new(start, c.last);
            let item = if is_workflow {
                Item::Workflow(WorkflowDecl { name, title, span })
            } else {
                Item::Flag(FlagDecl { name, description: title, span })
            };
            (item, open_end)
        }
        _ => return None,
    };
    Some((item, if open_end { c.pos } else { c.last }))
}

/// `status code "Label" [customer [sees] "Label"] [final]`, the cursor at `status`.
fn status(c: &mut Cursor<'_>) -> Option<(StatusDecl, bool)> {
    let start = c.pos;
    c.keyword("status").then_some(())?;
    let code = c.ident()?;
    let label = c.string()?;
    let mut customer_label = None;
    let mut is_final = false;
    let mut parts = 0;
    loop {
        if c.keyword("customer") {
            c.keyword("sees");
            customer_label = Some(c.string()?);
        } else if c.keyword("final") {
            is_final = true;
        } else {
            break;
        }
        parts += 1;
    }
    let span = Span::new(start, c.last);
    Some((StatusDecl { code, label, customer_label, is_final, span }, parts == 0))
}

fn phase(c: &mut Cursor<'_>) -> Option<PhaseDecl> {
    let start = c.pos;
    c.word_span();
    let code = c.ident()?;
    let label = c.string();
    c.punct(b'{').then_some(())?;
    let mut statuses = Vec::new();
    while c.word() == "status" {
        statuses.push(status(c)?.0);
    }
    c.punct(b'}').then_some(())?;
    Some(PhaseDecl { code, label, statuses, span: Span::new(start, c.last) })
}

fn event(c: &mut Cursor<'_>) -> Option<(Item, bool)> {
    let start = c.pos;
    c.word_span();
    let name = c.ident()?;
    let kind = if c.keyword("is") { Some(c.ident()?) } else { None };
    let description = c.string();
    let mut fields = Vec::new();
    let block = c.punct(b'{');
    if block {
        while !c.punct(b'}') {
            let field_start = c.pos;
            let name = c.name()?;
            c.punct(b':').then_some(())?;
            let ty = c.name()?;
            let optional = c.punct(b'?');
            fields.push(FieldDecl { name, ty, optional, span: Span::new(field_start, c.last) });
        }
    }
    let span = Span::new(start, c.last);
    Some((Item::Event(EventDecl { name, kind, description, fields, span }), !block))
}

/// The rest of `on EVENT` or `automatically`: `from SOURCES [when GUARD] TARGET [{ actions }]`
/// (the guard is required of automatic transitions).
fn transition(
    c: &mut Cursor<'_>,
    event: Option<Name>,
    start: usize,
    budget: &mut Budget,
) -> Option<(Item, bool)> {
    c.keyword("from").then_some(())?;
    let sources = if c.word() == "any" {
        let any = c.pos;
        c.word_span();
        c.keyword("status");
        Sources::Any(Span::new(any, c.last))
    } else {
        Sources::List(ident_list(c)?)
    };
    let guard = if c.keyword("when") { Some(expr::expr(c, budget)?) } else { None };
    if event.is_none() && guard.is_none() {
        return None;
    }
    let target = target(c)?;
    let (actions, open_end) = block_opt(c, budget)?;
    let span = Span::new(start, c.last);
    Some((Item::Transition(TransitionDecl { event, sources, guard, target, actions, span }), open_end))
}

fn timer(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<(Item, bool)> {
    let start = c.pos;
    c.word_span();
    let name = c.ident()?;
    c.keyword("after").then_some(())?;
    let (is_number, span, text) = c.number_or_duration()?;
    if is_number {
        return None;
    }
    let after = Name { text: text.to_string(), span };
    let statuses = if c.keyword("in") { ident_list(c)? } else { Vec::new() };
    let guard = if c.keyword("when") { Some(expr::expr(c, budget)?) } else { None };
    let target = if matches!(c.word(), "go" | "stay") { Some(target(c)?) } else { None };
    let (actions, open_end) = block_opt(c, budget)?;
    let span = Span::new(start, c.last);
    Some((Item::Timer(TimerDecl { name, after, statuses, guard, target, actions, span }), open_end))
}

fn ident_list(c: &mut Cursor<'_>) -> Option<Vec<Name>> {
    let mut names = vec![c.ident()?];
    while c.punct(b',') {
        names.push(c.ident()?);
    }
    Some(names)
}

/// `go to STATUS` or `stay`.
fn target(c: &mut Cursor<'_>) -> Option<Target> {
    if c.keyword("go") {
        c.keyword("to").then_some(())?;
        return Some(Target::GoTo(c.ident()?));
    }
    let start = c.pos;
    c.keyword("stay").then_some(Target::Stay(Span::new(start, c.last)))
}

/// An action block when a `{` is next, else nothing (and the item ends after the whitespace).
fn block_opt(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<(Vec<Action>, bool)> {
    if c.at(b'{') {
        Some((actions::block(c, budget)?, false))
    } else {
        Some((Vec::new(), true))
    }
}
