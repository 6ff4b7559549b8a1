//! Pest pairs -> AST nodes. Keyword pairs (`K_*`) carry no information and are skipped.

use super::ast::*;
use super::Rule;
use crate::diagnostics::Span;
use pest::iterators::Pair;

type P<'i> = Pair<'i, Rule>;

fn span(p: &P<'_>, base: usize) -> Span {
    let s = p.as_span();
    Span::new(s.start() + base, s.end() + base)
}

/// Keyword rules are declared together in the grammar, so they form one range of `Rule`.
pub(super) fn is_keyword(rule: Rule) -> bool {
    (Rule::K_workflow..=Rule::K_false).contains(&rule)
}

/// The children of a pair that carry meaning (keywords dropped).
fn children<'i>(p: P<'i>) -> impl Iterator<Item = P<'i>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

/// Whether a pair contains a keyword child with this text.
fn has_keyword(p: &P<'_>, word: &str) -> bool {
    p.clone().into_inner().any(|c| is_keyword(c.as_rule()) && c.as_str() == word)
}

fn name(p: P<'_>, base: usize) -> Name {
    Name { text: p.as_str().to_string(), span: span(&p, base) }
}

fn string(p: P<'_>, base: usize) -> Str {
    let sp = span(&p, base);
    let inner = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
    Str { text: unescape(inner), span: sp }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn names(p: P<'_>, base: usize) -> Vec<Name> {
    children(p).map(|c| name(c, base)).collect()
}

pub(super) fn item(p: P<'_>, base: usize) -> Item {
    let sp = span(&p, base);
    match p.as_rule() {
        Rule::workflow_decl => {
            let mut it = children(p);
            let name = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let title = it.next().map(|s| string(s, base));
            Item::Workflow(WorkflowDecl { name, title, span: sp })
        }
        Rule::phase_decl => {
            let mut code = None;
            let mut label = None;
            let mut statuses = Vec::new();
            for c in children(p) {
                match c.as_rule() {
                    Rule::ident => code = Some(name(c, base)),
                    Rule::string => label = Some(string(c, base)),
                    Rule::status_decl => statuses.push(status(c, base)),
                    _ => {}
                }
            }
            Item::Phase(PhaseDecl { code: code.unwrap_or_else(|| missing(sp)), label, statuses, span: sp })
        }
        Rule::status_decl => Item::Status(status(p, base)),
        Rule::flag_decl => {
            let mut it = children(p);
            let name = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let description = it.next().map(|s| string(s, base));
            Item::Flag(FlagDecl { name, description, span: sp })
        }
        Rule::attribute_decl => {
            let mut it = children(p);
            let name = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let ty = it.next().map(|n| name_of_type(n, base)).unwrap_or_else(|| missing(sp));
            let description = it.next().map(|s| string(s, base));
            Item::Attribute(AttributeDecl { name, ty, description, span: sp })
        }
        Rule::event_decl => event(p, base),
        Rule::webhook_decl => {
            let mut it = children(p);
            let name = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let description = it.next().map(|s| string(s, base));
            Item::Webhook(WebhookDecl { name, description, span: sp })
        }
        Rule::actions_decl => {
            Item::Actions(ActionsDecl { names: children(p).map(|s| string(s, base)).collect(), span: sp })
        }
        Rule::settings_decl => Item::Settings(SettingsDecl {
            entries: children(p).map(|s| setting(s, base)).collect(),
            span: sp,
        }),
        Rule::channel_decl => channel(p, base),
        Rule::transition | Rule::auto_transition => Item::Transition(transition(p, base)),
        Rule::entering_decl | Rule::leaving_decl => {
            let moment =
                if p.as_rule() == Rule::entering_decl { HookMoment::Entering } else { HookMoment::Leaving };
            let mut statuses = Vec::new();
            let mut actions = Vec::new();
            for c in children(p) {
                match c.as_rule() {
                    Rule::ident_list => statuses = names(c, base),
                    Rule::action_block => actions = action_block(c, base),
                    _ => {}
                }
            }
            Item::StatusHook(StatusHookDecl { moment, statuses, actions, span: sp })
        }
        Rule::timer_decl => timer(p, base),
        Rule::renamed_decl => {
            let mut it = children(p);
            let old = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let new = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            Item::Renamed(RenamedDecl { old, new, span: sp })
        }
        other => unreachable!("grammar produced {other:?} as an item"),
    }
}

/// A placeholder name for a part the grammar guarantees; never reached on parsed input.
fn missing(sp: Span) -> Name {
    Name { text: String::new(), span: sp }
}

fn name_of_type(p: P<'_>, base: usize) -> Name {
    // type_name wraps a name
    let sp = span(&p, base);
    Name { text: p.as_str().trim().to_string(), span: sp }
}

fn status(p: P<'_>, base: usize) -> StatusDecl {
    let sp = span(&p, base);
    let mut code = None;
    let mut label = None;
    let mut customer_label = None;
    let mut is_final = false;
    for c in children(p) {
        match c.as_rule() {
            Rule::ident => code = Some(name(c, base)),
            Rule::string => label = Some(string(c, base)),
            Rule::customer_label => {
                customer_label = children(c).next().map(|s| string(s, base));
            }
            Rule::final_mark => is_final = true,
            _ => {}
        }
    }
    StatusDecl {
        code: code.unwrap_or_else(|| missing(sp)),
        label: label.unwrap_or(Str { text: String::new(), span: sp }),
        customer_label,
        is_final,
        span: sp,
    }
}

fn event(p: P<'_>, base: usize) -> Item {
    let sp = span(&p, base);
    let mut ev_name = None;
    let mut kind = None;
    let mut description = None;
    let mut fields = Vec::new();
    for c in children(p) {
        match c.as_rule() {
            Rule::ident if ev_name.is_none() => ev_name = Some(name(c, base)),
            Rule::ident => kind = Some(name(c, base)),
            Rule::string => description = Some(string(c, base)),
            Rule::field_decl => {
                let fsp = span(&c, base);
                let mut name_ = None;
                let mut ty = None;
                let mut optional = false;
                for f in children(c) {
                    match f.as_rule() {
                        Rule::name => name_ = Some(name(f, base)),
                        Rule::type_name => ty = Some(name_of_type(f, base)),
                        Rule::optional_mark => optional = true,
                        _ => {}
                    }
                }
                fields.push(FieldDecl {
                    name: name_.unwrap_or_else(|| missing(fsp)),
                    ty: ty.unwrap_or_else(|| missing(fsp)),
                    optional,
                    span: fsp,
                });
            }
            _ => {}
        }
    }
    Item::Event(EventDecl {
        name: ev_name.unwrap_or_else(|| missing(sp)),
        kind,
        description,
        fields,
        span: sp,
    })
}

fn setting(p: P<'_>, base: usize) -> Setting {
    let mut it = children(p);
    let key = it.next().map(|n| name(n, base)).unwrap_or_default_name();
    let v = it.next();
    let (value, value_span) = match v {
        Some(v) => {
            let vsp = span(&v, base);
            let value = match v.as_rule() {
                Rule::switch => SettingValue::Switch(matches!(v.as_str(), "on" | "yes" | "true")),
                Rule::duration => SettingValue::Duration(v.as_str().to_string()),
                Rule::number => SettingValue::Number(v.as_str().to_string()),
                _ => SettingValue::Text(string(v, base).text),
            };
            (value, vsp)
        }
        None => (SettingValue::Text(String::new()), key.span),
    };
    Setting { key, value, value_span }
}

trait OrDefaultName {
    fn unwrap_or_default_name(self) -> Name;
}
impl OrDefaultName for Option<Name> {
    fn unwrap_or_default_name(self) -> Name {
        self.unwrap_or(Name { text: String::new(), span: Span::default() })
    }
}

fn channel(p: P<'_>, base: usize) -> Item {
    let sp = span(&p, base);
    let mut code = None;
    let mut label = None;
    let mut required = Vec::new();
    let mut rules = Vec::new();
    for c in children(p) {
        match c.as_rule() {
            Rule::ident => code = Some(name(c, base)),
            Rule::string => label = Some(string(c, base)),
            Rule::require_clause => required.extend(children(c).map(|n| name(n, base))),
            Rule::start_rule | Rule::refuse_rule => {
                let rsp = span(&c, base);
                let is_start = c.as_rule() == Rule::start_rule;
                let mut start = None;
                let mut conditions = Vec::new();
                let mut message = None;
                for r in children(c) {
                    match r.as_rule() {
                        Rule::ident => start = Some(name(r, base)),
                        Rule::string => message = Some(string(r, base)),
                        Rule::channel_conds => {
                            conditions = children(r).map(|k| channel_cond(k, base)).collect()
                        }
                        _ => {}
                    }
                }
                let start = if is_start { Some(start.unwrap_or_else(|| missing(rsp))) } else { None };
                rules.push(ChannelRule { start, conditions, message, span: rsp });
            }
            _ => {}
        }
    }
    Item::Channel(ChannelDecl { code: code.unwrap_or_else(|| missing(sp)), label, required, rules, span: sp })
}

fn channel_cond(p: P<'_>, base: usize) -> ChannelCond {
    let sp = span(&p, base);
    let rule = p.as_rule();
    let list = || -> Vec<Name> { Vec::new() };
    let values = children(p).next().map(|l| names(l, base)).unwrap_or_else(list);
    match rule {
        Rule::mode_cond => ChannelCond::Mode(values),
        Rule::method_cond => ChannelCond::Method(values),
        Rule::outcome_cond => ChannelCond::Outcome(values),
        _ => ChannelCond::Unpaid(sp),
    }
}

fn sources(p: P<'_>, base: usize) -> Sources {
    let sp = span(&p, base);
    match children(p).next() {
        Some(c) if c.as_rule() == Rule::ident_list => Sources::List(names(c, base)),
        _ => Sources::Any(sp),
    }
}

fn target(p: P<'_>, base: usize) -> Target {
    let sp = span(&p, base);
    match children(p).next() {
        Some(c) if c.as_rule() == Rule::go_to => {
            Target::GoTo(children(c).next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp)))
        }
        _ => Target::Stay(sp),
    }
}

fn transition(p: P<'_>, base: usize) -> TransitionDecl {
    let sp = span(&p, base);
    let mut event = None;
    let mut src = Sources::Any(sp);
    let mut guard = None;
    let mut tgt = Target::Stay(sp);
    let mut actions = Vec::new();
    for c in children(p) {
        match c.as_rule() {
            Rule::ident => event = Some(name(c, base)),
            Rule::sources => src = sources(c, base),
            Rule::guard => guard = children(c).next().map(|e| expr(e, base)),
            Rule::target => tgt = target(c, base),
            Rule::action_block => actions = action_block(c, base),
            _ => {}
        }
    }
    TransitionDecl { event, sources: src, guard, target: tgt, actions, span: sp }
}

fn timer(p: P<'_>, base: usize) -> Item {
    let sp = span(&p, base);
    let mut name_ = None;
    let mut after = None;
    let mut statuses = Vec::new();
    let mut tgt = None;
    let mut actions = Vec::new();
    for c in children(p) {
        match c.as_rule() {
            Rule::ident => name_ = Some(name(c, base)),
            Rule::duration => after = Some(name(c, base)),
            Rule::ident_list => statuses = names(c, base),
            Rule::target => tgt = Some(target(c, base)),
            Rule::action_block => actions = action_block(c, base),
            _ => {}
        }
    }
    Item::Timer(TimerDecl {
        name: name_.unwrap_or_else(|| missing(sp)),
        after: after.unwrap_or_else(|| missing(sp)),
        statuses,
        target: tgt,
        actions,
        span: sp,
    })
}

fn action_block(p: P<'_>, base: usize) -> Vec<Action> {
    children(p).map(|a| action(a, base)).collect()
}

fn action(p: P<'_>, base: usize) -> Action {
    let sp = span(&p, base);
    let rule = p.as_rule();
    let first_name = |p: P<'_>| children(p).next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
    let first_str = |p: P<'_>| {
        children(p).next().map(|n| string(n, base)).unwrap_or(Str { text: String::new(), span: sp })
    };
    let kind = match rule {
        Rule::set_flag => ActionKind::SetFlag(first_name(p)),
        Rule::clear_flag => ActionKind::ClearFlag(first_name(p)),
        Rule::set_field => {
            let mut it = children(p);
            let path = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let value =
                it.next().map(|e| expr(e, base)).unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp });
            ActionKind::SetField(path, value)
        }
        Rule::record_action => ActionKind::Record(record(p, base)),
        Rule::start_timer => ActionKind::StartTimer(first_name(p)),
        Rule::cancel_timer => ActionKind::CancelTimer(first_name(p)),
        Rule::send_webhook => {
            let mut it = children(p);
            let target = it.next().map(|n| name(n, base)).unwrap_or_else(|| missing(sp));
            let hook = it.next().map(|s| string(s, base));
            ActionKind::SendWebhook { target, hook }
        }
        Rule::send_email => {
            let mut to = Recipient::Customer(sp);
            let mut strings = Vec::new();
            for c in children(p) {
                match c.as_rule() {
                    Rule::recipient => {
                        let rsp = span(&c, base);
                        to = match children(c).next() {
                            Some(e) if e.as_rule() == Rule::expr => Recipient::Expr(expr(e, base)),
                            _ => Recipient::Customer(rsp),
                        };
                    }
                    Rule::string => strings.push(string(c, base)),
                    _ => {}
                }
            }
            let mut strings = strings.into_iter();
            let template = strings.next().unwrap_or(Str { text: String::new(), span: sp });
            ActionKind::SendEmail { to, template, subject: strings.next() }
        }
        Rule::run_hook => ActionKind::RunHook(first_str(p)),
        Rule::emit_event => ActionKind::Emit(first_name(p)),
        Rule::assign => ActionKind::AssignQueue(first_str(p)),
        Rule::add_note => ActionKind::Note(first_str(p)),
        Rule::pick_lines => ActionKind::Pick,
        Rule::invoice => ActionKind::Invoice,
        other => unreachable!("grammar produced {other:?} as an action"),
    };
    Action { kind, span: sp }
}

fn record(p: P<'_>, base: usize) -> RecordAction {
    let mut r = RecordAction {
        name: Str { text: String::new(), span: Span::default() },
        complete: None,
        notify: None,
        note: None,
        contact: None,
        visible: None,
    };
    for c in children(p) {
        let value = |c: P<'_>| children(c).next().map(|e| expr(e, base));
        match c.as_rule() {
            Rule::string => r.name = string(c, base),
            Rule::state_complete => r.complete = Some(true),
            Rule::state_partial => r.complete = Some(false),
            Rule::notify_opt => r.notify = value(c),
            Rule::note_opt => r.note = value(c),
            Rule::contact_opt => r.contact = value(c),
            Rule::visible_opt => r.visible = Some(true),
            Rule::hidden_opt => r.visible = Some(false),
            _ => {}
        }
    }
    r
}

pub(super) fn expr(p: P<'_>, base: usize) -> Expr {
    let sp = span(&p, base);
    match p.as_rule() {
        Rule::expr => children(p)
            .next()
            .map(|e| expr(e, base))
            .unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp }),
        Rule::or_expr | Rule::and_expr => {
            let op = if p.as_rule() == Rule::or_expr { BinOp::Or } else { BinOp::And };
            fold_left(children(p).map(|e| expr(e, base)), |_| op)
        }
        Rule::not_expr => children(p)
            .next()
            .map(|e| expr(e, base))
            .unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp }),
        Rule::negation => {
            let inner = children(p)
                .next()
                .map(|e| expr(e, base))
                .unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp });
            Expr { kind: ExprKind::Not(Box::new(inner)), span: sp }
        }
        Rule::cmp_expr => {
            let mut it = children(p);
            let left =
                it.next().map(|e| expr(e, base)).unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp });
            match it.next() {
                None => left,
                Some(tail) if tail.as_rule() == Rule::cmp_tail => {
                    let mut t = children(tail);
                    let op = match t.next().map(|o| o.as_str().to_string()).as_deref() {
                        Some("==") => BinOp::Eq,
                        Some("!=") => BinOp::Ne,
                        Some("<=") => BinOp::Le,
                        Some(">=") => BinOp::Ge,
                        Some("<") => BinOp::Lt,
                        _ => BinOp::Gt,
                    };
                    let right = t
                        .next()
                        .map(|e| expr(e, base))
                        .unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp });
                    Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), span: sp }
                }
                Some(tail) => {
                    let negated = has_keyword(&tail, "not");
                    let list = children(tail)
                        .next()
                        .map(|l| children(l).map(|e| expr(e, base)).collect())
                        .unwrap_or_default();
                    Expr { kind: ExprKind::In { value: Box::new(left), list, negated }, span: sp }
                }
            }
        }
        Rule::sum_expr | Rule::prod_expr => binary_chain(p, base),
        Rule::neg => {
            let inner = children(p)
                .next()
                .map(|e| expr(e, base))
                .unwrap_or(Expr { kind: ExprKind::Bool(false), span: sp });
            Expr { kind: ExprKind::Neg(Box::new(inner)), span: sp }
        }
        Rule::aggregate => {
            let mut it = children(p);
            let kind = match it.next().map(|k| k.as_str().to_string()).as_deref() {
                Some("all") => Aggregate::All,
                Some("any") => Aggregate::Any,
                Some("count") => Aggregate::Count,
                _ => Aggregate::Sum,
            };
            let inner = it.next().map(|e| Box::new(expr(e, base)));
            Expr { kind: ExprKind::Aggregate(kind, inner), span: sp }
        }
        Rule::hook_guard => {
            let s =
                children(p).next().map(|s| string(s, base)).unwrap_or(Str { text: String::new(), span: sp });
            Expr { kind: ExprKind::Hook(s), span: sp }
        }
        Rule::duration => Expr { kind: ExprKind::Duration(p.as_str().to_string()), span: sp },
        Rule::number => Expr { kind: ExprKind::Number(p.as_str().to_string()), span: sp },
        Rule::string => {
            let s = string(p, base);
            Expr { kind: ExprKind::Text(s.text), span: sp }
        }
        Rule::bool_lit => Expr { kind: ExprKind::Bool(p.as_str() == "true"), span: sp },
        Rule::path => Expr { kind: ExprKind::Path(children(p).map(|n| name(n, base)).collect()), span: sp },
        Rule::code => Expr { kind: ExprKind::Code(p.as_str().to_string()), span: sp },
        other => unreachable!("grammar produced {other:?} in an expression"),
    }
}

/// `a op b op c` -> `((a op b) op c)` for sum and product chains.
fn binary_chain(p: P<'_>, base: usize) -> Expr {
    let sp = span(&p, base);
    let mut it = children(p);
    let Some(first) = it.next() else {
        return Expr { kind: ExprKind::Bool(false), span: sp };
    };
    let mut acc = expr(first, base);
    while let (Some(op), Some(rhs)) = (it.next(), it.next()) {
        let op = match op.as_str() {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            _ => BinOp::Div,
        };
        let rhs = expr(rhs, base);
        let sp = acc.span.to(rhs.span);
        acc = Expr { kind: ExprKind::Binary(op, Box::new(acc), Box::new(rhs)), span: sp };
    }
    acc
}

fn fold_left(mut it: impl Iterator<Item = Expr>, op: impl Fn(&Expr) -> BinOp) -> Expr {
    let Some(mut acc) = it.next() else {
        return Expr { kind: ExprKind::Bool(false), span: Span::default() };
    };
    for rhs in it {
        let sp = acc.span.to(rhs.span);
        let o = op(&acc);
        acc = Expr { kind: ExprKind::Binary(o, Box::new(acc), Box::new(rhs)), span: sp };
    }
    acc
}
