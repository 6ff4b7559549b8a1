//! Load-time checks of a hook file: it compiles (syntax, undefined variables), and every function
//! it calls is defined in the file or part of the hook API or rhai's standard packages. Each
//! finding is a [`HookDiagnostic`] with the file, line and column, convertible to the workflow
//! checker's [`Diagnostic`] so `orderly check` renders it with a caret.

use crate::diagnostics::{self, Code, Diagnostic, Report, Span};
use rhai::{ASTNode, Expr, ParseError, ParseErrorType, Position, Stmt, AST};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One finding about a hook file, found when the hooks load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDiagnostic {
    /// The file's path as given to [`HookEngine::load`](super::HookEngine::load) (joined with the
    /// folder), e.g. `workflows/hooks/dropship_vendor.rhai`.
    pub file: String,
    /// The file's text, for rendering.
    pub source: String,
    /// 1-based line (0 when the finding is about the whole file, e.g. it cannot be read).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// A stable code: `hook-syntax`, `hook-undefined-variable`, `hook-unknown-function`,
    /// `hook-wrong-arguments`, `hook-unknown-property`, `hook-unreadable`.
    pub code: Code,
    /// Lowercase, user input in backticks.
    pub message: String,
    /// The bytes of `source` the finding is about.
    pub span: Span,
    /// A hint, when there is one (`did you mean ...`).
    pub help: Option<String>,
}

impl fmt::Display for HookDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for HookDiagnostic {}

impl From<&HookDiagnostic> for Diagnostic {
    fn from(d: &HookDiagnostic) -> Diagnostic {
        let label = match d.code {
            Code::HookSyntax => "here",
            Code::HookUndefinedVariable => "not defined",
            Code::HookUnknownFunction => "unknown function",
            Code::HookWrongArguments => "wrong number of arguments",
            Code::HookUnknownProperty => "not a field of the order",
            _ => "",
        };
        Diagnostic::error(d.code, d.message.clone(), d.span).with_label(label).with_help_opt(d.help.clone())
    }
}

impl From<HookDiagnostic> for Diagnostic {
    fn from(d: HookDiagnostic) -> Diagnostic {
        Diagnostic::from(&d)
    }
}

impl HookDiagnostic {
    pub(crate) fn at(
        file: &str,
        source: &str,
        pos: Position,
        len: usize,
        code: Code,
        message: String,
    ) -> Self {
        let (line, column) = (pos.line().unwrap_or(0), pos.position().unwrap_or(1).max(1));
        let start = offset(source, line, column);
        let end = end_of(source, start, len);
        HookDiagnostic {
            file: file.to_string(),
            source: source.to_string(),
            line,
            column,
            code,
            message,
            span: Span::new(start, end),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

/// Groups diagnostics by file into reports, in file order.
pub fn reports(diagnostics: &[HookDiagnostic]) -> Vec<Report> {
    let mut by_file: BTreeMap<&str, Report> = BTreeMap::new();
    for d in diagnostics {
        by_file
            .entry(&d.file)
            .or_insert_with(|| Report {
                path: d.file.clone(),
                source: d.source.clone(),
                diagnostics: Vec::new(),
            })
            .diagnostics
            .push(d.into());
    }
    by_file.into_values().collect()
}

/// The byte offset of a 1-based line and column (in characters).
fn offset(source: &str, line: usize, column: usize) -> usize {
    if line == 0 {
        return 0;
    }
    let mut start = 0;
    for _ in 1..line {
        match source[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return source.len(),
        }
    }
    let rest = &source[start..];
    let line_text = rest.split('\n').next().unwrap_or_default();
    start + line_text.char_indices().nth(column - 1).map_or(line_text.len(), |(i, _)| i)
}

/// The end of a span of `len` bytes (at least one character, within the line) from `start`.
fn end_of(source: &str, start: usize, len: usize) -> usize {
    let rest = &source[start..];
    let line_len = rest.find('\n').unwrap_or(rest.len());
    let first_char = rest.chars().next().map_or(0, char::len_utf8);
    let want = len.max(first_char).min(line_len.max(first_char));
    let mut end = start + want.min(rest.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    end
}

/// A parse error as a diagnostic.
pub(crate) fn parse_error(file: &str, source: &str, e: &ParseError) -> HookDiagnostic {
    let (code, message, len) = match e.err_type() {
        ParseErrorType::VariableUndefined(name) => (
            Code::HookUndefinedVariable,
            format!("`{name}` is not defined: a hook sees `order`, `event` and `now`, and a function only its parameters"),
            name.len(),
        ),
        ParseErrorType::Reserved(word) if word == "import" || word == "export" => (
            Code::HookSyntax,
            format!("`{word}` is not available in hooks: a hook is one file, with its own functions"),
            word.len(),
        ),
        other => {
            let text = other.to_string();
            if text.contains("'eval' is disabled") {
                (Code::HookSyntax, "`eval` is not available in hooks".to_string(), 4)
            } else {
                (Code::HookSyntax, lower_first(&text), 1)
            }
        }
    };
    HookDiagnostic::at(file, source, e.position(), len, code, message)
}

pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if !c.clone().next().is_some_and(char::is_uppercase) => f.to_lowercase().chain(c).collect(),
        _ => s.to_string(),
    }
}

/// Functions of rhai's packages that hooks may not call (the engine also replaces them with
/// an error, for calls through function pointers).
pub(crate) const DENIED: &[&str] = &["sleep"];

/// Names every script may call without defining them, with their parameter counts (`None`:
/// any count, for rhai's keyword functions).
#[derive(Debug, Default)]
pub(crate) struct Known {
    names: BTreeMap<String, Option<BTreeSet<usize>>>,
}

impl Known {
    /// Every function registered in `engine` (API and packages) and rhai's keyword functions.
    pub(crate) fn of(engine: &rhai::Engine) -> Self {
        let mut known = Known::default();
        for sig in engine.gen_fn_signatures(true) {
            let sig = sig.strip_prefix("fn ").unwrap_or(&sig);
            let Some((name, rest)) = sig.split_once('(') else { continue };
            if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.is_empty() {
                continue;
            }
            let params = rest.split(')').next().unwrap_or_default();
            let count = if params.trim().is_empty() { 0 } else { params.split(',').count() };
            if let Some(set) = known.names.entry(name.to_string()).or_insert_with(|| Some(BTreeSet::new())) {
                set.insert(count);
            }
        }
        for denied in DENIED {
            known.names.remove(*denied);
        }
        for k in ["print", "debug", "type_of", "Fn", "call", "curry", "is_shared", "is_def_fn", "is_def_var"]
        {
            known.names.insert(k.to_string(), None);
        }
        known
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }
}

/// Every call in `ast` to a function that is neither defined in the script nor known, or known
/// with another number of arguments.
pub(crate) fn calls(file: &str, source: &str, ast: &AST, known: &Known) -> Vec<HookDiagnostic> {
    let mut defined: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for f in ast.iter_functions() {
        defined.entry(f.name.to_string()).or_default().insert(f.params.len());
    }
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let (call, pos, method) = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(x, pos))) => (x, *pos, false),
            Some(ASTNode::Expr(Expr::MethodCall(x, pos))) => (x, *pos, true),
            _ => return true,
        };
        if call.is_operator_call() || !call.name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return true;
        }
        let name = call.name.as_str();
        // A method call `a.f(b)` passes `a` as the first argument.
        let argc = call.args.len() + usize::from(method);
        let mine = defined.get(name);
        let theirs = known.names.get(name);
        if mine.is_some_and(|c| c.contains(&argc)) || matches!(theirs, Some(None)) {
            return true;
        }
        if let Some(Some(c)) = theirs {
            if c.contains(&argc) {
                return true;
            }
        }
        if mine.is_none() && theirs.is_none() {
            let candidates = known.names().chain(defined.keys().map(String::as_str));
            let help = diagnostics::suggestion(name, candidates).unwrap_or_else(|| {
                "a hook can call its own functions, the hook API (docs/hooks.md) and rhai's standard \
                 functions; it cannot read files, open sockets or run programs"
                    .into()
            });
            out.push(
                HookDiagnostic::at(
                    file,
                    source,
                    pos,
                    name.len(),
                    Code::HookUnknownFunction,
                    format!("`{name}` is not a function of this script nor of the hook API"),
                )
                .with_help(Some(help)),
            );
            return true;
        }
        let mut counts: BTreeSet<usize> = mine.cloned().unwrap_or_default();
        if let Some(Some(c)) = theirs {
            counts.extend(c);
        }
        let expected = counts.iter().map(usize::to_string).collect::<Vec<_>>().join(" or ");
        let given =
            if method { format!("{argc} (counting the value before the dot)") } else { argc.to_string() };
        out.push(HookDiagnostic::at(
            file,
            source,
            pos,
            name.len(),
            Code::HookWrongArguments,
            format!("`{name}` takes {expected} argument(s), not {given}"),
        ));
        true
    });
    out
}

/// Uses of `order`, `event` or `now` inside a function that neither takes nor declares them: a
/// function sees only its parameters, so these would fail when called. (rhai's strict-variables
/// mode checks the top level only.)
pub(crate) fn outer_variables(file: &str, source: &str, ast: &AST, names: &[&str]) -> Vec<HookDiagnostic> {
    let key = |p: Position| (p.line().unwrap_or(0), p.position().unwrap_or(0));
    // Each function (closures are functions too) by where its body starts: a node belongs to
    // the function that starts last before it.
    let mut functions: Vec<((usize, usize), String, BTreeSet<String>)> = ast
        .iter_fn_def()
        .map(|f| {
            (
                key(f.body.start_position()),
                f.name.to_string(),
                f.params.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect();
    functions.sort_by_key(|f| f.0);
    // The function a position is in, with its index (functions are sorted by where they start).
    let owner = |p: Position| functions.iter().enumerate().rfind(|(_, f)| f.0 <= key(p));
    let mut declared: Vec<(usize, String)> = Vec::new();
    let mut used: Vec<(usize, &str, &BTreeSet<String>, String, Position)> = Vec::new();
    ast.clone_functions_only().walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, _, pos))) => {
                declared.extend(owner(*pos).map(|(f, _)| (f, x.0.name.to_string())));
            }
            Some(ASTNode::Stmt(Stmt::For(x, pos))) => {
                if let Some((f, _)) = owner(*pos) {
                    declared.push((f, x.0.name.to_string()));
                    declared.extend(x.1.as_ref().map(|counter| (f, counter.name.to_string())));
                }
            }
            Some(ASTNode::Expr(Expr::Variable(x, _, pos))) if names.contains(&x.1.as_str()) => {
                used.extend(
                    owner(*pos)
                        .map(|(f, (_, fname, params))| (f, fname.as_str(), params, x.1.to_string(), *pos)),
                );
            }
            _ => {}
        }
        true
    });
    let mut out = Vec::new();
    for (f, fname, params, name, pos) in used {
        if params.contains(&name) || declared.iter().any(|(g, n)| *g == f && *n == name) {
            continue;
        }
        out.push(
            HookDiagnostic::at(
                file,
                source,
                pos,
                name.len(),
                Code::HookUndefinedVariable,
                format!("`{name}` is not defined in function `{fname}`: a function sees only its parameters"),
            )
            .with_help(Some(format!(
                "declare it: `fn {fname}(order, event, now)` (a hook function is given these three, in this order)"
            ))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_within_lines() {
        let src = "ab\ncé d\n";
        assert_eq!(offset(src, 1, 1), 0);
        assert_eq!(offset(src, 2, 1), 3);
        assert_eq!(offset(src, 2, 3), 6);
        assert_eq!(end_of(src, 6, 1), 7);
        assert_eq!(end_of(src, 4, 1), 6, "a span covers a whole character");
    }
}
