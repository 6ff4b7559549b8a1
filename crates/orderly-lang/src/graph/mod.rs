//! Drawing a compiled workflow: Mermaid, Graphviz DOT or a standalone SVG picture.
//!
//! Phases become clusters, final statuses are marked, and every transition or timer that
//! moves an order becomes an edge. What covers what:
//!
//! - Transitions between the same two statuses share one edge whose label lists them: the
//!   event's name, or `auto: GUARD` for an automatic transition (its guard in a few words,
//!   `guard.rs`).
//! - A transition that can leave every status that is not final (`from any status`, or a list
//!   naming them all) is drawn once, from one "any status" box, not from each status.
//! - A timer that moves orders is a dashed edge from each status it runs in, labelled
//!   `⏱ after 3d` (and `when GUARD`); a timer that stays (or comes back to where it runs) is a
//!   badge on each of its statuses (`⏱ 3d payment_overdue`). Timers started only by
//!   `start timer` belong to no status and are not drawn.
//! - `stay` transitions and self-loops draw nothing.
//!
//! Output is deterministic: the same workflow always gives the same bytes.

use crate::model::{Phase, Status, StatusId, Workflow};
use std::collections::BTreeMap;

mod dot;
mod guard;
#[cfg(test)]
mod layout_tests;
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

/// What the "any status" box stands for, in words.
const ANY_STATUS: &str = "any status (not final)";

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

/// Where an edge starts: a status, or the "any status" box.
#[derive(Clone, Copy)]
enum From<'a> {
    Status(Node<'a>),
    Any,
}

impl From<'_> {
    /// The status code, or `any` (a reserved word, never a status code).
    fn code(&self) -> &str {
        match self {
            From::Status(n) => &n.status.code,
            From::Any => "any",
        }
    }
}

/// One drawn edge: every transition (or, dashed, every timer) from `from` to `to`.
struct Edge<'a> {
    from: From<'a>,
    to: Node<'a>,
    /// Whether it stands for timers (drawn dashed).
    timer: bool,
    /// One line each: event names, `auto: GUARD` or `⏱ after 30m`, without repeats, in file order.
    labels: Vec<String>,
    /// The same in full (guards not cut short), for hover.
    titles: Vec<String>,
    /// The events among them, for the studio's `data-event`.
    events: Vec<String>,
    /// The timers, for `data-timer`.
    timers: Vec<String>,
}

/// What one transition or timer adds to an edge.
struct Part<'w> {
    label: String,
    title: String,
    event: Option<&'w str>,
    timer: Option<&'w str>,
}

/// A timer shown on a status rather than as an edge, in a few words: `⏱ 3d payment_overdue`.
struct Badge {
    text: String,
    /// The whole timer in words, for hover.
    title: String,
}

/// What to draw besides the statuses: edges (transitions in file order, then timers) and the
/// timer badges of each status.
struct Drawing<'a> {
    edges: Vec<Edge<'a>>,
    badges: BTreeMap<StatusId, Vec<Badge>>,
}

impl Drawing<'_> {
    /// Whether the "any status" box is drawn.
    fn has_any(&self) -> bool {
        self.edges.iter().any(|e| matches!(e.from, From::Any))
    }

    fn badges(&self, id: StatusId) -> &[Badge] {
        self.badges.get(&id).map_or(&[], Vec::as_slice)
    }
}

/// Whether a transition leaving `sources` leaves every status that is not final (two or more).
fn from_any(w: &Workflow, sources: &[StatusId]) -> bool {
    let open = w.statuses.iter().filter(|s| !s.is_final).count();
    open >= 2
        && w.statuses.iter().enumerate().filter(|(_, s)| !s.is_final).all(|(id, _)| sources.contains(&id))
}

fn drawing(w: &Workflow) -> Drawing<'_> {
    let mut edges: Vec<Edge<'_>> = Vec::new();
    // Where each (from, to, timer) edge is in `edges`; `None` for the "any status" box.
    let mut index: BTreeMap<(Option<StatusId>, StatusId, bool), usize> = BTreeMap::new();
    let mut add = |from: Option<StatusId>, to: StatusId, part: &Part<'_>| {
        let Some(to_status) = w.statuses.get(to) else { return };
        let from_node = match from {
            Some(f) => match w.statuses.get(f) {
                Some(status) => From::Status(Node { id: f, status }),
                None => return,
            },
            None => From::Any,
        };
        let timer = part.timer.is_some();
        let at = *index.entry((from, to, timer)).or_insert(edges.len());
        if at == edges.len() {
            edges.push(Edge {
                from: from_node,
                to: Node { id: to, status: to_status },
                timer,
                labels: Vec::new(),
                titles: Vec::new(),
                events: Vec::new(),
                timers: Vec::new(),
            });
        }
        let Some(edge) = edges.get_mut(at) else { return };
        if !edge.labels.contains(&part.label) {
            edge.labels.push(part.label.clone());
            edge.titles.push(part.title.clone());
        }
        for (name, list) in [(part.event, &mut edge.events), (part.timer, &mut edge.timers)] {
            if let Some(name) = name.filter(|n| !list.iter().any(|x| x == n)) {
                list.push(name.to_string());
            }
        }
    };
    for t in &w.transitions {
        let Some(to) = t.target else { continue };
        let event = t.event.and_then(|e| w.events.get(e)).map(|e| e.name.as_str());
        let (label, title) = match (event, &t.guard) {
            (Some(e), _) => (e.to_string(), e.to_string()),
            (None, Some(g)) => (format!("auto: {}", guard::short(g)), format!("auto: {}", guard::full(g))),
            (None, None) => ("auto".to_string(), "auto".to_string()),
        };
        let part = Part { label, title, event, timer: None };
        if from_any(w, &t.sources) {
            add(None, to, &part);
        } else {
            for &from in &t.sources {
                add(Some(from), to, &part);
            }
        }
    }
    let mut badges: BTreeMap<StatusId, Vec<Badge>> = BTreeMap::new();
    for timer in &w.timers {
        let after = crate::check::format_duration(timer.after);
        let when = |g: fn(&crate::model::Expr) -> String| {
            timer.guard.as_ref().map(|x| format!(" when {}", g(x))).unwrap_or_default()
        };
        let (short, full) = (when(guard::short), when(guard::full));
        let part = Part {
            label: format!("\u{23f1} after {after}{short}"),
            title: format!("timer {}: after {after}{full}", timer.name),
            event: None,
            timer: Some(&timer.name),
        };
        for &from in &timer.statuses {
            match timer.target {
                Some(to) if to != from => add(Some(from), to, &part),
                _ => badges.entry(from).or_default().push(Badge {
                    text: format!("\u{23f1} {after} {}", timer.name),
                    title: format!("{}, stays", part.title),
                }),
            }
        }
    }
    Drawing { edges, badges }
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
