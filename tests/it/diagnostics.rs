//! Golden tests of what `orderly check` shows for broken workflows: one file per kind of
//! finding in `tests/diagnostics/`, each naming on its first line (`# expect: code ...`) the
//! codes it must produce; the rendered output is snapshotted with insta.

use orderly::load;
use std::path::Path;

fn expected_codes(source: &str) -> Vec<String> {
    source
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect:"))
        .map(|codes| codes.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn rendered(path: &Path) -> (String, Vec<String>, Vec<&'static str>) {
    let loaded = load::load(path).expect("test file is readable");
    let one = &loaded[0];
    let mut report = one.report();
    report.path = path.file_name().expect("a file").to_string_lossy().into_owned();
    let codes = one.outcome.diagnostics.iter().map(|d| d.code.as_str()).collect();
    (report.render(false), expected_codes(&one.source), codes)
}

#[test]
fn every_broken_file_reports_what_it_expects() {
    insta::glob!("../diagnostics", "*.flow", |path| {
        let (text, expected, codes) = rendered(path);
        assert!(!expected.is_empty(), "{} has no `# expect:` line", path.display());
        for code in &expected {
            assert!(
                codes.contains(&code.as_str()),
                "{}: expected `{code}`, got {codes:?}\n{text}",
                path.display()
            );
        }
        insta::assert_snapshot!(text);
    });
}

#[test]
fn every_diagnostic_has_a_location_a_caret_and_help() {
    insta::glob!("../diagnostics", "*.flow", |path| {
        let loaded = load::load(path).expect("readable");
        for d in &loaded[0].outcome.diagnostics {
            assert!(!d.help.is_empty(), "{}: `{}` has no help line", path.display(), d.message);
            assert!(!d.label.is_empty(), "{}: `{}` has no label", path.display(), d.message);
        }
        let (text, _, _) = rendered(path);
        let name = path.file_name().expect("file").to_string_lossy().into_owned();
        assert!(text.contains(&format!("{name}:")), "no file:line:column in\n{text}");
        assert!(text.contains('^'), "no caret in\n{text}");
        assert!(text.contains("help:"), "no help in\n{text}");
    });
}

#[test]
fn all_findings_come_in_one_run() {
    let (text, _, codes) = rendered(Path::new("tests/diagnostics/many_mistakes.flow"));
    let kinds: std::collections::BTreeSet<_> = codes.iter().collect();
    assert!(kinds.len() >= 6, "expected many kinds of finding in one run, got {kinds:?}\n{text}");
}

#[test]
fn a_broken_workflow_does_not_compile_and_warnings_alone_do() {
    let broken = load::load(Path::new("tests/diagnostics/unknown_status.flow")).expect("readable");
    assert!(broken[0].outcome.workflow.is_none());
    let warned = load::load(Path::new("tests/diagnostics/dead_end.flow")).expect("readable");
    assert!(warned[0].outcome.diagnostics.iter().all(|d| !d.is_error()));
    assert!(warned[0].outcome.workflow.is_some());
}

/// Findings that need a folder: several workflows (`duplicate-default`) or the hooks beside
/// them. Each folder in `tests/diagnostics/folders/` is checked as `orderly check FOLDER` is run,
/// and what it prints is snapshotted; its first `*.flow` names the codes on its `# expect:` line.
#[test]
fn every_broken_folder_reports_what_it_expects() {
    let mut folders: Vec<_> = std::fs::read_dir("tests/diagnostics/folders")
        .expect("tests/diagnostics/folders")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert!(folders.len() >= 2, "{folders:?}");
    for folder in folders {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orderly"))
            .arg("check")
            .arg(&folder)
            .env("NO_COLOR", "1")
            .output()
            .expect("orderly runs");
        assert_eq!(out.status.code(), Some(1), "{} must fail the check", folder.display());
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        let mut flows: Vec<_> = std::fs::read_dir(&folder)
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "flow"))
            .collect();
        flows.sort();
        let first = std::fs::read_to_string(flows.first().expect("a workflow")).expect("readable");
        let expected = expected_codes(&first);
        assert!(!expected.is_empty(), "{} has no `# expect:` line", folder.display());
        for code in &expected {
            assert!(
                text.contains(&format!("error[{code}]")) || text.contains(&format!("warning[{code}]")),
                "{}: expected `{code}` in\n{text}",
                folder.display()
            );
        }
        let name = folder.file_name().expect("name").to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("folder_{name}"), text);
    }
}
