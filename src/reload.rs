//! Hot reload: a new version of the workflows (and their hooks) replaces the running one while
//! the service runs.
//!
//! The pipeline, one run per trigger (the start, a settled burst of file changes, `POST
//! /v1/workflows/reload`, SIGHUP), one run at a time:
//!
//! 1. **Read and check** every `*.flow` of the folder and every hook of its `hooks/`
//!    ([`Registry::check`], off the async threads). Any error in any file stops here.
//! 2. **Pause inputs** ([`Service::pause_inputs`]): inputs running finish on the version they
//!    started with; new ones wait (they are not refused) until step 5.
//! 3. **Check against the database**: for each active workflow, a status the new version no
//!    longer declares while orders are in it, and that no `renamed OLD -> NEW` line covers,
//!    refuses the new version, naming the status and how many orders are in it; so does a
//!    workflow whose file is gone while orders run under it.
//! 4. **Number and migrate**: each workflow's content gets its version number (a known content
//!    hash keeps its number, so an unchanged file is not a new version), and the orders of
//!    renamed statuses move to their new status in one transaction, each with a
//!    `status_renamed` history row naming the new version ([`Store::rename_statuses`]).
//! 5. **Swap** workflows and hooks as one snapshot ([`PausedInputs::swap`](crate::service::PausedInputs::swap)):
//!    inputs resume, all on the new version; every history row they write names it.
//!
//! Every run is recorded ([`Reloader::last`], [`Reloader::counts`]) and logged: `info` with the
//! versions when it worked, `error` (`warn` for a refusal) with the rendered findings when not.
//!
//! **Invariant: a broken reload never stops a working service.** Whatever fails (a file that
//! does not parse, a hook that does not compile, a refusal, the database), the running version
//! keeps serving, unchanged, and the report says why.
//!
//! [`Store::rename_statuses`]: crate::store::Store::rename_statuses

use crate::diagnostics::Report;
use crate::model::Workflow;
use crate::order::Time;
use crate::registry::{Checked, Registry, RegistryError};
use crate::service::Service;
use crate::store::StatusRename;
use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The service started (the initial load).
    Start,
    /// The workflows folder changed.
    Watch,
    /// `POST /v1/workflows/reload`.
    Api,
    /// SIGHUP.
    Signal,
    /// A save in the studio.
    Studio,
}

/// The result of one reload.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    /// When it finished.
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
    /// What started it.
    pub trigger: Trigger,
    /// Whether the new version is active.
    pub ok: bool,
    /// The workflows whose version changed, as `name@version` (empty when nothing changed, or
    /// when the reload failed).
    pub changed: Vec<String>,
    /// Every diagnostic of every file when checking failed (as `Report::to_json` gives them:
    /// file, line, column, code, message, ...); one `stranded-orders` finding per status (or
    /// workflow) when the database refused the new version.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
    /// The same, rendered as text without colour, or the refusal's lines.
    pub rendered: String,
    /// One line: `reloaded: retail@3`, `reload failed: 2 errors in retail.flow; still serving
    /// retail@2`, `reload refused: ...`.
    pub message: String,
    /// Who asked for it, when a person did (the staff user who saved in the studio).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub by: Option<String>,
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file watcher failed.
    #[error("cannot watch `{path}`: {source}")]
    Watch {
        /// The folder.
        path: PathBuf,
        /// The watcher's error.
        source: notify::Error,
    },
    /// Called outside a tokio runtime.
    #[error("watching needs a tokio runtime to reload on")]
    NoRuntime,
}

/// Reloads one service's workflows from one folder; see the module documentation.
#[derive(Debug)]
pub struct Reloader {
    service: Arc<Service>,
    dir: PathBuf,
    /// Held for a whole run: runs are serialized.
    running: tokio::sync::Mutex<()>,
    last: Mutex<ReloadReport>,
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Stops watching when dropped (a reload already running finishes).
#[derive(Debug)]
pub struct WatchGuard {
    _watcher: RecommendedWatcher,
}

/// A new version that would strand orders.
struct Stranded {
    workflow: String,
    /// `None`: the whole workflow is gone.
    status: Option<String>,
    orders: i64,
    /// The file, for the finding.
    file: Option<String>,
}

impl Stranded {
    fn message(&self) -> String {
        let n = self.orders;
        let (orders, are) = if n == 1 { ("order", "is") } else { ("orders", "are") };
        match &self.status {
            Some(status) => format!(
                "workflow `{}`: status `{status}` is removed but {n} {orders} {are} in it; add \
                 `renamed {status} -> <new status>` or move them first",
                self.workflow
            ),
            None => format!(
                "workflow `{}` is removed (its file is gone) but {n} {orders} {are} in it; restore the \
                 file or move them first",
                self.workflow
            ),
        }
    }

    fn finding(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "severity": "error",
            "code": "stranded-orders",
            "message": self.message(),
            "workflow": self.workflow,
            "status": self.status,
            "orders": self.orders,
        })
    }
}

/// Why a run did not make a new version active.
enum Failure {
    /// Files could not be read or have errors.
    Failed { summary: String, findings: Vec<serde_json::Value>, rendered: String },
    /// The database refused it.
    Refused(Vec<Stranded>),
}

impl Reloader {
    /// A reloader for `service`, whose workflows came from `dir`. Its first report
    /// ([`Reloader::last`]) is the initial load: ok, with the versions the service runs.
    pub fn new(service: Arc<Service>, dir: PathBuf) -> Reloader {
        let versions = service.registry().versions();
        let first = ReloadReport {
            at: service.now(),
            trigger: Trigger::Start,
            ok: true,
            message: format!("loaded: {}", list(&versions)),
            changed: versions,
            findings: Vec::new(),
            rendered: String::new(),
            by: None,
        };
        Reloader {
            service,
            dir,
            running: tokio::sync::Mutex::new(()),
            last: Mutex::new(first),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Runs the whole pipeline once now; records and returns the result. Concurrent calls are
    /// serialized: the second starts when the first is done, and reads the files then.
    pub async fn reload(&self, trigger: Trigger) -> ReloadReport {
        self.reload_by(trigger, None).await
    }

    /// [`Reloader::reload`] on behalf of a person (`by`, recorded in the report and the log).
    pub async fn reload_by(&self, trigger: Trigger, by: Option<String>) -> ReloadReport {
        let _one_at_a_time = self.running.lock().await;
        let before = self.service.registry();
        let report = match self.run().await {
            Ok((changed, removed)) => {
                let mut parts = Vec::new();
                if !changed.is_empty() {
                    parts.push(changed.join(", "));
                }
                if !removed.is_empty() {
                    parts.push(format!("removed {}", removed.join(", ")));
                }
                let message = if parts.is_empty() {
                    format!("reloaded: nothing changed; serving {}", list(&before.versions()))
                } else {
                    format!("reloaded: {}", parts.join("; "))
                };
                tracing::info!(trigger = ?trigger, changed = ?changed, "{message}");
                ReloadReport {
                    at: self.service.now(),
                    trigger,
                    ok: true,
                    changed,
                    findings: Vec::new(),
                    rendered: String::new(),
                    message,
                    by: None,
                }
            }
            Err(Failure::Failed { summary, findings, rendered }) => {
                let message = format!("reload failed: {summary}; still serving {}", list(&before.versions()));
                tracing::error!(trigger = ?trigger, "{message}\n{rendered}");
                ReloadReport {
                    at: self.service.now(),
                    trigger,
                    ok: false,
                    changed: Vec::new(),
                    findings,
                    rendered,
                    message,
                    by: None,
                }
            }
            Err(Failure::Refused(stranded)) => {
                let lines: Vec<String> = stranded.iter().map(Stranded::message).collect();
                let more = match lines.len() {
                    0 | 1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                let message = format!(
                    "reload refused: {}{more}; still serving {}",
                    lines.first().map_or("", String::as_str),
                    list(&before.versions())
                );
                let rendered = lines.iter().map(|l| format!("error[stranded-orders]: {l}\n")).collect();
                tracing::warn!(trigger = ?trigger, "{message}\n{rendered}");
                ReloadReport {
                    at: self.service.now(),
                    trigger,
                    ok: false,
                    changed: Vec::new(),
                    findings: stranded.iter().map(Stranded::finding).collect(),
                    rendered,
                    message,
                    by: None,
                }
            }
        };
        let mut report = report;
        if let Some(by) = by {
            tracing::info!(by = %crate::logging::clean(&by), ok = report.ok, "the reload was asked for by a person");
            report.by = Some(by);
        }
        let counter = if report.ok { &self.ok } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = report.clone();
        report
    }

    /// Steps 1 to 5; the `name@version` of every workflow whose version changed (or that is
    /// new), and the names of the workflows no longer active.
    async fn run(&self) -> Result<(Vec<String>, Vec<String>), Failure> {
        let dir = self.dir.clone();
        let checked = match tokio::task::spawn_blocking(move || Registry::check(&dir)).await {
            Ok(Ok(checked)) => checked,
            Ok(Err(e)) => return Err(failed(e)),
            Err(e) => {
                return Err(Failure::Failed {
                    summary: "the checker stopped".into(),
                    findings: Vec::new(),
                    rendered: e.to_string(),
                })
            }
        };
        let store = self.service.store();
        let paused = self.service.pause_inputs().await;
        let running = paused.registry();
        let counts = store.status_counts().await.map_err(store_failed)?;
        let (stranded, mut renames) = compare(&running, &checked, &counts);
        if !stranded.is_empty() {
            return Err(Failure::Refused(stranded));
        }
        let next = checked.register(store).await.map_err(store_failed)?;
        for r in &mut renames {
            r.workflow_version = next.get(&r.workflow).map_or(0, |a| a.version);
        }
        let moved = store.rename_statuses(&renames, self.service.now()).await.map_err(store_failed)?;
        if moved > 0 {
            tracing::info!(orders = moved, "moved the orders of renamed statuses");
        }
        let changed = next
            .all()
            .filter(|a| running.get(&a.workflow.name).is_none_or(|old| old.version != a.version))
            .map(|a| format!("{}@{}", a.workflow.name, a.version))
            .collect();
        let removed = running
            .all()
            .filter(|a| next.get(&a.workflow.name).is_none())
            .map(|a| a.workflow.name.clone())
            .collect();
        paused.swap(next);
        Ok((changed, removed))
    }

    /// The last reload's result (the initial load counts as the first, ok).
    pub fn last(&self) -> ReloadReport {
        self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reloads that worked and that failed (or were refused) since this reloader was made; the
    /// initial load is not counted.
    pub fn counts(&self) -> (u64, u64) {
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }

    /// Watches the folder recursively (the workflows and `hooks/`), waits for a burst of
    /// changes to settle (`debounce` without a change to a `*.flow` or `*.rhai` file, or to the
    /// folders), and reloads once per settled burst. The folder is watched, not the files, so
    /// editors that save by writing a temporary file and renaming it over the original are
    /// seen. Reading a file is not a change (a reload reads them all). Returns a guard that
    /// stops watching when dropped (a reload already running finishes). Call from within a
    /// tokio runtime.
    pub fn watch(self: &Arc<Self>, debounce: Duration) -> Result<WatchGuard, ReloadError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ReloadError::NoRuntime)?;
        let root = if self.dir.is_dir() {
            self.dir.clone()
        } else {
            self.dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let handler_root = root.clone();
        let handler = move |result: notify::Result<Event>| match result {
            Ok(event) => {
                if changes(&event.kind) && event.paths.iter().any(|p| relevant(&handler_root, p)) {
                    let _ = tx.send(());
                }
            }
            Err(e) => tracing::warn!("watching the workflows: {e}"),
        };
        let watch_error = |source| ReloadError::Watch { path: root.clone(), source };
        let mut watcher = notify::recommended_watcher(handler).map_err(watch_error)?;
        watcher.watch(&root, RecursiveMode::Recursive).map_err(watch_error)?;
        let reloader = Arc::clone(self);
        // A burst that never settles still reloads now and then.
        let longest = debounce * 20 + Duration::from_secs(1);
        runtime.spawn(async move {
            while rx.recv().await.is_some() {
                let started = tokio::time::Instant::now();
                loop {
                    match tokio::time::timeout(debounce, rx.recv()).await {
                        Ok(Some(())) if started.elapsed() < longest => continue,
                        Ok(Some(())) | Err(_) => break,
                        Ok(None) => return, // the guard was dropped
                    }
                }
                reloader.reload(Trigger::Watch).await;
            }
        });
        tracing::info!(folder = %root.display(), "watching the workflows");
        Ok(WatchGuard { _watcher: watcher })
    }

    /// Reloads on every SIGHUP, until the returned task is aborted. Call from within a tokio
    /// runtime. Not on Unix, the task ends at once.
    pub(crate) fn on_sighup(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let reloader = Arc::clone(self);
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let mut hangup = match signal(SignalKind::hangup()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("cannot listen for SIGHUP: {e}");
                        return;
                    }
                };
                while hangup.recv().await.is_some() {
                    reloader.reload(Trigger::Signal).await;
                }
            }
            #[cfg(not(unix))]
            drop(reloader);
        })
    }
}

/// Whether an event can change a file's content or name: not opening, reading or closing a
/// file read, nor an access time.
fn changes(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Whether a change to `path` can change what loads: a workflow, a hook, or the folders
/// themselves (editors' temporary and backup files cannot).
fn relevant(root: &Path, path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "flow" || x == "rhai") || path == root || path == root.join("hooks")
}

/// `a@1, b@2`, or `no workflows`.
fn list(versions: &[String]) -> String {
    if versions.is_empty() {
        "no workflows".into()
    } else {
        versions.join(", ")
    }
}

/// The running set against the new one and the orders per status: what the new version would
/// strand, and the renames that move orders (their `workflow_version` still 0).
fn compare(
    running: &Registry,
    next: &Checked,
    counts: &[(String, String, i64)],
) -> (Vec<Stranded>, Vec<StatusRename>) {
    let mut stranded = Vec::new();
    let mut gone: BTreeMap<&str, i64> = BTreeMap::new();
    let mut renames = Vec::new();
    for (workflow, status, n) in counts {
        if *n <= 0 {
            continue;
        }
        // Orders under a workflow that is not running now are not this reload's to judge (but a
        // `renamed` line still moves them).
        let old = running.get(workflow);
        let Some(new) = next.get(workflow) else {
            if old.is_some() {
                *gone.entry(workflow).or_default() += n;
            }
            continue;
        };
        let new_workflow: &Workflow = &new.workflow;
        if new_workflow.status_id(status).is_some() {
            continue;
        }
        // A rename to a status the new version lacks (`check` makes none) moves nothing: the
        // orders are judged as if there were no rename.
        let renamed_to = new_workflow.renamed.iter().find(|(from, _)| from == status);
        if let Some(to) = renamed_to.and_then(|(_, to)| new_workflow.statuses.get(*to)) {
            renames.push(StatusRename {
                workflow: workflow.clone(),
                from: status.clone(),
                to: to.code.clone(),
                workflow_version: 0,
            });
        } else if old.is_some_and(|old| old.workflow.status_id(status).is_some()) {
            stranded.push(Stranded {
                workflow: workflow.clone(),
                status: Some(status.clone()),
                orders: *n,
                file: Some(new.path.display().to_string()),
            });
        } else {
            // Unknown to the running version too: the new one strands nothing more.
            tracing::warn!(%workflow, %status, orders = n, "orders are in a status no running version declares");
        }
    }
    for (workflow, orders) in gone {
        let file = running.get(workflow).map(|a| a.path.display().to_string());
        stranded.push(Stranded { workflow: workflow.to_string(), status: None, orders, file });
    }
    (stranded, renames)
}

/// A registry that did not check, as a failure: every finding, rendered, and a summary that
/// counts errors per file (`2 errors in retail.flow, 1 error in vip.rhai`).
fn failed(e: RegistryError) -> Failure {
    match e {
        RegistryError::Invalid(reports) => {
            let summary = reports
                .iter()
                .filter(|r| r.error_count() > 0)
                .map(|r| {
                    let n = r.error_count();
                    format!("{n} error{} in {}", if n == 1 { "" } else { "s" }, file_name(r))
                })
                .collect::<Vec<_>>()
                .join(", ");
            Failure::Failed {
                summary: if summary.is_empty() { "the workflows have errors".into() } else { summary },
                findings: reports.iter().flat_map(Report::to_json).collect(),
                rendered: reports.iter().map(|r| r.render(false)).collect(),
            }
        }
        RegistryError::Load(e) => Failure::Failed {
            summary: e.to_string(),
            findings: Vec::new(),
            rendered: format!("error: {e}\n"),
        },
        RegistryError::Store(e) => store_failed(e),
    }
}

fn store_failed(e: crate::store::StoreError) -> Failure {
    Failure::Failed {
        summary: format!("the store failed: {e}"),
        findings: Vec::new(),
        rendered: format!("error: the store failed: {e}\n"),
    }
}

/// The file name of a report's path (`retail.flow`).
fn file_name(r: &Report) -> String {
    Path::new(&r.path).file_name().map_or_else(|| r.path.clone(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_workflows_hooks_and_the_folders_matter() {
        let root = Path::new("/w");
        assert!(relevant(root, Path::new("/w/retail.flow")));
        assert!(relevant(root, Path::new("/w/hooks/vip.rhai")));
        assert!(relevant(root, Path::new("/w/hooks")));
        assert!(relevant(root, Path::new("/w")));
        assert!(!relevant(root, Path::new("/w/.retail.flow.swp")));
        assert!(!relevant(root, Path::new("/w/retail.flow~")));
        assert!(!relevant(root, Path::new("/w/4913")));
        assert!(!relevant(root, Path::new("/w/tests/paid.toml")));
    }

    #[test]
    fn reading_is_not_a_change() {
        assert!(!changes(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!changes(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(changes(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(changes(&EventKind::Modify(ModifyKind::Any)));
        assert!(changes(&EventKind::Create(notify::event::CreateKind::File)));
        assert!(changes(&EventKind::Remove(notify::event::RemoveKind::Any)));
    }

    #[test]
    fn triggers_serialize_in_lowercase() {
        let all = [Trigger::Start, Trigger::Watch, Trigger::Api, Trigger::Signal];
        let json = serde_json::to_string(&all).unwrap_or_default();
        assert_eq!(json, r#"["start","watch","api","signal"]"#);
    }
}
