//! Actions inside `{ ... }`: names resolved (flags, attributes, fulfillment actions, timers,
//! webhooks, events, hooks) and value expressions typed.

use super::decls::Decls;
use super::exprs::{self, Scope};
use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, RecordSpec, Type};
use crate::syntax::ast::{self, ActionKind, Name};

/// Compiles a list of actions; actions with errors are reported and left out.
pub(super) fn actions(
    ch: &mut Checker<'_>,
    d: &Decls,
    list: &[ast::Action],
    scope: Scope<'_>,
) -> Vec<model::Action> {
    list.iter().filter_map(|a| action(ch, d, a, scope)).collect()
}

fn flag(ch: &mut Checker<'_>, d: &Decls, name: &Name) -> Option<String> {
    if d.flags.iter().any(|f| f.name == name.text) {
        return Some(name.text.clone());
    }
    ch.unknown(Code::UnknownFlag, "flag", name, d.flag_names(), || {
        format!("declare it: `flag {} \"what it means\"`", name.text)
    });
    None
}

fn text_expr(
    ch: &mut Checker<'_>,
    d: &Decls,
    e: &ast::Expr,
    scope: Scope<'_>,
    what: &str,
) -> Option<model::Expr> {
    let c = exprs::expr(ch, d, e, scope)?;
    if !c.ty.is_textual() {
        ch.report(
            Diagnostic::error(
                Code::TypeMismatch,
                format!("{what} must be text, not {}", c.ty.describe()),
                e.span,
            )
            .with_label(format!("this is {}", c.ty.describe()))
            .with_help("use a quoted text or a text field such as `customer.email`"),
        );
        return None;
    }
    Some(c)
}

fn action(ch: &mut Checker<'_>, d: &Decls, a: &ast::Action, scope: Scope<'_>) -> Option<model::Action> {
    Some(match &a.kind {
        ActionKind::SetFlag(n) => model::Action::SetFlag(flag(ch, d, n)?),
        ActionKind::ClearFlag(n) => model::Action::ClearFlag(flag(ch, d, n)?),
        ActionKind::SetField(path, value) => {
            let root = path.text.split('.').next().unwrap_or_default();
            let attr = path.text.strip_prefix("attributes.").filter(|rest| !rest.contains('.'));
            let Some(attr) = attr else {
                ch.report(
                    Diagnostic::error(
                        Code::NotSettable,
                        format!("`{}` cannot be set by a workflow", path.text),
                        path.span,
                    )
                    .with_label(if root == "flags" {
                        "flags are set with `set flag NAME`"
                    } else {
                        "only attributes can be set"
                    })
                    .with_help(if root == "flags" {
                        "write `set flag NAME` or `clear flag NAME`".to_string()
                    } else {
                        "declare an attribute (`attribute NAME: text`) and set `attributes.NAME`".to_string()
                    }),
                );
                return None;
            };
            let attr_start = path.span.start + "attributes.".len();
            let attr_name = Name {
                text: attr.to_string(),
                span: crate::diagnostics::Span::new(attr_start, path.span.end),
            };
            let Some(ty) = d.attribute(attr) else {
                ch.unknown(
                    Code::UnknownAttribute,
                    "attribute",
                    &attr_name,
                    d.attributes.iter().map(|a| a.name.as_str()),
                    || format!("declare it: `attribute {attr}: text`"),
                );
                return None;
            };
            let v = exprs::expr(ch, d, value, scope)?;
            if !fits(v.ty, ty) {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("`{attr}` holds {}, not {}", ty.describe(), v.ty.describe()),
                        value.span,
                    )
                    .with_label(format!("this is {}", v.ty.describe()))
                    .with_note(path.span, format!("declared as {}", ty.describe()))
                    .with_help("set it to a value of the declared type"),
                );
                return None;
            }
            model::Action::SetAttribute(attr.to_string(), v)
        }
        ActionKind::Record(r) => record(ch, d, r, scope)?,
        ActionKind::StartTimer(n) | ActionKind::CancelTimer(n) => {
            if !d.timers.contains(&n.text) {
                ch.unknown(Code::UnknownTimer, "timer", n, d.timers.iter().map(String::as_str), || {
                    format!("declare it: `timer {} after 30m {{ ... }}`", n.text)
                });
                return None;
            }
            if matches!(a.kind, ActionKind::StartTimer(_)) {
                model::Action::StartTimer(n.text.clone())
            } else {
                model::Action::CancelTimer(n.text.clone())
            }
        }
        ActionKind::SendWebhook { target, hook } => {
            if !d.webhooks.contains(&target.text) {
                ch.unknown(
                    Code::UnknownWebhook,
                    "webhook",
                    target,
                    d.webhooks.iter().map(String::as_str),
                    || format!("declare it: `webhook {} \"what it is\"`", target.text),
                );
                return None;
            }
            if let Some(h) = hook {
                ch.hook_ref(h);
            }
            model::Action::SendWebhook {
                target: target.text.clone(),
                hook: hook.as_ref().map(|h| h.text.clone()),
            }
        }
        ActionKind::SendEmail { to, template, subject } => {
            let to = match to {
                ast::Recipient::Customer(_) => model::Recipient::Customer,
                ast::Recipient::Expr(e) => {
                    model::Recipient::Address(text_expr(ch, d, e, scope, "an email address")?)
                }
            };
            if template.text.trim().is_empty() {
                ch.report(
                    Diagnostic::error(Code::InvalidTemplate, "the email template has no name", template.span)
                        .with_label("empty")
                        .with_help("name a template in `templates/`, e.g. `template \"order_shipped\"`"),
                );
                return None;
            }
            if let Some(files) = &ch.context.template_files {
                if !files.contains(&template.text) {
                    let d = Diagnostic::error(
                        Code::UnknownTemplate,
                        format!("email template `{}` does not exist", template.text),
                        template.span,
                    )
                    .with_label(format!("no `templates/{}.txt` beside the workflow", template.text));
                    let d = match crate::diagnostics::suggestion(
                        &template.text,
                        files.iter().map(String::as_str),
                    ) {
                        Some(s) => d.with_help(s),
                        None => d.with_help(format!(
                            "create `templates/{}.txt` (the text body; `.html` beside it is optional)",
                            template.text
                        )),
                    };
                    ch.report(d);
                    return None;
                }
            }
            model::Action::SendEmail {
                to,
                template: template.text.clone(),
                subject: subject.as_ref().map(|s| s.text.clone()),
            }
        }
        ActionKind::RunHook(h) => {
            ch.hook_ref(h);
            model::Action::RunHook(h.text.clone())
        }
        ActionKind::Emit(n) => match d.event(&n.text) {
            Some(id) => model::Action::Emit(id),
            None => {
                ch.unknown(Code::UnknownEvent, "event", n, d.events.iter().map(|e| e.name.as_str()), || {
                    format!("declare it: `event {}`", n.text)
                });
                return None;
            }
        },
        ActionKind::AssignQueue(q) => model::Action::AssignQueue(q.text.clone()),
        ActionKind::AssignPerson(e) => {
            model::Action::AssignPerson(text_expr(ch, d, e, scope, "the person assigned")?)
        }
        ActionKind::Note(n) => model::Action::Note(text_expr(ch, d, n, scope, "a note")?),
        ActionKind::Pick => model::Action::Pick,
        ActionKind::Invoice => model::Action::Invoice,
    })
}

fn record(ch: &mut Checker<'_>, d: &Decls, r: &ast::RecordAction, scope: Scope<'_>) -> Option<model::Action> {
    if !d.fulfillment_actions.contains(&r.name.text) {
        let as_name = Name { text: r.name.text.clone(), span: r.name.span };
        let d_ = Diagnostic::error(
            Code::UnknownAction,
            format!("unknown fulfillment action `{}`", r.name.text),
            r.name.span,
        )
        .with_label("not in this workflow's `fulfillment actions` list");
        let help =
            crate::diagnostics::suggestion(&as_name.text, d.fulfillment_actions.iter().map(String::as_str))
                .map(|s| s.replace('`', "\""))
                .unwrap_or_else(|| format!("add \"{}\" to `fulfillment actions {{ ... }}`", r.name.text));
        ch.report(d_.with_help(help));
        return None;
    }
    let mut opt = |e: &Option<ast::Expr>, what: &str| match e {
        Some(e) => text_expr(ch, d, e, scope, what).map(Some),
        None => Some(None),
    };
    let notify = opt(&r.notify, "the person notified");
    let note = opt(&r.note, "a note");
    let contact = opt(&r.contact, "a contact");
    Some(model::Action::Record(RecordSpec {
        name: r.name.text.clone(),
        complete: r.complete.unwrap_or(true),
        notify: notify?,
        note: note?,
        contact: contact?,
        visible: r.visible.unwrap_or(!d.hidden_actions.contains(&r.name.text)),
    }))
}

/// Whether a value of one type may be stored in an attribute declared with another.
fn fits(value: Type, declared: Type) -> bool {
    value == declared
        || (value.is_numeric() && declared.is_numeric())
        || (value.is_textual() && declared.is_textual())
}
