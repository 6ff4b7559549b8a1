//! Load-time checks of what a script reads and sends, against the field catalogue
//! (`crate::schema`): a property of `order`, `order.customer`, a line, `event` ... that the
//! catalogue does not have is a `hook-unknown-property` finding at its line and column (with a
//! did-you-mean), where the script shows it statically: chains from `order` and `event`, from
//! variables bound to them (`let c = order.customer;`, `for line in order.lines`) and from
//! function parameters named `order` and `event`. Also collected: the webhook targets a script
//! names literally (`webhook("crm", ...)`), which the loader checks against each workflow
//! that runs the script.

use super::check::HookDiagnostic;
use crate::diagnostics::Code;
use crate::schema::{Shape, Table};
use rhai::{ASTNode, Expr, Position, Stmt, AST};
use std::collections::BTreeMap;

/// What a value in a script is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// A record of the catalogue (the order, a customer, a line, ...).
    Record(Table),
    /// A list of records (`order.lines`).
    List(Table),
    /// `event`: `name` and `data`.
    Event,
    /// Something whose properties are not known (event data, attributes, values).
    Open,
}

/// An unknown property: the message, the help line, where, and the name's length.
struct Found {
    message: String,
    help: String,
    pos: Position,
    len: usize,
}

/// The type of property `name` of a value of type `ty`: `Err` with a message and a help line
/// when the catalogue does not have it.
fn property(ty: Ty, name: &str) -> Result<Ty, (String, String)> {
    match ty {
        Ty::Record(table) => match table.shape(name) {
            Some(Shape::Record(t)) => Ok(Ty::Record(t)),
            Some(Shape::List(t)) => Ok(Ty::List(t)),
            Some(_) => Ok(Ty::Open),
            None => {
                let names = table.names();
                let help = crate::diagnostics::did_you_mean(name, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("{} has: {}", table.describe(), names.join(", ")));
                Err((format!("{} has no property `{name}`", table.describe()), help))
            }
        },
        Ty::Event => match name {
            "name" => Ok(Ty::Open),
            "data" => Ok(Ty::Open),
            _ => Err((
                format!("`event` has no property `{name}`"),
                format!("an event has `name` and `data`; its fields are read as `event.data.{name}`"),
            )),
        },
        // A list's own properties (`len`) and anything of an open value are not checked.
        Ty::List(_) | Ty::Open => Ok(Ty::Open),
    }
}

/// The type of an expression, following `.property` and `[index]` from a known root; every
/// unknown property found on the way is pushed to `found`.
fn type_of(e: &Expr, vars: &BTreeMap<String, Option<Ty>>, found: &mut Vec<Found>) -> Option<Ty> {
    match e {
        Expr::Variable(x, _, _) => vars.get(x.1.as_str()).copied().flatten(),
        Expr::Dot(x, _, _) => {
            let root = type_of(&x.lhs, vars, found)?;
            chain(root, &x.rhs, found)
        }
        Expr::Index(x, _, _) => match type_of(&x.lhs, vars, found)? {
            Ty::List(t) => Some(Ty::Record(t)),
            _ => Some(Ty::Open),
        },
        _ => None,
    }
}

/// Follows the right-hand side of a `.` from a value of type `ty`.
fn chain(ty: Ty, rhs: &Expr, found: &mut Vec<Found>) -> Option<Ty> {
    match rhs {
        Expr::Property(p, pos) => step(ty, p.2.as_str(), *pos, found),
        Expr::Dot(x, _, _) => {
            let next = chain(ty, &x.lhs, found)?;
            chain(next, &x.rhs, found)
        }
        Expr::Index(x, _, _) => match chain(ty, &x.lhs, found)? {
            Ty::List(t) => Some(Ty::Record(t)),
            _ => Some(Ty::Open),
        },
        // A method call ends what is known.
        _ => None,
    }
}

fn step(ty: Ty, name: &str, pos: Position, found: &mut Vec<Found>) -> Option<Ty> {
    match property(ty, name) {
        Ok(t) => Some(t),
        Err((message, help)) => {
            found.push(Found { message, help, pos, len: name.len() });
            None
        }
    }
}

/// Every property the script reads that the catalogue does not have.
pub(crate) fn check(file: &str, source: &str, ast: &AST) -> Vec<HookDiagnostic> {
    // Names bound to a known type. A name bound twice to different types is not checked.
    let mut vars: BTreeMap<String, Option<Ty>> = BTreeMap::new();
    vars.insert("order".into(), Some(Ty::Record(Table::Order)));
    vars.insert("event".into(), Some(Ty::Event));
    let mut found: Vec<Found> = Vec::new();
    let bind = |vars: &mut BTreeMap<String, Option<Ty>>, name: &str, ty: Option<Ty>| {
        let entry = vars.entry(name.to_string()).or_insert(ty);
        if *entry != ty {
            *entry = None;
        }
    };
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, _, _))) => {
                let mut ignore = Vec::new();
                let ty = type_of(&x.1, &vars, &mut ignore);
                bind(&mut vars, x.0.name.as_str(), ty);
            }
            Some(ASTNode::Stmt(Stmt::For(x, _))) => {
                let mut ignore = Vec::new();
                let ty = match type_of(&x.2.expr, &vars, &mut ignore) {
                    Some(Ty::List(t)) => Some(Ty::Record(t)),
                    _ => None,
                };
                bind(&mut vars, x.0.name.as_str(), ty);
            }
            // The top of a chain: its root is not itself a property.
            Some(ASTNode::Expr(e @ (Expr::Dot(..) | Expr::Index(..)))) => {
                let nested =
                    matches!(path.iter().rev().nth(1), Some(ASTNode::Expr(Expr::Dot(..) | Expr::Index(..))));
                if !nested {
                    type_of(e, &vars, &mut found);
                }
            }
            _ => {}
        }
        true
    });
    found.sort_by_key(|f| (f.pos.line(), f.pos.position()));
    found.dedup_by(|a, b| a.pos == b.pos);
    found
        .into_iter()
        .map(|f| {
            HookDiagnostic::at(file, source, f.pos, f.len, Code::HookUnknownProperty, f.message)
                .with_help(Some(f.help))
        })
        .collect()
}

/// The webhook targets a script names literally (`webhook("crm", ...)`), with where.
pub(crate) fn webhook_targets(ast: &AST) -> Vec<(String, Position)> {
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::FnCall(call, _))) = path.last() {
            if call.name.as_str() == "webhook" {
                if let Some(Expr::StringConstant(s, pos)) = call.args.first() {
                    out.push((s.to_string(), *pos));
                }
            }
        }
        true
    });
    out
}
