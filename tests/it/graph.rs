//! Pictures of the shipped workflows, loaded as `orderly graph` loads them: the Mermaid and DOT
//! text kept as insta snapshots (`cargo insta review` after a change to the pictures), the SVG
//! checked for what the browser studio relies on. The SVG's layout (no overlapping text) is
//! tested in `crates/orderly-lang/src/graph/layout_tests.rs`.

use orderly::graph::{render, Format};
use orderly::model::Workflow;
use std::path::Path;

const SHIPPED: [&str; 4] = ["fulfillment", "repair-store", "retail", "special-orders"];

fn load(name: &str) -> Workflow {
    let file = format!("workflows/{name}.flow");
    let loaded = orderly::load::load(Path::new(&file)).expect("readable");
    loaded[0].outcome.workflow.clone().expect("compiles")
}

#[test]
fn shipped_workflows_as_mermaid_and_dot() {
    for name in SHIPPED {
        let w = load(name);
        insta::assert_snapshot!(format!("{name}.mermaid"), render(&w, Format::Mermaid));
        insta::assert_snapshot!(format!("{name}.dot"), render(&w, Format::Dot));
    }
}

#[test]
fn shipped_svgs_mark_statuses_and_edges_for_the_studio() {
    for name in SHIPPED {
        let w = load(name);
        let svg = render(&w, Format::Svg);
        assert_eq!(svg, render(&w, Format::Svg), "{name}: the same bytes every time");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        for status in &w.statuses {
            let g = doc
                .descendants()
                .find(|n| n.attribute("data-status") == Some(status.code.as_str()))
                .unwrap_or_else(|| panic!("{name}: `{}` has no data-status", status.code));
            assert!(g.attribute("class").is_some_and(|c| c.split(' ').any(|c| c == "status")));
            assert!(g.children().any(|c| c.has_tag_name("title")), "{name}: `{}` has no title", status.code);
        }
        let edges = doc.descendants().filter(|n| n.attribute("data-to").is_some());
        for e in edges {
            let to = e.attribute("data-to").unwrap();
            assert!(w.status(to).is_some(), "{name}: an edge to `{to}`");
            let from = e.attribute("data-from").unwrap();
            assert!(from == "any" || w.status(from).is_some(), "{name}: an edge from `{from}`");
            for event in e.attribute("data-event").unwrap_or_default().split_whitespace() {
                assert!(w.event_id(event).is_some(), "{name}: data-event `{event}`");
            }
        }
    }
}

#[test]
fn cancel_from_any_status_is_one_edge() {
    // repair-store, retail and special-orders cancel (or void) from any status.
    for (name, event) in [("repair-store", "cancel"), ("retail", "void"), ("special-orders", "cancel")] {
        let svg = render(&load(name), Format::Svg);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let paths = doc
            .descendants()
            .filter(|n| n.attribute("data-event") == Some(event))
            .filter(|n| n.children().any(|c| c.has_tag_name("path")))
            .count();
        assert_eq!(paths, 1, "{name}: `{event}` is drawn once");
    }
}
