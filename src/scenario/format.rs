//! The scenario file format: TOML read with serde, every table closed (`deny_unknown_fields`),
//! so a misspelt key is an error with its line instead of a check that silently never runs.
//!
//! `docs/testing.md` describes every key for merchants; this module is the reference for what
//! each one parses into.

use crate::engine::{EventInput, FulfillmentActionInput, NewOrder};
use crate::order::Time;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// The time the clock shows when a scenario does not say `start`.
pub(crate) const DEFAULT_START: &str = "2026-01-01T09:00:00Z";

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows, and where the story comes from.
    pub description: String,
    /// The workflow the order runs under (optional when its channel is in one workflow only).
    #[serde(default)]
    pub workflow: Option<String>,
    /// The folder of workflow files, relative to the scenario file (default: the folder that
    /// holds the `tests` folder the scenario is in).
    #[serde(default)]
    pub workflows: Option<String>,
    /// When the clock starts (default [`DEFAULT_START`]).
    #[serde(default)]
    pub start: Option<Moment>,
    /// Fixed answers for guard hooks (`"dropship_vendor.rhai" = false`): the scenario's stand-in
    /// for hook scripts. A hook without an answer fails as it does without a hook engine.
    #[serde(default)]
    pub hooks: BTreeMap<String, bool>,
    /// Orders created before the scenario's order (`[[earlier_order]]`): a returning
    /// customer, a look-alike customer. Each must be created without a rejection.
    #[serde(default, rename = "earlier_order")]
    pub earlier_orders: Vec<NewOrder>,
    /// The order the scenario follows, as a channel sends it.
    pub order: NewOrder,
    /// What must hold once the order is created.
    #[serde(default)]
    pub expect: Option<Spanned<Expect>>,
    /// The steps, in order (`[[step]]`).
    #[serde(default, rename = "step")]
    pub steps: Vec<Spanned<Step>>,
}

impl Scenario {
    /// What must hold once the order is created (nothing when there is no `[expect]`).
    pub(crate) fn creation_expect(&self) -> Expect {
        self.expect.as_ref().map(|e| e.get_ref().clone()).unwrap_or_default()
    }

    /// Where `[expect]` starts in the text (a byte offset).
    pub(crate) fn creation_expect_at(&self) -> Option<usize> {
        self.expect.as_ref().map(|e| e.span().start)
    }
}

/// A moment in time: an RFC 3339 string or a TOML date-time, with its time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment(pub Time);

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(t) => t.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a time such as \"2026-01-05T09:00:00Z\", found {}",
                    other.type_str()
                )))
            }
        };
        parse_time(&text).map(Moment).map_err(serde::de::Error::custom)
    }
}

/// Parses an RFC 3339 time (with its offset, e.g. `Z`).
pub(crate) fn parse_time(text: &str) -> Result<Time, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&chrono::Utc)).map_err(|e| {
        format!("`{text}` is not a time such as \"2026-01-05T09:00:00Z\" (with its time zone): {e}")
    })
}

/// A length of time written like the workflow language's durations: `90s`, `45m`, `48h`,
/// `14d`, `2w`, or several together (`1d12h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The length.
    pub duration: chrono::Duration,
    /// As written.
    pub text: String,
}

impl<'de> Deserialize<'de> for Wait {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(|duration| Wait { duration, text }).map_err(serde::de::Error::custom)
    }
}

/// Parses `90s`, `45m`, `48h`, `14d`, `2w`, or several of them together (`1d12h`): the
/// workflows' own notation ([`crate::check::parse_duration`]), as a clock step.
pub(crate) fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    use crate::check::DurationError;
    let text = text.trim();
    let d = crate::check::parse_duration(text).map_err(|e| match e {
        DurationError::Zero => format!("`{text}`: a duration must be longer than zero"),
        DurationError::TooLong => format!("`{text}` is longer than 100 years"),
        DurationError::Order => {
            format!("`{text}`: the units go from the largest to the smallest, each once, e.g. \"1d12h\"")
        }
        DurationError::Unit(_) => format!(
            "`{text}` is not a duration: write a number and its unit together, e.g. \"45m\", \"48h\", \"14d\""
        ),
    })?;
    chrono::Duration::from_std(d).map_err(|_| format!("`{text}` is longer than 100 years"))
}

/// One step of a scenario: exactly one of `event`, `advance`, `add_action`, `edit_action`,
/// `lock`, `unlock`, then what must hold after it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name for the report.
    #[serde(default)]
    pub name: Option<String>,
    /// An event to send.
    #[serde(default)]
    pub event: Option<String>,
    /// The event's data.
    #[serde(default)]
    pub data: Option<toml::Table>,
    /// Who sends the event (a lock holder's events go through).
    #[serde(default)]
    pub actor: Option<String>,
    /// The event's idempotency key: the same key again answers with the first result.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Moves the clock, firing every timer that falls due on the way, in time order.
    #[serde(default)]
    pub advance: Option<Wait>,
    /// Adds a fulfillment action by hand.
    #[serde(default)]
    pub add_action: Option<FulfillmentActionInput>,
    /// Changes an earlier fulfillment action.
    #[serde(default)]
    pub edit_action: Option<EditFulfillment>,
    /// Takes (or renews) the lock on the order.
    #[serde(default)]
    pub lock: Option<LockStep>,
    /// Releases the lock held by this person.
    #[serde(default)]
    pub unlock: Option<String>,
    /// What must hold after the step.
    #[serde(default)]
    pub expect: Expect,
}

/// `edit_action = { n = 1, ... }`: the action's number and the parts to change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFulfillment {
    /// The action's number on the order, from 1.
    pub n: u32,
    /// A new name, from the workflow's list.
    #[serde(default)]
    pub name: Option<String>,
    /// Complete (true) or partial (false).
    #[serde(default)]
    pub complete: Option<bool>,
    /// The person notified.
    #[serde(default)]
    pub notify: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
    /// Email or phone of the person contacted.
    #[serde(default)]
    pub contact: Option<String>,
    /// Whether the customer sees it.
    #[serde(default)]
    pub visible: Option<bool>,
    /// Who changes it.
    #[serde(default)]
    pub actor: Option<String>,
}

/// `lock = { holder = "ann", ttl = "15m" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockStep {
    /// Who takes the lock.
    pub holder: String,
    /// How long (default: the workflow's `lock_lease`).
    #[serde(default)]
    pub ttl: Option<Wait>,
}

/// What a step does, once checked.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Send an event.
    Event {
        /// The event.
        input: EventInput,
        /// Its idempotency key.
        idempotency_key: Option<String>,
    },
    /// Move the clock.
    Advance(Wait),
    /// Add a fulfillment action.
    AddFulfillment(FulfillmentActionInput),
    /// Change fulfillment action `n`.
    EditFulfillment(u32, FulfillmentActionInput),
    /// Take the lock.
    Lock {
        /// Who.
        holder: String,
        /// How long (default: the workflow's lease).
        ttl: Option<Wait>,
    },
    /// Release the lock.
    Unlock(String),
}

impl Action {
    /// How the report names it: `event payment_received`, `advance 14d`, ...
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Event { input, .. } => match &input.actor {
                Some(a) => format!("event {} by {a}", input.name),
                None => format!("event {}", input.name),
            },
            Action::Advance(w) => format!("advance {}", w.text),
            Action::AddFulfillment(a) => format!("add_action \"{}\"", a.name.as_deref().unwrap_or("")),
            Action::EditFulfillment(n, _) => format!("edit_action {n}"),
            Action::Lock { holder, ttl: Some(t) } => format!("lock by {holder} for {}", t.text),
            Action::Lock { holder, ttl: None } => format!("lock by {holder}"),
            Action::Unlock(h) => format!("unlock by {h}"),
        }
    }
}

impl Step {
    /// The one thing the step does, or why it is not clear what it does.
    pub(crate) fn action(&self) -> Result<Action, String> {
        let given: Vec<&str> = [
            ("event", self.event.is_some()),
            ("advance", self.advance.is_some()),
            ("add_action", self.add_action.is_some()),
            ("edit_action", self.edit_action.is_some()),
            ("lock", self.lock.is_some()),
            ("unlock", self.unlock.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        let action =
            match given.as_slice() {
                [] => return Err(
                    "a step needs one of `event`, `advance`, `add_action`, `edit_action`, `lock`, `unlock`"
                        .into(),
                ),
                [one] => *one,
                many => {
                    return Err(format!(
                        "a step does one thing, but this one has {}: split it into several steps",
                        many.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                    ))
                }
            };
        if action != "event" {
            for (key, on) in [
                ("data", self.data.is_some()),
                ("actor", self.actor.is_some()),
                ("idempotency_key", self.idempotency_key.is_some()),
            ] {
                if on {
                    return Err(format!(
                        "`{key}` goes with `event`, not with `{action}`{}",
                        if key == "actor" && action.ends_with("_action") {
                            format!(" (write it inside: `{action} = {{ actor = \"...\", ... }}`)")
                        } else {
                            String::new()
                        }
                    ));
                }
            }
        }
        Ok(match action {
            "event" => Action::Event {
                input: EventInput {
                    name: self.event.clone().unwrap_or_default(),
                    data: self.data.as_ref().map(table_to_json).unwrap_or_default(),
                    actor: self.actor.clone(),
                },
                idempotency_key: self.idempotency_key.clone(),
            },
            "advance" => Action::Advance(self.advance.clone().ok_or("`advance` is missing")?),
            "add_action" => {
                let a = self.add_action.clone().unwrap_or_default();
                if a.name.is_none() {
                    return Err(
                        "`add_action` needs a `name` (one of the workflow's fulfillment actions)".into()
                    );
                }
                Action::AddFulfillment(a)
            }
            "edit_action" => {
                let e = self.edit_action.clone().unwrap_or_default();
                if e.n == 0 {
                    return Err("`edit_action.n` counts from 1".into());
                }
                Action::EditFulfillment(
                    e.n,
                    FulfillmentActionInput {
                        name: e.name,
                        complete: e.complete,
                        notify: e.notify,
                        note: e.note,
                        contact: e.contact,
                        visible: e.visible,
                        actor: e.actor,
                    },
                )
            }
            "lock" => {
                let l = self.lock.clone().ok_or("`lock` is missing")?;
                Action::Lock { holder: l.holder, ttl: l.ttl }
            }
            _ => Action::Unlock(self.unlock.clone().unwrap_or_default()),
        })
    }

    /// How the report names the step: its number, its name, what it does.
    pub(crate) fn label(&self, number: usize) -> String {
        let what = self.action().map(|a| a.describe()).unwrap_or_default();
        match &self.name {
            Some(n) => format!("step {number} \"{n}\" ({what})"),
            None => format!("step {number} ({what})"),
        }
    }
}

/// A TOML table as the JSON object the engine takes (date-times become RFC 3339 strings).
pub(crate) fn table_to_json(t: &toml::Table) -> serde_json::Map<String, serde_json::Value> {
    t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

/// A TOML value as JSON (date-times become strings; floats that JSON cannot hold become null).
pub(crate) fn to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(table_to_json(t)),
    }
}

/// What must hold after creation or after a step. Every key is optional: only what is given is
/// compared.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The status code.
    #[serde(default)]
    pub status: Option<String>,
    /// What the customer sees for the status.
    #[serde(default)]
    pub customer_sees: Option<String>,
    /// The step must be refused with this code (and then change nothing).
    #[serde(default)]
    pub rejected: Option<String>,
    /// Text the refusal must contain (its message, failing guards and problems).
    #[serde(default)]
    pub message: Option<String>,
    /// The fields the refusal names (`customer.email`, `data.amount`, ...), as a set.
    #[serde(default)]
    pub problems: Option<Vec<String>>,
    /// The events the refusal says the order accepts, as a set.
    #[serde(default)]
    pub allowed_events: Option<Vec<String>>,
    /// The order's flags, exactly.
    #[serde(default)]
    pub flags: Option<Vec<String>>,
    /// Flags that must be set (others may be too).
    #[serde(default)]
    pub has_flags: Option<Vec<String>>,
    /// Flags that must not be set.
    #[serde(default)]
    pub lacks_flags: Option<Vec<String>>,
    /// The staff queue (`""`: none).
    #[serde(default)]
    pub queue: Option<String>,
    /// The person assigned (`""`: none).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Attribute values, each compared (`""` also matches an attribute not set).
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, toml::Value>>,
    /// Every fulfillment action on the order, in order.
    #[serde(default)]
    pub fulfillment_actions: Option<Vec<ActionExpectItem>>,
    /// The names of the fulfillment actions the customer sees, in order.
    #[serde(default)]
    pub visible_actions: Option<Vec<String>>,
    /// The messages this step queued, in order: `email:TEMPLATE`, `email:TEMPLATE to ADDRESS`,
    /// `webhook:TARGET`.
    #[serde(default)]
    pub outbox: Option<Vec<OutboxExpect>>,
    /// Webhooks this step sent, each with (part of) the body delivery sends: the payload hook
    /// runs as at delivery, on the order after the step, seeing the event.
    #[serde(default)]
    pub webhooks: Option<Vec<WebhookExpect>>,
    /// Emails this step sent, rendered from their templates as delivery renders them.
    #[serde(default)]
    pub emails: Option<Vec<EmailExpect>>,
    /// The names of the order's pending timers, as a set.
    #[serde(default)]
    pub timers: Option<Vec<String>>,
    /// The timers this step fired, in order.
    #[serde(default)]
    pub fired: Option<Vec<String>>,
    /// The notes this step wrote to the history, in order (each a part of the note).
    #[serde(default)]
    pub notes: Option<Vec<String>>,
    /// Whether the order is fully invoiced.
    #[serde(default)]
    pub invoiced: Option<bool>,
    /// Units picked per SKU.
    #[serde(default)]
    pub picked: Option<BTreeMap<String, Decimal>>,
    /// Units shipped per SKU.
    #[serde(default)]
    pub shipped: Option<BTreeMap<String, Decimal>>,
    /// Units invoiced per SKU.
    #[serde(default)]
    pub invoiced_units: Option<BTreeMap<String, Decimal>>,
    /// Units in stock per SKU.
    #[serde(default)]
    pub in_stock: Option<BTreeMap<String, Decimal>>,
    /// The shipments recorded, in order (each compared on the keys given).
    #[serde(default)]
    pub shipments: Option<Vec<ShipmentExpect>>,
    /// The sum of approved payments.
    #[serde(default)]
    pub amount_paid: Option<Decimal>,
    /// What is left to pay.
    #[serde(default)]
    pub balance_due: Option<Decimal>,
    /// Lines plus shipping.
    #[serde(default)]
    pub total: Option<Decimal>,
    /// Shipping charged so far.
    #[serde(default)]
    pub shipping_amount: Option<Decimal>,
    /// The order's payment (compared on the keys given).
    #[serde(default)]
    pub payment: Option<PaymentExpect>,
    /// Whether the customer record was created with this order.
    #[serde(default)]
    pub customer_is_new: Option<bool>,
    /// Whether the customer checked out as a guest.
    #[serde(default)]
    pub customer_is_guest: Option<bool>,
    /// Who holds the lock now (`""`: nobody).
    #[serde(default)]
    pub locked_by: Option<String>,
    /// The statuses the order went through during the step, in order.
    #[serde(default)]
    pub steps: Option<Vec<String>>,
    /// Whether the event was answered from an earlier one with the same idempotency key.
    #[serde(default)]
    pub replayed: Option<bool>,
}

impl Expect {
    /// The keys that describe a refusal; the others describe the order.
    pub(crate) fn only_rejection_keys(&self) -> bool {
        let e =
            Expect { rejected: None, message: None, problems: None, allowed_events: None, ..self.clone() };
        e.is_empty()
    }

    /// Whether nothing is expected.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Expect::default()
    }
}

/// An expected webhook: `{ target = "crm", body = { kind = "eval" } }`. The body is a subset:
/// the keys written must be in the body sent, with these values; others may be there too.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookExpect {
    /// The webhook target.
    pub target: String,
    /// What the body must contain.
    #[serde(default)]
    pub body: Option<toml::Value>,
}

/// An expected email: `{ template = "order_shipped", to = "ann@example.com", subject = "...",
/// text_contains = ["1Z999"] }`; each key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailExpect {
    /// The template.
    #[serde(default)]
    pub template: Option<String>,
    /// The recipient.
    #[serde(default)]
    pub to: Option<String>,
    /// The subject, exactly, as rendered.
    #[serde(default)]
    pub subject: Option<String>,
    /// Pieces of text the rendered text body must contain.
    #[serde(default)]
    pub text_contains: Option<Vec<String>>,
}

/// An expected fulfillment action: `"Picked"`, `"Picked (partial)"`, `"Packed (complete,
/// hidden)"`, or a table `{ name, complete, visible, notify, note, contact }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionExpect {
    /// Its name.
    pub name: String,
    /// Complete (true) or partial (false).
    #[serde(default)]
    pub complete: Option<bool>,
    /// Whether the customer sees it.
    #[serde(default)]
    pub visible: Option<bool>,
    /// The person notified.
    #[serde(default)]
    pub notify: Option<String>,
    /// The note.
    #[serde(default)]
    pub note: Option<String>,
    /// The contact.
    #[serde(default)]
    pub contact: Option<String>,
}

impl ActionExpect {
    /// Reads the short form `Name (partial, hidden)`.
    pub(crate) fn parse(text: &str) -> ActionExpect {
        let plain = ActionExpect { name: text.trim().to_string(), ..Default::default() };
        let Some(open) = text.trim_end().strip_suffix(')').and_then(|t| t.rfind('(').map(|i| (i, t))) else {
            return plain;
        };
        let (i, t) = open;
        let mut e = ActionExpect { name: t[..i].trim().to_string(), ..Default::default() };
        for word in t[i + 1..].split(',').map(str::trim) {
            match word {
                "complete" => e.complete = Some(true),
                "partial" => e.complete = Some(false),
                "visible" => e.visible = Some(true),
                "hidden" => e.visible = Some(false),
                _ => return plain,
            }
        }
        e
    }
}

impl<'de> Deserialize<'de> for ActionExpectItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(ActionExpectItem(ActionExpect::parse(&s))),
            toml::Value::Table(t) => toml::Value::Table(t).try_into().map(ActionExpectItem).map_err(|e: toml::de::Error| {
                serde::de::Error::custom(format!("a fulfillment action: {}", e.message()))
            }),
            other => Err(serde::de::Error::custom(format!(
                "a fulfillment action is a name such as \"Picked (partial)\" or a table {{ name = \"Picked\", complete = false }}, not {}",
                other.type_str()
            ))),
        }
    }
}

/// One entry of `fulfillment_actions`: the short text form or a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionExpectItem(pub ActionExpect);

impl std::ops::Deref for ActionExpectItem {
    type Target = ActionExpect;
    fn deref(&self) -> &ActionExpect {
        &self.0
    }
}

/// An expected outbox message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxExpect {
    /// `email:TEMPLATE` or `email:TEMPLATE to ADDRESS`.
    Email {
        /// The template.
        template: String,
        /// The recipient, when given.
        to: Option<String>,
    },
    /// `webhook:TARGET`.
    Webhook(String),
}

impl OutboxExpect {
    /// Reads `email:TEMPLATE`, `email:TEMPLATE to ADDRESS` or `webhook:TARGET`.
    pub(crate) fn parse(text: &str) -> Result<OutboxExpect, String> {
        let bad = || {
            format!("`{text}` is not an outbox message: write \"email:TEMPLATE\", \"email:TEMPLATE to ADDRESS\" or \"webhook:TARGET\"")
        };
        let (kind, rest) = text.trim().split_once(':').ok_or_else(bad)?;
        match kind.trim() {
            "email" => {
                let (template, to) = match rest.split_once(" to ") {
                    Some((t, a)) => (t.trim(), Some(a.trim().to_string())),
                    None => (rest.trim(), None),
                };
                if template.is_empty() {
                    return Err(bad());
                }
                Ok(OutboxExpect::Email { template: template.to_string(), to })
            }
            "webhook" if !rest.trim().is_empty() => Ok(OutboxExpect::Webhook(rest.trim().to_string())),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for OutboxExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboxExpect::Email { template, to: Some(to) } => write!(f, "email:{template} to {to}"),
            OutboxExpect::Email { template, to: None } => write!(f, "email:{template}"),
            OutboxExpect::Webhook(t) => write!(f, "webhook:{t}"),
        }
    }
}

impl<'de> Deserialize<'de> for OutboxExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OutboxExpect::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An expected shipment, compared on the keys given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentExpect {
    /// The carrier.
    #[serde(default)]
    pub carrier: Option<String>,
    /// The tracking number.
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// The shipping amount charged.
    #[serde(default)]
    pub amount: Option<Decimal>,
    /// Units per SKU in this shipment.
    #[serde(default)]
    pub lines: Option<BTreeMap<String, Decimal>>,
}

/// The expected payment, compared on the keys given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentExpect {
    /// The method code.
    #[serde(default)]
    pub method: Option<String>,
    /// The outcome code.
    #[serde(default)]
    pub outcome: Option<String>,
    /// The amount.
    #[serde(default)]
    pub amount: Option<Decimal>,
    /// The gateway's reference.
    #[serde(default)]
    pub reference: Option<String>,
}

/// Why a scenario file cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The line (from 1), when known.
    pub line: Option<usize>,
    /// The column (from 1), when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Line and column (from 1) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn error_at(text: &str, span: Option<Range<usize>>, message: String) -> FormatError {
    let (line, column) = match span {
        Some(s) => {
            let (l, c) = line_column(text, s.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    FormatError { line, column, message }
}

/// `unknown field `staus`, expected one of `status`, ...` becomes `unknown key `staus`: did you
/// mean `status`?` when one of the keys is close.
fn shorten(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message.to_string() };
    let Some((field, expected)) = rest.split_once("`, expected ") else { return message.to_string() };
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match crate::diagnostics::did_you_mean(field, keys.iter().copied()) {
        Some(k) => format!("unknown key `{field}`: did you mean `{k}`?"),
        None => format!(
            "unknown key `{field}`: the keys here are {}",
            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Reads a scenario and checks that every step says what it does.
pub fn parse(text: &str) -> Result<Scenario, FormatError> {
    let scenario: Scenario =
        toml::from_str(text).map_err(|e| error_at(text, e.span(), shorten(e.message().trim())))?;
    if scenario.description.trim().is_empty() {
        return Err(FormatError {
            line: None,
            column: None,
            message: "`description` is empty: say what the scenario shows and which story it comes from"
                .into(),
        });
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Err(m) = step.get_ref().action() {
            return Err(error_at(text, Some(step.span()), format!("step {}: {m}", i + 1)));
        }
    }
    if let Some(first) = scenario.steps.first().filter(|_| scenario.creation_expect().rejected.is_some()) {
        return Err(error_at(
            text,
            Some(first.span()),
            "the order is expected to be refused, so there is no order for the steps to act on".into(),
        ));
    }
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45m"), Ok(chrono::Duration::minutes(45)));
        assert_eq!(parse_duration("14d"), Ok(chrono::Duration::days(14)));
        assert_eq!(parse_duration("1d12h"), Ok(chrono::Duration::hours(36)));
        assert_eq!(parse_duration("2w"), Ok(chrono::Duration::weeks(2)));
        assert_eq!(parse_duration("1w2d3h4m5s"), Ok(chrono::Duration::seconds(788_645)));
        for bad in
            ["", "45", "m", "45 minutes", "0m", "1.5h", "99999999999999999999d", "12h1d", "1h1h", "1d-"]
        {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn action_short_form() {
        let e = ActionExpect::parse("Picked (partial, hidden)");
        assert_eq!((e.name.as_str(), e.complete, e.visible), ("Picked", Some(false), Some(false)));
        let e = ActionExpect::parse("Payment received");
        assert_eq!((e.name.as_str(), e.complete), ("Payment received", None));
        let e = ActionExpect::parse("Odd (name)");
        assert_eq!(e.name, "Odd (name)");
    }

    #[test]
    fn outbox_forms() {
        assert_eq!(
            OutboxExpect::parse("email:order_shipped"),
            Ok(OutboxExpect::Email { template: "order_shipped".into(), to: None })
        );
        assert_eq!(
            OutboxExpect::parse("email:free_form to a@b.com"),
            Ok(OutboxExpect::Email { template: "free_form".into(), to: Some("a@b.com".into()) })
        );
        assert_eq!(OutboxExpect::parse("webhook:crm"), Ok(OutboxExpect::Webhook("crm".into())));
        assert!(OutboxExpect::parse("sms:x").is_err());
        assert!(OutboxExpect::parse("email:").is_err());
    }

    #[test]
    fn a_scenario_with_a_typo_names_its_line() {
        let text = "description = \"x\"\n[order]\nchannel = \"website\"\n[[step]]\nevent = \"void\"\nexpect = { staus = \"voided\" }\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert_eq!(e.message, "unknown key `staus`: did you mean `status`?");
    }

    #[test]
    fn a_step_does_one_thing() {
        let text = "description = \"x\"\n[order]\nchannel = \"website\"\n[[step]]\nevent = \"void\"\nadvance = \"1d\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("`event` and `advance`"), "{e}");
    }

    #[test]
    fn orders_and_money_read_from_toml() {
        let text = r#"
description = "x"
start = 2026-01-05T09:00:00Z
[order]
channel = "website"
payment = { method = "check", outcome = "pending" }
lines = [ { sku = "GTR-1", qty = 1, unit_price = "499.00", in_stock = true } ]
[expect]
amount_paid = "0"
balance_due = 499
fulfillment_actions = ["Picked (partial)", { name = "Packed", visible = false }]
"#;
        let s = parse(text).unwrap();
        assert_eq!(s.order.lines[0].unit_price, Decimal::new(49900, 2));
        assert_eq!(s.start.map(|m| m.0.to_rfc3339()), Some("2026-01-05T09:00:00+00:00".into()));
        let fa = s.creation_expect().fulfillment_actions.clone().unwrap();
        assert_eq!(fa[1].visible, Some(false));
    }
}
