//! The `orderly` binary as a user runs it: exit codes, what it prints, the files it writes.

use std::path::Path;
use std::process::{Command, Output};

fn orderly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderly")).args(args).env("NO_COLOR", "1").output().expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn shipped_workflows_check_clean() {
    let out = orderly(&["check", "workflows/", "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 errors, 0 warnings"), "{}", stderr(&out));
    for name in ["retail", "special_orders", "fulfillment", "repair_store"] {
        assert!(
            stdout(&out).contains(&format!("workflow `{name}`")),
            "{name} missing from\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn check_defaults_to_the_workflows_folder() {
    let out = orderly(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("retail.flow"));
}

#[test]
fn a_broken_file_exits_1_with_line_column_caret_and_help() {
    let out = orderly(&["check", "tests/diagnostics/many_mistakes.flow"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("many_mistakes.flow:11:4"), "{err}");
    assert!(err.contains("^^^^^"), "{err}");
    assert!(err.contains("help: did you mean `ship`?"), "{err}");
    assert!(err.contains("6 errors"), "{err}");
}

#[test]
fn warnings_alone_exit_0_unless_denied() {
    let file = "tests/diagnostics/dead_end.flow";
    assert_eq!(orderly(&["check", file]).status.code(), Some(0));
    assert_eq!(orderly(&["check", file, "--deny-warnings"]).status.code(), Some(1));
}

#[test]
fn json_findings_carry_file_line_and_column() {
    let out = orderly(&["check", "tests/diagnostics/unknown_status.flow", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let first = &v[0];
    assert_eq!(first["code"], "unknown-status");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["line"], 7);
    assert_eq!(first["column"], 24);
    assert_eq!(first["help"][0], "did you mean `done`?");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(orderly(&["check", "no/such/place"]).status.code(), Some(2));
    assert_eq!(orderly(&["chek"]).status.code(), Some(2));
    assert_eq!(orderly(&["graph", "workflows/retail.flow", "--format", "png"]).status.code(), Some(2));
}

#[test]
fn help_shows_examples() {
    for cmd in ["check", "graph"] {
        let out = orderly(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("Examples:"), "{cmd} --help has no examples");
    }
}

/// Every status of a workflow, by code, with its phase code.
fn statuses_by_phase(file: &str) -> Vec<(String, Option<String>)> {
    let loaded = orderly::load::load(Path::new(file)).expect("loads");
    let w = loaded[0].outcome.workflow.as_ref().expect("compiles");
    w.statuses.iter().map(|s| (s.code.clone(), s.phase.map(|p| w.phases[p].code.clone()))).collect()
}

#[test]
fn graph_svg_is_valid_and_groups_every_status_by_phase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg_path = dir.path().join("retail.svg");
    let out = orderly(&[
        "graph",
        "workflows/retail.flow",
        "--format",
        "svg",
        "-o",
        svg_path.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = std::fs::read_to_string(&svg_path).expect("written");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    for (code, phase) in statuses_by_phase("workflows/retail.flow") {
        let node = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(&format!("status-{code}")))
            .unwrap_or_else(|| panic!("status `{code}` is not drawn"));
        if let Some(phase) = phase {
            let in_cluster = node.ancestors().any(|a| a.attribute("id") == Some(&format!("phase-{phase}")));
            assert!(in_cluster, "status `{code}` is not inside its phase `{phase}`");
        }
    }
}

#[test]
fn graph_dot_and_mermaid_show_every_status_and_cluster() {
    let statuses = statuses_by_phase("workflows/retail.flow");
    let dot = stdout(&orderly(&["graph", "workflows/retail.flow", "--format", "dot"]));
    let mermaid = stdout(&orderly(&["graph", "workflows/retail.flow", "--format", "mermaid"]));
    assert!(dot.starts_with("digraph"));
    assert!(mermaid.starts_with("flowchart"));
    for (code, phase) in &statuses {
        assert!(dot.contains(code.as_str()), "dot lacks {code}");
        assert!(mermaid.contains(code.as_str()), "mermaid lacks {code}");
        if let Some(p) = phase {
            assert!(dot.contains(&format!("subgraph cluster_{p}")), "dot lacks cluster {p}");
            assert!(mermaid.contains(&format!("subgraph phase_{p}")), "mermaid lacks subgraph {p}");
        }
    }
    assert!(dot.contains("peripheries=2"), "final statuses are not marked");
}

#[test]
fn graph_of_a_broken_file_shows_the_errors() {
    let out = orderly(&["graph", "tests/diagnostics/unknown_status.flow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown status `dnoe`"));
}

#[test]
fn migrate_creates_the_tables_and_rejects_bad_urls() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("new.db").display());
    let out = orderly(&["migrate", "--database", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("new.db").exists());
    assert_eq!(orderly(&["migrate", "--database", &url]).status.code(), Some(0), "migrating twice is fine");
    let bad = orderly(&["migrate", "--database", "mysql://x"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("bad database URL"), "{}", stderr(&bad));
}

#[test]
fn check_reports_a_hook_syntax_error_with_line_column_and_caret() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy("workflows/retail.flow", dir.path().join("retail.flow")).expect("copy");
    std::fs::create_dir(dir.path().join("hooks")).expect("hooks");
    for entry in std::fs::read_dir("workflows/hooks").expect("hooks") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join("hooks").join(entry.file_name())).expect("copy hook");
    }
    std::fs::write(
        dir.path().join("hooks/dropship_vendor.rhai"),
        "// broken\nlet x = order.total +;\nx > 0\n",
    )
    .expect("write");
    let out = orderly(&["check", dir.path().to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("dropship_vendor.rhai:2:"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn check_reports_a_hook_function_that_does_not_exist() {
    let out = orderly(&["check", "tests/fixtures/missing_fn"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("guards.rhai::absent"), "{err}");
    assert!(!err.contains("guards.rhai::present` cannot run"), "{err}");
    assert!(err.contains("shop.flow:8:"), "{err}");
}

#[test]
fn a_workflow_whose_hook_does_not_compile_is_not_ok() {
    let out = orderly(&["check", "tests/fixtures/broken_hook"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("not ok: tests/fixtures/broken_hook/shop.flow (hook `route.rhai` has 1 error)"),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("ok: tests/fixtures/broken_hook/shop.flow")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ok: tests/fixtures/broken_hook/other.flow")), "{text}");
    assert!(stderr(&out).contains("route.rhai:4:1"), "{}", stderr(&out));
}

/// `orderly check | head -1`: a reader that stops early ends the output quietly (exit 0 or
/// 1 as usual), never a panic (exit 101).
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    use std::process::Stdio;
    for args in [
        &["check", "workflows/"][..],
        &["check", "tests/diagnostics/many_mistakes.flow"][..],
        &["graph", "workflows/retail.flow", "--format", "svg"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orderly"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        // Close both pipes before the program writes: every write fails with a broken pipe.
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().expect("exits");
        assert_ne!(status.code(), Some(101), "{args:?} panicked on a closed pipe");
        assert!(matches!(status.code(), Some(0 | 1)), "{args:?}: {status:?}");
    }
}

/// Issue 10: a hook reading a property the order does not have fails `orderly check` at the
/// property's file:line:col with a did-you-mean, however the script reaches the order.
#[test]
fn a_hook_reading_a_misspelt_property_fails_check_where_it_is() {
    let out = orderly(&["check", "tests/fixtures/misspelt_hook"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for (at, message, help) in [
        ("route.rhai:3:17", "an order has no property `totl`", "did you mean `total`?"),
        ("route.rhai:5:13", "an order line has no property `skuu`", "did you mean `sku`?"),
        ("route.rhai:7:10", "a customer has no property `is_neww`", "did you mean `is_new`?"),
        ("route.rhai:7:36", "an address has no property `zipp`", "did you mean `zip`?"),
        ("route.rhai:7:56", "`event` has no property `nmae`", "`event.data.nmae`"),
    ] {
        let i = err.find(message).unwrap_or_else(|| panic!("no `{message}` in\n{err}"));
        let block = &err[i..err[i..].find("\n\n").map_or(err.len(), |e| i + e)];
        assert!(block.contains(at) && block.contains(help), "{message}: want {at} and {help} in\n{block}");
    }
    assert!(stdout(&out)
        .contains("not ok: tests/fixtures/misspelt_hook/shop.flow (hook `route.rhai` has 5 errors)"));
}

/// Issue 10: a hook sending a webhook to a target its workflow does not declare is a check
/// error, not a refused shipment at run time.
#[test]
fn a_hook_sending_to_an_undeclared_webhook_fails_check() {
    let out = orderly(&["check", "tests/fixtures/undeclared_webhook"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "error[unknown-webhook]: hook `notify.rhai` sends a webhook to `erpp` (hooks/notify.rhai:2:9)"
        ),
        "{err}"
    );
    assert!(err.contains("shop.flow:8:42") && err.contains("did you mean `erp`?"), "{err}");
}
