//! The active workflows: every `*.flow` of a folder, checked and compiled, each with the
//! version number the store gives its content. A registry is immutable; a reload builds a new
//! one and swaps it in only when every file is clean.

use crate::diagnostics::Report;
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

/// The set of active workflows.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_name: BTreeMap<String, Active>,
}

impl Registry {
    /// Loads, checks and versions every workflow in `dir` (a folder or one file).
    pub async fn load(dir: &Path, store: &Store) -> Result<Registry, RegistryError> {
        let loaded = load::load(dir)?;
        let mut broken: Vec<Report> =
            loaded.iter().filter(|l| l.outcome.workflow.is_none()).map(load::Loaded::report).collect();
        // Hooks that do not compile block the set like a broken workflow does.
        let folder = if dir.is_dir() { dir } else { dir.parent().unwrap_or(Path::new(".")) };
        broken.extend(crate::hooks::check_hooks(&folder.join("hooks")));
        if !broken.is_empty() {
            return Err(RegistryError::Invalid(broken));
        }
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
            let version = store.workflow_version(&workflow.name, &hash, &l.source).await?;
            by_name.insert(
                workflow.name.clone(),
                Active { workflow: Arc::new(workflow), version, hash, path: l.path },
            );
        }
        Ok(Registry { by_name })
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
    pub fn with_channel(&self, channel: &str) -> Vec<&Active> {
        self.by_name.values().filter(|a| a.workflow.channel(channel).is_some()).collect()
    }
}
