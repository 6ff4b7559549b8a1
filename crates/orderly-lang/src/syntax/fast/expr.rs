//! Guards and values on the fast path: the grammar's flat `expr` (prefixes, operands, tails,
//! infix operators in a row), then precedence applied by the same Pratt algorithm and binding
//! powers as `build::expr` (pest's `PrattParser`), so trees and spans come out the same.

use super::lex::Cursor;
use super::Budget;
use crate::diagnostics::Span;
use crate::syntax::ast::{Aggregate, BinOp, Expr, ExprKind, TextTest};

/// What may follow an operand: an infix operator or a tail (`[not] in [..]`, `starts with`...).
#[derive(Clone, Copy)]
enum Next {
    Infix(BinOp, usize),
    /// `in` or `not in` (`true`).
    In(bool),
    Text(TextTest),
}

/// Binding powers, as pest numbers the levels of `build::PRATT` (10 per level): `or`, `and`,
/// `not`, comparisons and tails, `+ -`, `* /`, unary `-`.
const NOT: u8 = 30;
const NEG: u8 = 70;

fn power(next: Next) -> u8 {
    match next {
        Next::Infix(BinOp::Or, _) => 10,
        Next::Infix(BinOp::And, _) => 20,
        Next::Infix(BinOp::Add | BinOp::Sub, _) => 50,
        Next::Infix(BinOp::Mul | BinOp::Div, _) => 60,
        Next::Infix(..) | Next::In(_) | Next::Text(_) => 40,
    }
}

/// The grammar's `expr` (`prefix* operand tail? (infix prefix* operand tail?)*`) with
/// precedence applied as pest's Pratt parser does (`PrattParserMap::expr`: a prefix takes what
/// binds tighter than itself, a left-associative infix what binds tighter than itself, a tail
/// applies at once), read straight from the text. `None` when it does not read as one.
pub(super) fn expr(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<Expr> {
    budget.enter()?;
    // Whether the last part read was a tail: one tail per operand, as the grammar has it.
    let mut after_tail = false;
    let e = climb(c, budget, 0, &mut after_tail)?;
    budget.leave();
    Some(e)
}

fn climb(c: &mut Cursor<'_>, budget: &mut Budget, rbp: u8, after_tail: &mut bool) -> Option<Expr> {
    let start = c.pos;
    let prefix = if c.keyword("not") {
        Some(true)
    } else if c.punct(b'-') {
        Some(false)
    } else {
        None
    };
    let mut lhs = match prefix {
        Some(not) => {
            budget.op()?;
            let rhs = climb(c, budget, if not { NOT } else { NEG } - 1, after_tail)?;
            let span = Span::new(start, start + if not { 3 } else { 1 }).to(rhs.span);
            let kind = if not { ExprKind::Not(Box::new(rhs)) } else { ExprKind::Neg(Box::new(rhs)) };
            Expr { kind, span }
        }
        None => {
            let e = operand(c, budget)?;
            *after_tail = false;
            e
        }
    };
    while let Some(next) = peek(c, *after_tail).filter(|n| rbp < power(*n)) {
        budget.op()?;
        let tail_start = c.pos;
        lhs = match next {
            Next::Infix(op, len) => {
                c.symbol_len(len);
                let rhs = climb(c, budget, power(next), after_tail)?;
                let span = lhs.span.to(rhs.span);
                Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span }
            }
            Next::In(negated) => {
                if negated {
                    c.keyword("not");
                }
                c.keyword("in");
                let list = list(c, budget)?;
                *after_tail = true;
                let span = lhs.span.to(Span::new(tail_start, c.last));
                Expr { kind: ExprKind::In { value: Box::new(lhs), list, negated }, span }
            }
            Next::Text(test) => {
                c.word_span();
                if test != TextTest::Contains && !c.keyword("with") {
                    return None;
                }
                let patterns = if c.at(b'[') { list(c, budget)? } else { vec![operand(c, budget)?] };
                *after_tail = true;
                let span = lhs.span.to(Span::new(tail_start, c.last));
                Expr { kind: ExprKind::TextTest { value: Box::new(lhs), test, patterns }, span }
            }
        };
    }
    Some(lhs)
}

/// What comes next, without reading it: an infix operator, or (right after an operand) a tail.
fn peek(c: &Cursor<'_>, after_tail: bool) -> Option<Next> {
    let word = c.word();
    if !word.is_empty() {
        return match word {
            "or" => Some(Next::Infix(BinOp::Or, 2)),
            "and" => Some(Next::Infix(BinOp::And, 3)),
            _ if after_tail => None,
            "in" => Some(Next::In(false)),
            "not" if c.second_word() == "in" => Some(Next::In(true)),
            "starts" => Some(Next::Text(TextTest::StartsWith)),
            "ends" => Some(Next::Text(TextTest::EndsWith)),
            "contains" => Some(Next::Text(TextTest::Contains)),
            _ => None,
        };
    }
    const SYMBOLS: [(&str, BinOp); 10] = [
        ("==", BinOp::Eq),
        ("!=", BinOp::Ne),
        ("<=", BinOp::Le),
        (">=", BinOp::Ge),
        ("<", BinOp::Lt),
        (">", BinOp::Gt),
        ("+", BinOp::Add),
        ("-", BinOp::Sub),
        ("*", BinOp::Mul),
        ("/", BinOp::Div),
    ];
    SYMBOLS.into_iter().find(|(s, _)| c.looking_at(s)).map(|(s, op)| Next::Infix(op, s.len()))
}

/// `[a, b]`.
fn list(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<Vec<Expr>> {
    if !c.punct(b'[') {
        return None;
    }
    let mut items = Vec::new();
    if !c.punct(b']') {
        items.push(expr(c, budget)?);
        while c.punct(b',') {
            items.push(expr(c, budget)?);
        }
        if !c.punct(b']') {
            return None;
        }
    }
    Some(items)
}

/// The grammar's `operand`, in its order: path, number, duration, string, paren, aggregate,
/// hook, true/false, code. A parenthesised expression is the expression itself, as
/// `build::primary` makes it.
fn operand(c: &mut Cursor<'_>, budget: &mut Budget) -> Option<Expr> {
    let start = c.pos;
    let at = |c: &Cursor<'_>| Span::new(start, c.last);
    if let Some(path) = c.path_name() {
        let span = path.span;
        return Some(Expr { kind: ExprKind::Path(path), span });
    }
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        let (is_number, span, text) = c.number_or_duration()?;
        let kind =
            if is_number { ExprKind::Number(text.to_string()) } else { ExprKind::Duration(text.to_string()) };
        return Some(Expr { kind, span });
    }
    if let Some(s) = c.string() {
        return Some(Expr { kind: ExprKind::Text(s.text), span: s.span });
    }
    if c.punct(b'(') {
        let inner = expr(c, budget)?;
        return c.punct(b')').then_some(inner);
    }
    let kind = match c.word() {
        w @ ("all" | "any" | "count" | "sum") if matches!(c.second_word(), "line" | "lines") => {
            let kind = match w {
                "all" => Aggregate::All,
                "any" => Aggregate::Any,
                "count" => Aggregate::Count,
                _ => Aggregate::Sum,
            };
            c.word_span();
            c.word_span();
            let inner = if c.punct(b'(') {
                let inner = expr(c, budget)?;
                if !c.punct(b')') {
                    return None;
                }
                Some(Box::new(inner))
            } else {
                None
            };
            ExprKind::Aggregate(kind, inner)
        }
        "hook" => {
            c.word_span();
            ExprKind::Hook(c.string()?)
        }
        w @ ("true" | "false") => {
            c.word_span();
            ExprKind::Bool(w == "true")
        }
        _ => ExprKind::Code(c.ident()?.text),
    };
    Some(Expr { kind, span: at(c) })
}
