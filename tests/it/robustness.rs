//! No input makes the parser or the checker panic or hang: token soup, random bytes, mutated
//! real workflows, huge files and deep nesting. Also: printing a parsed file and parsing it
//! again gives the same file.

use orderly::check::{compile, Context};
use orderly::syntax::{parse, print};
use proptest::prelude::*;
use std::path::Path;

const TOKENS: &[&str] = &[
    "workflow",
    "phase",
    "status",
    "final",
    "customer",
    "sees",
    "event",
    "is",
    "shipment",
    "flag",
    "attribute",
    "channel",
    "require",
    "start",
    "in",
    "when",
    "paid",
    "by",
    "payment",
    "mode",
    "unpaid",
    "refuse",
    "on",
    "from",
    "any",
    "go",
    "to",
    "stay",
    "automatically",
    "timer",
    "after",
    "entering",
    "leaving",
    "renamed",
    "->",
    "set",
    "clear",
    "record",
    "complete",
    "notify",
    "send",
    "email",
    "webhook",
    "template",
    "run",
    "hook",
    "emit",
    "assign",
    "queue",
    "note",
    "pick",
    "invoice",
    "settings",
    "fulfillment",
    "actions",
    "and",
    "or",
    "not",
    "all",
    "lines",
    "line",
    "count",
    "sum",
    "order.total",
    "event.amount",
    "line.qty",
    "flags.x",
    "attributes.y",
    "new",
    "done",
    "ship",
    "x",
    "y",
    "\"text\"",
    "\"",
    "15m",
    "0m",
    "99x",
    "1.5",
    "100",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "?",
    "=",
    "==",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "#",
    "\n",
    "é",
    "\\",
];

fn token_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..120).prop_map(|ts| ts.join(" "))
}

fn shipped_and_test_workflows() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["workflows", "tests/diagnostics"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "flow") {
                    out.push(std::fs::read_to_string(e.path()).expect("readable"));
                }
            }
        }
    }
    out.sort();
    assert!(!out.is_empty());
    out
}

/// A real workflow with a few random edits: deletions, insertions and replacements.
fn mutated() -> impl Strategy<Value = String> {
    let sources = shipped_and_test_workflows();
    (
        0..sources.len(),
        proptest::collection::vec((any::<u16>(), 0u8..3, proptest::sample::select(TOKENS)), 1..6),
    )
        .prop_map(move |(i, edits)| {
            let mut s = sources[i].clone();
            for (at, kind, token) in edits {
                if s.is_empty() {
                    break;
                }
                let mut pos = usize::from(at) % s.len();
                while !s.is_char_boundary(pos) {
                    pos -= 1;
                }
                let mut end = (pos + 1 + usize::from(at) % 7).min(s.len());
                while !s.is_char_boundary(end) {
                    end += 1;
                }
                match kind {
                    0 => s.replace_range(pos..end, ""),
                    1 => s.insert_str(pos, token),
                    _ => s.replace_range(pos..end, token),
                }
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        let _ = compile(&src, &Context::default());
    }

    #[test]
    fn random_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let src = String::from_utf8_lossy(&bytes);
        let _ = compile(&src, &Context { hook_files: Some(vec!["a.rhai".into()]), ..Context::default() });
    }

    #[test]
    fn mutated_workflows_never_panic_and_print_back(src in mutated()) {
        let out = compile(&src, &Context::default());
        for d in &out.diagnostics {
            prop_assert!(d.span.start <= d.span.end && d.span.end <= src.len(), "span outside the file: {d:?}");
        }
        let parsed = parse(&src);
        if parsed.diagnostics.is_empty() {
            let printed = print(&parsed.file);
            let again = parse(&printed);
            prop_assert!(again.diagnostics.is_empty(), "printed text does not parse: {:?}\n{printed}", again.diagnostics);
            prop_assert_eq!(print(&again.file), printed);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for guard in [
        "(".repeat(100_000) + "true" + ")".repeat(100_000).as_str(),
        "not ".repeat(100_000) + "true",
        "true".to_string() + " or true".repeat(100_000).as_str(),
        "1".to_string() + " + 1".repeat(100_000).as_str() + " > 0",
    ] {
        let src = format!("workflow w\nstatus a \"A\" final\nchannel c {{ start in a }}\nevent e\non e from a when {guard} stay\n");
        let out = compile(&src, &Context::default());
        assert!(out.diagnostics.iter().any(|d| d.code == "too-deep"), "{:?}", out.diagnostics);
    }
}

#[test]
fn moderate_nesting_is_fine() {
    let guard = "(".repeat(30) + "order.total > 1" + ")".repeat(30).as_str();
    let src = format!("workflow w\nstatus a \"A\"\nstatus b \"B\" final\nchannel c {{ start in a }}\nevent e\non e from a when {guard} go to b\n");
    let out = compile(&src, &Context::default());
    assert!(out.workflow.is_some(), "{:?}", out.diagnostics);
}

#[test]
fn huge_files_finish() {
    // 4 MB of garbage: syntax errors are capped, the rest is skipped.
    let garbage = "status \"x\" { ) ( = on from go\n".repeat(130_000);
    let out = compile(&garbage, &Context::default());
    assert!(out.diagnostics.iter().any(|d| d.code == "too-many-errors"));
    // A large valid file: 20,000 statuses in a chain.
    let mut big = String::from("workflow big\nevent e\nchannel c { start in s0 }\n");
    for i in 0..20_000 {
        big.push_str(&format!("status s{i} \"S{i}\"\non e from s{i} go to s{}\n", i + 1));
    }
    big.push_str("status s20000 \"End\" final\n");
    let out = compile(&big, &Context::default());
    assert!(out.workflow.is_some(), "{:?}", out.diagnostics.first());
}

#[test]
fn empty_and_whitespace_files_report_a_missing_workflow() {
    for src in ["", "   \n\n# only a comment\n"] {
        let out = compile(src, &Context::default());
        assert!(out.diagnostics.iter().any(|d| d.code == "missing-workflow"));
        assert!(!Path::new("never").exists());
    }
}
