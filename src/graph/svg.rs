//! SVG output, laid out here without external tools: one column per phase in phase order,
//! then a column titled "Other" for statuses in no phase. Edges are cubic curves between
//! columns; edges within a column bulge out to its side. Self-loops are not drawn.

use super::{edges, groups, Edge};
use crate::model::{StatusId, Workflow};
use std::cmp::Ordering;
use std::fmt::Write;

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
/// How far backward edges bow below the straight line, so they do not hide forward ones.
const BOW: i64 = 30;
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
}

/// A cluster box: a phase, or the statuses in no phase.
struct Column {
    id: String,
    /// Whether it is a phase (rather than the statuses in no phase).
    is_phase: bool,
    title: String,
    rect: Rect,
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
    let (columns, placed) = layout(w);
    let mut bounds = Bounds { min: (0, 0), max: (0, 0) };
    let mut body = String::new();
    for column in &columns {
        bounds.include_rect(column.rect);
        draw_column(&mut body, column);
    }
    let mut labels = String::new();
    body.push_str("<g class=\"edges\" fill=\"none\">\n");
    for edge in edges(w) {
        if let (Some(a), Some(b)) = (placed[edge.from], placed[edge.to]) {
            if edge.from != edge.to {
                draw_edge(&mut body, &mut labels, &mut bounds, &edge, a, b);
            }
        }
    }
    body.push_str("</g>\n");
    for (s, p) in placed.iter().enumerate() {
        if let Some(p) = p {
            draw_status(&mut body, w, s, p.rect);
        }
    }
    let _ = write!(body, "<g class=\"edge-labels\" font-size=\"10\">\n{labels}</g>\n");

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
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Columns left to right, and where each status goes (`None` for none).
fn layout(w: &Workflow) -> (Vec<Column>, Vec<Option<Placed>>) {
    let groups = groups(w);
    let rows = groups.iter().map(|g| g.statuses.len() as i64).max().unwrap_or(0);
    let stack = if rows == 0 { 0 } else { rows * (NODE_H + ROW_GAP) - ROW_GAP };
    let height = HEADER + PAD + stack + PAD;
    let mut columns = Vec::new();
    let mut placed = vec![None; w.statuses.len()];
    let mut x = 0;
    for (col, group) in groups.iter().enumerate() {
        let (id, title) = match group.phase {
            Some(p) => (format!("phase-{}", p.code), p.label.clone()),
            None => ("no-phase".to_string(), "Other".to_string()),
        };
        let inner = group.statuses.iter().map(|&s| node_width(w, s)).max().unwrap_or(NODE_MIN_W);
        let width = (inner + 2 * PAD).max(text_w(&title, BOLD_CHAR_W) + 2 * PAD);
        for (row, &s) in group.statuses.iter().enumerate() {
            let y = HEADER + PAD + row as i64 * (NODE_H + ROW_GAP);
            let rect = Rect { x: x + PAD, y, w: width - 2 * PAD, h: NODE_H };
            placed[s] = Some(Placed { col, row, rect });
        }
        columns.push(Column {
            id,
            is_phase: group.phase.is_some(),
            title,
            rect: Rect { x, y: 0, w: width, h: height },
        });
        x += width + COL_GAP;
    }
    (columns, placed)
}

fn node_width(w: &Workflow, s: StatusId) -> i64 {
    let status = &w.statuses[s];
    let text = text_w(&status.label, CHAR_W).max(text_w(&status.code, SMALL_CHAR_W));
    (text + 2 * NODE_TEXT_PAD).max(NODE_MIN_W)
}

fn text_w(text: &str, char_w: i64) -> i64 {
    text.chars().count() as i64 * char_w
}

fn draw_column(out: &mut String, c: &Column) {
    let r = c.rect;
    let (class, fill, dash) =
        if c.is_phase { ("phase", "#f5f7fa", "") } else { ("other", "#ffffff", " stroke-dasharray=\"6 4\"") };
    let _ = write!(
        out,
        "<g id=\"{}\" class=\"{class}\">\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"12\" \
         fill=\"{fill}\" stroke=\"#9aa5b1\"{dash}/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n</g>\n",
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

fn draw_status(out: &mut String, w: &Workflow, s: StatusId, r: Rect) {
    let status = &w.statuses[s];
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

fn draw_edge(
    paths: &mut String,
    labels: &mut String,
    bounds: &mut Bounds,
    edge: &Edge,
    a: Placed,
    b: Placed,
) {
    let [p0, p1, p2, p3] = curve(a, b);
    for p in [p0, p1, p2, p3] {
        bounds.include(p);
    }
    let _ = writeln!(
        paths,
        "<path d=\"M{},{} C{},{} {},{} {},{}\" stroke=\"{INK}\" stroke-width=\"1.5\" \
         marker-end=\"url(#arrow)\"/>",
        p0.0, p0.1, p1.0, p1.1, p2.0, p2.1, p3.0, p3.1
    );
    // The curve's point at t = 1/2.
    let mx = (p0.0 + 3 * p1.0 + 3 * p2.0 + p3.0) / 8;
    let my = (p0.1 + 3 * p1.1 + 3 * p2.1 + p3.1) / 8;
    let text = edge.label();
    let bg_w = text_w(&text, SMALL_CHAR_W) + 8;
    let bg = Rect { x: mx - bg_w / 2, y: my - 8, w: bg_w, h: 14 };
    bounds.include_rect(bg);
    let _ = writeln!(
        labels,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#ffffff\" \
         fill-opacity=\"0.85\"/>\n<text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\" \
         fill=\"#323f4b\">{}</text>",
        bg.x,
        bg.y,
        bg.w,
        bg.h,
        my + 3,
        xml(&text)
    );
}

/// The control points of the edge from `a` to `b` (different statuses).
fn curve(a: Placed, b: Placed) -> [Point; 4] {
    let (ra, rb) = (a.rect, b.rect);
    match a.col.cmp(&b.col) {
        Ordering::Less => {
            let (p0, p3) = ((ra.right(), ra.cy() - 6), (rb.x, rb.cy() - 6));
            let dx = (p3.0 - p0.0) / 2;
            [p0, (p0.0 + dx, p0.1), (p3.0 - dx, p3.1), p3]
        }
        Ordering::Greater => {
            let (p0, p3) = ((ra.x, ra.cy() + 6), (rb.right(), rb.cy() + 6));
            let dx = (p0.0 - p3.0) / 2;
            [p0, (p0.0 - dx, p0.1 + BOW), (p3.0 + dx, p3.1 + BOW), p3]
        }
        Ordering::Equal => {
            let bulge = (12 + 16 * a.row.abs_diff(b.row) as i64).min(64);
            // Downward edges leave on the right, upward ones on the left.
            let (xa, xb, bulge) =
                if a.row < b.row { (ra.right(), rb.right(), bulge) } else { (ra.x, rb.x, -bulge) };
            let (p0, p3) = ((xa, ra.cy()), (xb, rb.cy()));
            [p0, (p0.0 + bulge, p0.1), (p3.0 + bulge, p3.1), p3]
        }
    }
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
