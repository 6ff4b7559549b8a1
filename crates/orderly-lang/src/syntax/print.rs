//! AST -> text in the canonical layout: the inverse of [`super::parse`].
//!
//! `parse(print(ast))` gives back the same AST (spans aside); the round-trip tests of the
//! shipped workflows rely on it, and a future `orderly fmt` would too.

use super::ast::*;
use std::fmt::Write as _;

/// Prints a file in the canonical layout.
pub fn print(file: &File) -> String {
    let mut p = Printer { out: String::new() };
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            p.out.push('\n');
        }
        p.item(item);
    }
    p.out
}

/// Prints one expression with the fewest parentheses that keep its meaning.
pub(crate) fn print_expr(e: &Expr) -> String {
    let mut p = Printer { out: String::new() };
    p.expr(e, 0);
    p.out
}

struct Printer {
    out: String,
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn names(ns: &[Name]) -> String {
    ns.iter().map(|n| n.text.as_str()).collect::<Vec<_>>().join(", ")
}

/// Binding strength: higher binds tighter.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(BinOp::Or, ..) => 1,
        ExprKind::Binary(BinOp::And, ..) => 2,
        ExprKind::Not(_) => 3,
        ExprKind::Binary(BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, ..)
        | ExprKind::In { .. }
        | ExprKind::TextTest { .. } => 4,
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 5,
        ExprKind::Binary(BinOp::Mul | BinOp::Div, ..) => 6,
        ExprKind::Neg(_) => 7,
        _ => 8,
    }
}

impl Printer {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Workflow(w) => {
                let title = w.title.as_ref().map(|t| format!(" {}", quote(&t.text))).unwrap_or_default();
                self.line(0, &format!("workflow {}{title}", w.name.text));
            }
            Item::Phase(p) => {
                let label = p.label.as_ref().map(|t| format!(" {}", quote(&t.text))).unwrap_or_default();
                self.line(0, &format!("phase {}{label} {{", p.code.text));
                for s in &p.statuses {
                    self.status(1, s);
                }
                self.line(0, "}");
            }
            Item::Status(s) => self.status(0, s),
            Item::Flag(f) => {
                let d = f.description.as_ref().map(|t| format!(" {}", quote(&t.text))).unwrap_or_default();
                self.line(0, &format!("flag {}{d}", f.name.text));
            }
            Item::Attribute(a) => {
                let d = a.description.as_ref().map(|t| format!(" {}", quote(&t.text))).unwrap_or_default();
                self.line(0, &format!("attribute {}: {}{d}", a.name.text, a.ty.text));
            }
            Item::Event(e) => {
                let mut head = format!("event {}", e.name.text);
                if let Some(k) = &e.kind {
                    write!(head, " is {}", k.text).ok();
                }
                if let Some(d) = &e.description {
                    write!(head, " {}", quote(&d.text)).ok();
                }
                if e.fields.is_empty() {
                    self.line(0, &head);
                } else {
                    self.line(0, &format!("{head} {{"));
                    for f in &e.fields {
                        let opt = if f.optional { "?" } else { "" };
                        self.line(1, &format!("{}: {}{opt}", f.name.text, f.ty.text));
                    }
                    self.line(0, "}");
                }
            }
            Item::Webhook(w) => {
                let d = w.description.as_ref().map(|t| format!(" {}", quote(&t.text))).unwrap_or_default();
                self.line(0, &format!("webhook {}{d}", w.name.text));
            }
            Item::Actions(a) => {
                self.line(0, "fulfillment actions {");
                for n in &a.names {
                    let hidden = if a.hidden.contains(&n.text) { " hidden" } else { "" };
                    self.line(1, &format!("{}{hidden}", quote(&n.text)));
                }
                self.line(0, "}");
            }
            Item::Settings(s) => {
                self.line(0, "settings {");
                for e in &s.entries {
                    let v = match &e.value {
                        SettingValue::Switch(b) => (if *b { "on" } else { "off" }).to_string(),
                        SettingValue::Duration(d) | SettingValue::Number(d) => d.clone(),
                        SettingValue::Text(t) => quote(t),
                    };
                    self.line(1, &format!("{} = {v}", e.key.text));
                }
                self.line(0, "}");
            }
            Item::Channel(c) => self.channel(c),
            Item::Transition(t) => self.transition(t),
            Item::StatusHook(h) => {
                match h.moment {
                    HookMoment::Entering => self.out.push_str(&format!("on entering {}", names(&h.statuses))),
                    HookMoment::Leaving => self.out.push_str(&format!("on leaving {}", names(&h.statuses))),
                    HookMoment::Created if h.statuses.is_empty() => self.out.push_str("on created"),
                    HookMoment::Created => {
                        self.out.push_str(&format!("on created from {}", names(&h.statuses)))
                    }
                    HookMoment::Invoiced => self.out.push_str("on invoiced"),
                    HookMoment::PaidInFull => self.out.push_str("on paid in full"),
                }
                self.block(&h.actions, true);
            }
            Item::Timer(t) => {
                let mut head = format!("timer {} after {}", t.name.text, t.after.text);
                if !t.statuses.is_empty() {
                    write!(head, " in {}", names(&t.statuses)).ok();
                }
                if let Some(g) = &t.guard {
                    write!(head, " when {}", print_expr(g)).ok();
                }
                if let Some(target) = &t.target {
                    write!(head, " {}", target_text(target)).ok();
                }
                self.out.push_str(&head);
                self.block(&t.actions, false);
            }
            Item::Renamed(r) => self.line(0, &format!("renamed {} -> {}", r.old.text, r.new.text)),
        }
    }

    fn status(&mut self, indent: usize, s: &StatusDecl) {
        let mut text = format!("status {} {}", s.code.text, quote(&s.label.text));
        if let Some(c) = &s.customer_label {
            write!(text, " customer sees {}", quote(&c.text)).ok();
        }
        if s.is_final {
            text.push_str(" final");
        }
        self.line(indent, &text);
    }

    fn channel(&mut self, c: &ChannelDecl) {
        let label = c.label.as_ref().map(|t| format!(" {}", quote(&t.text))).unwrap_or_default();
        self.line(0, &format!("channel {}{label} {{", c.code.text));
        for req in &c.required {
            let mut text = format!("require {}", names(&req.fields));
            if !req.conditions.is_empty() {
                let conds: Vec<String> = req.conditions.iter().map(channel_cond_text).collect();
                write!(text, " {} {}", if req.unless { "unless" } else { "when" }, conds.join(" and ")).ok();
            }
            self.line(1, &text);
        }
        for r in &c.rules {
            let mut text = match &r.start {
                Some(s) => format!("start in {}", s.text),
                None => "refuse".to_string(),
            };
            let conds: Vec<String> = r.conditions.iter().map(channel_cond_text).collect();
            if !conds.is_empty() {
                write!(text, " when {}", conds.join(" and ")).ok();
            }
            if let Some(m) = &r.message {
                write!(text, " {}", quote(&m.text)).ok();
            }
            self.line(1, &text);
        }
        self.line(0, "}");
    }

    fn transition(&mut self, t: &TransitionDecl) {
        let sources = match &t.sources {
            Sources::Any(_) => "any status".to_string(),
            Sources::List(ns) => names(ns),
        };
        let mut head = match &t.event {
            Some(e) => format!("on {} from {sources}", e.text),
            None => format!("automatically from {sources}"),
        };
        if let Some(g) = &t.guard {
            write!(head, " when {}", print_expr(g)).ok();
        }
        write!(head, " {}", target_text(&t.target)).ok();
        self.out.push_str(&head);
        self.block(&t.actions, false);
    }

    /// ` { ... }` with one action a line, or a newline when there are none and none is needed.
    fn block(&mut self, actions: &[Action], always: bool) {
        if actions.is_empty() && !always {
            self.out.push('\n');
            return;
        }
        self.out.push_str(" {\n");
        for a in actions {
            let text = self.action(a);
            self.line(1, &text);
        }
        self.line(0, "}");
    }

    fn action(&mut self, a: &Action) -> String {
        match &a.kind {
            ActionKind::SetFlag(n) => format!("set flag {}", n.text),
            ActionKind::ClearFlag(n) => format!("clear flag {}", n.text),
            ActionKind::SetField(p, e) => format!("set {} = {}", p.text, print_expr(e)),
            ActionKind::Record(r) => {
                let mut s = format!("record {}", quote(&r.name.text));
                match r.complete {
                    Some(true) => s.push_str(" complete"),
                    Some(false) => s.push_str(" partial"),
                    None => {}
                }
                for (word, e) in [("notify", &r.notify), ("note", &r.note), ("contact", &r.contact)] {
                    if let Some(e) = e {
                        write!(s, " {word} {}", print_expr(e)).ok();
                    }
                }
                match r.visible {
                    Some(true) => s.push_str(" visible to customer"),
                    Some(false) => s.push_str(" hidden from customer"),
                    None => {}
                }
                s
            }
            ActionKind::StartTimer(n) => format!("start timer {}", n.text),
            ActionKind::CancelTimer(n) => format!("cancel timer {}", n.text),
            ActionKind::SendWebhook { target, hook } => match hook {
                Some(h) => format!("send webhook {} with hook {}", target.text, quote(&h.text)),
                None => format!("send webhook {}", target.text),
            },
            ActionKind::SendEmail { to, template, subject } => {
                let to = match to {
                    Recipient::Customer(_) => "customer".to_string(),
                    Recipient::Expr(e) => print_expr(e),
                };
                let mut s = format!("send email to {to} template {}", quote(&template.text));
                if let Some(sub) = subject {
                    write!(s, " subject {}", quote(&sub.text)).ok();
                }
                s
            }
            ActionKind::RunHook(h) => format!("run hook {}", quote(&h.text)),
            ActionKind::Emit(n) => format!("emit {}", n.text),
            ActionKind::AssignQueue(q) => format!("assign to queue {}", quote(&q.text)),
            ActionKind::AssignPerson(e) => format!("assign to {}", print_expr(e)),
            ActionKind::Note(n) => format!("note {}", print_expr(n)),
            ActionKind::Pick => "pick".to_string(),
            ActionKind::Invoice => "invoice".to_string(),
        }
    }

    /// Prints `[a, b, c]`.
    fn list(&mut self, items: &[Expr]) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(item, 0);
        }
        self.out.push(']');
    }

    /// Prints `e`, in parentheses when it binds less tightly than `min` requires.
    fn expr(&mut self, e: &Expr, min: u8) {
        let prec = precedence(e);
        let paren = prec < min;
        if paren {
            self.out.push('(');
        }
        match &e.kind {
            ExprKind::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            ExprKind::Number(n) | ExprKind::Duration(n) | ExprKind::Code(n) => self.out.push_str(n),
            ExprKind::Text(t) => self.out.push_str(&quote(t)),
            ExprKind::Path(n) => self.out.push_str(&n.text),
            ExprKind::Not(inner) => {
                self.out.push_str("not ");
                self.expr(inner, 3);
            }
            ExprKind::Neg(inner) => {
                self.out.push('-');
                self.expr(inner, 8);
            }
            ExprKind::Binary(op, l, r) => {
                // Left-associative chains: the right operand needs a tighter binding; comparisons
                // do not chain at all.
                let is_cmp = prec == 4;
                self.expr(l, if is_cmp { 5 } else { prec });
                write!(self.out, " {} ", op.symbol()).ok();
                self.expr(r, prec + 1);
            }
            ExprKind::In { value, list, negated } => {
                self.expr(value, 5);
                self.out.push_str(if *negated { " not in " } else { " in " });
                self.list(list);
            }
            ExprKind::TextTest { value, test, patterns } => {
                self.expr(value, 5);
                write!(self.out, " {} ", test.words()).ok();
                match patterns.as_slice() {
                    [one] => self.expr(one, 5),
                    many => self.list(many),
                }
            }
            ExprKind::Aggregate(kind, inner) => {
                let word = kind.words();
                self.out.push_str(word);
                if let Some(i) = inner {
                    self.out.push('(');
                    self.expr(i, 0);
                    self.out.push(')');
                }
            }
            ExprKind::Hook(h) => write!(self.out, "hook {}", quote(&h.text)).unwrap_or(()),
        }
        if paren {
            self.out.push(')');
        }
    }
}

fn target_text(t: &Target) -> String {
    match t {
        Target::GoTo(n) => format!("go to {}", n.text),
        Target::Stay(_) => "stay".to_string(),
    }
}

/// A channel condition as written: `mode carry, delivery`, `paid by check`, `unpaid`.
fn channel_cond_text(c: &ChannelCond) -> String {
    match c {
        ChannelCond::Mode(ns) => format!("mode {}", names(ns)),
        ChannelCond::Method(ns) => format!("paid by {}", names(ns)),
        ChannelCond::Outcome(ns) => format!("payment is {}", names(ns)),
        ChannelCond::Unpaid(_) => "unpaid".to_string(),
    }
}
