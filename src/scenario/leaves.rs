//! What leaves: the webhooks and emails a step queued, built as the delivery worker builds them
//! (payload hooks run on the order after the step, seeing the event; email templates rendered
//! from the workflow folder's `templates/`), and the scenario's `webhooks = [...]` and
//! `emails = [...]` expectations checked against them.

use super::format::{EmailExpect, WebhookExpect};
use crate::delivery::{self, template::Rendered};
use crate::engine::{Hooks, OutboxMessage};
use crate::order::{Order, Time};
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::Path;
use std::str::FromStr;

/// One message as it would leave: a webhook's body, or an email as rendered (or why not).
#[derive(Debug, Clone)]
pub(super) enum Leaving {
    /// A webhook to `target`.
    Webhook {
        /// The target's name.
        target: String,
        /// The body delivery would send.
        body: Result<Value, String>,
    },
    Email {
        template: String,
        /// The recipient.
        to: String,
        /// The email as rendered.
        rendered: Result<Rendered, String>,
    },
}

/// Builds what each message would send.
pub(super) fn build(
    messages: &[OutboxMessage],
    order: &Order,
    hooks: &dyn Hooks,
    templates: &Path,
    now: Time,
) -> Vec<Leaving> {
    messages
        .iter()
        .map(|m| match m.kind.as_str() {
            "email" => Leaving::Email {
                template: m.template.clone().unwrap_or_default(),
                to: m.target.clone(),
                rendered: delivery::email::render(templates, m),
            },
            _ => Leaving::Webhook {
                target: m.target.clone(),
                body: delivery::webhook_body(hooks, m, order, now),
            },
        })
        .collect()
}

/// Checks `webhooks = [...]`: each expected webhook matches one the step sent (in order, each
/// used once) whose body contains the expected body.
pub(super) fn check_webhooks(want: &[WebhookExpect], sent: &[Leaving], d: &mut Vec<String>) {
    let mut used = vec![false; sent.len()];
    for (i, w) in want.iter().enumerate() {
        let at = format!("webhooks[{}] to `{}`", i + 1, w.target);
        let expected = w.body.as_ref().map(toml_to_json);
        // The webhooks sent to the target and not matched yet, each with its `used` mark.
        let candidates: Vec<(&Result<Value, String>, &mut bool)> = sent
            .iter()
            .zip(used.iter_mut())
            .filter(|(_, used)| !**used)
            .filter_map(|(s, used)| match s {
                Leaving::Webhook { target, body } if *target == w.target => Some((body, used)),
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            let sent: Vec<String> = sent
                .iter()
                .filter_map(|s| match s {
                    Leaving::Webhook { target, .. } => Some(format!("`{target}`")),
                    Leaving::Email { .. } => None,
                })
                .collect();
            let sent = if sent.is_empty() { "none".to_string() } else { sent.join(", ") };
            d.push(format!("{at}: no such webhook was sent (webhooks sent: {sent})"));
            continue;
        }
        let mut first_problem = None;
        for (body, used) in candidates {
            let problem = match (body, &expected) {
                (Err(e), _) => Some(format!("its body cannot be built: {e}")),
                (Ok(_), None) => None,
                (Ok(got), Some(want)) => subset(want, got, "body").err(),
            };
            match problem {
                None => {
                    *used = true;
                    first_problem = None;
                    break;
                }
                Some(p) => {
                    first_problem.get_or_insert(p);
                }
            }
        }
        if let Some(p) = first_problem {
            d.push(format!("{at}: {p}"));
        }
    }
}

/// Checks `emails = [...]`: each expected email matches one the step sent (in order, each used
/// once) by template and recipient, with the subject and the text as expected.
pub(super) fn check_emails(want: &[EmailExpect], sent: &[Leaving], d: &mut Vec<String>) {
    let mut used = vec![false; sent.len()];
    for (i, w) in want.iter().enumerate() {
        let at = format!(
            "emails[{}]{}",
            i + 1,
            w.template.as_ref().map(|t| format!(" `{t}`")).unwrap_or_default()
        );
        // The emails sent as expected (template, recipient) and not matched yet, each with its `used` mark.
        let candidates: Vec<(&Result<Rendered, String>, &mut bool)> = sent
            .iter()
            .zip(used.iter_mut())
            .filter(|(_, used)| !**used)
            .filter_map(|(s, used)| match s {
                Leaving::Email { template, to, rendered }
                    if w.template.as_ref().is_none_or(|t| t == template)
                        && w.to.as_ref().is_none_or(|a| a == to) =>
                {
                    Some((rendered, used))
                }
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            let sent: Vec<String> = sent
                .iter()
                .filter_map(|s| match s {
                    Leaving::Email { template, to, .. } => Some(format!("`{template}` to {to}")),
                    Leaving::Webhook { .. } => None,
                })
                .collect();
            let sent = if sent.is_empty() { "none".to_string() } else { sent.join(", ") };
            let to = w.to.as_ref().map(|a| format!(" to {a}")).unwrap_or_default();
            d.push(format!("{at}{to}: no such email was sent (emails sent: {sent})"));
            continue;
        }
        let mut first_problem = None;
        for (rendered, used) in candidates {
            let problem = match rendered {
                Err(e) => Some(format!("it cannot be rendered: {e}")),
                Ok(r) => email_problem(w, r),
            };
            match problem {
                None => {
                    *used = true;
                    first_problem = None;
                    break;
                }
                Some(p) => {
                    first_problem.get_or_insert(p);
                }
            }
        }
        if let Some(p) = first_problem {
            d.push(format!("{at}: {p}"));
        }
    }
}

fn email_problem(w: &EmailExpect, r: &Rendered) -> Option<String> {
    if let Some(subject) = &w.subject {
        if *subject != r.subject {
            return Some(format!("subject: expected {subject:?}, got {:?}", r.subject));
        }
    }
    for part in w.text_contains.iter().flatten() {
        if !r.text.contains(part.as_str()) {
            return Some(format!(
                "text: expected it to contain {part:?}, but it reads:\n{}",
                indent(&r.text)
            ));
        }
    }
    None
}

fn indent(text: &str) -> String {
    text.trim_end().lines().map(|l| format!("         | {l}")).collect::<Vec<_>>().join("\n")
}

/// TOML as JSON: tables are objects, arrays arrays, dates their text.
fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(t) => Value::String(t.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

/// Whether `want` is contained in `got`: every key of an expected object is there with a
/// contained value, arrays match element by element, numbers equal decimal text (`35.00` and
/// `"35.00"`). `Err` says where the first difference is.
pub(super) fn subset(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let path = format!("{at}.{k}");
                match g.get(k) {
                    Some(gv) => subset(wv, gv, &path)?,
                    None => {
                        let keys: Vec<&str> = g.keys().map(String::as_str).collect();
                        return Err(format!(
                            "{path}: expected {}, but the body has no `{k}` (it has: {})",
                            show(wv),
                            keys.join(", ")
                        ));
                    }
                }
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                return Err(format!("{at}: expected {} items, got {}: {}", w.len(), g.len(), show(got)));
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                subset(wv, gv, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(w), Value::String(g)) | (Value::String(g), Value::Number(w))
            if same_decimal(&w.to_string(), g) =>
        {
            Ok(())
        }
        (Value::Number(w), Value::Number(g)) if same_decimal(&w.to_string(), &g.to_string()) => Ok(()),
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: expected {}, got {}", show(want), show(got))),
    }
}

fn same_decimal(a: &str, b: &str) -> bool {
    match (Decimal::from_str(a), Decimal::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn show(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 200 {
        format!("{}...", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::subset;
    use serde_json::json;

    #[test]
    fn a_body_contains_what_is_expected() {
        let got = json!({"a": "35.00", "b": {"c": [1, {"d": true, "e": 2}]}, "f": null});
        assert!(subset(&json!({"a": 35.0}), &got, "body").is_ok());
        assert!(subset(&json!({"a": "35"}), &got, "body").is_err(), "text compares as text");
        assert!(subset(&json!({"b": {"c": [1, {"d": true}]}}), &got, "body").is_ok());
        let e = subset(&json!({"b": {"c": [1, {"d": false}]}}), &got, "body").expect_err("differs");
        assert_eq!(e, "body.b.c[1].d: expected false, got true");
        let e = subset(&json!({"x": 1}), &got, "body").expect_err("missing");
        assert!(e.starts_with("body.x: expected 1, but the body has no `x`"), "{e}");
        assert!(subset(&json!({"b": {"c": [1]}}), &got, "body").is_err(), "arrays match in length");
    }
}
