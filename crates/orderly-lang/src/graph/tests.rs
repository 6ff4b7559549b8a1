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
    assert!(out.contains("\"paid\" [label=\"Paid \\\"in full\\\" & <ok>\\n(paid)\"];"));
    // `cancelled` is in no phase: after the clusters close, at the top level.
    let cancelled = out.find("\"cancelled\" [").unwrap();
    assert!(out[..cancelled].ends_with("    }\n    "));

    let edges: Vec<&str> = out.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(
        edges,
        [
            "    \"new\" -> \"paid\" [label=\"pay\"];",
            "    \"paid\" -> \"shipped\" [label=\"(auto), ship\"];",
            "    \"new\" -> \"cancelled\" [label=\"cancel, after 30m\"];",
            "    \"paid\" -> \"cancelled\" [label=\"cancel\"];",
            "    \"shipped\" -> \"shipped\" [label=\"note\"];",
            "    \"shipped\" -> \"delivered\" [label=\"deliver\"];",
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
    assert!(out.contains("s_paid[\"Paid #quot;in full#quot; #amp; #lt;ok#gt;<br/>(paid)\"]"));
    assert!(out.contains("s_delivered([\"Delivered<br/>(delivered)\"])"));
    assert!(out.contains("    class s_delivered,s_cancelled final\n"));
    assert!(out.contains("    s_paid -->|\"(auto), ship\"| s_shipped\n"));
    assert!(out.contains("    s_new -->|\"cancel, after 30m\"| s_cancelled\n"));
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
    assert!(texts.contains(&"cancel, after 30m"));
    assert!(texts.contains(&"Other"));

    // Six edges, the self-loop skipped.
    let paths = doc.descendants().filter(|n| n.attribute("marker-end").is_some()).count();
    assert_eq!(paths, 5);
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
    let statuses: Vec<_> = group("status").map(|g| rect(g.first_element_child().unwrap())).collect();
    let labels: Vec<_> = group("edge-labels")
        .flat_map(|g| g.children())
        .filter(|n| n.has_tag_name("rect"))
        .map(rect)
        .collect();
    assert_eq!((statuses.len(), labels.len()), (5, 5));
    let overlap = |a: (i64, i64, i64, i64), b: (i64, i64, i64, i64)| {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    };
    for l in &labels {
        assert!(statuses.iter().all(|s| !overlap(*l, *s)), "label {l:?} on a status");
    }
    // Both edges into `cancelled` skip a column, so they run below the clusters.
    let floor = {
        let phase = group("phase").next().unwrap().first_element_child().unwrap();
        num(phase, "y") + num(phase, "height")
    };
    assert_eq!(labels.iter().filter(|l| l.1 > floor).count(), 2);
}
