//! SVG output, laid out here without external tools: one column per phase in phase order, then
//! a column titled "Other" for statuses in no phase, and above them, when some transition leaves
//! every status that is not final, the "any status" band it is drawn from. Edges are routed by
//! `route`; their labels are placed by `labels` where no status, title or other label is
//! (`text` estimates text sizes); self-loops are not drawn.
//!
//! For the studio, every status is `<g class="status" data-status="CODE">` (class `status final`
//! when final), the band `<g class="any-status">`, every edge `<g class="edge" data-from="CODE"
//! data-to="CODE">` with `data-event="EVENT ..."` (its events), `data-auto="true"` (automatic
//! transitions) or, class `edge timer`, `data-timer="NAME ..."`; its label is a
//! `<g class="edge-label">` with the same data. Each has a `<title>` shown on hover.

use super::{drawing, Drawing, Edge, From, Node, ANY_STATUS};
use crate::model::Workflow;
use labels::{place, LINE_H};
use layout::{label_width, layout, Column, Placed};
use route::{from_band, route, Route};
use std::collections::HashMap;
use std::fmt::Write;
use text::{text_box, Anchor, Point, Rect};

mod labels;
mod layout;
mod route;
pub(crate) mod text;

const NODE_H: i64 = 44;
/// The height a timer badge adds to its status.
const BADGE_H: i64 = 14;
const NODE_MIN_W: i64 = 96;
const NODE_TEXT_PAD: i64 = 12;
const ROW_GAP: i64 = 24;
const COL_GAP: i64 = 140;
const PAD: i64 = 16;
const HEADER: i64 = 28;
const MARGIN: i64 = 20;
/// The "any status" band's height, and the strip between it and the columns.
const BAND_H: i64 = 30;
const BAND_GAP: i64 = 30;
const INK: &str = "#52606d";
/// Timers: dashed edges and badges.
const TIMER_INK: &str = "#9a6700";

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
        self.include((r.right(), r.bottom()));
    }
}

/// The workflow as a standalone SVG document.
pub(super) fn render(w: &Workflow) -> String {
    let drawing = drawing(w);
    let edges: Vec<&Edge<'_>> =
        drawing.edges.iter().filter(|e| !matches!(e.from, From::Status(n) if n.id == e.to.id)).collect();
    let (columns, placed) = layout(w, &drawing, &edges);
    let mut bounds = Bounds { min: (0, 0), max: (0, 0) };
    let mut body = String::new();
    // Everything labels must keep off: statuses, the band, the column titles.
    let mut taken: Vec<Rect> = placed.values().map(|p| p.rect).collect();
    let band = drawing.has_any().then(|| {
        let right = columns.last().map_or(NODE_MIN_W, |c| c.rect.right());
        Rect { x: 0, y: -BAND_GAP - BAND_H, w: right, h: BAND_H }
    });
    if let Some(band) = band {
        bounds.include_rect(band);
        taken.push(band);
        let (x, y) = band_text_at(band);
        taken.push(text_box(ANY_STATUS, x, y, Anchor::Start, 12, false));
        draw_band(&mut body, band);
    }
    // Each phase is one group holding its box, its title and its statuses, so the picture's
    // structure says which status is in which phase; edges and their labels are drawn on top.
    for column in &columns {
        bounds.include_rect(column.rect);
        let (x, y) = column.title_at();
        taken.push(text_box(&column.title, x, y, Anchor::Middle, 12, true));
        draw_column(&mut body, column);
        for (node, rect) in &column.statuses {
            draw_status(&mut body, &drawing, *node, *rect);
        }
        body.push_str("</g>\n");
    }
    let floor = columns.first().map_or(0, |c| c.rect.h);
    // Lanes down from the band, per column.
    let mut band_lanes: HashMap<usize, i64> = HashMap::new();
    let (mut labels, mut lanes) = (String::new(), 0);
    body.push_str("<g class=\"edges\" fill=\"none\">\n");
    for edge in edges {
        let Some(b) = placed.get(&edge.to.id) else { continue };
        let route = match edge.from {
            From::Status(a) => match placed.get(&a.id) {
                Some(a) => route(*a, *b, floor, &mut lanes, edge.timer),
                None => continue,
            },
            From::Any => {
                let (Some(band), Some(column)) = (band, columns.get(b.col)) else { continue };
                let k = band_lanes.entry(b.col).or_insert(0);
                let x = column.rect.right() - 5 - 4 * (*k % 3);
                *k += 1;
                from_band(x, band.bottom(), column.rect.y, b.rect)
            }
        };
        draw_edge(&mut body, &mut labels, &mut bounds, &mut taken, edge, route);
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
    let marker = |id: &str, ink: &str| {
        format!(
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
             markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{ink}\"/></marker>"
        )
    };
    let _ = writeln!(out, "<defs>{}{}</defs>", marker("arrow", INK), marker("arrow-timer", TIMER_INK));
    let _ =
        writeln!(out, "<rect x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
    out.push_str(body);
    out.push_str("</svg>\n");
    out
}

/// Where the band's text starts, and its baseline.
fn band_text_at(band: Rect) -> Point {
    (band.x + NODE_TEXT_PAD, band.y + 19)
}

fn draw_band(out: &mut String, r: Rect) {
    let (tx, ty) = band_text_at(r);
    let _ = writeln!(
        out,
        "<g class=\"any-status\">\n<title>Transitions written `from any status` (or from every status \
         that is not final) start here</title>\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
         rx=\"8\" fill=\"#fdf8ec\" stroke=\"{INK}\" stroke-dasharray=\"6 4\"/>\n\
         <text x=\"{tx}\" y=\"{ty}\" fill=\"#1f2933\">{}</text>\n</g>",
        r.x,
        r.y,
        r.w,
        r.h,
        xml(ANY_STATUS)
    );
}

fn draw_column(out: &mut String, c: &Column<'_>) {
    let r = c.rect;
    let (class, fill, dash) =
        if c.is_phase { ("phase", "#f5f7fa", "") } else { ("other", "#ffffff", " stroke-dasharray=\"6 4\"") };
    let (tx, ty) = c.title_at();
    let _ = write!(
        out,
        "<g id=\"{}\" class=\"{class}\">\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"12\" \
         fill=\"{fill}\" stroke=\"#9aa5b1\"{dash}/>\n\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
        xml(&c.id),
        r.x,
        r.y,
        r.w,
        r.h,
        xml(&c.title)
    );
}

fn draw_status(out: &mut String, drawing: &Drawing<'_>, node: Node<'_>, r: Rect) {
    let status = node.status;
    let (class, fill) = if status.is_final { ("status final", "#d9e2ec") } else { ("status", "#ffffff") };
    let code = xml(&status.code);
    let _ = writeln!(out, "<g id=\"status-{code}\" class=\"{class}\" data-status=\"{code}\">");
    let mut title = format!("{} ({})", status.label, status.code);
    if status.customer_label != status.label {
        let _ = write!(title, "; customers see \u{201c}{}\u{201d}", status.customer_label);
    }
    if status.is_final {
        title.push_str("; final");
    }
    for badge in drawing.badges(node.id) {
        let _ = write!(title, "; {}", badge.title);
    }
    let _ = writeln!(out, "<title>{}</title>", xml(&title));
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
        "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#7b8794\">{code}</text>",
        y + 35
    );
    for (i, badge) in drawing.badges(node.id).iter().enumerate() {
        let _ = writeln!(
            out,
            "<text class=\"timer\" x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" \
             fill=\"{TIMER_INK}\">{}</text>",
            y + 35 + BADGE_H * (i as i64 + 1),
            xml(&badge.text)
        );
    }
    out.push_str("</g>\n");
}

/// The edge's class and data attributes, shared by its path and its label.
fn hooks(edge: &Edge<'_>) -> String {
    let mut out = format!(
        "class=\"{}\" data-from=\"{}\" data-to=\"{}\"",
        if edge.timer { "edge timer" } else { "edge" },
        xml(edge.from.code()),
        xml(&edge.to.status.code)
    );
    if !edge.events.is_empty() {
        let _ = write!(out, " data-event=\"{}\"", xml(&edge.events.join(" ")));
    }
    if edge.timers.is_empty() && edge.labels.len() > edge.events.len() {
        out.push_str(" data-auto=\"true\"");
    }
    if !edge.timers.is_empty() {
        let _ = write!(out, " data-timer=\"{}\"", xml(&edge.timers.join(" ")));
    }
    out
}

/// Draws an edge's path, and its label where the label finds room.
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
    let hooks = hooks(edge);
    let from = match edge.from {
        From::Status(n) => n.status.label.as_str(),
        From::Any => ANY_STATUS,
    };
    let title = format!("{}: {from} \u{2192} {}", edge.titles.join("; "), edge.to.status.label);
    let (ink, marker, dash) =
        if edge.timer { (TIMER_INK, "arrow-timer", " stroke-dasharray=\"5 3\"") } else { (INK, "arrow", "") };
    let _ = writeln!(
        paths,
        "<g {hooks}><title>{}</title><path d=\"{}\" stroke=\"{ink}\" stroke-width=\"1.5\"{dash} \
         marker-end=\"url(#{marker})\"/></g>",
        xml(&title),
        route.d
    );
    let (w, h) = (label_width(edge), LINE_H * edge.labels.len() as i64 + 1);
    let spot = place(taken, &route.spots, route.align, w, h);
    let bg = spot.rect;
    bounds.include_rect(bg);
    let _ = writeln!(labels, "<g {hooks}>");
    if let Some((x, y)) = spot.leader {
        let (lx, ly) = (x.clamp(bg.x, bg.right()), y.clamp(bg.y, bg.bottom()));
        let _ = writeln!(
            labels,
            "<line x1=\"{x}\" y1=\"{y}\" x2=\"{lx}\" y2=\"{ly}\" stroke=\"{ink}\" stroke-dasharray=\"1 2\"/>"
        );
    }
    let _ = writeln!(
        labels,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#ffffff\" \
         fill-opacity=\"0.85\"/>",
        bg.x, bg.y, bg.w, bg.h
    );
    for (i, line) in edge.labels.iter().enumerate() {
        let _ = writeln!(
            labels,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
            bg.cx(),
            bg.y + 11 + LINE_H * i as i64,
            if edge.timer { TIMER_INK } else { "#323f4b" },
            xml(line)
        );
    }
    labels.push_str("</g>\n");
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
