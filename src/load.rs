//! Reading workflow files from disk: one file or every `*.flow` in a folder, each checked with
//! the hook files beside it, plus the checks that span files (two files naming one workflow).

use crate::check::{self, Context, Outcome};
use crate::diagnostics::{Code, Diagnostic, Report};
use std::path::{Path, PathBuf};

/// One workflow file, read and checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its text.
    pub source: String,
    /// The checker's verdict.
    pub outcome: Outcome,
}

impl Loaded {
    /// The findings as a renderable report.
    pub fn report(&self) -> Report {
        Report {
            path: self.path.display().to_string(),
            source: self.source.clone(),
            diagnostics: self.outcome.diagnostics.clone(),
        }
    }
}

/// Why nothing could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path does not exist or cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A folder without workflow files.
    #[error("no workflow files (`*.flow`) in `{0}`")]
    Empty(PathBuf),
}

/// The `.rhai` files in the `hooks/` folder beside a workflow file.
pub(crate) fn hook_files(workflow_file: &Path) -> Vec<String> {
    let dir = workflow_file.parent().unwrap_or(Path::new(".")).join("hooks");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rhai"))
        .collect();
    files.sort();
    files
}

/// The email templates (`NAME.txt`, listed as `NAME`) in the `templates/` folder beside a
/// workflow file.
pub(crate) fn template_files(workflow_file: &Path) -> Vec<String> {
    let dir = workflow_file.parent().unwrap_or(Path::new(".")).join("templates");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".txt").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The workflow files a path names: the file itself, or the `*.flow` files in a folder (sorted).
pub(crate) fn workflow_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io { path: path.into(), source })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|source| LoadError::Io { path: path.into(), source })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "flow") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LoadError::Empty(path.into()));
    }
    Ok(files)
}

/// Reads and checks every workflow file a path names.
pub fn load(path: &Path) -> Result<Vec<Loaded>, LoadError> {
    load_with(path, None)
}

/// [`load`], with `candidate` (a file of the folder and the text to check in its place: what
/// the studio's editor holds) instead of what the disk has for that file.
pub fn load_with(path: &Path, candidate: Option<(&Path, &str)>) -> Result<Vec<Loaded>, LoadError> {
    let mut loaded = Vec::new();
    for file in workflow_files(path)? {
        let source = match candidate {
            Some((f, text)) if f == file => text.to_string(),
            _ => {
                let bytes =
                    std::fs::read(&file).map_err(|source| LoadError::Io { path: file.clone(), source })?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        let context =
            Context { hook_files: Some(hook_files(&file)), template_files: Some(template_files(&file)) };
        let outcome = check::compile(&source, &context);
        loaded.push(Loaded { path: file, source, outcome });
    }
    cross_file(&mut loaded);
    resolve_hooks(&mut loaded);
    Ok(loaded)
}

/// Checks that every `file.rhai::function` a workflow names exists, once the hooks beside it
/// compile (when they do not, `orderly check` reports the hook files themselves).
fn resolve_hooks(loaded: &mut [Loaded]) {
    for l in loaded.iter_mut() {
        let Some(workflow) = &l.outcome.workflow else { continue };
        if workflow.hook_refs.is_empty() {
            continue;
        }
        let dir = l.path.parent().unwrap_or(Path::new(".")).join("hooks");
        let Ok(engine) = crate::hooks::HookEngine::load(&dir) else { continue };
        let mut found = Vec::new();
        for (hook, span) in &workflow.hook_refs {
            if let Err(why) = engine.resolve(hook) {
                let detail = why.split_once("failed: ").map_or(why.as_str(), |(_, rest)| rest);
                found.push(
                    Diagnostic::error(
                        Code::UnknownHook,
                        format!("hook `{hook}` cannot run: {detail}"),
                        *span,
                    )
                    .with_label("not found in the compiled hooks")
                    .with_help(
                        "define the function in the hook file, or name the file alone to run its top level",
                    ),
                );
            }
        }
        // Webhooks a hook sends to a target named literally must be declared by every
        // workflow that runs it (a shipment would otherwise be refused at run time).
        for (hook, span) in &workflow.hook_refs {
            let file = hook.split("::").next().unwrap_or_default();
            for (target, line, column) in engine.webhook_targets(file) {
                if workflow.webhooks.contains(target) {
                    continue;
                }
                let hint =
                    crate::diagnostics::did_you_mean(target, workflow.webhooks.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                found.push(
                    Diagnostic::error(
                        Code::UnknownWebhook,
                        format!(
                            "hook `{file}` sends a webhook to `{target}` (hooks/{file}:{line}:{column}), which workflow `{}` does not declare",
                            workflow.name
                        ),
                        *span,
                    )
                    .with_label("this hook sends it")
                    .with_help(format!("{hint}declare it: `webhook {target} \"...\"`, or fix the name in the hook")),
                );
            }
        }
        if !found.is_empty() {
            l.outcome.workflow = None;
            l.outcome.diagnostics.extend(found);
        }
    }
}

/// Two files that name the same workflow: the second is an error.
fn cross_file(loaded: &mut [Loaded]) {
    for i in 0..loaded.len() {
        // Each file against the ones before it.
        let Some((earlier, [l, ..])) = loaded.split_at_mut_checked(i) else { continue };
        let Some(name) = l.outcome.workflow.as_ref().map(|w| w.name.clone()) else { continue };
        let first = earlier
            .iter()
            .find(|l| l.outcome.workflow.as_ref().is_some_and(|w| w.name == name))
            .map(|l| l.path.display().to_string());
        if let Some(first) = first {
            let at = workflow_name_span(&l.source);
            l.outcome.workflow = None;
            l.outcome.diagnostics.push(
                Diagnostic::error(
                    Code::Duplicate,
                    format!("workflow `{name}` is also defined in `{first}`"),
                    at,
                )
                .with_label("second workflow with this name")
                .with_help("each workflow needs its own name: rename one of them"),
            );
        }
    }
    // Two workflows that both take a shared channel's orders by default: which one is meant?
    for i in 0..loaded.len() {
        let Some((earlier, [l, ..])) = loaded.split_at_mut_checked(i) else { continue };
        let Some(w) = l.outcome.workflow.as_ref().filter(|w| w.settings.default_for_channels) else {
            continue;
        };
        let clash = earlier.iter().find_map(|l| {
            let other = l.outcome.workflow.as_ref().filter(|o| o.settings.default_for_channels)?;
            let shared = w.channels.iter().find(|c| other.channel(&c.code).is_some())?;
            Some((other.name.clone(), shared.code.clone()))
        });
        if let Some((other, channel)) = clash {
            let name = w.name.clone();
            let at = workflow_name_span(&l.source);
            l.outcome.workflow = None;
            l.outcome.diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateDefault,
                    format!("workflows `{other}` and `{name}` both take `{channel}` orders by default"),
                    at,
                )
                .with_label("second default for this channel")
                .with_help("set `default_for_channels = on` in one of them only"),
            );
        }
    }
}

fn workflow_name_span(source: &str) -> crate::diagnostics::Span {
    let parsed = crate::syntax::parse(source);
    parsed
        .file
        .items
        .iter()
        .find_map(|i| match i {
            crate::syntax::ast::Item::Workflow(w) => Some(w.name.span),
            _ => None,
        })
        .unwrap_or_default()
}
