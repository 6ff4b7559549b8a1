//! The fast path against pest: the same items, spans, diagnostics and skipped words, on every
//! workflow in the repository, the benchmark's file, tricky snippets, and mutations of them all.

use crate::syntax::parse_with;
use std::path::Path;

/// Every `*.flow` file under `dir`, recursively, sorted.
fn flows(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            flows(&path, out);
        } else if path.extension().is_some_and(|e| e == "flow") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The `flow` code blocks of a Markdown file.
fn flow_blocks(path: &Path, out: &mut Vec<(String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```flow") => block = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                out.push((format!("{} block", path.display()), std::mem::take(b)));
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
}

const SNIPPETS: &[&str] = &[
    "workflow w\nworkflow w \"T\" flag f\nflag g \"G\"",
    "status a \"A\"\nstatus b \"B\" customer \"b\" final final customer sees \"c\"\n# c\nstatus c \"C\" # x\n",
    "phase p { status a \"A\" status b \"B\" final } phase q \"Q\" { }",
    "event e event f is payment event g \"G\" { a: money b: text? } event h { } event i is",
    "on e from a go to b\non e from a, b, c when x go to d { set flag f }\non e from any status stay",
    "on e from any go to x on e from any statusx go to y",
    "automatically from a when order.total > 5 * 2 - -3 go to b",
    "automatically from a go to b",
    "on e from a when not not a == b or c and d in [1, 2] go to x",
    "on e from a when a not in [] and b starts with \"x\" and c ends with [\"a\", \"b\"] go to x",
    "on e from a when line.sku contains (x) go to y on e from a when x contains y go to z",
    "on e from a when all lines(line.qty > 1) and count lines > 2 and sum lines(line.total) >= 3.50 go to x",
    "on e from a when any line and hook \"h.rhai\" and true or false go to x",
    "on e from a when (a or b) and (c) go to x on e from a when -(1) * 2 go to y",
    "on e from a when 3d > 2h and x == 1.5 go to b on e from a when 3.5d go to b",
    "on e from a when 1 2 go to b",
    "on e from a when a == go to b",
    "on e from a when a in [1 go to b",
    "on e from a when x not y go to b",
    "on e from a when a in [x] in [y] go to b on e from a when a contains \"x\" starts with \"y\" go to b",
    "on e from a when a in [1] contains x go to b on e from a when a in [1] and b not in [2] or c go to d",
    "on e from a when a starts \"x\" go to b on e from a when a ends [\"x\"] go to b",
    "on e from a when - a in [1] go to b on e from a when not a + b * c in [1] == d go to b",
    "on e from a stay { set flag x clear flag y set attributes.a = 1 + 2 start timer t cancel timer t }",
    "on e from a stay { send webhook w send webhook w with hook \"p.rhai\" run hook \"h.rhai::f\" emit e }",
    "on e from a stay { send email to customer template \"t\" subject \"s\" send email to customer.email template \"t\" }",
    "on e from a stay { send email to customer . email template \"t\" }",
    "on e from a stay { send email to \"a@b.c\" template \"t\" assign to queue \"q\" assign to order.owner }",
    "on e from a stay { assign to queue assign to queue.x note \"n\" - 1 pick invoice }",
    "on e from a stay { record \"x\" complete }",
    "on e from a stay { set flag.x = 1 }",
    "on e from a stay {\n  note \"x\"\n  assign queue \"q\"\n}\n",
    "timer t after 3d in a, b when order.mode != layaway go to c { note \"x\" }\ntimer u after 15m stay timer v after 1h",
    "timer t after 30 go to x timer t after 3d.5 timer t after 3d in go to x",
    "on entering a { pick } on leaving a { pick } on created { pick } on created from web { pick }",
    "on invoiced { pick } on paid in full { pick } on invoiced from a go to b on paid from a stay",
    "on e from a when \"unterminated go to b\nstatus x \"X\"",
    "on e from a when \"a\\\"b\\\\c\\n\" == \"\\é\" go to b",
    "status x \"X\"\n}}\nstatus y \"Y\"",
    "statusx y \"Y\" stauts z \"Z\"",
    "on e from a go to b\u{a0}status c \"C\"",
    "workflow w\tstatus a \"A\"\r\nstatus b \"B\"\r\n",
    "on e from a when order.a.b.c == x.y go to b on e from a when order. go to b",
    "on e from a when 5. > 1 go to b on e from a when 1.2.3 go to b on e from a when 3_d go to b",
    "channel web { start in a }\nsettings { auto_pick = on }\nrenamed a -> b\nattribute x: text",
];

/// A generated file shaped like `benches/check.rs`'s.
fn generated() -> String {
    let mut s = String::from("workflow big \"Generated\"\nphase p0 \"Phase 0\" {\n");
    for i in 0..20 {
        s.push_str(&format!("    status s{i} \"Status {i}\" customer sees \"Step {i}\"\n"));
    }
    s.push_str("}\nevent e0 { amount: money  note: text? }\nflag hold \"on hold\"\n");
    for t in 0..20 {
        s.push_str(&format!(
            "on e0 from s{t} when event.amount >= {t}.50 and not flags.hold and any line(line.qty > 1) go to s{} {{ set flag hold }}\n",
            t + 1
        ));
    }
    s
}

/// Items followed by a comment and a broken item: where an item ends decides which words the
/// recovery skips.
const ENDINGS: &[&str] = &[
    "workflow w",
    "workflow w \"W\"",
    "flag f",
    "flag f \"F\"",
    "status s \"S\"",
    "status s \"S\" final",
    "status s \"S\" customer sees \"s\"",
    "phase p { status s \"S\" }",
    "event e",
    "event e is payment",
    "event e \"E\"",
    "event e { a: text? }",
    "on e from a go to b",
    "on e from any stay",
    "on e from any status stay",
    "on e from a, b when x go to b",
    "on e from a go to b { pick }",
    "automatically from a when x stay",
    "timer t after 3d",
    "timer t after 3d in a",
    "timer t after 3d in a when x",
    "timer t after 3d go to b",
    "timer t after 3d stay { note \"x\" }",
];

fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    flows(&root.join("workflows"), &mut out);
    flows(&root.join("tests"), &mut out);
    flow_blocks(&root.join("docs/language.md"), &mut out);
    out.extend(SNIPPETS.iter().enumerate().map(|(i, s)| (format!("snippet {i}"), s.to_string())));
    out.push(("generated".into(), generated()));
    for (i, item) in ENDINGS.iter().enumerate() {
        let text = format!("{item} # zz yy\n  # ww\nstauts q \"Q\" final\non e from q go to r\n");
        out.push((format!("ending {i}"), text));
    }
    out
}

fn same(name: &str, text: &str) {
    let fast = parse_with(text, true);
    let pest = parse_with(text, false);
    assert_eq!(fast.file, pest.file, "{name}: items differ\n{text}");
    assert_eq!(fast.diagnostics, pest.diagnostics, "{name}: diagnostics differ\n{text}");
    assert_eq!(fast.skipped_words, pest.skipped_words, "{name}: skipped words differ\n{text}");
}

#[test]
fn the_fast_path_reads_every_file_as_pest_does() {
    let corpus = corpus();
    assert!(corpus.len() > 100, "the corpus is {} files", corpus.len());
    for (name, text) in &corpus {
        same(name, text);
    }
}

#[test]
fn the_fast_path_reads_most_of_a_large_file() {
    let text = generated();
    let items = parse_with(&text, true).file.items.len();
    let fast = {
        let mut pos = 0;
        let mut n = 0;
        while let Some((_, end)) = super::item(&text, pos) {
            n += 1;
            pos = end;
        }
        n
    };
    assert_eq!(fast, items, "every item of the generated file is read on the fast path");
}

/// Tokens mutations insert.
const TOKENS: &[&str] = &[
    " ",
    "\n",
    "#",
    "\"",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    ":",
    "?",
    "=",
    "==",
    "<",
    "-",
    "+",
    "*",
    "/",
    "on",
    "from",
    "any",
    "status",
    "when",
    "go",
    "to",
    "stay",
    "not",
    "in",
    "and",
    "or",
    "customer",
    "sees",
    "final",
    "set",
    "flag",
    "note",
    "send",
    "email",
    "template",
    "starts",
    "with",
    "all",
    "lines",
    "line",
    "hook",
    "true",
    "3d",
    "1.5",
    "x",
    "é",
    "\\",
    "in [1]",
    "not in [x]",
    "starts with \"a\"",
    "contains x",
    "any line(",
    "count lines",
    "a.b",
    "go to x",
    "{ pick }",
    "-1",
    "not not",
];

#[test]
fn mutations_read_the_same_both_ways() {
    let corpus = corpus();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let mut cases = 0;
    for (name, text) in &corpus {
        // Windows of a few lines keep each case small.
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for _ in 0..(lines.len() / 3).clamp(6, 60) {
            let from = next(lines.len());
            let window: String = lines.iter().skip(from).take(1 + next(8)).copied().collect();
            let mut t = window.clone();
            for _ in 0..1 + next(3) {
                let mut at = next(t.len() + 1);
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => {
                        let mut end = (at + 1 + next(6)).min(t.len());
                        while !t.is_char_boundary(end) {
                            end += 1;
                        }
                        t.replace_range(at..end, "");
                    }
                    1 => t.insert_str(at, TOKENS[next(TOKENS.len())]),
                    _ => {
                        let token = format!(" {} ", TOKENS[next(TOKENS.len())]);
                        t.insert_str(at, &token);
                    }
                }
            }
            same(&format!("{name} mutated"), &t);
            cases += 1;
        }
    }
    assert!(cases > 1000, "{cases} cases");
}
