//! The merchant's studio under `/studio`: the workflows folder's files in an editor whose
//! findings come back as they type (`POST /studio/api/check`: the checker on the editor's text,
//! with the picture), a simulated order (`/studio/api/simulate`, see [`super::simulate`]), the
//! scenarios run against the editor's text (`/studio/api/scenarios`), what the change would do
//! to recorded orders (`/studio/api/whatif`) and saving (`/studio/api/save`), which writes the
//! file and goes through the same reload as a file written by hand, and puts the old text back
//! when the reload refuses it. `workflows:read` looks; saving needs `admin`.

use super::render;
use super::session::{Refusal, Staff};
use super::simulate::{self, SimStep};
use crate::check::{self, Context};
use crate::config::Scope;
use crate::diagnostics::{Diagnostic, Severity};
use crate::engine::NewOrder;
use crate::graph::{self, Format};
use crate::http::error::ErrorCode;
use crate::http::AppState;
use crate::load;
use crate::reload::Trigger;
use axum::extract::{Path as PathArg, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The longest text the studio checks, simulates or saves (a workflow of a few thousand lines).
pub(crate) const MAX_TEXT: usize = 512 * 1024;

/// What kind of file an editor holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A workflow (`*.flow`).
    Flow,
    /// A hook (`hooks/*.rhai`).
    Hook,
    /// An email template (`templates/*.txt`).
    Template,
    /// A scenario (`tests/**/*.toml`).
    Scenario,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Flow => "flow",
            Kind::Hook => "hook",
            Kind::Template => "template",
            Kind::Scenario => "scenario",
        }
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(true, ErrorCode::InvalidBody, message)
}

/// The file a studio path names inside the workflows folder: plain names only (no `..`, no
/// hidden files, no absolute paths), an extension the studio edits in the folder it belongs
/// in, an existing file, and no link out of the folder.
pub(crate) fn resolve(dir: &Path, rel: &str) -> Result<(PathBuf, Kind), String> {
    let rel_path = Path::new(rel);
    let plain = rel.len() <= 300
        && rel_path.components().count() <= 6
        && rel_path.components().all(|c| match c {
            Component::Normal(part) => part.to_str().is_some_and(|p| {
                !p.starts_with('.') && p.chars().all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
            }),
            _ => false,
        });
    if !plain {
        return Err(format!("`{}` is not a file of the workflows folder", crate::logging::clean(rel)));
    }
    let first = rel_path.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default();
    let ext = rel_path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let depth = rel_path.components().count();
    let kind = match (first, ext, depth) {
        (_, "flow", 1) => Kind::Flow,
        ("hooks", "rhai", 2) => Kind::Hook,
        ("templates", "txt", 2) => Kind::Template,
        ("tests", "toml", _) => Kind::Scenario,
        _ => {
            return Err(format!(
                "`{rel}` is not a file the studio edits: workflows (`NAME.flow`), hooks (`hooks/NAME.rhai`), templates (`templates/NAME.txt`) and scenarios (`tests/.../NAME.toml`)"
            ))
        }
    };
    let path = dir.join(rel_path);
    let inside = match (dir.canonicalize(), path.canonicalize()) {
        (Ok(d), Ok(p)) => p.starts_with(d) && p.is_file(),
        _ => false,
    };
    if !inside {
        return Err(format!("there is no file `{rel}` in the workflows folder"));
    }
    Ok((path, kind))
}

/// The name a workflow file declares (`workflow NAME`), read without checking the rest.
fn declared_name(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("workflow ")?;
        let name: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "_-".contains(*c)).collect();
        (!name.is_empty()).then_some(name)
    })
}

/// The scenario files (relative paths) that name `workflow`.
fn scenarios_of(dir: &Path, workflow: &str) -> Vec<String> {
    let Ok(found) = crate::scenario::find(&dir.join("tests")) else { return Vec::new() };
    let needle = format!("workflow = \"{workflow}\"");
    found
        .into_iter()
        .filter(|f| std::fs::read_to_string(&f.path).is_ok_and(|t| t.contains(&needle)))
        .filter_map(|f| f.path.strip_prefix(dir).ok().map(|p| p.to_string_lossy().replace('\\', "/")))
        .collect()
}

/// A workflow's files: itself, the hooks and templates its text names, its scenarios.
fn files_of(dir: &Path, flow: &str, text: &str) -> Vec<String> {
    let mut files = vec![flow.to_string()];
    for (folder, ext) in [("hooks", "rhai"), ("templates", "txt")] {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(folder))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.strip_suffix(&format!(".{ext}")).is_some_and(|stem| text.contains(stem)))
            .map(|n| format!("{folder}/{n}"))
            .collect();
        names.sort();
        files.extend(names);
    }
    if let Some(name) = declared_name(text) {
        files.extend(scenarios_of(dir, &name));
    }
    files
}

/// The workflow file a hook, template or scenario belongs with: the first `.flow` whose text
/// names it (for scenarios: whose workflow it names).
fn owner_flow(dir: &Path, rel: &str, kind: Kind) -> Option<String> {
    let flows = load::workflow_files(dir).ok()?;
    let text_of = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    match kind {
        Kind::Flow => Some(rel.to_string()),
        Kind::Scenario => {
            let scenario = text_of(&dir.join(rel));
            flows.iter().find(|f| {
                declared_name(&text_of(f)).is_some_and(|n| scenario.contains(&format!("workflow = \"{n}\"")))
            })
        }
        .and_then(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string)),
        Kind::Hook | Kind::Template => {
            let stem = Path::new(rel).file_stem().and_then(|s| s.to_str())?.to_string();
            flows
                .iter()
                .find(|f| text_of(f).contains(&stem))
                .and_then(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string))
        }
    }
}

/// The text a new workflow starts from: the first workflow of docs/language.md, named as asked.
const STARTER: &str = include_str!("starter.flow");

/// The new-workflow form.
#[derive(Debug, Deserialize)]
pub(crate) struct NewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /studio/new`: writes `NAME.flow` from the starter text, reloads, and opens it in the
/// editor. Refused (and nothing left behind) for a name that is not a workflow name, a file that
/// exists, or a reload that refuses the new set.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    super::extract::PageForm(form): super::extract::PageForm<NewForm>,
) -> Result<Response, Refusal> {
    staff.check_form_token(&headers, Some(&form.csrf), false)?;
    staff.require(Scope::Admin, false)?;
    let refuse = |m: String| Refusal::new(false, ErrorCode::InvalidBody, m);
    let name = form.name.trim().to_string();
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(refuse(format!(
            "`{}` is not a workflow name: start with a lowercase letter, then lowercase letters, digits and `_` (like `bike_shop`)",
            crate::logging::clean(&name)
        )));
    }
    let Some(reloader) = state.reloader.clone() else {
        return Err(refuse(
            "this service was started without reloading, so the studio cannot add workflows".into(),
        ));
    };
    let path = state.config.workflows.join(format!("{name}.flow"));
    let _one_save = state.pages.saving.lock().await;
    if path.exists() || state.service.registry().get(&name).is_some() {
        return Err(refuse(format!("there is a workflow `{name}` already: open it from the list")));
    }
    write_atomically(&path, &STARTER.replace("web_shop", &name))
        .map_err(|e| refuse(format!("cannot write `{name}.flow`: {e}")))?;
    let report = reloader.reload_by(Trigger::Studio, Some(staff.name.clone())).await;
    if !report.ok {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::error!(file = %path.display(), error = %e, "cannot remove the new workflow the reload refused");
        }
        return Err(refuse(format!("the new workflow was not added: {}", report.message)));
    }
    tracing::info!(user = %crate::logging::clean(&staff.name), workflow = %name, "a new workflow in the studio");
    Ok(axum::response::Redirect::to(&format!("/studio/edit/{name}.flow")).into_response())
}

/// One workflow in the studio's list.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    file: String,
    version: Option<i64>,
    statuses: usize,
    scenarios: usize,
}

/// `GET /studio`: the workflows of the folder, with the version the service runs.
pub(crate) async fn index(State(state): State<Arc<AppState>>, staff: Staff) -> Result<Response, Refusal> {
    staff.require(Scope::WorkflowsRead, false)?;
    let dir = state.config.workflows.clone();
    let registry = state.service.registry();
    let loaded = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || load::load(&dir)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    let workflows: Vec<Listed> = loaded
        .iter()
        .map(|l| {
            let file = l.path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let name = declared_name(&l.source).unwrap_or_else(|| file.trim_end_matches(".flow").to_string());
            let version = registry.get(&name).map(|a| a.version);
            let statuses = l.outcome.workflow.as_ref().map_or(0, |w| w.statuses.len());
            let scenarios = scenarios_of(&dir, &name).len();
            Listed { name, file, version, statuses, scenarios }
        })
        .collect();
    let last_reload = state.reloader.as_ref().map(|r| r.last().message);
    Ok(render::page(
        StatusCode::OK,
        "studio_index.html",
        minijinja::context! { staff => staff_ctx(&staff), workflows, last_reload },
    ))
}

/// What templates show of the user.
pub(crate) fn staff_ctx(staff: &Staff) -> minijinja::Value {
    minijinja::context! { name => staff.name, role => staff.role, csrf => staff.csrf, logged_in => staff.logged_in }
}

/// `GET /studio/edit/{*file}`: the editor.
pub(crate) async fn edit(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    PathArg(file): PathArg<String>,
) -> Result<Response, Refusal> {
    staff.require(Scope::WorkflowsRead, false)?;
    let dir = &state.config.workflows;
    let (path, kind) = resolve(dir, &file).map_err(|m| Refusal::new(false, ErrorCode::NotFound, m))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Refusal::new(false, ErrorCode::NotFound, format!("cannot read `{file}`: {e}")))?;
    let files = match owner_flow(dir, &file, kind) {
        Some(flow) => {
            let flow_text = std::fs::read_to_string(dir.join(&flow)).unwrap_or_default();
            files_of(dir, &flow, &flow_text)
        }
        None => vec![file.clone()],
    };
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff), file => file, kind => kind.code(), text => text, files => files,
        can_save => staff.allows(Scope::Admin),
    };
    Ok(render::page(StatusCode::OK, "studio_edit.html", ctx))
}

/// The editor's text, with the file it is for.
#[derive(Debug, Deserialize)]
pub(crate) struct Candidate {
    file: String,
    text: String,
}

impl Candidate {
    fn checked(&self, state: &AppState) -> Result<(PathBuf, Kind), Refusal> {
        if self.text.len() > MAX_TEXT {
            return Err(bad(format!("the text is longer than {} KiB", MAX_TEXT / 1024)));
        }
        resolve(&state.config.workflows, &self.file).map_err(bad)
    }
}

/// A finding as the editor shows it: where (line and column, 1-based, in characters; and the
/// span in UTF-16 units, as the page's text counts), what, and a one-click fix for a
/// did-you-mean.
#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    severity: &'static str,
    code: String,
    message: String,
    label: String,
    help: Vec<String>,
    line: usize,
    column: usize,
    from: usize,
    to: usize,
    fix: Option<Fix>,
}

/// Replace the text from `from` to `to` (UTF-16 units) with `text`.
#[derive(Debug, Serialize)]
pub(crate) struct Fix {
    from: usize,
    to: usize,
    text: String,
}

/// UTF-16 units in `text` before byte `at` (clamped to a character boundary).
fn utf16_at(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.get(..at).map_or(0, |t| t.encode_utf16().count())
}

fn finding(text: &str, d: &Diagnostic) -> Finding {
    let start = d.span.start.min(text.len());
    let before = text.get(..start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let (from, to) = (utf16_at(text, d.span.start), utf16_at(text, d.span.end));
    let written = text.get(d.span.start..d.span.end).unwrap_or_default();
    // A did-you-mean is one click when the finding points at one word.
    let fix = d
        .help
        .iter()
        .find_map(|h| h.strip_prefix("did you mean `").and_then(|r| r.strip_suffix("`?")))
        .filter(|_| !written.is_empty() && !written.chars().any(char::is_whitespace))
        .map(|s| Fix { from, to, text: s.to_string() });
    Finding {
        severity: if d.severity == Severity::Error { "error" } else { "warning" },
        code: d.code.to_string(),
        message: d.message.clone(),
        label: d.label.clone(),
        help: d.help.clone(),
        line,
        column,
        from,
        to,
        fix,
    }
}

/// The hook checker's findings on a hook file's text (compiled with the folder's other hooks, as
/// the reload compiles them).
fn hook_findings(dir: &Path, rel: &str, text: &str) -> Vec<Finding> {
    let name = Path::new(rel).file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let hooks = dir.join("hooks");
    let mut sources: Vec<(String, String)> = std::fs::read_dir(&hooks)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rhai") && *n != name)
        .filter_map(|n| std::fs::read_to_string(hooks.join(&n)).ok().map(|t| (n, t)))
        .collect();
    sources.push((name.clone(), text.to_string()));
    let Err(found) = crate::hooks::HookEngine::from_sources(sources, crate::hooks::HookLimits::default())
    else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter(|d| d.file == name)
        .map(|d| Finding {
            severity: "error",
            code: d.code.to_string(),
            message: d.message,
            label: String::new(),
            help: d.help.into_iter().collect(),
            line: d.line.max(1),
            column: d.column.max(1),
            from: utf16_at(text, d.span.start),
            to: utf16_at(text, d.span.end),
            fix: None,
        })
        .collect()
}

/// A channel, for the simulation's form.
#[derive(Debug, Serialize)]
struct ChannelChoice {
    code: String,
    label: String,
    modes: Vec<String>,
    methods: Vec<String>,
}

/// What the editor gets back: the findings, the picture when the text compiles, the channels.
#[derive(Debug, Serialize)]
pub(crate) struct Checked {
    ok: bool,
    findings: Vec<Finding>,
    svg: Option<String>,
    workflow: Option<String>,
    channels: Vec<ChannelChoice>,
    millis: u128,
}

/// Checks the editor's text as `orderly check` would check the file with that text, with the
/// folder's other workflows, hooks and templates.
fn check_text(dir: &Path, path: &Path, text: &str) -> Checked {
    let started = std::time::Instant::now();
    let (outcome, source) = compile_candidate(dir, path, text);
    let findings = findings_of(&outcome, &source);
    let w = outcome.workflow.as_ref();
    let channels = w
        .map(|w| {
            w.channels
                .iter()
                .map(|c| {
                    let mut modes: Vec<String> =
                        c.rules.iter().flat_map(|r| r.modes.iter().flatten().cloned()).collect();
                    modes.sort();
                    modes.dedup();
                    let mut methods: Vec<String> =
                        c.rules.iter().flat_map(|r| r.methods.iter().flatten().cloned()).collect();
                    methods.sort();
                    methods.dedup();
                    ChannelChoice { code: c.code.clone(), label: c.label.clone(), modes, methods }
                })
                .collect()
        })
        .unwrap_or_default();
    Checked {
        ok: w.is_some(),
        svg: w.map(|w| graph::render(w, Format::Svg)),
        workflow: w.map(|w| w.name.clone()),
        findings,
        channels,
        millis: started.elapsed().as_millis(),
    }
}

/// The checker's verdict on the editor's text, with the folder's other workflows, hooks and
/// templates (as `orderly check` would give it for the file with that text), and the text the
/// findings point into.
fn compile_candidate(dir: &Path, path: &Path, text: &str) -> (check::Outcome, String) {
    let loaded = load::load_with(dir, Some((path, text))).ok().unwrap_or_default();
    match loaded.into_iter().find(|l| l.path == path) {
        Some(l) => (l.outcome, l.source),
        None => {
            let context = Context { hook_files: None, template_files: None };
            (check::compile(text, &context), text.to_string())
        }
    }
}

/// The findings of a verdict, as the editor shows them.
fn findings_of(outcome: &check::Outcome, source: &str) -> Vec<Finding> {
    outcome.diagnostics.iter().map(|d| finding(source, d)).collect()
}

/// `POST /studio/api/check`.
pub(crate) async fn api_check(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    Json(c): Json<Candidate>,
) -> Result<Json<Checked>, Refusal> {
    staff.require(Scope::WorkflowsRead, true)?;
    staff.check_form_token(&headers, None, true)?;
    let (path, kind) = c.checked(&state)?;
    if kind == Kind::Hook {
        let started = std::time::Instant::now();
        let findings = hook_findings(&state.config.workflows, &c.file, &c.text);
        return Ok(Json(Checked {
            ok: findings.is_empty(),
            findings,
            svg: None,
            workflow: None,
            channels: Vec::new(),
            millis: started.elapsed().as_millis(),
        }));
    }
    if kind != Kind::Flow {
        return Ok(Json(Checked {
            ok: true,
            findings: Vec::new(),
            svg: None,
            workflow: None,
            channels: Vec::new(),
            millis: 0,
        }));
    }
    let dir = state.config.workflows.clone();
    let checked = tokio::task::spawn_blocking(move || check_text(&dir, &path, &c.text))
        .await
        .map_err(|_| Refusal::new(true, ErrorCode::Internal, "the checker stopped"))?;
    Ok(Json(checked))
}

/// A simulation request: the editor's text, the order, the steps so far.
#[derive(Debug, Deserialize)]
pub(crate) struct SimRequest {
    file: String,
    text: String,
    order: NewOrder,
    #[serde(default)]
    steps: Vec<SimStep>,
}

/// `POST /studio/api/simulate`.
pub(crate) async fn api_simulate(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    Json(req): Json<SimRequest>,
) -> Result<Response, Refusal> {
    staff.require(Scope::WorkflowsRead, true)?;
    staff.check_form_token(&headers, None, true)?;
    let (path, kind) = Candidate { file: req.file.clone(), text: String::new() }.checked(&state)?;
    if kind != Kind::Flow || req.text.len() > MAX_TEXT {
        return Err(bad("simulations run a workflow file (`NAME.flow`) of at most 512 KiB"));
    }
    if req.steps.len() > simulate::MAX_STEPS {
        return Err(bad(format!("a simulation takes at most {} steps", simulate::MAX_STEPS)));
    }
    let dir = state.config.workflows.clone();
    let hooks = state.service.registry().hooks();
    let now = state.service.now();
    let answer = tokio::task::spawn_blocking(move || {
        // Checked once: the workflow to simulate, or the findings that stop it.
        let (outcome, source) = compile_candidate(&dir, &path, &req.text);
        match &outcome.workflow {
            Some(w) => Ok(simulate::simulate(w, &req.order, &req.steps, now, hooks.as_ref())),
            None => Err(findings_of(&outcome, &source)),
        }
    })
    .await
    .map_err(|_| Refusal::new(true, ErrorCode::Internal, "the simulation stopped"))?;
    Ok(match answer {
        Ok(sim) => Json(sim).into_response(),
        Err(findings) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({
                "error": ErrorCode::WorkflowInvalid,
                "message": "the workflow has errors: fix them to simulate",
                "findings": findings,
            })),
        )
            .into_response(),
    })
}

/// One scenario's result, as the studio shows it.
#[derive(Debug, Serialize)]
struct ScenarioLine {
    name: String,
    passed: bool,
    steps: usize,
    details: Vec<String>,
}

/// `POST /studio/api/scenarios`: the workflow's scenarios against the editor's text, in a copy
/// of the folder (the disk's files are not touched), each on its own in-memory database.
pub(crate) async fn api_scenarios(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    Json(c): Json<Candidate>,
) -> Result<Response, Refusal> {
    staff.require(Scope::WorkflowsRead, true)?;
    staff.check_form_token(&headers, None, true)?;
    let (_, kind) = c.checked(&state)?;
    let _turn = heavy_turn(&state).await?;
    let dir = state.config.workflows.clone();
    let owner = owner_flow(&dir, &c.file, kind).ok_or_else(|| bad("no workflow file names this file"))?;
    let copy = tempfile::tempdir()
        .map_err(|e| Refusal::new(true, ErrorCode::Internal, format!("cannot make a scratch folder: {e}")))?;
    copy_tree(&dir, copy.path()).and_then(|()| std::fs::write(copy.path().join(&c.file), &c.text)).map_err(
        |e| Refusal::new(true, ErrorCode::Internal, format!("cannot copy the workflows folder: {e}")),
    )?;
    let flow_text = std::fs::read_to_string(copy.path().join(&owner)).unwrap_or_default();
    let name = declared_name(&flow_text).unwrap_or_default();
    let files = scenarios_of(copy.path(), &name);
    let options = crate::scenario::Options::default();
    let mut lines = Vec::new();
    for rel in files.iter().take(500) {
        let found = crate::scenario::Found { path: copy.path().join(rel), name: rel.clone() };
        let r = crate::scenario::run_named(&found, &options).await;
        let details = match &r.outcome {
            crate::scenario::Outcome::Passed => Vec::new(),
            crate::scenario::Outcome::Invalid(why) => vec![why.clone()],
            crate::scenario::Outcome::Failed(f) => {
                let at = match f.line {
                    Some(line) => format!("{} (line {line})", f.at),
                    None => f.at.clone(),
                };
                std::iter::once(at)
                    .chain(f.differences.iter().cloned())
                    .chain(f.rejection.iter().cloned())
                    .collect()
            }
        };
        lines.push(ScenarioLine { name: rel.clone(), passed: r.passed(), steps: r.steps, details });
    }
    let passed = lines.iter().filter(|l| l.passed).count();
    Ok(Json(serde_json::json!({ "workflow": name, "passed": passed, "failed": lines.len() - passed, "scenarios": lines })).into_response())
}

/// Waits for the turn of a long studio run (one at a time), or refuses with 429.
pub(crate) async fn heavy_turn(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, Refusal> {
    match tokio::time::timeout(super::HEAVY_WAIT, state.pages.heavy.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Refusal::new(
            true,
            ErrorCode::RateLimited,
            "another scenario run or what-if is in progress: try again in a moment",
        )),
    }
}

/// Copies a folder's files and subfolders (not links, not hidden files).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// `POST /studio/api/whatif`: the recorded orders of the workflow replayed, in memory, through
/// the folder with the editor's text in place of its file (`orderly replay`'s library
/// function); the orders whose outcome would differ, grouped by the first rule that diverged.
/// Nothing is written.
pub(crate) async fn api_whatif(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    Json(c): Json<Candidate>,
) -> Result<Response, Refusal> {
    staff.require(Scope::WorkflowsRead, true)?;
    staff.check_form_token(&headers, None, true)?;
    let (path, kind) = c.checked(&state)?;
    if kind != Kind::Flow {
        return Err(bad("what-if replays a workflow file (`NAME.flow`): open the workflow"));
    }
    let _turn = heavy_turn(&state).await?;
    let dir = state.config.workflows.clone();
    let text = c.text.clone();
    let checked = tokio::task::spawn_blocking(move || {
        crate::registry::Registry::check_with(&dir, Some((&path, &c.text)))
    })
    .await
    .map_err(|_| Refusal::new(true, ErrorCode::Internal, "the checker stopped"))?;
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({ "error": ErrorCode::WorkflowInvalid, "message": format!("fix the errors first: {e}") })),
            )
                .into_response())
        }
    };
    // The orders of the workflow the editor's text declares.
    let name = declared_name(&text).filter(|n| checked.workflows().any(|w| &w.name == n));
    let options = crate::replay::ReplayOptions { workflow: name, ..Default::default() };
    let report = crate::replay::replay(state.service.store(), &checked, &options).await.map_err(|e| {
        tracing::error!(error = %e, "the studio's what-if failed");
        Refusal::new(true, ErrorCode::DatabaseUnavailable, format!("the replay could not run: {e}"))
    })?;
    let summary = match (report.replayed, report.differing) {
        (0, _) => "no recorded orders of this workflow to replay".to_string(),
        (n, 0) => format!("replayed {n} recorded order(s): none would end differently"),
        (n, d) => format!("replayed {n} recorded order(s): {d} would end differently"),
    };
    let groups: Vec<serde_json::Value> = report
        .summary
        .iter()
        .map(|g| serde_json::json!({ "rule": g.rule.text, "count": g.count, "orders": g.orders }))
        .collect();
    Ok(Json(serde_json::json!({
        "summary": summary,
        "replayed": report.replayed,
        "differing": report.differing,
        "groups": groups,
        "not_replayable": report.not_replayable.len(),
    }))
    .into_response())
}

/// `POST /studio/api/save`: writes the file and reloads; a reload that refuses (errors, or
/// orders in a status that would no longer exist) puts the old text back and answers 409 with
/// the findings. Nothing is written when a workflow file has errors.
pub(crate) async fn api_save(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    Json(c): Json<Candidate>,
) -> Result<Response, Refusal> {
    staff.require(Scope::Admin, true)?;
    staff.check_form_token(&headers, None, true)?;
    let (path, kind) = c.checked(&state)?;
    let Some(reloader) = state.reloader.clone() else {
        return Err(Refusal::new(
            true,
            ErrorCode::NoReload,
            "this service was started without reloading, so the studio cannot save",
        ));
    };
    if kind == Kind::Flow {
        let dir = state.config.workflows.clone();
        let (p, text) = (path.clone(), c.text.clone());
        // Only the verdict: no picture to draw for a save.
        let checked = tokio::task::spawn_blocking(move || {
            let (outcome, source) = compile_candidate(&dir, &p, &text);
            outcome.workflow.is_none().then(|| findings_of(&outcome, &source))
        })
        .await
        .map_err(|_| Refusal::new(true, ErrorCode::Internal, "the checker stopped"))?;
        if let Some(findings) = checked {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({
                    "error": ErrorCode::WorkflowInvalid,
                    "saved": false,
                    "message": "the workflow has errors; nothing was written",
                    "findings": findings,
                })),
            )
                .into_response());
        }
    }
    let _one_save = state.pages.saving.lock().await;
    let old = std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot read `{}`: {e}", c.file)))?;
    write_atomically(&path, &c.text)
        .map_err(|e| Refusal::new(true, ErrorCode::Internal, format!("cannot write `{}`: {e}", c.file)))?;
    let report = reloader.reload_by(Trigger::Studio, Some(staff.name.clone())).await;
    if !report.ok {
        if let Err(e) = write_atomically(&path, &old) {
            tracing::error!(file = %path.display(), error = %e, "cannot put back the text the reload refused");
        }
        return Ok((
            ErrorCode::ReloadFailed.status(),
            Json(serde_json::json!({
                "error": ErrorCode::ReloadFailed,
                "saved": false,
                "message": report.message,
                "findings": report.findings,
                "rendered": report.rendered,
            })),
        )
            .into_response());
    }
    tracing::info!(user = %crate::logging::clean(&staff.name), file = %c.file, "{}", report.message);
    let versions = state.service.registry().versions();
    Ok(Json(serde_json::json!({ "saved": true, "message": report.message, "serving": versions }))
        .into_response())
}

/// Writes through a temporary file beside the target and a rename, so that the watcher and the
/// reload never read half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.studio.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_folders_own_files_resolve() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::write(dir.path().join("a.flow"), "workflow a\n").unwrap();
        std::fs::write(dir.path().join("hooks/h.rhai"), "1").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        assert_eq!(resolve(dir.path(), "a.flow").unwrap().1, Kind::Flow);
        assert_eq!(resolve(dir.path(), "hooks/h.rhai").unwrap().1, Kind::Hook);
        for bad in [
            "../a.flow",
            "/etc/passwd",
            "secret.txt",
            "hooks/../a.flow",
            ".a.flow",
            "b.flow",
            "hooks/h.flow",
            "a.flow\0",
        ] {
            assert!(resolve(dir.path(), bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_did_you_mean_on_one_word_is_a_fix_in_utf16_units() {
        let text = "é\nworkflow x\n";
        let d = Diagnostic::error(
            crate::diagnostics::Code::UnknownStatus,
            "unknown",
            crate::diagnostics::Span::new(3, 11),
        )
        .with_help("did you mean `workflow`?");
        let f = finding(text, &d);
        assert_eq!((f.line, f.column, f.from, f.to), (2, 1, 2, 10));
        let fix = f.fix.unwrap();
        assert_eq!((fix.from, fix.to, fix.text.as_str()), (2, 10, "workflow"));
    }
}
