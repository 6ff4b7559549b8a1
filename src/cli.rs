//! The command line (clap): `orderly serve`, `orderly check`, `orderly graph`, `orderly test`,
//! `orderly migrate` and `orderly replay` (its own module, [`crate::replay`]).
//!
//! Exit codes: 0 success, 1 a finding in the user's input, 2 a usage error (clap's own).

use crate::config;
use crate::diagnostics::Report;
use crate::graph::{self, Format};
use crate::load::{self, LoadError, Loaded};
use crate::scenario;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// Output that never panics: a closed pipe (`orderly check | head -3`) or a closed stream ends
// the output quietly, where `println!` would panic and exit 101.
macro_rules! outln {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout().lock(), $($t)*); }};
}
macro_rules! out {
    ($($t:tt)*) => {{ let _ = write!(std::io::stdout().lock(), $($t)*); }};
}
macro_rules! errln {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr().lock(), $($t)*); }};
}
macro_rules! err {
    ($($t:tt)*) => {{ let _ = write!(std::io::stderr().lock(), $($t)*); }};
}

/// orderly: write your order lifecycle down, and orderly runs it.
#[derive(Debug, Parser)]
#[command(name = "orderly", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service: orders, events, locks, tracking, metrics, hot reload.
    #[command(
        after_help = "With no arguments and no orderly.toml it just works from the repository root: SQLite file \
orderly.db (created and migrated on start), workflows from workflows/, http://127.0.0.1:8080. orderly.toml \
(or --config) and ORDERLY_* environment variables change that; docs/configuration.md lists every key. \
Flags given here win over both.

Examples:
  orderly serve
  orderly serve --bind 127.0.0.1:9000 --database postgres://postgres@127.0.0.1:5432/orderly
  ORDERLY_LOG_FORMAT=json orderly serve --config /etc/orderly/orderly.toml

Stops on SIGTERM or Ctrl-C after requests in flight finish (exit 0). SIGHUP reloads the workflows."
    )]
    Serve {
        /// The configuration file (default: orderly.toml, when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The address to listen on (overrides `bind`).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// The database URL (overrides `database_url`).
        #[arg(long)]
        database: Option<String>,
        /// The workflows folder (overrides `workflows`).
        #[arg(long)]
        workflows: Option<PathBuf>,
    },
    /// Check workflow files and report every mistake, with line, column and a hint.
    #[command(
        after_help = "Examples:\n  orderly check                       # every workflow in workflows/\n  orderly check workflows/retail.flow\n  orderly check shop/ --error-format json\n\nExit code: 0 no errors (warnings allowed), 1 errors found, 2 usage error."
    )]
    Check {
        /// A workflow file, or a folder of `*.flow` files.
        #[arg(default_value = "workflows")]
        path: PathBuf,
        /// How to print findings.
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
        /// Treat warnings as errors (exit 1 on any finding).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Draw a workflow: statuses grouped by phase, final statuses marked, transitions as arrows.
    #[command(
        after_help = "Examples:\n  orderly graph workflows/retail.flow --format svg -o retail.svg\n  orderly graph workflows/retail.flow --format dot | dot -Tpng > retail.png\n  orderly graph workflows/repair-store.flow --format mermaid"
    )]
    Graph {
        /// The workflow file.
        file: PathBuf,
        /// The picture format.
        #[arg(long, short, value_enum, default_value_t = GraphFormat::Svg)]
        format: GraphFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Create or bring up to date the database's tables (also done by every command that uses it).
    #[command(
        after_help = "Examples:\n  orderly migrate                                  # sqlite://orderly.db\n  orderly migrate --database postgres://postgres@127.0.0.1:5432/orderly\n\nThe URL may also come from ORDERLY_DATABASE_URL."
    )]
    Migrate {
        /// The database: `sqlite://FILE` (created if missing) or `postgres://...`.
        #[arg(long, env = "ORDERLY_DATABASE_URL", default_value = "sqlite://orderly.db")]
        database: String,
    },
    /// Replay the scenarios in `tests/` against the workflows and report what differs.
    #[command(
        after_help = "Each scenario (a `*.toml` file) creates one order as a channel would send it, takes its \
steps (events, the clock moving on, fulfillment actions, locks) and checks what the file expects after \
each: the status, flags, messages queued, timers, quantities shipped, a refusal and its code. Every \
scenario runs alone on a fresh in-memory database. docs/testing.md describes the format.

Examples:
  orderly test                                   # every scenario in workflows/tests/
  orderly test workflows/                        # the same
  orderly test workflows/tests/retail            # the scenarios in one folder
  orderly test workflows/tests/retail/channel-website-check.toml

Exit code: 0 every scenario passed, 1 a scenario failed or could not be read, 2 usage error."
    )]
    Test {
        /// A workflows folder (its `tests/` folder is searched), a folder of scenarios, or one
        /// scenario file.
        #[arg(default_value = "workflows")]
        path: PathBuf,
    },
    /// Replay the recorded orders on candidate workflows, in memory, and report which would end
    /// differently.
    #[command(
        after_help = "Every order's recorded inputs (its creation, events with their data, timers, locks, \
fulfillment-action edits) run again through the candidate workflows, in memory: nothing is written and the \
database is opened read-only. Orders whose outcome differs (another status, a refused event and why, other \
messages, a status the candidate removed) are reported, grouped by the first rule that diverged. \
docs/replay.md describes the report and its JSON.

Examples:
  orderly replay --workflows workflows-next/
  orderly replay --database postgres://orderly@db/orderly --workflows workflows-next/ --workflow retail --since 30d
  orderly replay --workflows workflows-next/ --format json > replay.json

Exit code: 0 no order differs, 1 some order differs, 2 the replay could not run (usage error, a candidate \
with errors, a database that cannot be read)."
    )]
    Replay(crate::replay::ReplayArgs),
    /// Manage the staff users who log in to the studio and the console.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

/// `orderly user ...`.
#[derive(Debug, Subcommand)]
enum UserAction {
    /// Add a staff user to the configuration file: asks for the password (twice) and writes its
    /// argon2 hash, never the password.
    #[command(
        after_help = "Roles: viewer (orders:read, workflows:read), clerk (+ orders:write, events:write), \
manager (+ metrics:read), admin (everything: saving workflows in the studio, reloads), or one of the \
file's own [roles]. The service reads users when it starts: restart it to let a new user log in.

Examples:
  orderly user add ana --role admin
  printf '%s\\n' \"$PASSWORD\" | orderly user add till-3 --role clerk --password-stdin --config /etc/orderly/orderly.toml

Exit code: 0 written, 1 refused (the file was not changed), 2 usage error."
    )]
    Add {
        /// The login name (recorded as the actor of everything the user does).
        name: String,
        /// The role: viewer, clerk, manager, admin, or one of the file's `[roles]`.
        #[arg(long)]
        role: String,
        /// The configuration file to write (created if missing).
        #[arg(long, short, default_value = "orderly.toml")]
        config: PathBuf,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
        /// Replace the user's password and role if the name exists already.
        #[arg(long)]
        replace: bool,
    },
}

/// `orderly graph --format`: the picture formats of [`graph::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// A Mermaid flowchart (paste into Markdown).
    Mermaid,
    /// Graphviz DOT (render with `dot -Tsvg`).
    Dot,
    /// A standalone SVG image, laid out without external tools.
    Svg,
}

impl From<GraphFormat> for Format {
    fn from(f: GraphFormat) -> Format {
        match f {
            GraphFormat::Mermaid => Format::Mermaid,
            GraphFormat::Dot => Format::Dot,
            GraphFormat::Svg => Format::Svg,
        }
    }
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ErrorFormat {
    /// Like a compiler: file:line:column, the source line and a caret.
    Human,
    /// One JSON array of findings on standard output.
    Json,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, bind, database, workflows } => serve_cmd(config, bind, database, workflows),
        Command::Check { path, error_format, deny_warnings } => check(&path, error_format, deny_warnings),
        Command::Graph { file, format, output } => graph_cmd(&file, format, output.as_deref()),
        Command::Test { path } => test_cmd(&path),
        Command::Migrate { database } => migrate_cmd(&database),
        Command::User { action: UserAction::Add { name, role, config, password_stdin, replace } } => {
            user_add(&name, &role, &config, password_stdin, replace)
        }
        Command::Replay(args) => crate::replay::replay_cmd(args),
    }
}

/// `orderly user add`: reads the password, hashes it, and writes the user into the file, after
/// checking that the file with the user still reads as a configuration.
fn user_add(name: &str, role: &str, file: &Path, password_stdin: bool, replace: bool) -> ExitCode {
    let refuse = |m: String| {
        errln!("error: {m}");
        ExitCode::from(1)
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return refuse(format!("cannot read `{}`: {e}", file.display())),
    };
    let password = if password_stdin {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().read_line(&mut line) {
            return refuse(format!("cannot read the password from standard input: {e}"));
        }
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "));
        let second = rpassword::prompt_password("Again: ");
        match (first, second) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => return refuse("the two passwords differ; nothing was written".into()),
            (Err(e), _) | (_, Err(e)) => return refuse(format!("cannot read the password: {e}")),
        }
    } else {
        return refuse(
            "standard input is not a terminal: give --password-stdin to read the password from it".into(),
        );
    };
    if password.chars().count() < config::MIN_PASSWORD {
        return refuse(format!(
            "the password is shorter than {} characters; nothing was written",
            config::MIN_PASSWORD
        ));
    }
    let hash = match config::hash_password(&password) {
        Ok(h) => h,
        Err(e) => return refuse(e),
    };
    let updated = match config::add_to_file(&text, name, role, &hash, replace) {
        Ok(t) => t,
        Err(e) => return refuse(format!("{e}; `{}` was not changed", file.display())),
    };
    // The file must still be a configuration the service reads (the role exists, the name is
    // valid): otherwise nothing is written.
    if let Err(e) = config::Config::from_toml(&updated, file, |_| None) {
        return refuse(format!("{e}; `{}` was not changed", file.display()));
    }
    if let Err(e) = write_atomically(file, &updated) {
        return refuse(format!("cannot write `{}`: {e}", file.display()));
    }
    outln!(
        "{} user `{name}` with role `{role}` in {}; restart `orderly serve` to let them log in",
        if replace { "wrote" } else { "added" },
        file.display()
    );
    ExitCode::SUCCESS
}

/// Writes `text` to `path` through a temporary file beside it and a rename, so that a reader
/// never sees half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("orderly.toml")));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// `1 event`, `2 events`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn use_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn load_or_report(path: &Path) -> Result<Vec<Loaded>, ExitCode> {
    match load::load(path) {
        Ok(l) => Ok(l),
        Err(e @ LoadError::Io { .. }) => {
            errln!("error: {e}");
            Err(ExitCode::from(2))
        }
        Err(e @ LoadError::Empty(_)) => {
            errln!("error: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn check(path: &Path, format: ErrorFormat, deny_warnings: bool) -> ExitCode {
    let loaded = match load_or_report(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut reports: Vec<Report> = loaded.iter().map(Loaded::report).collect();
    // The hooks beside the workflows are checked too: a syntax error or an unknown function is
    // reported like any workflow error.
    let mut hook_dirs: Vec<PathBuf> =
        loaded.iter().map(|l| l.path.parent().unwrap_or(Path::new(".")).join("hooks")).collect();
    hook_dirs.dedup();
    let mut broken_hooks: Vec<(PathBuf, String, usize)> = Vec::new();
    for dir in hook_dirs.iter().filter(|d| d.is_dir()) {
        for r in crate::hooks::check_hooks(dir) {
            let name = Path::new(&r.path).file_name().map(|n| n.to_string_lossy().into_owned());
            if let (Some(name), true) = (name, r.error_count() > 0) {
                broken_hooks.push((dir.clone(), name, r.error_count()));
            }
            reports.push(r);
        }
    }
    let errors: usize = reports.iter().map(Report::error_count).sum();
    let warnings: usize = reports.iter().map(Report::warning_count).sum();
    match format {
        ErrorFormat::Json => {
            let all: Vec<serde_json::Value> = reports.iter().flat_map(Report::to_json).collect();
            outln!("{}", serde_json::Value::Array(all));
        }
        ErrorFormat::Human => {
            let color = use_color();
            for r in &reports {
                err!("{}", r.render(color));
            }
            for l in &loaded {
                let Some(w) = &l.outcome.workflow else {
                    let n = l.outcome.diagnostics.iter().filter(|d| d.is_error()).count();
                    outln!("not ok: {} ({n} error{})", l.path.display(), if n == 1 { "" } else { "s" });
                    continue;
                };
                // A workflow whose hooks do not compile cannot run either.
                let dir = l.path.parent().unwrap_or(Path::new(".")).join("hooks");
                let broken: Vec<String> = broken_hooks
                    .iter()
                    .filter(|(d, name, _)| *d == dir && w.hook_files.contains(name))
                    .map(|(_, name, n)| {
                        format!("hook `{name}` has {n} error{}", if *n == 1 { "" } else { "s" })
                    })
                    .collect();
                if !broken.is_empty() {
                    outln!("not ok: {} ({})", l.path.display(), broken.join(", "));
                    continue;
                }
                outln!(
                    "ok: {} (workflow `{}`: {}, {}, {}, {})",
                    l.path.display(),
                    w.name,
                    count(w.statuses.len(), "status", "statuses"),
                    count(w.events.len(), "event", "events"),
                    count(w.transitions.len(), "transition", "transitions"),
                    count(w.channels.len(), "channel", "channels")
                );
            }
            let files = loaded.len();
            errln!(
                "checked {files} file{}: {errors} error{}, {warnings} warning{}",
                if files == 1 { "" } else { "s" },
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            );
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn graph_cmd(file: &Path, format: GraphFormat, output: Option<&Path>) -> ExitCode {
    let loaded = match load_or_report(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let [one] = loaded.as_slice() else {
        errln!("error: `{}` is a folder; name one workflow file", file.display());
        return ExitCode::from(2);
    };
    let Some(workflow) = &one.outcome.workflow else {
        err!("{}", one.report().render(use_color()));
        errln!("error: `{}` has errors; fix them to draw it", file.display());
        return ExitCode::from(1);
    };
    let picture = graph::render(workflow, format.into());
    match output {
        Some(out) => {
            if let Err(e) = std::fs::write(out, picture) {
                errln!("error: cannot write `{}`: {e}", out.display());
                return ExitCode::from(1);
            }
            errln!("wrote {}", out.display());
        }
        None => out!("{picture}"),
    }
    ExitCode::SUCCESS
}

fn test_cmd(path: &Path) -> ExitCode {
    let found = match scenario::find(path) {
        Ok(f) => f,
        Err(e @ scenario::FindError::Io { .. }) => {
            errln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e @ scenario::FindError::Empty(_)) => {
            errln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let options = scenario::Options::default();
    let mut summary = scenario::Summary::default();
    let mut out = std::io::stdout();
    for f in &found {
        let result = runtime.block_on(scenario::run_named(f, &options));
        let _ = out.write_all(result.render().as_bytes());
        let _ = out.flush();
        summary.results.push(result);
    }
    outln!("{}", summary.summary_line());
    if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn migrate_cmd(url: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(crate::store::Store::connect(url)) {
        Ok(store) => {
            runtime.block_on(store.close());
            outln!("database `{url}` is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("error: database `{url}`: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve_cmd(
    file: Option<PathBuf>,
    bind: Option<std::net::SocketAddr>,
    database: Option<String>,
    workflows: Option<PathBuf>,
) -> ExitCode {
    let mut config = match crate::config::Config::load(file.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(b) = bind {
        config.bind = b;
    }
    if let Some(d) = database {
        config.database_url = d;
    }
    if let Some(w) = workflows {
        config.workflows = w;
    }
    crate::serve::init_tracing(&config);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(request_workers());
    }
    let runtime = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(crate::serve::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// How many threads serve requests: one per core but one, at least one. The core left is the
/// writer's: every change is committed by its one thread (and its database connection's), and
/// each of a batch's statements is a hand-over between them; with every core taken by request
/// workers each hand-over waits for a time slice, and the writer, which all acknowledgements wait
/// for, runs slower (on 2 cores: about 2,500 events/s with 2 workers, 3,300 with 1; see
/// docs/benchmarks.md). `TOKIO_WORKER_THREADS` overrides it.
fn request_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    cores.saturating_sub(1).max(1)
}
