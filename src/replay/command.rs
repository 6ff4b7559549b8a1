//! `orderly replay`: checks the candidate workflows (their findings printed as `orderly check`
//! prints them), opens the database read-only, runs [`super::replay`] and prints the report.
//!
//! Exit codes: 0 no order differs, 1 some order differs, 2 the replay could not run (a usage
//! error, a candidate with errors, a database that cannot be read).

use super::{ReplayError, ReplayOptions};
use crate::registry::{Registry, RegistryError};
use crate::store::Store;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `orderly replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The database the orders were recorded in: `sqlite://FILE` or `postgres://...` (opened
    /// read-only; nothing is written).
    #[arg(long, env = "ORDERLY_DATABASE_URL", default_value = "sqlite://orderly.db")]
    pub database: String,
    /// The candidate: a folder of workflow files (with its `hooks/` folder), or one file.
    #[arg(long)]
    pub workflows: PathBuf,
    /// Replay only the orders of this workflow.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Replay only the orders created in this last stretch (`30d`, `12h`, `2w`) or since this
    /// moment (RFC 3339: `2026-03-01T00:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// `orderly replay --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For people: the rules that diverged, then each order that differs.
    Text,
    /// One JSON document (docs/replay.md describes it).
    Json,
}

macro_rules! outln {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout().lock(), $($t)*); }};
}
macro_rules! errln {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr().lock(), $($t)*); }};
}

/// Runs `orderly replay` and returns its exit code.
pub fn replay_cmd(args: ReplayArgs) -> ExitCode {
    let now = super::now();
    let since = match args.since.as_deref().map(|s| since(s, now)).transpose() {
        Ok(s) => s,
        Err(e) => {
            errln!("error: --since: {e}");
            return ExitCode::from(2);
        }
    };
    let candidate = match Registry::check(&args.workflows) {
        Ok(c) => c,
        Err(RegistryError::Invalid(reports)) => {
            let errors: usize = reports.iter().map(crate::diagnostics::Report::error_count).sum();
            let message = format!(
                "the candidate in `{}` has {errors} error{}: fix them, then replay",
                args.workflows.display(),
                if errors == 1 { "" } else { "s" }
            );
            match args.format {
                ReportFormat::Json => {
                    let findings: Vec<serde_json::Value> = reports.iter().flat_map(|r| r.to_json()).collect();
                    outln!("{}", serde_json::json!({"error": message, "diagnostics": findings}));
                }
                ReportFormat::Text => {
                    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                    for r in &reports {
                        let _ = write!(std::io::stderr().lock(), "{}", r.render(color));
                    }
                }
            }
            errln!("error: {message}");
            return ExitCode::from(2);
        }
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let options = ReplayOptions { workflow: args.workflow, since, as_of: Some(now) };
    let url = args.database;
    let report = runtime.block_on(async {
        let store = Store::connect_read_only(&url).await.map_err(ReplayError::Store)?;
        let report = super::replay(&store, &candidate, &options).await;
        store.close().await;
        report
    });
    let report = match report {
        Ok(r) => r,
        Err(ReplayError::Store(e)) => {
            errln!("error: database `{url}`: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.format {
        ReportFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => outln!("{json}"),
            Err(e) => {
                errln!("error: cannot write the report: {e}");
                return ExitCode::from(2);
            }
        },
        ReportFormat::Text => {
            let _ = std::io::stdout().lock().write_all(report.render().as_bytes());
        }
    }
    if report.differs() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--since`: a duration back from `now` (`30d`), or a moment (RFC 3339).
fn since(text: &str, now: crate::order::Time) -> Result<crate::order::Time, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = crate::check::parse_duration(text).map_err(|_| {
        format!("`{text}` is neither a duration (`30d`, `12h`, `2w`, `1d12h`) nor a time (`2026-03-01T00:00:00Z`)")
    })?;
    let d = chrono::Duration::from_std(d).map_err(|_| format!("`{text}` is too long"))?;
    now.checked_sub_signed(d).ok_or_else(|| format!("`{text}` reaches before any order"))
}

#[cfg(test)]
mod tests {
    use super::since;
    use chrono::TimeZone;

    #[test]
    fn since_takes_a_duration_or_a_time() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        assert_eq!(since("30d", now), Ok(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()));
        assert_eq!(
            since("2026-03-01T00:00:00Z", now),
            Ok(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        );
        assert!(since("a month", now).unwrap_err().contains("neither a duration"));
    }
}
