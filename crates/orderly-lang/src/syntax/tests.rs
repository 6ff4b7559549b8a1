use super::ast::*;
use super::parse;

#[test]
fn keyword_rules_form_one_range() {
    use super::Rule;
    assert!(super::build::is_keyword(Rule::K_workflow));
    assert!(super::build::is_keyword(Rule::K_lines));
    assert!(super::build::is_keyword(Rule::K_false));
    assert!(!super::build::is_keyword(Rule::ident));
    assert!(!super::build::is_keyword(Rule::file));
}

#[test]
fn parses_a_small_workflow() {
    let src = r#"
workflow shop "Shop"
phase pay "Payment" {
    status awaiting_payment "Awaiting Payment" customer sees "Waiting for payment"
}
status shipped "Shipped" final
event paid { amount: money  note: text? }
on paid from awaiting_payment when event.amount >= order.total and not flags.hold go to shipped {
    record "Payment received" complete notify "Accounts" visible to customer
    set attributes.paid_by = payment.method
}
"#;
    let parsed = parse(src);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    assert_eq!(parsed.file.items.len(), 5);
    let Item::Transition(t) = &parsed.file.items[4] else { panic!("not a transition") };
    assert_eq!(t.event.as_ref().map(|e| e.text.as_str()), Some("paid"));
    assert!(matches!(t.guard.as_ref().map(|g| &g.kind), Some(ExprKind::Binary(BinOp::And, _, _))));
    assert_eq!(t.actions.len(), 2);
    let Item::Event(e) = &parsed.file.items[3] else { panic!("not an event") };
    assert_eq!(e.fields.len(), 2);
    assert!(e.fields[1].optional);
}

#[test]
fn reports_every_broken_item_and_keeps_the_rest() {
    let src = "workflow w\nstauts x \"X\"\nstatus y \"Y\" final\nflag = oops\nstatus z \"Z\"\n";
    let parsed = parse(src);
    assert_eq!(parsed.diagnostics.len(), 2, "{:#?}", parsed.diagnostics);
    eprintln!("{:#?}", parsed.diagnostics);
    assert_eq!(parsed.diagnostics[0].help, vec!["did you mean `status`?".to_string()]);
    assert_eq!(parsed.file.items.len(), 3);
}

#[test]
fn keywords_need_a_word_boundary() {
    let parsed = parse("workflow w\nstatusx y \"Y\"\n");
    assert_eq!(parsed.diagnostics.len(), 1);
}

#[test]
fn a_broken_block_is_read_statement_by_statement_and_the_file_goes_on() {
    let src = "workflow w\nstatus a \"A\"\nevent e\non e from a stay {\n    note \"x\"\n    assign queue \"q\"\n    set flag\n    emitt e\n}\nstatus b \"B\" final\n";
    let parsed = parse(src);
    let lines: Vec<usize> =
        parsed.diagnostics.iter().map(|d| src[..d.span.start].matches('\n').count() + 1).collect();
    // `assign queue` (line 6), then `set flag` runs into `emitt` (line 8): each where it is.
    assert_eq!(lines, vec![6, 8], "{:#?}", parsed.diagnostics);
    assert!(parsed.diagnostics[0].help[0].contains("assign to queue"), "{:?}", parsed.diagnostics[0].help);
    // The status after the block is read.
    assert!(parsed.file.items.iter().any(|i| matches!(i, Item::Status(s) if s.code.text == "b")));
}

#[test]
fn an_unclosed_block_does_not_swallow_the_next_item() {
    let src = "workflow w\nstatus a \"A\"\nevent e\non e from a stay { note \"x\n on e from a stay\nstatus b \"B\" final\n";
    let parsed = parse(src);
    assert_eq!(parsed.diagnostics.len(), 1, "{:#?}", parsed.diagnostics);
    assert_eq!(parsed.diagnostics[0].message, "this text is not closed");
    assert!(parsed.file.items.iter().any(|i| matches!(i, Item::Status(s) if s.code.text == "b")));
}

/// pest's error detail is one switch for the whole process: parses that explain an error on
/// several threads at once each get the whole explanation (here, that `}` may close the block),
/// the same as one parse alone.
#[test]
fn errors_read_the_same_when_parsed_on_several_threads_at_once() {
    let text =
        "timer late aer 60d in open stay {\n    set flag overdue\n}\ntimer gone after 7d in a, b stay {\n";
    let alone = parse(text).diagnostics;
    assert!(alone.iter().any(|d| d.label.contains("or `}`")), "{alone:?}");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..100 {
                    assert_eq!(parse(text).diagnostics, alone);
                }
            });
        }
    });
}
