//! What-if replay: the inputs an order received, as its history keeps them ([`Recorded`]: the
//! input, when, and what it came to), run again in memory through another version of its
//! workflow, and compared with what happened. Pure: no I/O, no clock (the store reads the
//! inputs; `orderly replay` and the studio report).
//!
//! - [`Replayer`] runs one input on one order's [`ReplayState`]: the engine's own decisions
//!   (creation, events, timers, fulfillment actions, locks, failed deliveries, customer links),
//!   without history or message payloads, and an event on the order in place, copying it only
//!   when the run could fail after changing it.
//! - [`replay_order`] replays an order's whole record, fires the timers the candidate starts
//!   that the recording does not have, and lists where the candidate differs ([`Difference`]),
//!   the first of which names the rule that diverged ([`Rule`]).
//!
//! What is compared for each input: refused or not (and why), the status after it and the
//! statuses it went through, and the messages queued (kind, target, template). Statuses are
//! compared under the candidate's names: a status renamed since (by a reload, or by the
//! candidate's `renamed` lines) is the same status.

mod compare;
mod drive;
mod step;
#[cfg(test)]
mod tests;

pub use compare::{path, Difference, DifferenceKind, Refusal, Rule, RuleKind};
pub use drive::{replay_order, Replayed, MAX_DIFFERENCES};
pub use step::{Refused, ReplayState, Replayer};

use crate::engine::{
    AssignInput, Decision, EmailInput, EventInput, FulfillmentActionInput, MessageKind, NewOrder,
    RejectionCode, TimerCancel,
};
use crate::order::{Customer, OrderId, Time};
use serde::{Deserialize, Serialize};

/// One input an order received: what the service applied and recorded with it, enough to apply
/// it again. Stored as JSON, externally tagged, each variant an object of its fields
/// (`{"event": {"event": {"name": ..., "data": ..., "actor": ...}}}`, `{"timer": {"timer":
/// "payment_overdue"}}`); new variants and fields (with defaults) may be added, the existing ones
/// keep their shape: rows written by every version stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// The order was created: the order as the channel sent it, the number it got, the customer
    /// it was linked to (matching depends on the customers there were then, so it is kept, not
    /// redone) and whether that match was only near.
    Create {
        /// The new order, as received.
        order: Box<NewOrder>,
        /// Its number (given by the channel, or set aside by the store).
        number: String,
        /// The customer it was linked to.
        customer: Customer,
        /// Whether the customer match was only near (`possible_duplicate`).
        #[serde(default)]
        possible_duplicate: bool,
        /// For an order a hook created: the order it is related to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        related_to: Option<OrderId>,
    },
    /// An event, with its data and actor.
    Event {
        /// The event.
        event: EventInput,
    },
    /// A timer fired.
    Timer {
        /// Its name.
        timer: String,
    },
    /// The lock was taken or renewed (`expires_at`), released (none), or broken by an
    /// administrator (`force`).
    Lock {
        /// Who took, released or broke it.
        holder: String,
        /// Until when it is held; none: released.
        #[serde(default)]
        expires_at: Option<Time>,
        /// Broken whoever held it.
        #[serde(default)]
        force: bool,
    },
    /// A fulfillment action added by hand.
    AddAction {
        /// The action.
        action: FulfillmentActionInput,
    },
    /// A fulfillment action changed.
    EditAction {
        /// Its number on the order.
        n: u32,
        /// What changed.
        action: FulfillmentActionInput,
    },
    /// Staff put the order in a queue or assigned it.
    Assign {
        /// What changed.
        assign: AssignInput,
    },
    /// Staff wrote an email about the order.
    Email {
        /// The email.
        email: EmailInput,
    },
    /// Delivery gave up on one of the order's messages (the order gets `integration_failed`).
    IntegrationFailed {
        /// The message and why (what the history row says).
        detail: serde_json::Value,
    },
    /// Staff linked the order to an existing customer (Find Cust, or a merge of customers):
    /// the customer as it was then (replay links the same one, the store is not asked again)
    /// and who did it.
    LinkCustomer {
        /// The customer linked.
        customer: Customer,
        /// Who linked it (the lock holder check uses it).
        #[serde(default)]
        actor: Option<String>,
    },
    /// A reload moved the order from a status its workflow renamed.
    Rename {
        /// The old status.
        from: String,
        /// The new one.
        to: String,
    },
}

impl Input {
    /// A short code for the kind of input (`create`, `event`, `timer`, `lock`, `add_action`,
    /// `edit_action`, `assign`, `email`, `integration_failed`, `link_customer`, `rename`): the
    /// store keeps it beside the input.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Create { .. } => "create",
            Input::Event { .. } => "event",
            Input::Timer { .. } => "timer",
            Input::Lock { .. } => "lock",
            Input::AddAction { .. } => "add_action",
            Input::EditAction { .. } => "edit_action",
            Input::Assign { .. } => "assign",
            Input::Email { .. } => "email",
            Input::IntegrationFailed { .. } => "integration_failed",
            Input::LinkCustomer { .. } => "link_customer",
            Input::Rename { .. } => "rename",
        }
    }

    /// How a report names the input: ``event `payment_received` ``, ``timer `overdue` ``.
    pub fn label(&self) -> String {
        match self {
            Input::Create { order, .. } => format!("creation from channel `{}`", order.channel),
            Input::Event { event } => format!("event `{}`", event.name),
            Input::Timer { timer } => format!("timer `{timer}`"),
            Input::Lock { expires_at: Some(_), .. } => "lock".into(),
            Input::Lock { force: true, .. } => "lock broken".into(),
            Input::Lock { .. } => "unlock".into(),
            Input::AddAction { action } => {
                format!("fulfillment action `{}`", action.name.as_deref().unwrap_or_default())
            }
            Input::EditAction { n, .. } => format!("change of fulfillment action {n}"),
            Input::Assign { .. } => "assignment".into(),
            Input::Email { email } => format!("email to {}", email.to),
            Input::IntegrationFailed { .. } => "delivery failure".into(),
            Input::LinkCustomer { customer, .. } => match customer.id {
                Some(id) => format!("link to customer {id}"),
                None => "link to a customer".into(),
            },
            Input::Rename { from, to } => format!("status rename `{from}` -> `{to}`"),
        }
    }
}

/// One recorded input: when it was applied, the input, and what it came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// When it was applied (the time the engine was given).
    pub at: Time,
    /// The input.
    pub input: Input,
    /// What it came to.
    pub outcome: Outcome,
}

/// What an input came to, as replay compares it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The order's status after it.
    pub status: String,
    /// The status each step entered, in order (a creation starts with the initial status; a
    /// `stay` enters the status it is in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// The messages it queued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    /// The timers it cancelled, then those it started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<TimerChange>,
    /// The orders a hook created with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<OrderId>,
    /// For a timer or a failed delivery the workflow refused (what the service records instead),
    /// why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<RejectionCode>,
}

impl Outcome {
    /// What a decision came to.
    pub fn of(d: &Decision) -> Outcome {
        let mut timers: Vec<TimerChange> = d
            .timer_cancels
            .iter()
            .map(|c| match c {
                TimerCancel::Status(status) => TimerChange::CancelStatus { status: status.clone() },
                TimerCancel::Name(name) => TimerChange::CancelName { name: name.clone() },
            })
            .collect();
        timers.extend(d.timer_starts.iter().map(|t| TimerChange::Start {
            name: t.name.clone(),
            due_at: t.due_at,
            status: t.status.clone(),
        }));
        Outcome {
            status: d.order.status.clone(),
            steps: d.steps.iter().map(|s| s.to.clone()).collect(),
            messages: d.outbox.iter().map(Message::of).collect(),
            timers,
            // The store gives related orders their ids when it writes them: the service fills these.
            related: Vec::new(),
            refused: None,
        }
    }

    /// An input that changed nothing the engine decides (a lock): the order stays in `status`.
    pub fn unchanged(status: &str) -> Outcome {
        Outcome { status: status.to_string(), ..Outcome::default() }
    }
}

/// A message queued, as replay compares it (not its body).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Webhook or email.
    pub kind: MessageKind,
    /// The webhook target, or the email address.
    pub target: String,
    /// The email template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl Message {
    /// The message an outbox row will be.
    pub fn of(m: &crate::engine::OutboxMessage) -> Message {
        Message { kind: m.kind, target: m.target.clone(), template: m.template.clone() }
    }

    /// How a rule names it, the same for every order: ``webhook `crm` ``, ``email `order_shipped` ``
    /// (an email by its template: the address is the order's).
    pub fn label(&self) -> String {
        match (self.kind, &self.template) {
            (MessageKind::Email, Some(t)) => format!("email `{t}`"),
            (kind, _) => format!("{kind} `{}`", self.target),
        }
    }
}

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.template {
            Some(t) => write!(f, "{}:{t} to {}", self.kind, self.target),
            None => write!(f, "{}:{}", self.kind, self.target),
        }
    }
}

/// A change to an order's timers, in the order the store applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerChange {
    /// Every timer tied to this status was cancelled.
    CancelStatus {
        /// The status.
        status: String,
    },
    /// The timer with this name was cancelled.
    CancelName {
        /// The timer.
        name: String,
    },
    /// A timer was started.
    Start {
        /// The timer.
        name: String,
        /// When it is due.
        due_at: Time,
        /// The status it is tied to.
        status: String,
    },
}
