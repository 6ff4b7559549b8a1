//! Scenarios: a merchant's stories about orders, written as TOML files and replayed against the
//! workflows (`orderly test`).
//!
//! A scenario creates one order as a channel would send it, then takes steps (events, the clock
//! moving on, fulfillment actions, locks) and after each compares what happened with what the
//! file expects: the status, the flags, the messages queued, the timers, the quantities picked
//! and shipped, a refusal and its code. Each scenario runs alone, on a fresh store (in-memory
//! SQLite unless the caller brings another), with a clock that moves only when a step says so,
//! and without a hook engine (a scenario can answer guard hooks itself, see
//! [`format::Scenario::hooks`]).
//!
//! Entry points: [`run_path`] (a workflows folder, a folder of scenarios, or one file) and
//! [`run_file`]; [`find`] lists the files [`run_path`] would run. `docs/testing.md` describes
//! the format for merchants.

mod compare;
pub mod format;
mod leaves;
mod report;
mod run;

use crate::store::Store;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// A store being opened for one scenario.
pub type StoreFuture = Pin<Box<dyn Future<Output = Result<Store, String>> + Send>>;

/// Where each scenario's store comes from.
#[derive(Clone, Default)]
pub enum StoreSource {
    /// A fresh in-memory SQLite database per scenario (`sqlite::memory:`).
    #[default]
    Memory,
    /// This URL, connected afresh for each scenario. Giving each scenario an empty database is
    /// the caller's job (a URL that names one shared database mixes the scenarios' customers).
    Url(String),
    /// A function that opens a fresh store for the scenario it is given (its display name),
    /// e.g. one that creates a new PostgreSQL database each time.
    Factory(Arc<dyn Fn(&str) -> StoreFuture + Send + Sync>),
}

impl std::fmt::Debug for StoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSource::Memory => f.write_str("Memory"),
            StoreSource::Url(u) => f.debug_tuple("Url").field(u).finish(),
            StoreSource::Factory(_) => f.write_str("Factory(..)"),
        }
    }
}

impl StoreSource {
    async fn open(&self, name: &str) -> Result<Store, String> {
        match self {
            StoreSource::Memory => Store::connect("sqlite::memory:").await.map_err(|e| e.to_string()),
            StoreSource::Url(url) => Store::connect(url).await.map_err(|e| e.to_string()),
            StoreSource::Factory(f) => f(name).await,
        }
    }
}

/// How scenarios run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where each scenario's store comes from.
    pub store: StoreSource,
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The file.
    pub path: PathBuf,
    /// The name the report shows (the path below the folder that was searched).
    pub name: String,
    /// How many steps the file has (0 when it could not be read).
    pub steps: usize,
    /// What happened.
    pub outcome: Outcome,
}

impl ScenarioResult {
    /// Whether every expectation held.
    pub(crate) fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Passed)
    }
}

/// How a scenario ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold: the first step where one failed.
    Failed(Failure),
    /// The scenario could not run: unreadable, invalid TOML, an unknown key, workflows with
    /// errors, a store that would not open.
    Invalid(String),
}

/// The first step whose expectations did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which step: `creation (...)` or `step 3 "name" (event payment_received)`.
    pub at: String,
    /// Its line in the file, when known.
    pub line: Option<usize>,
    /// Each expectation that did not hold: `status: expected `x`, got `y``.
    pub differences: Vec<String>,
    /// When the step was refused: the refusal, its failing guards, problems and the events
    /// the order accepts, one per line.
    pub rejection: Vec<String>,
}

/// The results of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// One per scenario, in the order they ran.
    pub results: Vec<ScenarioResult>,
}

impl Summary {
    /// How many passed.
    pub(crate) fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// How many failed or could not run.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Whether every scenario passed.
    pub fn ok(&self) -> bool {
        self.failed() == 0
    }

    /// The report: a line per scenario (with the first difference under a failure), then
    /// `N passed, N failed`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            out.push_str(&r.render());
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    /// `N passed, N failed`.
    pub(crate) fn summary_line(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Why no scenario could be found.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// The path does not exist or cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A folder without scenario files.
    #[error("no scenario files (`*.toml`) in `{0}`")]
    Empty(PathBuf),
}

/// A scenario file to run and the name to show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// The name the report shows.
    pub name: String,
}

/// The scenario files `path` names: the file itself; or, for a workflows folder (one with a
/// `tests` folder inside), every `*.toml` below `tests/`; or every `*.toml` below the folder.
/// Sorted by name.
pub fn find(path: &Path) -> Result<Vec<Found>, FindError> {
    let meta =
        std::fs::metadata(path).map_err(|source| FindError::Io { path: path.to_path_buf(), source })?;
    if meta.is_file() {
        return Ok(vec![Found { path: path.to_path_buf(), name: path.display().to_string() }]);
    }
    let tests = path.join("tests");
    let root = if tests.is_dir() { tests } else { path.to_path_buf() };
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(FindError::Empty(root));
    }
    Ok(files
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(&root)
                .map(|rel| {
                    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
                })
                .unwrap_or_else(|_| p.display().to_string());
            Found { path: p, name }
        })
        .collect())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FindError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| FindError::Io { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| FindError::Io { path: dir.to_path_buf(), source })?;
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Runs one scenario file under the name the report shows.
pub(crate) async fn run_named(found: &Found, options: &Options) -> ScenarioResult {
    run::run(found, options).await
}

/// Runs every scenario `path` names (see [`find`]), one after the other.
pub async fn run_path(path: &Path, options: &Options) -> Result<Summary, FindError> {
    let mut summary = Summary::default();
    for f in find(path)? {
        summary.results.push(run_named(&f, options).await);
    }
    Ok(summary)
}
