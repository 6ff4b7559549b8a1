//! The engine core: pure functions from (compiled workflow, order snapshot, input, time) to a
//! [`Decision`] (the new snapshot and every record to write) or a [`Rejection`] that explains
//! itself. No I/O and no clock reads here: the store and the callers bring the time.
//!
//! Semantics (ARCHITECTURE.md has the long form):
//! - An event's built-in effect (payment, shipment, receipt) applies first; then the first
//!   transition in file order whose source, event and guard match fires: leaving actions, the
//!   transition's actions, entering actions, timers. No match: the event is rejected and
//!   nothing changes.
//! - Then auto-invoice and automatic transitions run until none fires, then follow-up events
//!   (`emit`), each followed by automatic transitions, all bounded by `max_automatic_steps`.

mod create;
mod customer;
mod data;
pub(crate) mod decimal;
mod eval;
mod run;
mod staff;

pub(crate) use create::create_quiet;
pub use create::{create, CustomerInput, LineInput, NewOrder, PaymentInput};
pub use customer::{link_customer, POSSIBLE_DUPLICATE};
pub use decimal::de_opt_whole;
pub use eval::show as show_guard;
pub use eval::{evaluate, explain, Value};
pub use run::{
    add_fulfillment_action, apply, edit_fulfillment_action, failed_timer, fire_timer, integration_failed,
    integration_failed_plain, locked_rejection, FulfillmentActionInput, INTEGRATION_FAILED,
};
pub(crate) use run::{as_of, locked, Effects, Run};
pub use staff::{assign, email, AssignInput, EmailInput, MAX_EMAIL_BODY};

use crate::order::{Order, Time};
use serde::{Deserialize, Serialize};

/// An event as it arrives: its name, its data, who sent it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventInput {
    /// The event's name, as declared in the workflow.
    pub name: String,
    /// Its data fields.
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Who sent it (the lock holder check uses it).
    #[serde(default)]
    pub actor: Option<String>,
}

/// Runs hooks for the engine: rhai scripts in a workflow's `hooks/` folder (src/hooks). A hook
/// is `file.rhai` or `file.rhai::function`; errors are one line naming the file and line.
/// [`NoHooks`] refuses every call, so an input that needs a hook is rejected, naming it.
pub trait Hooks: Sync {
    /// Evaluates a hook used as a guard.
    fn guard(&self, hook: &str, order: &Order, event: Option<&EventInput>, now: Time)
        -> Result<bool, String>;

    /// Runs a hook as an action; it returns the effects the engine applies.
    fn run(
        &self,
        hook: &str,
        _order: &Order,
        _event: Option<&EventInput>,
        _now: Time,
    ) -> Result<Vec<Effect>, String> {
        Err(format!("hook `{hook}` cannot run: this build has no hook engine"))
    }

    /// Builds a webhook's payload.
    fn payload(
        &self,
        hook: &str,
        _order: &Order,
        _event: Option<&EventInput>,
        _now: Time,
    ) -> Result<serde_json::Value, String> {
        Err(format!("hook `{hook}` cannot run: this build has no hook engine"))
    }
}

/// What a hook asks the engine to do; applied in the same transaction as the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    /// Set an attribute (decimals as strings).
    SetAttribute {
        /// The attribute (declared in the workflow).
        name: String,
        /// Its new value.
        value: serde_json::Value,
    },
    /// Set a flag (declared in the workflow).
    SetFlag {
        /// The flag.
        name: String,
    },
    /// Clear a flag.
    ClearFlag {
        /// The flag.
        name: String,
    },
    /// Add a note to the history.
    Note {
        /// The text.
        text: String,
    },
    /// Record a fulfillment action from the workflow's list.
    RecordAction {
        /// The action's name, its state and details.
        action: FulfillmentActionInput,
    },
    /// Queue a webhook to a declared target.
    Webhook {
        /// The target.
        target: String,
        /// The JSON body.
        payload: serde_json::Value,
    },
    /// Queue an email.
    Email {
        /// The address.
        to: String,
        /// The template.
        template: String,
        /// The subject.
        subject: Option<String>,
    },
    /// Emit a follow-up event on the same order.
    Emit {
        /// The event.
        event: String,
        /// Its data.
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Put the order in a staff queue.
    AssignQueue {
        /// The queue.
        queue: String,
    },
    /// Assign the order to a person.
    AssignPerson {
        /// Who.
        person: String,
    },
    /// Create a related order (same customer), linked both ways to this one.
    CreateRelatedOrder {
        /// The new order, as a channel would send it.
        order: Box<NewOrder>,
    },
}

/// The hook runner for a build without the hook engine: every hook call is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {
    fn guard(&self, hook: &str, _: &Order, _: Option<&EventInput>, _: Time) -> Result<bool, String> {
        Err(format!("hook `{hook}` cannot run: this build has no hook engine"))
    }
}

/// What one event, creation or timer did: the new order and every record to write with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The order after everything (its `version` is the store's to bump).
    pub order: Order,
    /// Status changes and events handled, in order.
    pub steps: Vec<Step>,
    /// History rows to append.
    pub history: Vec<HistoryEntry>,
    /// Timers to start (already net of those cancelled within this decision).
    pub timer_starts: Vec<TimerStart>,
    /// Timers to cancel among those stored before this decision.
    pub timer_cancels: Vec<TimerCancel>,
    /// Messages to queue for delivery after commit.
    pub outbox: Vec<OutboxMessage>,
    /// Orders to create in the same transaction, linked both ways to this one (from hooks).
    pub related: Vec<NewOrder>,
}

/// One transition taken or event handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    /// The event (`None` for automatic transitions; `timer:NAME` for timers).
    pub event: Option<String>,
    /// The status before.
    pub from: String,
    /// The status after.
    pub to: String,
    /// The workflow line of the transition (0 for creation).
    pub line: usize,
}

/// One row of an order's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Time,
    /// What kind of entry: `created`, `transition`, `event`, `note`, `fulfillment_action`,
    /// `fulfillment_action_changed`, `shipment`, `payment`, `receipt`, `timer`, `timer_skipped`
    /// (a timer's `when` no longer held when it was due), `picked`,
    /// `invoiced`, `outbox`, `flag`, `assigned`, `delivery` (an outbox delivery attempt),
    /// `integration_failed` (delivery gave up on a message), `customer_linked` (staff linked
    /// the order to an existing customer).
    pub kind: String,
    /// The event, if one caused it.
    pub event: Option<String>,
    /// Status before, for transitions.
    pub from_status: Option<String>,
    /// Status after, for transitions.
    pub to_status: Option<String>,
    /// Who caused it.
    pub actor: Option<String>,
    /// Details (a JSON object).
    pub detail: serde_json::Value,
}

/// A timer to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimerStart {
    /// The timer's name.
    pub name: String,
    /// When it fires.
    pub due_at: Time,
    /// The status it belongs to: leaving it cancels the timer.
    pub status: String,
}

/// Timers to cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TimerCancel {
    /// Every timer of the order tied to this status.
    Status(String),
    /// The order's timer with this name.
    Name(String),
}

/// What an outbox message is: how delivery sends it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MessageKind {
    /// A signed POST to one of the workflow's webhook targets.
    Webhook,
    /// An email from a template.
    Email,
}

orderly_lang::stable_code!(MessageKind);

/// A message for another system, queued in the same transaction as the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// How it is sent.
    pub kind: MessageKind,
    /// The webhook target's name, or the email address.
    pub target: String,
    /// The email template.
    pub template: Option<String>,
    /// The email subject.
    pub subject: Option<String>,
    /// A payload hook (`send webhook NAME with hook "file.rhai"`) that builds the body at
    /// delivery, on the order as it is then, seeing the event that queued the message.
    pub hook: Option<String>,
    /// The event that queued the message (`None` for automatic steps and timers).
    #[serde(default)]
    pub event: Option<String>,
    /// The payload: the event with its data and the order as it is after it (`{event, data,
    /// order}`), or the body an action hook built with `webhook(target, body)`.
    pub payload: serde_json::Value,
}

/// Why an input was refused, as a stable code clients rely on (`no_transition`). The HTTP edge
/// gives each its status with one exhaustive match; docs/api.md has a row for each.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RejectionCode {
    /// No transition takes the event in this status, or every guard failed.
    NoTransition,
    /// The workflow declares no such event.
    UnknownEvent,
    /// The event's data is wrong.
    InvalidData,
    /// A shipment of more than is left to ship.
    OverShipment,
    /// Another holder has the order's lock.
    Locked,
    /// A new order misses fields its channel requires, or has invalid ones.
    InvalidOrder,
    /// No workflow takes orders from the channel.
    UnknownChannel,
    /// The channel refuses the order (no rule takes it).
    Refused,
    /// Automatic transitions that never settle.
    AutomaticLoop,
    /// A hook failed.
    HookFailed,
    /// Not one of the workflow's fulfillment actions.
    UnknownAction,
    /// The order's status is gone from its workflow.
    UnknownStatus,
    /// A timer the order's workflow no longer has (the timer loop records it; no client sends it).
    UnknownTimer,
    /// The order's workflow is not active.
    WorkflowUnavailable,
    /// An order number taken already.
    Duplicate,
    /// The idempotency key was used before for another request.
    IdempotencyConflict,
    /// No such fulfillment action on the order.
    NotFound,
}

orderly_lang::stable_code!(RejectionCode);

/// Why an input was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// What kind of refusal.
    pub code: RejectionCode,
    /// A sentence for people.
    pub message: String,
    /// The order's status when it was refused.
    pub status: Option<String>,
    /// Events the order accepts in that status.
    pub allowed_events: Vec<String>,
    /// For `no_transition`: each candidate transition and the guard that failed.
    pub candidates: Vec<Candidate>,
    /// For bad data: each field and what is wrong with it.
    pub problems: Vec<Problem>,
}

impl Rejection {
    /// A rejection with a code and a message.
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
            status: None,
            allowed_events: Vec::new(),
            candidates: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl std::error::Error for Rejection {}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        for c in &self.candidates {
            write!(f, "; line {}: {}", c.line, c.failed)?;
        }
        for p in &self.problems {
            write!(f, "; `{}` {}", p.field, p.problem)?;
        }
        Ok(())
    }
}

/// A transition that could have taken the event, and why it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    /// Its line in the workflow file.
    pub line: usize,
    /// Its guard as written.
    pub guard: String,
    /// Which part failed, with the values it saw.
    pub failed: String,
}

/// A field of the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The field's path (`customer.email`, `data.amount`, `lines[2].qty`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

#[cfg(test)]
mod catalogue_tests;
#[cfg(test)]
mod tests;
