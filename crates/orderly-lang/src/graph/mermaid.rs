//! Mermaid output: a left-to-right flowchart with one subgraph per phase.

use super::{edges, groups, ident, Node};
use crate::model::Workflow;
use std::fmt::Write;

/// The workflow as a Mermaid `flowchart LR`.
pub(super) fn render(w: &Workflow) -> String {
    let mut out = String::from("flowchart LR\n");
    for group in groups(w) {
        let indent = match group.phase {
            Some(phase) => {
                let id = ident("phase", &phase.code, group.index);
                let _ = writeln!(out, "    subgraph {id}[\"{}\"]", escape(&phase.label));
                "        "
            }
            None => "    ",
        };
        for s in &group.statuses {
            let _ = writeln!(out, "{indent}{}", node(*s));
        }
        if group.phase.is_some() {
            out.push_str("    end\n");
        }
    }
    for edge in edges(w) {
        let label = escape(&edge.label());
        let _ = writeln!(out, "    {} -->|\"{label}\"| {}", node_id(edge.from), node_id(edge.to));
    }
    let finals: Vec<String> = w
        .statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_final)
        .map(|(id, status)| node_id(Node { id, status }))
        .collect();
    if !finals.is_empty() {
        out.push_str("    classDef final stroke-width:3px,fill:#d9e2ec\n");
        let _ = writeln!(out, "    class {} final", finals.join(","));
    }
    out
}

/// A status's node identifier.
fn node_id(n: Node<'_>) -> String {
    ident("s", &n.status.code, n.id)
}

/// A status node: a rectangle, or a stadium for final statuses.
fn node(n: Node<'_>) -> String {
    let (id, status) = (node_id(n), n.status);
    let text = format!("{}<br/>({})", escape(&status.label), escape(&status.code));
    if status.is_final {
        format!("{id}([\"{text}\"])")
    } else {
        format!("{id}[\"{text}\"]")
    }
}

/// Text safe inside a quoted Mermaid label, using Mermaid's `#name;` entity codes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
