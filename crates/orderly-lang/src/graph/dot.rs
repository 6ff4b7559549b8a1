//! Graphviz DOT output: one `cluster_` subgraph per phase.

use super::{edges, groups, ident};
use crate::model::{Status, Workflow};
use std::fmt::Write;

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
            let _ = writeln!(out, "{indent}{}", node(s.status));
        }
        if group.phase.is_some() {
            out.push_str("    }\n");
        }
    }
    for edge in edges(w) {
        let from = quote(&edge.from.status.code);
        let to = quote(&edge.to.status.code);
        let _ = writeln!(out, "    {from} -> {to} [label={}];", quote(&edge.label()));
    }
    out.push_str("}\n");
    out
}

/// A status node statement: `"code" [label="Label\n(code)"]`, double-bordered when final.
fn node(status: &Status) -> String {
    let label = format!("\"{}\\n({})\"", escape(&status.label), escape(&status.code));
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
