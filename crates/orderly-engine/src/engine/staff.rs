//! What staff do to an order by hand, outside the workflow's events: put it in a queue or take
//! it (the CSR dashboard's "In queue" and "My open"), and write to someone about it (SalesCart's
//! "email the customer or the fulfillment house"). Both respect the order's lock like every
//! other input, record a history row with the actor, and change no status.

use super::run::{locked, Run};
use super::{Decision, MessageKind, NoHooks, OutboxMessage, Problem, Rejection, RejectionCode};
use crate::limits::{text_problem, MAX_CODE, MAX_EMAIL, MAX_NAME};
use crate::order::{Order, Time};
use model::Workflow;
use orderly_lang::model;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest free-form email body, in characters.
pub const MAX_EMAIL_BODY: usize = 20_000;

/// A change of queue or assignee. `None` leaves a field as it is; an empty text clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignInput {
    /// The staff queue the order goes to (`""`: none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub queue: Option<String>,
    /// The person who works it (`""`: nobody, back to the queue).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub assignee: Option<String>,
    /// Who did it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub actor: Option<String>,
}

/// A free-form email about an order, sent through the outbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    /// The address it goes to.
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub to: String,
    /// The subject line.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub subject: String,
    /// The text.
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub body: String,
    /// Who wrote it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub actor: Option<String>,
}

fn refuse(message: &str, problems: Vec<Problem>) -> Result<(), Rejection> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut r = Rejection::new(RejectionCode::InvalidData, message);
    r.problems = problems;
    Err(r)
}

fn long(fields: &[(&str, Option<&str>, usize)]) -> Vec<Problem> {
    fields
        .iter()
        .filter_map(|(field, text, max)| {
            text.and_then(|t| text_problem(t, *max))
                .map(|problem| Problem { field: (*field).into(), problem })
        })
        .collect()
}

/// Puts the order in a queue and/or assigns it (the history row `assigned` says what changed
/// and who did it). Refused while another holder has the lock.
pub fn assign(w: &Workflow, order: &Order, input: &AssignInput, now: Time) -> Result<Decision, Rejection> {
    let mut problems = long(&[
        ("queue", input.queue.as_deref(), MAX_CODE),
        ("assignee", input.assignee.as_deref(), MAX_NAME),
        ("actor", input.actor.as_deref(), MAX_NAME),
    ]);
    if input.queue.is_none() && input.assignee.is_none() {
        problems.push(Problem { field: "queue".into(), problem: "give a queue or an assignee".into() });
    }
    refuse("the assignment is not one the service can keep", problems)?;
    locked(order, input.actor.as_deref(), now)?;
    let clean = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let mut run = Run::new(w, &NoHooks, order.clone(), now, input.actor.clone());
    let mut detail = serde_json::Map::new();
    if let Some(q) = &input.queue {
        run.order.queue = clean(q);
        detail.insert("queue".into(), json!(run.order.queue));
    }
    if let Some(a) = &input.assignee {
        run.order.assignee = clean(a);
        detail.insert("assignee".into(), json!(run.order.assignee));
    }
    run.record("assigned", None, serde_json::Value::Object(detail));
    Ok(run.into_decision())
}

/// Whether `s` looks like one email address: something, `@`, a domain with a dot, no spaces.
fn looks_like_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        }
        None => false,
    }
}

/// Queues a free-form email about the order (kind `email`, no template: the body as written)
/// and records it in the history (`emailed`, with the address and subject).
pub fn email(w: &Workflow, order: &Order, input: &EmailInput, now: Time) -> Result<Decision, Rejection> {
    let to = input.to.trim();
    let mut problems = long(&[
        ("to", Some(to), MAX_EMAIL),
        ("subject", Some(&input.subject), MAX_NAME),
        ("body", Some(&input.body), MAX_EMAIL_BODY),
        ("actor", input.actor.as_deref(), MAX_NAME),
    ]);
    if !looks_like_address(to) {
        problems.push(Problem { field: "to".into(), problem: "is not an email address".into() });
    }
    if input.subject.trim().is_empty() {
        problems.push(Problem { field: "subject".into(), problem: "is missing".into() });
    }
    if input.subject.chars().any(char::is_control) {
        problems.push(Problem { field: "subject".into(), problem: "has a line break".into() });
    }
    if input.body.trim().is_empty() {
        problems.push(Problem { field: "body".into(), problem: "is missing".into() });
    }
    refuse("the email cannot be sent as written", problems)?;
    locked(order, input.actor.as_deref(), now)?;
    let mut run = Run::new(w, &NoHooks, order.clone(), now, input.actor.clone());
    run.queue(OutboxMessage {
        kind: MessageKind::Email,
        target: to.to_string(),
        template: None,
        subject: Some(input.subject.trim().to_string()),
        hook: None,
        event: None,
        payload: json!({ "body": input.body, "order": { "number": order.number } }),
    });
    run.record("emailed", None, json!({ "to": to, "subject": input.subject.trim() }));
    Ok(run.into_decision())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_one_address_each() {
        for ok in ["ann@example.com", "a.b+c@shop.co.uk"] {
            assert!(looks_like_address(ok), "{ok}");
        }
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b.com, c@d.com",
            "a@b.com\r\nBcc: x@y.z",
        ] {
            assert!(!looks_like_address(bad), "{bad:?}");
        }
    }
}
