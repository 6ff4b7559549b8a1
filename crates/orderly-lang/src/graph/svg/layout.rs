//! Where things go: the columns left to right (one per phase, then "Other"), each status's box
//! stacked in its column (taller with timer badges), and the gaps between columns widened to fit
//! the labels of the edges drawn in them.

use super::labels::LABEL_PAD;
use super::text::{width, Point, Rect};
use super::{BADGE_H, COL_GAP, HEADER, NODE_H, NODE_MIN_W, NODE_TEXT_PAD, PAD, ROW_GAP};
use crate::graph::{groups, Drawing, Edge, From, Group, Node};
use crate::model::{StatusId, Workflow};
use std::collections::{BTreeMap, HashMap};

/// A cluster box: a phase, or the statuses in no phase.
pub(super) struct Column<'a> {
    pub(super) id: String,
    /// Whether it is a phase (rather than the statuses in no phase).
    pub(super) is_phase: bool,
    pub(super) title: String,
    pub(super) rect: Rect,
    /// Its statuses and their boxes, top to bottom.
    pub(super) statuses: Vec<(Node<'a>, Rect)>,
}

impl Column<'_> {
    /// The baseline of the title, centred at the top.
    pub(super) fn title_at(&self) -> Point {
        (self.rect.cx(), self.rect.y + 19)
    }
}

/// Where a status is drawn.
#[derive(Clone, Copy)]
pub(super) struct Placed {
    pub(super) col: usize,
    pub(super) row: usize,
    pub(super) rect: Rect,
}

/// The lines of text a status shows: its label, its code, then its timer badges.
fn node_width(drawing: &Drawing<'_>, node: Node<'_>) -> i64 {
    let badges = drawing.badges(node.id).iter().map(|b| width(&b.text, 10, false));
    let text = width(&node.status.label, 12, false).max(width(&node.status.code, 10, false));
    (badges.fold(text, i64::max) + 2 * NODE_TEXT_PAD).max(NODE_MIN_W)
}

fn node_height(drawing: &Drawing<'_>, id: StatusId) -> i64 {
    NODE_H + BADGE_H * drawing.badges(id).len() as i64
}

/// The width of an edge's label box.
pub(super) fn label_width(edge: &Edge<'_>) -> i64 {
    edge.labels.iter().map(|l| width(l, 10, false)).max().unwrap_or(0) + 2 * LABEL_PAD
}

/// Columns left to right, and where each status goes, by status. The gap after each column is
/// widened to fit the labels of the edges drawn in it.
pub(super) fn layout<'a>(
    w: &'a Workflow,
    drawing: &Drawing<'a>,
    edges: &[&Edge<'_>],
) -> (Vec<Column<'a>>, BTreeMap<StatusId, Placed>) {
    let groups = groups(w);
    // Every status is in one group: (column, row) by status.
    let slot: HashMap<StatusId, (usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(col, group)| group.statuses.iter().enumerate().map(move |(row, s)| (s.id, (col, row))))
        .collect();
    let mut gaps = vec![COL_GAP; groups.len()];
    for edge in edges {
        let From::Status(from) = edge.from else { continue };
        let (Some(&(ca, ra)), Some(&(cb, rb))) = (slot.get(&from.id), slot.get(&edge.to.id)) else {
            continue;
        };
        let label = label_width(edge);
        let (gap, need) = match ca.abs_diff(cb) {
            1 => (ca.min(cb), label + 48),
            // Downward edges bulge into the gap on the right, upward ones on the left.
            0 if ra < rb => (ca, label + 96),
            0 if ca > 0 => (ca - 1, label + 96),
            _ => continue,
        };
        // Columns `ca` and `cb` are groups, so `gap` is one too.
        if let Some(g) = gaps.get_mut(gap) {
            *g = (*g).max(need);
        }
    }

    let stack = |g: &Group<'_>| -> i64 {
        let heights: i64 = g.statuses.iter().map(|s| node_height(drawing, s.id)).sum();
        heights + ROW_GAP * (g.statuses.len() as i64 - 1).max(0)
    };
    let height = HEADER + PAD + groups.iter().map(stack).max().unwrap_or(0) + PAD;
    let mut columns = Vec::new();
    let mut placed = BTreeMap::new();
    let mut x = 0;
    for ((col, group), gap) in groups.iter().enumerate().zip(gaps) {
        let (id, title) = match group.phase {
            Some(p) => (format!("phase-{}", p.code), p.label.clone()),
            None => ("no-phase".to_string(), "Other".to_string()),
        };
        let inner = group.statuses.iter().map(|s| node_width(drawing, *s)).max().unwrap_or(NODE_MIN_W);
        let width = (inner + 2 * PAD).max(width(&title, 12, true) + 2 * PAD);
        let mut statuses = Vec::new();
        let mut y = HEADER + PAD;
        for (row, s) in group.statuses.iter().enumerate() {
            let rect = Rect { x: x + PAD, y, w: width - 2 * PAD, h: node_height(drawing, s.id) };
            placed.insert(s.id, Placed { col, row, rect });
            statuses.push((*s, rect));
            y = rect.bottom() + ROW_GAP;
        }
        let rect = Rect { x, y: 0, w: width, h: height };
        columns.push(Column { id, is_phase: group.phase.is_some(), title, rect, statuses });
        x += width + gap;
    }
    (columns, placed)
}
