//! Pest pairs -> AST nodes. Keyword pairs (`K_*`) carry no information and are skipped.

use super::ast::*;
use super::Rule;
use crate::diagnostics::Span;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::LazyLock;

type P<'i> = Pair<'i, Rule>;

/// A pair's span, less the whitespace and comments pest consumed after its last token while
/// looking for optional parts (so underlines stop at the last character written).
fn span(p: &P<'_>, base: usize) -> Span {
    let s = p.as_span();
    let text = s.as_str();
    let Some(last_child) = p.clone().into_inner().last() else {
        return Span::new(s.start() + base, s.end() + base); // a token: exact
    };
    // The tail after the last inner pair holds only punctuation, whitespace and comments. The
    // last pair's own end is trimmed the same way: a repetition that found nothing more may
    // have read the whitespace after it, up to the next rule's first word.
    let tail_start = span(&last_child, base).end - base - s.start();
    let mut last_token_end = tail_start;
    let mut in_comment = false;
    for (i, c) in text[tail_start..].char_indices() {
        match c {
            '\n' => in_comment = false,
            '#' => in_comment = true,
            c if !in_comment && !c.is_whitespace() => last_token_end = tail_start + i + c.len_utf8(),
            _ => {}
        }
    }
    Span::new(s.start() + base, s.start() + last_token_end + base)
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

pub(super) fn unescape(s: &str) -> String {
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
            let mut names = Vec::new();
            let mut hidden = Vec::new();
            for entry in children(p) {
                let is_hidden = has_keyword(&entry, "hidden");
                if let Some(s) = children(entry).next() {
                    let s = string(s, base);
                    if is_hidden {
                        hidden.push(s.text.clone());
                    }
                    names.push(s);
                }
            }
            Item::Actions(ActionsDecl { names, hidden, span: sp })
        }
        Rule::settings_decl => Item::Settings(SettingsDecl {
            entries: children(p).map(|s| setting(s, base)).collect(),
            span: sp,
        }),
        Rule::channel_decl => channel(p, base),
        Rule::transition | Rule::auto_transition => Item::Transition(transition(p, base)),
        Rule::entering_decl
        | Rule::leaving_decl
        | Rule::created_decl
        | Rule::invoiced_decl
        | Rule::paid_decl => {
            let moment = match p.as_rule() {
                Rule::entering_decl => HookMoment::Entering,
                Rule::leaving_decl => HookMoment::Leaving,
                Rule::invoiced_decl => HookMoment::Invoiced,
                Rule::paid_decl => HookMoment::PaidInFull,
                _ => HookMoment::Created,
            };
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
            Rule::require_clause => {
                let rsp = span(&c, base);
                let mut fields = Vec::new();
                let mut conditions = Vec::new();
                let mut unless = false;
                for part in children(c) {
                    if part.as_rule() == Rule::require_cond {
                        unless = has_keyword(&part, "unless");
                        conditions = children(part).map(|k| channel_cond(k, base)).collect();
                    } else {
                        fields.push(name(part, base));
                    }
                }
                required.push(Requirement { fields, conditions, unless, span: rsp });
            }
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
    let mut guard_ = None;
    for c in children(p) {
        match c.as_rule() {
            Rule::ident => name_ = Some(name(c, base)),
            Rule::duration => after = Some(name(c, base)),
            Rule::ident_list => statuses = names(c, base),
            Rule::guard => guard_ = children(c).next().map(|e| expr(e, base)),
            Rule::target => tgt = Some(target(c, base)),
            Rule::action_block => actions = action_block(c, base),
            _ => {}
        }
    }
    Item::Timer(TimerDecl {
        name: name_.unwrap_or_else(|| missing(sp)),
        after: after.unwrap_or_else(|| missing(sp)),
        statuses,
        guard: guard_,
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
        Rule::assign => match children(p).next() {
            Some(q) if q.as_rule() == Rule::assign_queue => ActionKind::AssignQueue(first_str(q)),
            Some(e) => ActionKind::AssignPerson(expr(e, base)),
            None => ActionKind::AssignQueue(Str { text: String::new(), span: sp }),
        },
        Rule::add_note => match children(p).next() {
            Some(e) => ActionKind::Note(expr(e, base)),
            None => ActionKind::Note(Expr { kind: ExprKind::Text(String::new()), span: sp }),
        },
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

/// Operator precedence, loosest first (see the grammar's `expr`).
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or_op, Assoc::Left))
        .op(Op::infix(Rule::and_op, Assoc::Left))
        .op(Op::prefix(Rule::not_op))
        .op(Op::infix(Rule::cmp_op, Assoc::Left) | Op::postfix(Rule::in_tail) | Op::postfix(Rule::text_tail))
        .op(Op::infix(Rule::add_op, Assoc::Left))
        .op(Op::infix(Rule::mul_op, Assoc::Left))
        .op(Op::prefix(Rule::neg_op))
});

fn boxed(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

/// An `expr` pair -> an expression tree, with precedence applied.
pub(super) fn expr(p: P<'_>, base: usize) -> Expr {
    PRATT
        .map_primary(|operand| primary(operand, base))
        .map_prefix(|op, rhs| {
            let sp = span(&op, base).to(rhs.span);
            match op.as_rule() {
                Rule::not_op => boxed(ExprKind::Not(Box::new(rhs)), sp),
                _ => boxed(ExprKind::Neg(Box::new(rhs)), sp),
            }
        })
        .map_postfix(|lhs, tail| {
            let sp = lhs.span.to(span(&tail, base));
            if tail.as_rule() == Rule::text_tail {
                let mut parts = children(tail);
                let test = match parts.next() {
                    Some(op) if has_keyword(&op, "starts") => TextTest::StartsWith,
                    Some(op) if has_keyword(&op, "ends") => TextTest::EndsWith,
                    _ => TextTest::Contains,
                };
                let patterns = match parts.next() {
                    Some(l) if l.as_rule() == Rule::list => children(l).map(|e| expr(e, base)).collect(),
                    Some(one) => vec![primary(one, base)],
                    None => Vec::new(),
                };
                return boxed(ExprKind::TextTest { value: Box::new(lhs), test, patterns }, sp);
            }
            let negated = has_keyword(&tail, "not");
            let list = children(tail)
                .next()
                .map(|l| children(l).map(|e| expr(e, base)).collect())
                .unwrap_or_default();
            boxed(ExprKind::In { value: Box::new(lhs), list, negated }, sp)
        })
        .map_infix(|lhs, op, rhs| {
            let sp = lhs.span.to(rhs.span);
            let op = match (op.as_rule(), op.as_str()) {
                (Rule::or_op, _) => BinOp::Or,
                (Rule::and_op, _) => BinOp::And,
                (_, "==") => BinOp::Eq,
                (_, "!=") => BinOp::Ne,
                (_, "<=") => BinOp::Le,
                (_, ">=") => BinOp::Ge,
                (_, "<") => BinOp::Lt,
                (_, ">") => BinOp::Gt,
                (_, "+") => BinOp::Add,
                (_, "-") => BinOp::Sub,
                (_, "*") => BinOp::Mul,
                _ => BinOp::Div,
            };
            boxed(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), sp)
        })
        .parse(p.into_inner())
}

fn primary(p: P<'_>, base: usize) -> Expr {
    let sp = span(&p, base);
    let kind = match p.as_rule() {
        Rule::paren => {
            return children(p).next().map(|e| expr(e, base)).unwrap_or(boxed(ExprKind::Bool(false), sp));
        }
        Rule::aggregate => {
            let mut it = children(p);
            let kind = match it.next().map(|k| k.as_str().to_string()).as_deref() {
                Some("all") => Aggregate::All,
                Some("any") => Aggregate::Any,
                Some("count") => Aggregate::Count,
                _ => Aggregate::Sum,
            };
            ExprKind::Aggregate(kind, it.next().map(|e| Box::new(expr(e, base))))
        }
        Rule::hook_guard => ExprKind::Hook(
            children(p).next().map(|s| string(s, base)).unwrap_or(Str { text: String::new(), span: sp }),
        ),
        Rule::duration => ExprKind::Duration(p.as_str().to_string()),
        Rule::number => ExprKind::Number(p.as_str().to_string()),
        Rule::string => ExprKind::Text(string(p, base).text),
        Rule::bool_lit => ExprKind::Bool(p.as_str() == "true"),
        Rule::path => ExprKind::Path(name(p, base)),
        Rule::code => ExprKind::Code(p.as_str().to_string()),
        other => unreachable!("grammar produced {other:?} as an operand"),
    };
    boxed(kind, sp)
}
