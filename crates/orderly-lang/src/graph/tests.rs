use super::{ident, render, Format};
use crate::diagnostics::Span;
use crate::model::{EventDef, EventKind, Phase, Settings, Status, StatusId, Timer, Transition, Workflow};
use std::time::Duration;

const PAID_LABEL: &str = "Paid \"in full\" & <ok>";
const CODES: [&str; 5] = ["new", "paid", "shipped", "delivered", "cancelled"];

fn status(code: &str, label: &str, phase: Option<usize>, is_final: bool) -> Status {
    Status { code: code.into(), label: label.into(), customer_label: label.into(), is_final, phase }
}

fn event(name: &str) -> EventDef {
    EventDef { name: name.into(), kind: EventKind::Plain, description: None, fields: vec![] }
}

fn transition(event: Option<usize>, sources: &[StatusId], target: Option<StatusId>) -> Transition {
    Transition {
        event,
        sources: sources.to_vec(),
        guard: None,
        target,
        actions: vec![],
        span: Span::default(),
        line: 1,
    }
}

fn timer(name: &str, secs: u64, statuses: &[StatusId], target: Option<StatusId>) -> Timer {
    Timer {
        name: name.into(),
        after: Duration::from_secs(secs),
        statuses: statuses.to_vec(),
        guard: None,
        target,
        actions: vec![],
        span: Span::default(),
    }
}

/// Two phases, a final status in no phase, automatic, merged, multi-source, `stay`,
/// self-loop and timer edges, and labels that need escaping.
fn sample() -> Workflow {
    let (new, paid, shipped, delivered, cancelled) = (0, 1, 2, 3, 4);
    let (pay, ship, cancel, deliver, note) = (Some(0), Some(1), Some(2), Some(3), Some(4));
    Workflow {
        name: "retail".into(),
        title: Some("Retail & \"web\" orders".into()),
        phases: vec![
            Phase { code: "intake".into(), label: "Intake".into(), statuses: vec![new, paid] },
            Phase {
                code: "fulfil".into(),
                label: "Ship & deliver".into(),
                statuses: vec![shipped, delivered],
            },
        ],
        statuses: vec![
            status("new", "New", Some(0), false),
            status("paid", PAID_LABEL, Some(0), false),
            status("shipped", "Shipped", Some(1), false),
            status("delivered", "Delivered", Some(1), true),
            status("cancelled", "Cancelled", None, true),
        ],
        events: ["pay", "ship", "cancel", "deliver", "note"].into_iter().map(event).collect(),
        flags: vec![],
        attributes: vec![],
        webhooks: vec![],
        fulfillment_actions: vec![],
        hidden_actions: vec![],
        settings: Settings::default(),
        channels: vec![],
        transitions: vec![
            transition(pay, &[new], Some(paid)),
            transition(None, &[paid], Some(shipped)),
            transition(ship, &[paid], Some(shipped)),
            transition(cancel, &[new, paid], Some(cancelled)),
            transition(ship, &[shipped], None),
            transition(note, &[shipped], Some(shipped)),
            transition(deliver, &[shipped], Some(delivered)),
        ],
        timers: vec![
            timer("expire", 30 * 60, &[new], Some(cancelled)),
            timer("remind", 3_600, &[paid], None),
        ],
        on_enter: vec![vec![]; 5],
        on_leave: vec![vec![]; 5],
        on_create: Vec::new(),
        on_create_from: Vec::new(),
        on_invoiced: Vec::new(),
        on_paid_in_full: Vec::new(),
        hook_refs: Vec::new(),
        renamed: vec![],
        hook_files: vec![],
    }
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle}"))
}

#[test]
fn every_status_appears_in_every_format() {
    let w = sample();
    for format in [Format::Mermaid, Format::Dot, Format::Svg] {
        let out = render(&w, format);
        for code in CODES {
            assert!(out.contains(code), "{format:?} lacks {code}");
        }
    }
}

#[test]
fn output_is_deterministic() {
    let w = sample();
    for format in [Format::Mermaid, Format::Dot, Format::Svg] {
        assert_eq!(render(&w, format), render(&w.clone(), format));
    }
}

#[test]
fn dot_clusters_finals_edges_and_escaping() {
    let out = render(&sample(), Format::Dot);
    assert!(out.starts_with("digraph \"retail\" {\n    rankdir=LR;\n"));
    assert!(out.contains("subgraph cluster_intake {"));
    assert!(out.contains("subgraph cluster_fulfil {"));
    assert!(out.contains("label=\"Ship & deliver\";"));
    assert!(out.contains("label=\"Retail & \\\"web\\\" orders\";"));
    assert!(line_with(&out, "\"delivered\" [").contains("peripheries=2"));
    assert!(line_with(&out, "\"cancelled\" [").contains("peripheries=2"));
    assert!(!line_with(&out, "\"new\" [").contains("peripheries"));
    // The timer that stays is a line in its status.
    assert!(out.contains("\"paid\" [label=\"Paid \\\"in full\\\" & <ok>\\n(paid)\\n\u{23f1} 1h remind\"];"));
    // `cancelled` is in no phase: after the clusters close, at the top level.
    let cancelled = out.find("\"cancelled\" [").unwrap();
    assert!(out[..cancelled].ends_with("    }\n    "));

    let edges: Vec<&str> = out.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(
        edges,
        [
            "    \"new\" -> \"paid\" [label=\"pay\"];",
            "    \"paid\" -> \"shipped\" [label=\"auto\\nship\"];",
            "    \"new\" -> \"cancelled\" [label=\"cancel\"];",
            "    \"paid\" -> \"cancelled\" [label=\"cancel\"];",
            "    \"shipped\" -> \"shipped\" [label=\"note\"];",
            "    \"shipped\" -> \"delivered\" [label=\"deliver\"];",
            "    \"new\" -> \"cancelled\" [label=\"\u{23f1} after 30m\", style=dashed, color=\"#9a6700\", fontcolor=\"#9a6700\"];",
        ]
    );
}

#[test]
fn dot_escapes_backslashes() {
    let mut w = sample();
    w.statuses[0].label = "a\\b\"c\nd".into();
    let out = render(&w, Format::Dot);
    assert!(out.contains("[label=\"a\\\\b\\\"c\\nd\\n(new)\"]"));
}

#[test]
fn mermaid_subgraphs_finals_and_escaping() {
    let out = render(&sample(), Format::Mermaid);
    assert!(out.starts_with("flowchart LR\n"));
    assert!(out.contains("    subgraph phase_intake[\"Intake\"]\n"));
    assert!(out.contains("    subgraph phase_fulfil[\"Ship #amp; deliver\"]\n"));
    assert_eq!(out.matches("\n    end\n").count(), 2);
    assert!(out
        .contains("s_paid[\"Paid #quot;in full#quot; #amp; #lt;ok#gt;<br/>(paid)<br/>\u{23f1} 1h remind\"]"));
    assert!(out.contains("s_delivered([\"Delivered<br/>(delivered)\"])"));
    assert!(out.contains("    class s_delivered,s_cancelled final\n"));
    assert!(out.contains("    s_paid -->|\"auto<br/>ship\"| s_shipped\n"));
    assert!(out.contains("    s_new -->|\"cancel\"| s_cancelled\n"));
    assert!(out.contains("    s_new -.->|\"\u{23f1} after 30m\"| s_cancelled\n"));
    assert!(!out.contains("in full\""), "raw quote left in a label");
}

#[test]
fn svg_is_well_formed_with_clusters_and_finals() {
    let w = sample();
    let out = render(&w, Format::Svg);
    let doc = roxmltree::Document::parse(&out).expect("well-formed SVG");
    let svg = doc.root_element();
    assert_eq!(svg.tag_name().name(), "svg");
    assert_eq!(svg.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    for attr in ["width", "height", "viewBox"] {
        assert!(svg.attribute(attr).is_some(), "no {attr}");
    }
    let by_id = |id: &str| {
        doc.descendants().find(|n| n.attribute("id") == Some(id)).unwrap_or_else(|| panic!("{id}"))
    };
    by_id("arrow");
    for id in ["phase-intake", "phase-fulfil", "no-phase"] {
        assert_eq!(by_id(id).tag_name().name(), "g");
    }
    let rects = |id: &str| by_id(id).children().filter(|n| n.has_tag_name("rect")).count();
    assert_eq!(rects("status-delivered"), 2);
    assert_eq!(rects("status-cancelled"), 2);
    assert_eq!(rects("status-new"), 1);

    // Escaping round-trips: the parsed text is the original label.
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.contains(&PAID_LABEL));
    assert!(texts.contains(&"Ship & deliver"));
    assert!(texts.contains(&"cancel"));
    assert!(texts.contains(&"\u{23f1} after 30m"));
    assert!(texts.contains(&"\u{23f1} 1h remind"));
    assert!(texts.contains(&"Other"));

    // Seven edges, the self-loop skipped.
    let paths = doc.descendants().filter(|n| n.attribute("marker-end").is_some()).count();
    assert_eq!(paths, 6);
}

#[test]
fn svg_columns_follow_phase_order() {
    let out = render(&sample(), Format::Svg);
    let doc = roxmltree::Document::parse(&out).unwrap();
    let x_of = |id: &str| -> i64 {
        let g = doc.descendants().find(|n| n.attribute("id") == Some(id)).unwrap();
        let rect = g.children().find(|n| n.has_tag_name("rect")).unwrap();
        rect.attribute("x").unwrap().parse().unwrap()
    };
    assert!(x_of("phase-intake") < x_of("phase-fulfil"));
    assert!(x_of("phase-fulfil") < x_of("no-phase"));
    assert_eq!(x_of("status-new"), x_of("status-paid"));
    assert!(x_of("status-paid") < x_of("status-shipped"));
}

#[test]
fn empty_workflow_renders() {
    let mut w = sample();
    w.phases.clear();
    w.statuses.clear();
    w.transitions.clear();
    w.timers.clear();
    assert_eq!(render(&w, Format::Mermaid), "flowchart LR\n");
    assert!(render(&w, Format::Dot).ends_with("edge [fontname=\"Helvetica\", fontsize=10];\n}\n"));
    roxmltree::Document::parse(&render(&w, Format::Svg)).unwrap();
}

#[test]
fn timer_labels_write_durations_as_workflows_do() {
    let mut w = sample();
    w.timers[0].after = Duration::from_secs(14 * 86_400);
    let out = render(&w, Format::Mermaid);
    assert!(out.contains("after 2w"), "{out}");
}

#[test]
fn idents_stay_unique() {
    assert_eq!(ident("s", "paid", 3), "s_paid");
    assert_eq!(ident("s", "on-hold", 3), "s3_on_hold");
    assert_eq!(ident("s", "", 0), "s0_");
}

#[test]
fn svg_labels_clear_statuses_and_long_edges_use_lanes() {
    let mut w = sample();
    w.statuses[0].label = "New \u{1}order".into();
    let out = render(&w, Format::Svg);
    let doc = roxmltree::Document::parse(&out).expect("control characters are dropped");
    let num = |n: roxmltree::Node<'_, '_>, a: &str| -> i64 { n.attribute(a).unwrap().parse().unwrap() };
    let rect = |n: roxmltree::Node<'_, '_>| (num(n, "x"), num(n, "y"), num(n, "width"), num(n, "height"));
    let group = |class: &'static str| {
        doc.descendants().filter(move |n| n.attribute("class").is_some_and(|c| c.starts_with(class)))
    };
    let statuses: Vec<_> =
        group("status").map(|g| rect(g.children().find(|n| n.has_tag_name("rect")).unwrap())).collect();
    let labels: Vec<_> = group("edge-labels")
        .flat_map(|g| g.descendants())
        .filter(|n| n.has_tag_name("rect"))
        .map(rect)
        .collect();
    assert_eq!((statuses.len(), labels.len()), (5, 6));
    let overlap = |a: (i64, i64, i64, i64), b: (i64, i64, i64, i64)| {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    };
    for l in &labels {
        assert!(statuses.iter().all(|s| !overlap(*l, *s)), "label {l:?} on a status");
    }
    // The three edges into `cancelled` (two transitions, a timer) skip a column, so they run
    // below the clusters.
    let floor = {
        let phase = group("phase").next().unwrap().first_element_child().unwrap();
        num(phase, "y") + num(phase, "height")
    };
    assert_eq!(labels.iter().filter(|l| l.1 > floor).count(), 3);
}

/// A small workflow in the language: four open statuses, cancel from any status, automatic
/// transitions with guards, a timer that moves orders and one that stays.
fn written() -> Workflow {
    let src = r#"
workflow shop "Shop"
channel web { start in new when mode carry, delivery  start in new }
phase intake "Intake" {
    status new "New"
    status paid "Paid"
}
phase out "Out" {
    status packed "Packed"
    status sent "Sent"
}
status done "Done" final
status cancelled "Cancelled" final
event pay
event cancel
event ship
on pay from new go to paid
automatically from paid when order.invoiced and order.total > 500 go to packed
automatically from packed when all lines(line.in_stock and line.fulfillment == stock) and not flags.hold and order.mode in [carry, delivery] go to sent
on ship from sent go to done
on cancel from any status go to cancelled
timer expire after 3d in new when order.total > 0 go to cancelled
timer remind after 14d in paid, packed stay
flag hold "On hold"
"#;
    let out = crate::check::compile(src, &crate::check::Context::default());
    out.workflow.unwrap_or_else(|| panic!("{:#?}", out.diagnostics))
}

#[test]
fn from_any_status_is_drawn_once_in_every_format() {
    let w = written();
    let dot = render(&w, Format::Dot);
    let cancels: Vec<&str> = dot.lines().filter(|l| l.contains("-> \"cancelled\"")).collect();
    assert_eq!(
        cancels,
        [
            "    \"any status\" -> \"cancelled\" [label=\"cancel\"];",
            "    \"new\" -> \"cancelled\" [label=\"\u{23f1} after 3d when total > 0\", style=dashed, color=\"#9a6700\", fontcolor=\"#9a6700\"];",
        ]
    );
    assert!(
        dot.contains("    \"any status\" [label=\"any status (not final)\", style=\"rounded,dashed,filled\"")
    );
    let mermaid = render(&w, Format::Mermaid);
    assert_eq!(mermaid.matches("-->|\"cancel\"|").count(), 1, "{mermaid}");
    assert!(mermaid.contains("    any_status -->|\"cancel\"| s_cancelled\n"));
    assert!(mermaid.contains("    any_status[\"any status (not final)\"]\n"));
    let svg = render(&w, Format::Svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let from_any: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("data-from") == Some("any"))
        .collect();
    // The edge and its label, once.
    assert_eq!(from_any.len(), 2);
    assert!(from_any.iter().all(|g| g.attribute("data-event") == Some("cancel")));
    assert_eq!(doc.descendants().filter(|n| n.attribute("class") == Some("any-status")).count(), 1);
}

#[test]
fn a_list_of_some_statuses_is_not_any_status() {
    let mut w = written();
    // Cancel from two of the four open statuses: one edge each.
    let cancel = w.transitions.iter_mut().find(|t| t.target == Some(5)).unwrap();
    cancel.sources = vec![0, 1];
    let dot = render(&w, Format::Dot);
    assert!(!dot.contains("any status"), "{dot}");
    assert_eq!(dot.matches("[label=\"cancel\"]").count(), 2);
}

#[test]
fn automatic_edges_show_their_guard_in_a_few_words() {
    let mermaid = render(&written(), Format::Mermaid);
    assert!(mermaid.contains("s_paid -->|\"auto: invoiced and total #gt; 500\"| s_packed"), "{mermaid}");
    // Long guards are cut at a word, with an ellipsis; hover shows them whole.
    assert!(
        mermaid.contains("s_packed -->|\"auto: all lines(in stock and fulfillment…\"| s_sent"),
        "{mermaid}"
    );
    let svg = render(&written(), Format::Svg);
    assert!(svg.contains(
        "<title>auto: all lines(in stock and fulfillment = stock) and not flag hold and mode in [carry, delivery]: Packed \u{2192} Sent</title>"
    ));
}

#[test]
fn timers_are_dashed_edges_or_badges() {
    let w = written();
    let svg = render(&w, Format::Svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let timer = doc.descendants().find(|n| n.attribute("class") == Some("edge timer")).expect("a timer edge");
    assert_eq!(timer.attribute("data-timer"), Some("expire"));
    assert_eq!((timer.attribute("data-from"), timer.attribute("data-to")), (Some("new"), Some("cancelled")));
    let path = timer.children().find(|n| n.has_tag_name("path")).unwrap();
    assert!(path.attribute("stroke-dasharray").is_some());
    // `remind` stays: a badge on each of its statuses.
    for code in ["paid", "packed"] {
        let node = doc.descendants().find(|n| n.attribute("data-status") == Some(code)).unwrap();
        let texts: Vec<&str> = node.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&"\u{23f1} 2w remind"), "{code}: {texts:?}");
        assert!(texts.iter().any(|t| t.contains("timer remind: after 2w, stays")), "{texts:?}");
    }
}

#[test]
fn svg_hooks_for_the_studio() {
    let svg = render(&written(), Format::Svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let w = written();
    for status in &w.statuses {
        let g = doc
            .descendants()
            .find(|n| n.attribute("data-status") == Some(status.code.as_str()))
            .unwrap_or_else(|| panic!("no hook for {}", status.code));
        assert_eq!(g.tag_name().name(), "g");
        assert!(g.attribute("class").unwrap().split(' ').any(|c| c == "status"));
        let title = g.children().find(|n| n.has_tag_name("title")).expect("a title");
        assert!(title.text().unwrap().starts_with(&format!("{} ({})", status.label, status.code)));
    }
    // Every edge and every label says where it goes, and has a title.
    let edges: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("g") && n.attribute("class").is_some_and(|c| c.starts_with("edge ") || c == "edge")
        })
        .collect();
    assert_eq!(edges.len(), 2 * 6);
    for e in &edges {
        assert!(e.attribute("data-from").is_some() && e.attribute("data-to").is_some());
    }
    let pay = edges.iter().find(|e| e.attribute("data-event") == Some("pay")).unwrap();
    assert_eq!((pay.attribute("data-from"), pay.attribute("data-to")), (Some("new"), Some("paid")));
    let auto = edges.iter().filter(|e| e.attribute("data-auto") == Some("true")).count();
    assert_eq!(auto, 4, "two automatic edges and their labels");
    for e in edges.iter().filter(|e| e.children().any(|c| c.has_tag_name("path"))) {
        assert!(e.children().any(|c| c.has_tag_name("title")));
    }
}

#[test]
fn short_guards_cut_at_a_word() {
    use super::guard::clip;
    assert_eq!(clip("paid in full", 36), "paid in full");
    assert_eq!(clip("all lines(in stock and fulfillment = stock)", 30), "all lines(in stock and…");
    assert_eq!(clip("abcdefghijklmnopqrstuvwxyz", 10), "abcdefghi…");
    assert_eq!(clip("mode in [carry, delivery, pickup]", 26), "mode in [carry…");
}
