//! Mermaid output: a left-to-right flowchart with one subgraph per phase.

use super::{edges, groups, ident};
use crate::model::{StatusId, Workflow};
use std::fmt::Write;

/// The workflow as a Mermaid `flowchart LR`.
pub(super) fn render(w: &Workflow) -> String {
    let ids: Vec<String> = w.statuses.iter().enumerate().map(|(i, s)| ident("s", &s.code, i)).collect();
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
        for &s in &group.statuses {
            let _ = writeln!(out, "{indent}{}", node(w, s, &ids[s]));
        }
        if group.phase.is_some() {
            out.push_str("    end\n");
        }
    }
    for edge in edges(w) {
        let label = escape(&edge.label());
        let _ = writeln!(out, "    {} -->|\"{label}\"| {}", ids[edge.from], ids[edge.to]);
    }
    let finals: Vec<&str> =
        (0..w.statuses.len()).filter(|&s| w.statuses[s].is_final).map(|s| ids[s].as_str()).collect();
    if !finals.is_empty() {
        out.push_str("    classDef final stroke-width:3px,fill:#d9e2ec\n");
        let _ = writeln!(out, "    class {} final", finals.join(","));
    }
    out
}

/// A status node: a rectangle, or a stadium for final statuses.
fn node(w: &Workflow, s: StatusId, id: &str) -> String {
    let status = &w.statuses[s];
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
