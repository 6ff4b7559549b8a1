//! Every code merchants, clients and tools rely on is an enum variant, and this walks each one:
//! a diagnostic code needs a golden file (a `# expect:` line in `tests/diagnostics/`) and a row in
//! docs/language.md's table (docs/hooks.md's for `hook-*`); an API error code a row in
//! docs/api.md's table with its HTTP status and a test that names it; a rejection code a test;
//! an outbox kind a row in docs/api.md. A row for a code that does not exist fails too.

use orderly::diagnostics::Code;
use orderly::engine::{MessageKind, RejectionCode};
use orderly::http::error::ErrorCode;
use std::collections::BTreeSet;
use std::path::Path;

fn files(dir: &Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The codes named on `# expect:` lines of the golden workflows.
fn golden_codes() -> BTreeSet<String> {
    let mut flows = Vec::new();
    files(Path::new("tests/diagnostics"), "flow", &mut flows);
    flows
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).expect("readable");
            text.lines().next().and_then(|l| l.strip_prefix("# expect:")).map(str::to_string)
        })
        .flat_map(|codes| codes.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// The text of every test: the integration tests and the crates' unit tests (`tests.rs` files
/// and `#[cfg(test)]` modules), without this file.
fn test_sources() -> String {
    let mut paths = Vec::new();
    files(Path::new("tests/it"), "rs", &mut paths);
    files(Path::new("crates"), "rs", &mut paths);
    files(Path::new("src"), "rs", &mut paths);
    paths
        .iter()
        .filter(|p| !p.ends_with("codes.rs"))
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .map(|text| match text.find("#[cfg(test)]") {
            Some(at) => text[at..].to_string(),
            None if text.contains("#[test]") || text.contains("#[tokio::test") => text,
            None => String::new(),
        })
        .collect()
}

/// The first cell's backticked words of each table row whose second cell is one of `kinds`.
fn table_codes(doc: &str, kinds: &[&str]) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && kinds.contains(&cells[2])).then(|| cells[1].trim_matches('`').to_string())
        })
        .collect()
}

#[test]
fn every_diagnostic_code_has_a_golden_file_and_a_row_in_the_docs() {
    let golden = golden_codes();
    let language = std::fs::read_to_string("docs/language.md").expect("docs/language.md");
    let hooks = std::fs::read_to_string("docs/hooks.md").expect("docs/hooks.md");
    let mut wrong = Vec::new();
    for code in Code::all() {
        if !golden.contains(code.as_str()) {
            wrong.push(format!(
                "`{code}` has no golden file (no `# expect:` line in tests/diagnostics names it)"
            ));
        }
        let (doc, name) = if code.as_str().starts_with("hook-") {
            (&hooks, "docs/hooks.md")
        } else {
            (&language, "docs/language.md")
        };
        if !doc.lines().any(|l| l.starts_with(&format!("| `{code}` |"))) {
            wrong.push(format!("`{code}` has no row in {name}"));
        }
    }
    let known: BTreeSet<String> = Code::all().map(|c| c.as_str().to_string()).collect();
    for listed in table_codes(&language, &["error", "warning"]) {
        if !known.contains(&listed) {
            wrong.push(format!("docs/language.md has a row for `{listed}`, which is no code"));
        }
    }
    for listed in golden.difference(&known) {
        wrong.push(format!("a golden file expects `{listed}`, which is no code"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_api_error_code_has_a_test_and_a_row_with_its_status() {
    let api = std::fs::read_to_string("docs/api.md").expect("docs/api.md");
    let tests = test_sources();
    let mut wrong = Vec::new();
    for code in ErrorCode::all() {
        let status = code.status().as_u16().to_string();
        let row = api.lines().any(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells.len() > 3 && cells[1] == status && cells[2].contains(&format!("`{}`", code.as_str()))
        });
        if !row {
            wrong.push(format!("`{}` has no row with status {status} in docs/api.md", code.as_str()));
        }
        if !tests.contains(&format!("\"{}\"", code.as_str()))
            && !tests.contains(&format!("ErrorCode::{code:?}"))
        {
            wrong.push(format!("`{}` is named by no test", code.as_str()));
        }
    }
    let known: BTreeSet<&str> = ErrorCode::all().map(ErrorCode::as_str).collect();
    for l in api.lines() {
        let cells: Vec<&str> = l.split('|').map(str::trim).collect();
        if cells.len() > 3 && cells[1].len() == 3 && cells[1].bytes().all(|b| b.is_ascii_digit()) {
            for listed in cells[2].split('`').skip(1).step_by(2) {
                if !known.contains(listed) {
                    wrong.push(format!("docs/api.md lists `{listed}`, which is no error code"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_rejection_code_is_tested_and_every_outbox_kind_documented() {
    let tests = test_sources();
    let mut wrong = Vec::new();
    for code in RejectionCode::all() {
        if !tests.contains(&format!("\"{}\"", code.as_str()))
            && !tests.contains(&format!("RejectionCode::{code:?}"))
        {
            wrong.push(format!("rejection `{}` is named by no test", code.as_str()));
        }
    }
    let api = std::fs::read_to_string("docs/api.md").expect("docs/api.md");
    for kind in MessageKind::all() {
        if !api.lines().any(|l| l.starts_with(&format!("| `{kind}` |"))) {
            wrong.push(format!("outbox kind `{kind}` has no row in docs/api.md"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
