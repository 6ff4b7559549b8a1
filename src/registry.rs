//! The active workflows: every `*.flow` of a folder, checked and compiled, each with the
//! version number the store gives its content, and the compiled hooks of the folder's `hooks/`
//! they run with. A registry is immutable; a reload builds a new one and swaps it in only when
//! every file is clean (see [`crate::reload`]).
//!
//! Loading is two steps so that a reload can look at the new set before it exists in the store:
//! [`Registry::check`] reads and checks the files and compiles the hooks (no database), and
//! [`Checked::register`] numbers each workflow's content in the store. [`Registry::load`] does
//! both.

use crate::diagnostics::Report;
use crate::hooks::{HookEngine, HookLimits};
use crate::load::{self, LoadError};
use crate::model::Workflow;
use crate::store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One active workflow.
#[derive(Debug, Clone)]
pub struct Active {
    /// The compiled workflow.
    pub workflow: Arc<Workflow>,
    /// Its version number in the store (1, 2, ... per content change).
    pub version: i64,
    /// The SHA-256 of its text and hooks.
    pub hash: String,
    /// The file it came from.
    pub path: PathBuf,
}

/// Why a folder of workflows could not become the active set.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Files could not be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Some file has errors; the reports say which.
    #[error("{} workflow file(s) have errors", .0.len())]
    Invalid(Vec<Report>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The set of active workflows and the hooks they run with.
#[derive(Debug, Clone)]
pub struct Registry {
    by_name: BTreeMap<String, Active>,
    hooks: Arc<HookEngine>,
}

impl Default for Registry {
    /// No workflows, no hooks.
    fn default() -> Self {
        Registry { by_name: BTreeMap::new(), hooks: Arc::new(no_hooks()) }
    }
}

/// A hook engine without hook files.
fn no_hooks() -> HookEngine {
    HookEngine::from_sources(std::iter::empty::<(String, String)>(), HookLimits::default())
        .unwrap_or_else(|_| unreachable!("compiling no hook file finds nothing"))
}

/// A workflow read and checked, not yet numbered in the store.
#[derive(Debug, Clone)]
pub(crate) struct CheckedWorkflow {
    /// The compiled workflow.
    pub workflow: Arc<Workflow>,
    /// The SHA-256 of its text and the hook files it names.
    pub hash: String,
    /// The file it came from.
    pub path: PathBuf,
    /// The file's text (stored with its version).
    pub source: String,
}

/// A folder of workflows and hooks that checked clean: what [`Registry::check`] gives and
/// [`Checked::register`] turns into a [`Registry`].
#[derive(Debug, Clone)]
pub struct Checked {
    by_name: BTreeMap<String, CheckedWorkflow>,
    hooks: Arc<HookEngine>,
}

impl Checked {
    /// The workflow with this name.
    pub(crate) fn get(&self, name: &str) -> Option<&CheckedWorkflow> {
        self.by_name.get(name)
    }

    /// Every workflow of the set, by name.
    pub fn workflows(&self) -> impl Iterator<Item = &Workflow> {
        self.by_name.values().map(|c| &*c.workflow)
    }

    /// The hooks compiled with the set.
    pub fn hooks(&self) -> Arc<HookEngine> {
        self.hooks.clone()
    }

    /// Numbers every workflow's content in the store (a known hash keeps its number, a new
    /// one gets the next) and makes the registry.
    pub async fn register(self, store: &Store) -> Result<Registry, StoreError> {
        let mut by_name = BTreeMap::new();
        for (name, c) in self.by_name {
            let version = store.workflow_version(&name, &c.hash, &c.source).await?;
            by_name.insert(name, Active { workflow: c.workflow, version, hash: c.hash, path: c.path });
        }
        Ok(Registry { by_name, hooks: self.hooks })
    }
}

impl Registry {
    /// Loads, checks and versions every workflow in `dir` (a folder or one file), with the
    /// hooks of its `hooks/` folder.
    pub async fn load(dir: &Path, store: &Store) -> Result<Registry, RegistryError> {
        Ok(Self::check(dir)?.register(store).await?)
    }

    /// Reads and checks every workflow in `dir` (a folder or one file) and compiles the hooks of
    /// its `hooks/` folder (none when there is no such folder), touching no database. Any error
    /// in any workflow or hook file fails the whole set: [`RegistryError::Invalid`] holds one
    /// report per file with findings.
    pub fn check(dir: &Path) -> Result<Checked, RegistryError> {
        Self::check_with(dir, None)
    }

    /// [`Registry::check`] with `candidate` (a workflow file of the folder and the text to
    /// check in its place: the studio's editor) instead of what the disk has for that file.
    pub fn check_with(dir: &Path, candidate: Option<(&Path, &str)>) -> Result<Checked, RegistryError> {
        let loaded = load::load_with(dir, candidate)?;
        let mut broken: Vec<Report> =
            loaded.iter().filter(|l| l.outcome.workflow.is_none()).map(load::Loaded::report).collect();
        // Hooks that do not compile block the set like a broken workflow does.
        let folder = if dir.is_dir() { dir } else { dir.parent().unwrap_or(Path::new(".")) };
        let hooks = match HookEngine::load(&folder.join("hooks")) {
            Ok(engine) => Some(engine),
            Err(found) => {
                broken.extend(crate::hooks::hook_reports(&found));
                None
            }
        };
        let (Some(hooks), true) = (hooks, broken.is_empty()) else {
            return Err(RegistryError::Invalid(broken));
        };
        let mut by_name = BTreeMap::new();
        for l in loaded {
            let Some(workflow) = l.outcome.workflow else { continue };
            let mut hasher = Sha256::new();
            hasher.update(l.source.as_bytes());
            let hooks_dir = l.path.parent().unwrap_or(Path::new(".")).join("hooks");
            for hook in &workflow.hook_files {
                hasher.update(hook.as_bytes());
                hasher.update(std::fs::read(hooks_dir.join(hook)).unwrap_or_default());
            }
            let hash = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>();
            by_name.insert(
                workflow.name.clone(),
                CheckedWorkflow { workflow: Arc::new(workflow), hash, path: l.path, source: l.source },
            );
        }
        Ok(Checked { by_name, hooks: Arc::new(hooks) })
    }

    /// The workflow with this name.
    pub fn get(&self, name: &str) -> Option<&Active> {
        self.by_name.get(name)
    }

    /// Every active workflow, by name.
    pub fn all(&self) -> impl Iterator<Item = &Active> {
        self.by_name.values()
    }

    /// The workflows that have a channel with this code.
    pub(crate) fn with_channel(&self, channel: &str) -> Vec<&Active> {
        self.by_name.values().filter(|a| a.workflow.channel(channel).is_some()).collect()
    }

    /// The compiled hooks of the folder the workflows came from (an engine without hooks when
    /// it has no `hooks/` folder).
    pub fn hooks(&self) -> Arc<HookEngine> {
        self.hooks.clone()
    }

    /// `name@version` of every workflow, by name: how logs and reload reports name a set.
    pub(crate) fn versions(&self) -> Vec<String> {
        self.by_name.values().map(|a| format!("{}@{}", a.workflow.name, a.version)).collect()
    }
}
