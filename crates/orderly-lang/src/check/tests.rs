use super::{compile, Context};

fn codes(src: &str) -> Vec<&'static str> {
    compile(src, &Context::default()).diagnostics.iter().map(|d| d.code.as_str()).collect()
}

const BASE: &str = r#"
workflow t
status new "New"
status done "Done" final
event ship
channel web { start in new }
on ship from new go to done
"#;

#[test]
fn a_clean_workflow_compiles() {
    let out = compile(BASE, &Context::default());
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    let w = out.workflow.expect("compiled");
    assert_eq!(w.statuses.len(), 2);
    assert_eq!(w.transitions[0].line, 7);
}

#[test]
fn unknown_status_suggests_a_close_name() {
    let out = compile(&BASE.replace("go to done", "go to dnoe"), &Context::default());
    let d = out.diagnostics.iter().find(|d| d.code == "unknown-status").expect("reported");
    assert_eq!(d.help, vec!["did you mean `done`?".to_string()]);
    assert!(out.workflow.is_none());
}

#[test]
fn money_compared_with_text_is_a_type_error() {
    let src = BASE.replace("on ship from new", "on ship from new when order.total > \"100\"");
    assert_eq!(codes(&src), vec!["type-mismatch"]);
}

#[test]
fn shadowed_transition_is_a_warning() {
    let src = format!("{BASE}\non ship from new when order.total > 5 go to done\n");
    assert_eq!(codes(&src), vec!["unreachable-transition"]);
}
