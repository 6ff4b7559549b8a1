//! Action blocks on the fast path: `{ set flag x  note "..." ... }`. Each statement is picked by
//! its first word, as the grammar's alternatives each start with their own keyword; `record`
//! (rare in large files, many options) is left to pest.

use super::expr::expr;
use super::lex::Cursor;
use super::Budget;
use crate::diagnostics::Span;
use crate::syntax::ast::{Action, ActionKind, Recipient};

/// `{ action* }`, the cursor at its `{`.
pub(super) fn block(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<Vec<Action>> {
    if !c.punct(b'{') {
        return None;
    }
    let mut actions = Vec::new();
    while !c.punct(b'}') {
        actions.push(action(c, budget)?);
    }
    Some(actions)
}

fn action(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<Action> {
    let start = c.pos;
    let kind = match c.word() {
        "set" => {
            c.word_span();
            if c.keyword("flag") {
                ActionKind::SetFlag(c.ident()?)
            } else {
                let path = c.path_name()?;
                if !c.punct(b'=') {
                    return None;
                }
                ActionKind::SetField(path, expr(c, budget)?)
            }
        }
        "clear" => {
            c.word_span();
            c.keyword("flag").then_some(())?;
            ActionKind::ClearFlag(c.ident()?)
        }
        "start" | "cancel" => {
            let start_timer = c.word() == "start";
            c.word_span();
            c.keyword("timer").then_some(())?;
            let name = c.ident()?;
            if start_timer {
                ActionKind::StartTimer(name)
            } else {
                ActionKind::CancelTimer(name)
            }
        }
        "send" => {
            c.word_span();
            if c.keyword("webhook") {
                let target = c.ident()?;
                let hook = if c.keyword("with") {
                    c.keyword("hook").then_some(())?;
                    Some(c.string()?)
                } else {
                    None
                };
                ActionKind::SendWebhook { target, hook }
            } else {
                c.keyword("email").then_some(())?;
                c.keyword("to").then_some(())?;
                let to = recipient(c, budget)?;
                c.keyword("template").then_some(())?;
                let template = c.string()?;
                let subject = if c.keyword("subject") { Some(c.string()?) } else { None };
                ActionKind::SendEmail { to, template, subject }
            }
        }
        "run" => {
            c.word_span();
            c.keyword("hook").then_some(())?;
            ActionKind::RunHook(c.string()?)
        }
        "emit" => {
            c.word_span();
            ActionKind::Emit(c.ident()?)
        }
        "assign" => {
            c.word_span();
            c.keyword("to").then_some(())?;
            if c.word() == "queue" {
                // `assign_queue` first; `queue` without its text would be read as a code by
                // pest: leave that to pest.
                c.word_span();
                ActionKind::AssignQueue(c.string()?)
            } else {
                ActionKind::AssignPerson(expr(c, budget)?)
            }
        }
        "note" => {
            c.word_span();
            ActionKind::Note(expr(c, budget)?)
        }
        "pick" => {
            c.word_span();
            ActionKind::Pick
        }
        "invoice" => {
            c.word_span();
            ActionKind::Invoice
        }
        _ => return None,
    };
    Some(Action { kind, span: Span::new(start, c.last) })
}

/// `customer` (not followed by `.`), or an expression.
fn recipient(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<Recipient> {
    if c.word() == "customer" && !c.word_followed_by(b'.') {
        let word = c.word_span();
        // `customer .x` is neither a recipient nor a path: pest says why.
        return (!c.at(b'.')).then_some(Recipient::Customer(word));
    }
    Some(Recipient::Expr(expr(c, budget)?))
}
