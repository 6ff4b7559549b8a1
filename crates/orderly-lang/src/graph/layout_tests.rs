//! The SVG measured: every shipped workflow, every workflow in docs/language.md and a few
//! crowded ones are drawn and read back. No two texts overlap, and no text or label box sits
//! on a status (or the "any status" band) it does not belong to. Texts are measured as the
//! layout estimates them (`svg::text`: characters × the font's average width, 0.8 of the font
//! size above the baseline and 0.2 below).

use super::svg::text::{text_box, Anchor, Rect};
use super::{render, Format};
use crate::check::{compile, Context};
use crate::model::Workflow;
use roxmltree::{Document, Node, NodeId};
use std::fmt::Write as _;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn compiled(name: &str, text: &str) -> Option<(String, Workflow)> {
    compile(text, &Context::default()).workflow.map(|w| (name.to_string(), w))
}

/// The shipped workflows, in name order.
fn shipped() -> Vec<(String, Workflow)> {
    let mut paths: Vec<_> = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "flow"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 4, "{paths:?}");
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            compiled(&p.display().to_string(), &text).unwrap_or_else(|| panic!("{} compiles", p.display()))
        })
        .collect()
}

/// The `flow` blocks of docs/language.md that are whole workflows.
fn documented() -> Vec<(String, Workflow)> {
    let doc = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for (n, line) in doc.lines().enumerate() {
        match &mut block {
            None if line.starts_with("```flow") => block = Some(String::new()),
            Some(b) if line.starts_with("```") => {
                out.extend(compiled(&format!("docs/language.md block ending line {}", n + 1), b));
                block = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Statuses in three phases, each with an event to every later one, automatic transitions with
/// long guards, timers both ways, and cancel from any status: labels crowd every gap.
fn crowded() -> Vec<(String, Workflow)> {
    let mut s = String::from("workflow crowded \"Crowded\"\nchannel web { start in a0 }\n");
    let phases = [("a", 4), ("b", 5), ("c", 3)];
    for (p, n) in phases {
        let _ = writeln!(s, "phase {p} \"Phase {p} with a long title\" {{");
        for i in 0..n {
            let _ = writeln!(s, "    status {p}{i} \"Status {p}{i}\"");
        }
        s.push_str("}\n");
    }
    s.push_str("status done \"Done\" final\nstatus cancelled \"Cancelled\" final\n");
    s.push_str("flag hold \"on hold\"\nattribute note: text\nevent finish\n");
    let codes: Vec<String> =
        phases.iter().flat_map(|(p, n)| (0..*n).map(move |i| format!("{p}{i}"))).collect();
    for (i, from) in codes.iter().enumerate() {
        for (j, to) in codes.iter().enumerate().skip(i + 1).step_by(2) {
            let _ = writeln!(s, "event e_{from}_{to}\non e_{from}_{to} from {from} go to {to}");
            if j % 3 == 0 {
                let _ = writeln!(
                    s,
                    "automatically from {from} when order.total > {i}00 and not flags.hold and all lines(line.in_stock) go to {to}"
                );
            }
        }
        let _ = writeln!(s, "timer t_{from} after {}d in {from} go to done", i + 1);
        let _ = writeln!(s, "timer r_{from} after {}h in {from} when attributes.note == \"x\" stay", i + 1);
        let _ = writeln!(s, "on finish from {from} go to done");
    }
    s.push_str("event cancel\non cancel from any status go to cancelled\n");
    s.push_str("event void\non void from any status go to done\n");
    let one = compiled("crowded", &s).unwrap_or_else(|| {
        panic!("{:#?}", compile(&s, &Context::default()).diagnostics.iter().find(|d| d.is_error()))
    });
    let mut narrow =
        String::from("workflow narrow\nchannel web { start in x }\nstatus x \"X\"\nstatus y \"Y\" final\n");
    for e in 0..12 {
        let _ = writeln!(narrow, "event ev{e}\non ev{e} from x go to y");
    }
    vec![one, compiled("narrow", &narrow).unwrap()]
}

/// A text drawn, its box, and the status (or band) group it is in.
struct Text {
    text: String,
    rect: Rect,
    owner: Option<NodeId>,
}

fn inherited<'a>(n: Node<'a, '_>, attr: &str) -> Option<&'a str> {
    n.ancestors().find_map(|a| a.attribute(attr))
}

fn num(n: Node<'_, '_>, attr: &str) -> i64 {
    n.attribute(attr).unwrap_or_else(|| panic!("no {attr}")).parse().unwrap()
}

fn rect(n: Node<'_, '_>) -> Rect {
    Rect { x: num(n, "x"), y: num(n, "y"), w: num(n, "width"), h: num(n, "height") }
}

/// The status and band groups, with their boxes.
fn nodes(doc: &Document<'_>) -> Vec<(NodeId, Rect)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("status") || c == "any-status"))
        .map(|g| (g.id(), rect(g.children().find(|c| c.has_tag_name("rect")).unwrap())))
        .collect()
}

fn texts(doc: &Document<'_>, nodes: &[(NodeId, Rect)]) -> Vec<Text> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let text = n.text().unwrap_or_default().to_string();
            let size: i64 = inherited(n, "font-size").unwrap().parse().unwrap();
            let bold = inherited(n, "font-weight") == Some("bold");
            let anchor = match inherited(n, "text-anchor") {
                None | Some("start") => Anchor::Start,
                Some("middle") => Anchor::Middle,
                Some(other) => panic!("text-anchor {other}"),
            };
            let rect = text_box(&text, num(n, "x"), num(n, "y"), anchor, size, bold);
            let owner = n.ancestors().find(|a| nodes.iter().any(|(id, _)| *id == a.id())).map(|a| a.id());
            Text { text, rect, owner }
        })
        .collect()
}

/// What overlaps in one picture, in words.
fn overlaps(svg: &str) -> Vec<String> {
    let doc = Document::parse(svg).unwrap();
    let nodes = nodes(&doc);
    let texts = texts(&doc, &nodes);
    let mut found = Vec::new();
    for (i, a) in texts.iter().enumerate() {
        for b in texts.iter().skip(i + 1) {
            if a.rect.overlaps(b.rect) {
                found.push(format!("`{}` {:?} overlaps `{}` {:?}", a.text, a.rect, b.text, b.rect));
            }
        }
        for (id, node) in &nodes {
            if a.owner != Some(*id) && a.rect.overlaps(*node) {
                found.push(format!("`{}` {:?} is on the status at {node:?}", a.text, a.rect));
            }
        }
    }
    // Label boxes too: each is a `rect` in an edge label.
    let boxes = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| n.parent().and_then(|p| p.attribute("class")).is_some_and(|c| c.starts_with("edge")));
    for label in boxes {
        let r = rect(label);
        for (_, node) in nodes.iter().filter(|(_, node)| node.overlaps(r)) {
            found.push(format!("the label box {r:?} is on the status at {node:?}"));
        }
    }
    found
}

#[test]
fn no_two_texts_overlap_and_labels_keep_off_statuses() {
    let documented = documented();
    assert!(documented.len() >= 3, "only {} documented workflows compile", documented.len());
    let mut all = shipped();
    all.extend(documented);
    all.extend(crowded());
    let mut failures = Vec::new();
    for (name, w) in &all {
        let svg = render(w, Format::Svg);
        failures.extend(overlaps(&svg).into_iter().map(|f| format!("{name}: {f}")));
    }
    assert!(failures.is_empty(), "{} overlaps:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_check_finds_an_overlap() {
    // The measurement itself: two texts drawn at the same place are found.
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\"><g class=\"status\"><rect x=\"0\" \
               y=\"0\" width=\"50\" height=\"20\"/></g><text x=\"40\" y=\"15\">over</text>\
               <text x=\"60\" y=\"18\">lapping</text></svg>";
    assert_eq!(overlaps(svg).len(), 2, "{:?}", overlaps(svg));
}

#[test]
fn pictures_are_deterministic() {
    for (name, w) in shipped().iter().chain(&crowded()) {
        for format in [Format::Svg, Format::Dot, Format::Mermaid] {
            assert_eq!(render(w, format), render(&w.clone(), format), "{name} {format:?}");
        }
    }
}
