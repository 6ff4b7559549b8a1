//! Graphviz DOT output: one `cluster_` subgraph per phase, the "any status" box as a dashed
//! node, timer edges dashed, timer badges as extra lines in their statuses.

use super::{drawing, groups, ident, Drawing, From, Node, ANY_STATUS};
use crate::model::Workflow;
use std::fmt::Write;

/// The "any status" box's node name: a status code has no space, so none is called this.
const ANY_NODE: &str = "any status";

/// The workflow as a DOT `digraph`.
pub(super) fn render(w: &Workflow) -> String {
    let mut out = format!("digraph {} {{\n", quote(&w.name));
    out.push_str("    rankdir=LR;\n");
    if let Some(title) = &w.title {
        let _ = writeln!(out, "    label={};\n    labelloc=t;", quote(title));
    }
    out.push_str("    fontname=\"Helvetica\";\n");
    out.push_str(
        "    node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", \
         fontname=\"Helvetica\"];\n",
    );
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
    let drawing = drawing(w);
    if drawing.has_any() {
        let _ = writeln!(
            out,
            "    {} [label={}, style=\"rounded,dashed,filled\", fillcolor=\"#fdf8ec\"];",
            quote(ANY_NODE),
            quote(ANY_STATUS)
        );
    }
    for group in groups(w) {
        let indent = match group.phase {
            Some(phase) => {
                let id = ident("cluster", &phase.code, group.index);
                let _ = writeln!(out, "    subgraph {id} {{");
                let _ = writeln!(out, "        label={};", quote(&phase.label));
                out.push_str("        style=\"rounded,filled\";\n");
                out.push_str("        fillcolor=\"#f5f7fa\";\n        color=\"#9aa5b1\";\n");
                "        "
            }
            None => "    ",
        };
        for s in &group.statuses {
            let _ = writeln!(out, "{indent}{}", node(&drawing, *s));
        }
        if group.phase.is_some() {
            out.push_str("    }\n");
        }
    }
    for edge in &drawing.edges {
        let from = match edge.from {
            From::Status(n) => quote(&n.status.code),
            From::Any => quote(ANY_NODE),
        };
        let to = quote(&edge.to.status.code);
        let style = if edge.timer { ", style=dashed, color=\"#9a6700\", fontcolor=\"#9a6700\"" } else { "" };
        let _ = writeln!(out, "    {from} -> {to} [label={}{style}];", quote(&edge.labels.join("\n")));
    }
    out.push_str("}\n");
    out
}

/// A status node statement: `"code" [label="Label\n(code)"]` (and a line per timer badge),
/// double-bordered when final.
fn node(drawing: &Drawing<'_>, n: Node<'_>) -> String {
    let status = n.status;
    let mut text = format!("{}\n({})", status.label, status.code);
    for badge in drawing.badges(n.id) {
        text.push('\n');
        text.push_str(&badge.text);
    }
    let label = quote(&text);
    let extra = if status.is_final { ", peripheries=2, fillcolor=\"#d9e2ec\"" } else { "" };
    format!("{} [label={label}{extra}];", quote(&status.code))
}

/// `text` as a quoted DOT string.
fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// Text safe between DOT double quotes (as an identifier or a label).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}
