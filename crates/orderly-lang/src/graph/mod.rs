//! Drawing a compiled workflow: Mermaid, Graphviz DOT or a standalone SVG picture.
//!
//! Phases become clusters, final statuses are marked, and every transition or timer that
//! moves an order becomes an edge. Transitions between the same two statuses share one edge
//! whose label lists them; `stay` transitions and timers without a target draw nothing.
//! Output is deterministic: the same workflow always gives the same bytes.

use crate::model::{Phase, Status, StatusId, Workflow};
use std::collections::BTreeMap;

mod dot;
mod mermaid;
mod svg;
#[cfg(test)]
mod tests;

/// The picture formats [`render`] can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Mermaid flowchart (paste into Markdown).
    Mermaid,
    /// Graphviz DOT (render with `dot -Tsvg`).
    Dot,
    /// A standalone SVG image, laid out without external tools.
    Svg,
}

/// Draws `workflow` in `format`.
pub fn render(workflow: &Workflow, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid::render(workflow),
        Format::Dot => dot::render(workflow),
        Format::Svg => svg::render(workflow),
    }
}

/// A status to draw, and its index in [`Workflow::statuses`].
#[derive(Clone, Copy)]
struct Node<'a> {
    id: StatusId,
    status: &'a Status,
}

/// Statuses drawn together: one group per phase (in phase order), then those in no phase.
struct Group<'a> {
    /// The phase; `None` for the statuses in no phase.
    phase: Option<&'a Phase>,
    /// Its index in [`Workflow::phases`].
    index: usize,
    /// Its statuses, in status order.
    statuses: Vec<Node<'a>>,
}

/// The groups to draw; the group of statuses in no phase is left out when empty.
fn groups(w: &Workflow) -> Vec<Group<'_>> {
    let members = |phase: Option<usize>| -> Vec<Node<'_>> {
        w.statuses
            .iter()
            .enumerate()
            .filter(|(_, s)| s.phase.filter(|&p| p < w.phases.len()) == phase)
            .map(|(id, status)| Node { id, status })
            .collect()
    };
    let mut out: Vec<Group<'_>> = w
        .phases
        .iter()
        .enumerate()
        .map(|(index, phase)| Group { phase: Some(phase), index, statuses: members(Some(index)) })
        .collect();
    let rest = members(None);
    if !rest.is_empty() {
        out.push(Group { phase: None, index: w.phases.len(), statuses: rest });
    }
    out
}

/// One drawn edge: every transition and timer from `from` to `to`.
struct Edge<'a> {
    from: Node<'a>,
    to: Node<'a>,
    /// Event names, `(auto)` or `after 30m`, without repeats, in file order.
    labels: Vec<String>,
}

impl Edge<'_> {
    /// The label drawn on the edge.
    fn label(&self) -> String {
        self.labels.join(", ")
    }
}

/// The edges to draw: transitions in file order, then timers; one per pair of statuses.
fn edges(w: &Workflow) -> Vec<Edge<'_>> {
    let mut out: Vec<Edge<'_>> = Vec::new();
    // Where each pair's edge is in `out`.
    let mut index: BTreeMap<(StatusId, StatusId), usize> = BTreeMap::new();
    let mut add = |from: StatusId, to: StatusId, label: &str| {
        let (Some(from_status), Some(to_status)) = (w.statuses.get(from), w.statuses.get(to)) else {
            return;
        };
        match index.get(&(from, to)).and_then(|&i| out.get_mut(i)) {
            Some(edge) => {
                if !edge.labels.iter().any(|l| l == label) {
                    edge.labels.push(label.to_string());
                }
            }
            None => {
                index.insert((from, to), out.len());
                out.push(Edge {
                    from: Node { id: from, status: from_status },
                    to: Node { id: to, status: to_status },
                    labels: vec![label.to_string()],
                });
            }
        }
    };
    for t in &w.transitions {
        let Some(to) = t.target else { continue };
        let label = match t.event {
            Some(e) => w.events.get(e).map_or("?", |e| e.name.as_str()),
            None => "(auto)",
        };
        for &from in &t.sources {
            add(from, to, label);
        }
    }
    for timer in &w.timers {
        let Some(to) = timer.target else { continue };
        let label = format!("after {}", crate::check::format_duration(timer.after));
        for &from in &timer.statuses {
            add(from, to, &label);
        }
    }
    out
}

/// An identifier `prefix_code` safe in any diagram language. A code with characters other
/// than ASCII letters, digits and `_` is cleaned and becomes `prefix<index>_clean`, which no
/// clean code can produce, so identifiers stay unique.
fn ident(prefix: &str, code: &str, index: usize) -> String {
    let clean: String =
        code.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if clean == code && !code.is_empty() {
        format!("{prefix}_{code}")
    } else {
        format!("{prefix}{index}_{clean}")
    }
}
