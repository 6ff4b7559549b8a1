//! The hook engine: rhai scripts in a workflow folder's `hooks/` that serve as guards, actions
//! and webhook payload builders ([`crate::engine::Hooks`]).
//!
//! - [`HookEngine::load`] compiles every `*.rhai` of a folder once; a syntax error, an undefined
//!   variable or a call to an unknown function is a [`HookDiagnostic`] with file, line and
//!   column, and nothing loads. [`check_hooks`] gives the same findings as [`Report`]s for
//!   `orderly check`.
//! - A hook is `file.rhai` (the script's top level, with `order`, `event` and `now` in scope)
//!   or `file.rhai::function` (that function, given `order`, `event`, `now` as its first
//!   parameters, as many as it declares).
//! - One sandboxed rhai [`Engine`] serves every call: no `eval`, no modules, no file, network
//!   or clock functions, `print` and `debug` go nowhere; limits on operations, call depth,
//!   expression depth, string, array and map sizes, and a wall-clock budget per call
//!   ([`HookLimits`]).
//! - A failing call is one line: ``hook `x.rhai` failed at line 12: <message>``; the engine
//!   turns it into a `hook_failed` rejection and changes nothing.
//!
//! docs/hooks.md documents what scripts see and call.

mod api;
mod check;
mod properties;
mod view;

pub use check::reports as hook_reports;
pub use check::HookDiagnostic;

use crate::diagnostics::{Code, Report};
use crate::engine::{Effect, EventInput, Hooks};
use crate::order::{Order, Time};
use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, ImmutableString, OptimizationLevel, Scope, AST};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The sandbox's limits. [`HookLimits::default`] is what [`HookEngine::load`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookLimits {
    /// rhai operations per call (a loop iteration is a few): 200,000.
    pub max_operations: u64,
    /// Wall-clock time per call: 50 ms.
    pub budget: Duration,
    /// Nested function calls: 32.
    pub max_call_levels: usize,
    /// Expression nesting at top level: 64.
    pub max_expr_depth: usize,
    /// Expression nesting inside functions: 32.
    pub max_function_expr_depth: usize,
    /// Characters in one string: 100,000.
    pub max_string_size: usize,
    /// Items in one array (nested arrays count in full): 10,000.
    pub max_array_size: usize,
    /// Entries in one map: 10,000.
    pub max_map_size: usize,
    /// Variables in scope at once (parameters and loop variables included): 100. With the
    /// size limits above, what bounds a call's memory (docs/hooks.md, the sandbox).
    pub max_variables: usize,
}

impl Default for HookLimits {
    fn default() -> Self {
        HookLimits {
            max_operations: 200_000,
            budget: Duration::from_millis(50),
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 100_000,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 100,
        }
    }
}

/// The compiled hooks of one folder and the sandboxed engine that runs them. `Send + Sync`:
/// share one behind an `Arc` between requests.
pub struct HookEngine {
    engine: Engine,
    scripts: BTreeMap<String, Script>,
    limits: HookLimits,
}

impl std::fmt::Debug for HookEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookEngine")
            .field("scripts", &self.scripts.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .finish()
    }
}

/// What a hook name resolves to: the script and, for `file.rhai::function`, the function and
/// how many of (order, event, now) it takes.
type Target<'a> = (&'a Script, Option<(&'a str, usize)>);

/// One compiled hook file.
struct Script {
    ast: AST,
    /// Its functions and their parameter counts.
    functions: BTreeMap<String, Vec<usize>>,
    /// The webhook targets it names literally, with line and column.
    webhooks: Vec<(String, usize, usize)>,
}

thread_local! {
    /// When the call running on this thread must stop; read by the engine's progress callback.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Clears the deadline when a call ends, however it ends.
struct DeadlineGuard;

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}

/// The token the progress callback stops a script with.
const OVER_BUDGET: &str = "over budget";

/// The names in scope for a script's top level.
const SCOPE_NAMES: [&str; 3] = ["order", "event", "now"];

impl HookEngine {
    /// Compiles every `*.rhai` file in `dir` (e.g. `workflows/hooks`) with the default limits.
    /// A missing folder gives an engine without hooks. Any finding in any file fails the load.
    pub fn load(dir: &Path) -> Result<HookEngine, Vec<HookDiagnostic>> {
        Self::load_with(dir, HookLimits::default())
    }

    /// [`HookEngine::load`] with other limits.
    pub fn load_with(dir: &Path, limits: HookLimits) -> Result<HookEngine, Vec<HookDiagnostic>> {
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for name in hook_files(dir) {
            let path = dir.join(&name);
            match std::fs::read_to_string(&path) {
                Ok(source) => files.push((name, path.display().to_string(), source)),
                Err(e) => problems.push(HookDiagnostic {
                    file: path.display().to_string(),
                    source: String::new(),
                    line: 0,
                    column: 0,
                    code: Code::HookUnreadable,
                    message: format!("cannot read the hook file: {e}"),
                    span: crate::diagnostics::Span::default(),
                    help: None,
                }),
            }
        }
        let result = Self::compile(files, limits);
        match (result, problems.is_empty()) {
            (Ok(engine), true) => Ok(engine),
            (Ok(_), false) => Err(problems),
            (Err(mut found), _) => {
                problems.append(&mut found);
                Err(problems)
            }
        }
    }

    /// Compiles hooks given as `(name, source)` pairs, e.g. `("dropship_vendor.rhai", "...")`: for
    /// tests and tools that do not read a folder.
    pub fn from_sources<I, N, S>(sources: I, limits: HookLimits) -> Result<HookEngine, Vec<HookDiagnostic>>
    where
        I: IntoIterator<Item = (N, S)>,
        N: Into<String>,
        S: Into<String>,
    {
        let files = sources
            .into_iter()
            .map(|(n, s)| {
                let n = n.into();
                (n.clone(), n, s.into())
            })
            .collect();
        Self::compile(files, limits)
    }

    /// `(hook name, path shown in diagnostics, source)`.
    fn compile(
        files: Vec<(String, String, String)>,
        limits: HookLimits,
    ) -> Result<HookEngine, Vec<HookDiagnostic>> {
        let engine = sandbox(&limits);
        let known = check::Known::of(&engine);
        let mut scope = Scope::new();
        for name in SCOPE_NAMES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        let mut scripts = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, path, source) in files {
            // Compiled without optimization so that the check sees every call as written.
            let ast = match engine.compile_with_scope(&scope, &source) {
                Ok(ast) => ast,
                Err(e) => {
                    problems.push(check::parse_error(&path, &source, &e));
                    continue;
                }
            };
            let mut found = check::calls(&path, &source, &ast, &known);
            found.extend(check::outer_variables(&path, &source, &ast, &SCOPE_NAMES));
            found.extend(properties::check(&path, &source, &ast));
            if !found.is_empty() {
                problems.extend(found);
                continue;
            }
            let mut functions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for f in ast.iter_functions() {
                functions.entry(f.name.to_string()).or_default().push(f.params.len());
            }
            let webhooks = properties::webhook_targets(&ast)
                .into_iter()
                .map(|(target, pos)| (target, pos.line().unwrap_or(0), pos.position().unwrap_or(0)))
                .collect();
            let mut ast = engine.optimize_ast(&scope, ast, OptimizationLevel::Simple);
            ast.set_source(name.as_str());
            scripts.insert(name, Script { ast, functions, webhooks });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(HookEngine { engine, scripts, limits })
    }

    /// The hook files loaded, by name (`dropship_vendor.rhai`).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.scripts.keys().map(String::as_str)
    }

    /// The webhook targets hook file `file` names literally (`webhook("crm", ...)`), each
    /// with its line and column: the loader checks them against the workflows that run it.
    pub fn webhook_targets(&self, file: &str) -> &[(String, usize, usize)] {
        self.scripts.get(file).map_or(&[], |s| s.webhooks.as_slice())
    }

    /// Whether `hook` (`file.rhai` or `file.rhai::function`) names a loaded file and, for the
    /// second form, a function of it that takes at most three parameters. The error is the
    /// message a call would fail with.
    pub fn resolve(&self, hook: &str) -> Result<(), String> {
        self.target(hook).map(|_| ())
    }

    fn target<'a>(&'a self, hook: &'a str) -> Result<Target<'a>, String> {
        let (file, function) = match hook.split_once("::") {
            Some((f, func)) => (f, Some(func)),
            None => (hook, None),
        };
        let Some(script) = self.scripts.get(file) else {
            let known = self.scripts.keys().map(String::as_str);
            let hint = crate::diagnostics::did_you_mean(file, known)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(format!("hook `{hook}` failed: there is no hook file `{file}`{hint}"));
        };
        let Some(function) = function else { return Ok((script, None)) };
        match script
            .functions
            .get(function)
            .and_then(|arities| arities.iter().copied().filter(|&a| a <= 3).max())
        {
            Some(arity) => Ok((script, Some((function, arity)))),
            None if script.functions.contains_key(function) => Err(format!(
                "hook `{hook}` failed: function `{function}` takes more than 3 parameters; a hook function \
                 is given (order, event, now)"
            )),
            None => Err(format!("hook `{hook}` failed: `{file}` has no function `{function}`")),
        }
    }

    /// Runs a hook and returns what it evaluated to.
    fn call(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<Dynamic, String> {
        let (script, function) = self.target(hook)?;
        let order = Dynamic::from(view::HookOrder::new(order, now));
        let event = view::event(event);
        let now = view::time(now);
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.budget)));
        let _clear = DeadlineGuard;
        let result = match function {
            None => {
                let mut scope = Scope::new();
                scope.push_dynamic("order", order).push_dynamic("event", event).push_dynamic("now", now);
                self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &script.ast)
            }
            Some((name, arity)) => {
                let mut args = vec![order, event, now];
                args.truncate(arity);
                let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
                self.engine.call_fn_with_options::<Dynamic>(
                    options,
                    &mut Scope::new(),
                    &script.ast,
                    name,
                    args,
                )
            }
        };
        result.map_err(|e| self.failure(hook, *e))
    }

    /// `hook `x.rhai` failed at line 12: <message>`, from the innermost error.
    fn failure(&self, hook: &str, e: EvalAltResult) -> String {
        let mut inner = e;
        let mut within = None;
        while let EvalAltResult::ErrorInFunctionCall(name, _, err, _) = inner {
            within = Some(name);
            inner = *err;
        }
        let line = inner.position().line();
        let message = match inner {
            EvalAltResult::ErrorTooManyOperations(_) => {
                format!("it ran more than {} operations (an endless loop?)", self.limits.max_operations)
            }
            EvalAltResult::ErrorTerminated(..) => {
                format!("it ran past its time budget of {} ms", self.limits.budget.as_millis())
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => format!(
                "{} is over the limit ({} characters per string, {} items per array, {} entries per map)",
                what.to_lowercase(),
                self.limits.max_string_size,
                self.limits.max_array_size,
                self.limits.max_map_size
            ),
            EvalAltResult::ErrorStackOverflow(_) => {
                format!("more than {} nested function calls", self.limits.max_call_levels)
            }
            EvalAltResult::ErrorTooManyVariables(_) => {
                format!("more than {} variables at once", self.limits.max_variables)
            }
            EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<rhai::ImmutableString>() {
                Some(s) => s.to_string(),
                None => format!("{value}"),
            },
            mut other => {
                other.clear_position();
                check::lower_first(&other.to_string())
            }
        };
        let within = within.map(|f| format!(" (in function `{f}`)")).unwrap_or_default();
        match line {
            Some(line) => format!("hook `{hook}` failed at line {line}{within}: {message}"),
            None => format!("hook `{hook}` failed{within}: {message}"),
        }
    }
}

impl Hooks for HookEngine {
    fn guard(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<bool, String> {
        let v = self.call(hook, order, event, now)?;
        v.as_bool()
            .map_err(|_| format!("hook `{hook}` returned {}, expected true or false", view::describe(&v)))
    }

    fn run(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<Vec<Effect>, String> {
        let v = self.call(hook, order, event, now)?;
        api::effects(v).map_err(|what| {
            format!("hook `{hook}` returned {what}, expected an effect, an array of effects or ()")
        })
    }

    fn payload(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<serde_json::Value, String> {
        let v = self.call(hook, order, event, now)?;
        if !v.is_map() {
            return Err(format!("hook `{hook}` returned {}, expected a map", view::describe(&v)));
        }
        view::to_json(&v).map_err(|e| format!("hook `{hook}` returned a map that is not JSON: {e}"))
    }
}

/// The `*.rhai` files of `dir`, sorted by name.
fn hook_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".rhai"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every finding in the hook files of `dir`, one report per file with findings, for
/// `orderly check`. Empty when every file compiles (or there is no such folder).
pub fn check_hooks(dir: &Path) -> Vec<Report> {
    match HookEngine::load(dir) {
        Ok(_) => Vec::new(),
        Err(found) => check::reports(&found),
    }
}

/// rhai checks a string's size after a built-in returns it, so one call of `replace` could
/// build gigabytes first (`s.replace("a", s)` on a 45,000-character `s`: 2 billion characters).
/// These versions of `replace` (registered on the engine, they take precedence over the
/// package's) compute the result's length first and refuse one over the limit before
/// allocating it. Every other string and array built-in either cannot grow its input past
/// twice the limit (`+`, `split`, `to_chars`) or checks before growing (`pad`).
fn guard_growth(engine: &mut Engine, max: usize) {
    fn grown(s: &str, find: &str, substitute: &str, max: usize) -> Result<String, Box<EvalAltResult>> {
        // An empty pattern matches between every two characters and at both ends.
        let n = if find.is_empty() { s.chars().count() + 1 } else { s.matches(find).count() };
        let len = (s.len() - n * find.len()).saturating_add(n.saturating_mul(substitute.len()));
        if max > 0 && len > max {
            return Err(format!(
                "`replace` would make a string of {len} characters, over the limit of {max}"
            )
            .into());
        }
        Ok(s.replace(find, substitute))
    }
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, find: &str, sub: &str| -> Result<(), Box<EvalAltResult>> {
            *s = grown(s, find, sub, max)?.into();
            Ok(())
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, find: &str, sub: char| -> Result<(), Box<EvalAltResult>> {
            *s = grown(s, find, &sub.to_string(), max)?.into();
            Ok(())
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, find: char, sub: &str| -> Result<(), Box<EvalAltResult>> {
            *s = grown(s, &find.to_string(), sub, max)?.into();
            Ok(())
        },
    );
}

/// The one engine: rhai without its default packages, given only the language core, logic,
/// arithmetic, math, string, array and map functions (no time, no files, no modules: the
/// crate is built with `no_time` and `no_module`), the hook API and the order views.
fn sandbox(limits: &HookLimits) -> Engine {
    let mut engine = Engine::new_raw();
    for module in [
        CorePackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(module);
    }
    view::register(&mut engine);
    api::register(&mut engine);
    guard_growth(&mut engine, limits.max_string_size);
    // `sleep` would block the thread past any budget; the load-time check refuses it too.
    engine.register_fn("sleep", |_: rhai::INT| -> Result<(), Box<EvalAltResult>> {
        Err("`sleep` is not available in hooks".into())
    });
    engine
        .set_optimization_level(OptimizationLevel::None)
        .set_strict_variables(true)
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(limits.max_variables)
        .set_max_functions(1_000)
        .on_print(|_| {})
        .on_debug(|_, _, _| {})
        .on_progress(|ops| {
            // Reading the clock on every operation would cost more than the operation.
            if ops % 256 != 0 {
                return None;
            }
            let over = DEADLINE.with(|d| d.get()).is_some_and(|deadline| Instant::now() >= deadline);
            over.then(|| Dynamic::from(OVER_BUDGET))
        });
    engine.disable_symbol("eval");
    engine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<HookEngine>();
    }
}
