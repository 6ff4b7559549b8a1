//! Channel defaults: required fields, start and refuse rules, and the coverage check that
//! every payment outcome of every mode and method a channel names gets an initial status.

use super::decls::Decls;
use super::Checker;
use crate::diagnostics::{suggestion, Code, Diagnostic, Span};
use crate::model::{Channel, ChannelRule, FieldRef, PaymentOutcome, Required};
use crate::schema;
use crate::syntax::ast::{self, ChannelCond, Name};

/// Roots a channel may require fields of.
const REQUIRABLE: &[&str] = &["order", "customer", "shipping", "billing", "payment", "attributes"];

pub(super) fn compile(ch: &mut Checker<'_>, d: &Decls, c: &ast::ChannelDecl) -> Channel {
    let mut required = Vec::new();
    // The modes the channel's rules name: a requirement's `mode` must be one of them.
    let modes: Vec<&str> = c
        .rules
        .iter()
        .flat_map(|r| r.conditions.iter())
        .filter_map(|k| match k {
            ChannelCond::Mode(ms) => Some(ms.iter().map(|m| m.text.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    for req in &c.required {
        for k in &req.conditions {
            let ChannelCond::Mode(ms) = k else { continue };
            for m in ms.iter().filter(|m| !modes.contains(&m.text.as_str())) {
                let d = Diagnostic::error(
                    Code::UnknownCode,
                    format!("`{}` is not a mode of channel `{}`", m.text, c.code.text),
                    m.span,
                )
                .with_label("no rule of this channel names this mode");
                let help = suggestion(&m.text, modes.iter().copied()).unwrap_or_else(|| {
                    if modes.is_empty() {
                        "this channel's rules name no mode: add `when mode NAME` to a `start in` rule".into()
                    } else {
                        format!("the channel's modes are {}", modes.join(", "))
                    }
                });
                ch.report(d.with_help(help));
            }
        }
        let only = if req.conditions.is_empty() {
            None
        } else {
            // The conditions read like a channel rule's, and are checked as one.
            let as_rule = ast::ChannelRule {
                start: None,
                conditions: req.conditions.clone(),
                message: None,
                span: req.span,
            };
            match rule(ch, d, &as_rule) {
                Some(r) => Some((r, req.unless)),
                None => continue,
            }
        };
        for p in &req.fields {
            if let Some(field) = required_field(ch, d, p) {
                required.push(Required { field, only: only.clone() });
            }
        }
    }
    let rules: Vec<ChannelRule> = c.rules.iter().filter_map(|r| rule(ch, d, r)).collect();
    if rules.len() == c.rules.len() {
        coverage(ch, c, &rules);
    }
    Channel {
        code: c.code.text.clone(),
        label: c.label.as_ref().map_or_else(|| c.code.text.clone(), |l| l.text.clone()),
        required,
        rules,
    }
}

fn required_field(ch: &mut Checker<'_>, d: &Decls, path: &Name) -> Option<FieldRef> {
    let mut parts = path.text.splitn(2, '.');
    let root = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    let bad = |ch: &mut Checker<'_>, help: String| {
        ch.report(
            Diagnostic::error(Code::UnknownField, format!("unknown field `{}`", path.text), path.span)
                .with_label("a channel can require order, customer, address, payment and attribute fields")
                .with_help(help),
        );
    };
    if !REQUIRABLE.contains(&root) || name.contains('.') {
        let help = crate::diagnostics::did_you_mean(root, REQUIRABLE.iter().copied())
            .map(|r| format!("did you mean `{r}.{name}`?"))
            .unwrap_or_else(|| "e.g. `require customer.email, shipping.zip`".into());
        bad(ch, help);
        return None;
    }
    if root == "attributes" {
        if d.attribute(name).is_some() {
            return Some(FieldRef::Attribute(name.into()));
        }
        let span = Span::new(path.span.start + root.len() + 1, path.span.end);
        let n = Name { text: name.into(), span };
        ch.unknown(
            Code::UnknownAttribute,
            "attribute",
            &n,
            d.attributes.iter().map(|a| a.name.as_str()),
            || format!("declare it: `attribute {name}: text`"),
        );
        return None;
    }
    let fields = schema::guard_fields(root);
    match schema::guard_field(root, name) {
        Some((field, _)) => Some(field),
        None => {
            let span = Span::new(path.span.start + root.len() + 1, path.span.end);
            let n = Name { text: name.into(), span };
            ch.unknown_field(root, &n, &format!("`{root}`"), fields.iter().copied(), || {
                format!("the fields of `{root}` are {}", fields.join(", "))
            });
            None
        }
    }
}

fn rule(ch: &mut Checker<'_>, d: &Decls, r: &ast::ChannelRule) -> Option<ChannelRule> {
    let mut ok = true;
    let start = match &r.start {
        Some(s) => match d.status(&s.text) {
            Some(id) => Some(id),
            None => {
                ch.unknown(Code::UnknownStatus, "status", s, d.status_names(), || {
                    format!("declare it: `status {} \"Label\"`", s.text)
                });
                ok = false;
                None
            }
        },
        None => None,
    };
    let mut out = ChannelRule {
        start,
        modes: None,
        methods: None,
        outcomes: None,
        unpaid: false,
        message: r.message.as_ref().map(|m| m.text.clone()),
        span: r.span,
    };
    let texts = |ns: &[Name]| ns.iter().map(|n| n.text.clone()).collect::<Vec<_>>();
    for cond in &r.conditions {
        match cond {
            ChannelCond::Mode(ms) => out.modes = Some(texts(ms)),
            ChannelCond::Method(ms) => {
                for m in ms {
                    if !schema::PAYMENT_METHODS.contains(&m.text.as_str()) {
                        if let Some(help) = suggestion(&m.text, schema::PAYMENT_METHODS.iter().copied()) {
                            ch.report(
                                Diagnostic::warning(
                                    Code::UnknownCode,
                                    format!("`{}` is not a standard payment method", m.text),
                                    m.span,
                                )
                                .with_label("clients may not send this")
                                .with_help(help),
                            );
                        }
                    }
                }
                out.methods = Some(texts(ms));
            }
            ChannelCond::Outcome(os) => {
                let mut outcomes = Vec::new();
                for o in os {
                    match PaymentOutcome::from_code(&o.text) {
                        Some(x) => outcomes.push(x),
                        None => {
                            ch.unknown(
                                Code::UnknownCode,
                                "payment outcome",
                                o,
                                PaymentOutcome::ALL.iter().map(|x| x.code()),
                                || "the outcomes are approved, declined, pending, invalid".into(),
                            );
                            ok = false;
                        }
                    }
                }
                out.outcomes = Some(outcomes);
            }
            ChannelCond::Unpaid(_) => out.unpaid = true,
        }
    }
    if out.unpaid && (out.methods.is_some() || out.outcomes.is_some()) {
        ch.report(
            Diagnostic::error(
                Code::Contradiction,
                "a rule cannot be both `unpaid` and about a payment",
                r.span,
            )
            .with_label("no order can match this rule")
            .with_help("split it into two rules"),
        );
        ok = false;
    }
    ok.then_some(out)
}

/// One kind of order a channel may receive.
#[derive(Clone, Copy, PartialEq)]
struct Case<'a> {
    mode: Option<&'a str>,
    /// `None`: unpaid; `Some((None, o))`: paid by a method no rule names.
    payment: Option<(Option<&'a str>, PaymentOutcome)>,
}

fn matches(r: &ChannelRule, case: Case<'_>) -> bool {
    r.takes(case.mode, case.payment)
}

fn describe(case: Case<'_>) -> String {
    let mode = case.mode.map(|m| format!("in mode `{m}` ")).unwrap_or_default();
    match case.payment {
        None => format!("an order {mode}with no payment"),
        Some((Some(m), o)) => format!("an order {mode}paid by `{m}` with payment `{}`", o.code()),
        Some((None, o)) => format!("an order {mode}with payment `{}`", o.code()),
    }
}

fn coverage(ch: &mut Checker<'_>, c: &ast::ChannelDecl, rules: &[ChannelRule]) {
    let mut modes: Vec<Option<&str>> = Vec::new();
    let mut methods: Vec<&str> = Vec::new();
    let mut any_unpaid = false;
    for r in rules {
        for m in r.modes.iter().flatten() {
            if !modes.contains(&Some(m.as_str())) {
                modes.push(Some(m));
            }
        }
        for m in r.methods.iter().flatten() {
            if !methods.contains(&m.as_str()) {
                methods.push(m);
            }
        }
        any_unpaid |= r.unpaid;
    }
    // The cases the channel names must all be covered. Orders in a mode or paid by a method no
    // rule names ("other") need not be: they are refused unless a rule takes them. They still
    // count when deciding whether a rule can ever apply (a last catch-all takes them).
    let named_modes = !modes.is_empty();
    let named_methods = !methods.is_empty();
    modes.push(None);
    let mut payments: Vec<Option<(Option<&str>, PaymentOutcome)>> = Vec::new();
    let method_options: Vec<Option<&str>> = methods.iter().map(|m| Some(*m)).chain([None]).collect();
    for m in &method_options {
        for o in PaymentOutcome::ALL {
            payments.push(Some((*m, o)));
        }
    }
    if any_unpaid {
        payments.push(None);
    }
    let all_cases: Vec<Case<'_>> = modes
        .iter()
        .flat_map(|mode| payments.iter().map(move |p| Case { mode: *mode, payment: *p }))
        .collect();
    let is_other = |case: &Case<'_>| {
        (named_modes && case.mode.is_none()) || (named_methods && matches!(case.payment, Some((None, _))))
    };
    let cases: Vec<Case<'_>> = all_cases.iter().copied().filter(|c| !is_other(c)).collect();

    let gaps: Vec<String> =
        cases.iter().filter(|case| !rules.iter().any(|r| matches(r, **case))).map(|c| describe(*c)).collect();
    if let Some(first) = gaps.first() {
        let mut d = Diagnostic::error(
            Code::UncoveredOutcome,
            format!("channel `{}` has no initial status for {first}", c.code.text),
            c.code.span,
        )
        .with_label(format!(
            "{} case{} without a rule",
            gaps.len(),
            if gaps.len() == 1 { "" } else { "s" }
        ));
        for g in gaps.iter().skip(1).take(5) {
            d = d.with_help(format!("also {g}"));
        }
        if gaps.len() > 6 {
            d = d.with_help(format!("and {} more", gaps.len() - 6));
        }
        d = d.with_help("add `start in STATUS when ...` for these cases, a `refuse when ...` rule, or a last `start in STATUS` with no condition");
        ch.report(d);
    }

    // A rule every case of which an earlier rule already takes can never apply.
    for (i, r) in rules.iter().enumerate() {
        let own: Vec<&Case<'_>> = all_cases.iter().filter(|case| matches(r, **case)).collect();
        let shadowed = own.iter().all(|case| rules.iter().take(i).any(|e| matches(e, **case)));
        if shadowed {
            let earlier = rules.iter().take(i).find(|e| own.iter().any(|case| matches(e, **case)));
            let mut d =
                Diagnostic::warning(Code::UnreachableRule, "this channel rule can never apply", r.span)
                    .with_label("every order it matches is taken by an earlier rule");
            if let Some(e) = earlier {
                d = d.with_note(e.span, "taken here");
            }
            ch.report(d.with_help("rules are tried in order: move it up, or narrow the earlier rule"));
        }
    }
}
