//! Mermaid output: a left-to-right flowchart with one subgraph per phase, the "any status" box
//! as a dashed node, timer edges dotted (`-.->`), timer badges as extra lines in their statuses.

use super::{drawing, groups, ident, Drawing, From, Node, ANY_STATUS};
use crate::model::Workflow;
use std::fmt::Write;

/// The "any status" box's node id: status ids start with `s`, so none is this.
const ANY_NODE: &str = "any_status";

/// The workflow as a Mermaid `flowchart LR`.
pub(super) fn render(w: &Workflow) -> String {
    let mut out = String::from("flowchart LR\n");
    let drawing = drawing(w);
    if drawing.has_any() {
        let _ = writeln!(out, "    {ANY_NODE}[\"{}\"]", escape(ANY_STATUS));
    }
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
            let _ = writeln!(out, "{indent}{}", node(&drawing, *s));
        }
        if group.phase.is_some() {
            out.push_str("    end\n");
        }
    }
    for edge in &drawing.edges {
        let label = edge.labels.iter().map(|l| escape(l)).collect::<Vec<_>>().join("<br/>");
        let from = match edge.from {
            From::Status(n) => node_id(n),
            From::Any => ANY_NODE.to_string(),
        };
        let arrow = if edge.timer { "-.->" } else { "-->" };
        let _ = writeln!(out, "    {from} {arrow}|\"{label}\"| {}", node_id(edge.to));
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
    if drawing.has_any() {
        out.push_str("    classDef any stroke-dasharray:5 5,fill:#fdf8ec\n");
        let _ = writeln!(out, "    class {ANY_NODE} any");
    }
    out
}

/// A status's node identifier.
fn node_id(n: Node<'_>) -> String {
    ident("s", &n.status.code, n.id)
}

/// A status node: a rectangle, or a stadium for final statuses; a line per timer badge.
fn node(drawing: &Drawing<'_>, n: Node<'_>) -> String {
    let (id, status) = (node_id(n), n.status);
    let mut text = format!("{}<br/>({})", escape(&status.label), escape(&status.code));
    for badge in drawing.badges(n.id) {
        let _ = write!(text, "<br/>{}", escape(&badge.text));
    }
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
