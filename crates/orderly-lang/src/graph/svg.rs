//! SVG output, laid out here without external tools: one column per phase in phase order,
//! then a column titled "Other" for statuses in no phase. Edges are routed by `route`;
//! self-loops are not drawn.

use super::{edges, groups, Edge};
use crate::model::{Status, StatusId, Workflow};
use route::{route, Route};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

mod route;

/// Approximate width of a character at font-size 12.
const CHAR_W: i64 = 7;
/// Approximate width of a character at font-size 10.
const SMALL_CHAR_W: i64 = 6;
/// Approximate width of a bold character at font-size 12 (cluster titles).
const BOLD_CHAR_W: i64 = 8;
const NODE_H: i64 = 44;
const NODE_MIN_W: i64 = 96;
const NODE_TEXT_PAD: i64 = 12;
const ROW_GAP: i64 = 24;
const COL_GAP: i64 = 140;
const PAD: i64 = 16;
const HEADER: i64 = 28;
const MARGIN: i64 = 20;
const INK: &str = "#52606d";

type Point = (i64, i64);

#[derive(Clone, Copy)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

impl Rect {
    fn right(self) -> i64 {
        self.x + self.w
    }
    fn cx(self) -> i64 {
        self.x + self.w / 2
    }
    fn cy(self) -> i64 {
        self.y + self.h / 2
    }
    fn overlaps(self, o: Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// A cluster box: a phase, or the statuses in no phase.
struct Column<'a> {
    id: String,
    /// Whether it is a phase (rather than the statuses in no phase).
    is_phase: bool,
    title: String,
    rect: Rect,
    /// Its statuses and their boxes, top to bottom.
    statuses: Vec<(&'a Status, Rect)>,
}

/// Where a status is drawn.
#[derive(Clone, Copy)]
struct Placed {
    col: usize,
    row: usize,
    rect: Rect,
}

/// The smallest box holding everything drawn.
struct Bounds {
    min: Point,
    max: Point,
}

impl Bounds {
    fn include(&mut self, (x, y): Point) {
        self.min = (self.min.0.min(x), self.min.1.min(y));
        self.max = (self.max.0.max(x), self.max.1.max(y));
    }
    fn include_rect(&mut self, r: Rect) {
        self.include((r.x, r.y));
        self.include((r.right(), r.y + r.h));
    }
}

/// The workflow as a standalone SVG document.
pub(super) fn render(w: &Workflow) -> String {
    let edges: Vec<Edge<'_>> = edges(w).into_iter().filter(|e| e.from.id != e.to.id).collect();
    let (columns, placed) = layout(w, &edges);
    let mut bounds = Bounds { min: (0, 0), max: (0, 0) };
    let mut body = String::new();
    // Each phase is one group holding its box, its title and its statuses, so the picture's
    // structure says which status is in which phase; edges and their labels are drawn on top.
    for column in &columns {
        bounds.include_rect(column.rect);
        draw_column(&mut body, column);
        for (status, rect) in &column.statuses {
            draw_status(&mut body, status, *rect);
        }
        body.push_str("</g>\n");
    }
    let floor = columns.first().map_or(0, |c| c.rect.h);
    let mut taken: Vec<Rect> = placed.values().map(|p| p.rect).collect();
    let (mut labels, mut lanes) = (String::new(), 0);
    body.push_str("<g class=\"edges\" fill=\"none\">\n");
    for edge in &edges {
        if let (Some(a), Some(b)) = (placed.get(&edge.from.id), placed.get(&edge.to.id)) {
            let route = route(*a, *b, floor, &mut lanes);
            draw_edge(&mut body, &mut labels, &mut bounds, &mut taken, edge, route);
        }
    }
    body.push_str("</g>\n");
    let _ = write!(body, "<g class=\"edge-labels\" font-size=\"10\">\n{labels}</g>\n");
    document(w, &bounds, &body)
}

/// The SVG document around `body`, sized to `bounds` plus a margin.
fn document(w: &Workflow, bounds: &Bounds, body: &str) -> String {
    let (x, y) = (bounds.min.0 - MARGIN, bounds.min.1 - MARGIN);
    let (width, height) = (bounds.max.0 - x + MARGIN, bounds.max.1 - y + MARGIN);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"{x} {y} {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\" \
         font-size=\"12\">"
    );
    let _ = writeln!(out, "<title>{}</title>", xml(w.title.as_deref().unwrap_or(&w.name)));
    let _ = writeln!(
        out,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{INK}\"/></marker></defs>"
    );
    let _ =
        writeln!(out, "<rect x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
    out.push_str(body);
    out.push_str("</svg>\n");
    out
}

/// Columns left to right, and where each status goes, by status. The gap after each column is
/// widened to fit the labels of the edges drawn in it.
fn layout<'a>(w: &'a Workflow, edges: &[Edge<'_>]) -> (Vec<Column<'a>>, BTreeMap<StatusId, Placed>) {
    let groups = groups(w);
    // Every status is in one group: (column, row) by status.
    let slot: HashMap<StatusId, (usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(col, group)| group.statuses.iter().enumerate().map(move |(row, s)| (s.id, (col, row))))
        .collect();
    let mut gaps = vec![COL_GAP; groups.len()];
    for edge in edges {
        let (Some(&(ca, ra)), Some(&(cb, rb))) = (slot.get(&edge.from.id), slot.get(&edge.to.id)) else {
            continue;
        };
        let label = text_w(&edge.label(), SMALL_CHAR_W) + 8;
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

    let rows = groups.iter().map(|g| g.statuses.len() as i64).max().unwrap_or(0);
    let stack = if rows == 0 { 0 } else { rows * (NODE_H + ROW_GAP) - ROW_GAP };
    let height = HEADER + PAD + stack + PAD;
    let mut columns = Vec::new();
    let mut placed = BTreeMap::new();
    let mut x = 0;
    for ((col, group), gap) in groups.iter().enumerate().zip(gaps) {
        let (id, title) = match group.phase {
            Some(p) => (format!("phase-{}", p.code), p.label.clone()),
            None => ("no-phase".to_string(), "Other".to_string()),
        };
        let inner = group.statuses.iter().map(|s| node_width(s.status)).max().unwrap_or(NODE_MIN_W);
        let width = (inner + 2 * PAD).max(text_w(&title, BOLD_CHAR_W) + 2 * PAD);
        let mut statuses = Vec::new();
        for (row, s) in group.statuses.iter().enumerate() {
            let y = HEADER + PAD + row as i64 * (NODE_H + ROW_GAP);
            let rect = Rect { x: x + PAD, y, w: width - 2 * PAD, h: NODE_H };
            placed.insert(s.id, Placed { col, row, rect });
            statuses.push((s.status, rect));
        }
        let rect = Rect { x, y: 0, w: width, h: height };
        columns.push(Column { id, is_phase: group.phase.is_some(), title, rect, statuses });
        x += width + gap;
    }
    (columns, placed)
}

fn node_width(status: &Status) -> i64 {
    let text = text_w(&status.label, CHAR_W).max(text_w(&status.code, SMALL_CHAR_W));
    (text + 2 * NODE_TEXT_PAD).max(NODE_MIN_W)
}

fn text_w(text: &str, char_w: i64) -> i64 {
    text.chars().count() as i64 * char_w
}

fn draw_column(out: &mut String, c: &Column<'_>) {
    let r = c.rect;
    let (class, fill, dash) =
        if c.is_phase { ("phase", "#f5f7fa", "") } else { ("other", "#ffffff", " stroke-dasharray=\"6 4\"") };
    let _ = write!(
        out,
        "<g id=\"{}\" class=\"{class}\">\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"12\" \
         fill=\"{fill}\" stroke=\"#9aa5b1\"{dash}/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
        xml(&c.id),
        r.x,
        r.y,
        r.w,
        r.h,
        r.cx(),
        r.y + 19,
        xml(&c.title)
    );
}

fn draw_status(out: &mut String, status: &Status, r: Rect) {
    let (class, fill) = if status.is_final { ("status final", "#d9e2ec") } else { ("status", "#ffffff") };
    let _ = writeln!(out, "<g id=\"status-{}\" class=\"{class}\">", xml(&status.code));
    let _ = writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\" fill=\"{fill}\" \
         stroke=\"{INK}\" stroke-width=\"1.5\"/>",
        r.x, r.y, r.w, r.h
    );
    if status.is_final {
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"5\" fill=\"none\" \
             stroke=\"{INK}\"/>",
            r.x + 4,
            r.y + 4,
            r.w - 8,
            r.h - 8
        );
    }
    let (cx, y) = (r.cx(), r.y);
    let _ = writeln!(
        out,
        "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#1f2933\">{}</text>",
        y + 19,
        xml(&status.label)
    );
    let _ = writeln!(
        out,
        "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#7b8794\">{}</text>",
        y + 35,
        xml(&status.code)
    );
    out.push_str("</g>\n");
}

/// Draws an edge's path, and its label at the first of the route's label spots that overlaps
/// the fewest statuses and other labels.
fn draw_edge(
    paths: &mut String,
    labels: &mut String,
    bounds: &mut Bounds,
    taken: &mut Vec<Rect>,
    edge: &Edge<'_>,
    route: Route,
) {
    for &p in &route.extent {
        bounds.include(p);
    }
    let _ = writeln!(
        paths,
        "<path d=\"{}\" stroke=\"{INK}\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>",
        route.d
    );
    let text = edge.label();
    let w = text_w(&text, SMALL_CHAR_W) + 8;
    let boxes: Vec<Rect> = route
        .spots
        .iter()
        .map(|&(x, y)| Rect { x: x - w / 2 + route.align * (w / 2 + 2), y: y - 8, w, h: 14 })
        .collect();
    let clashes = |r: &Rect| taken.iter().filter(|t| t.overlaps(*r)).count();
    let Some(bg) = boxes.iter().copied().min_by_key(clashes) else { return };
    taken.push(bg);
    bounds.include_rect(bg);
    let _ = writeln!(
        labels,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#ffffff\" \
         fill-opacity=\"0.85\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" \
         fill=\"#323f4b\">{}</text>",
        bg.x,
        bg.y,
        bg.w,
        bg.h,
        bg.cx(),
        bg.y + 11,
        xml(&text)
    );
}

/// Text safe in XML content and attribute values; characters XML 1.0 forbids are dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}
