//! The compiled workflow: immutable, names resolved to indexes, guards typed.
//!
//! [`crate::check::compile`] builds a [`Workflow`] only from a file with no errors, so everything
//! here is known to be consistent: every index points at something, every guard is boolean,
//! every duration is valid. The engine shares it as `Arc<Workflow>`.

use crate::diagnostics::Span;
use crate::schema::{AddressField, CustomerField, LineField, OrderField, PaymentField};
use rust_decimal::Decimal;
use std::time::Duration;

/// Index of a status in [`Workflow::statuses`].
pub type StatusId = usize;
/// Index of an event in [`Workflow::events`].
pub(crate) type EventId = usize;

/// One compiled workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The workflow's name.
    pub name: String,
    /// A human title.
    pub title: Option<String>,
    /// Phases in file order.
    pub phases: Vec<Phase>,
    /// Every status; phases refer to them by index.
    pub statuses: Vec<Status>,
    /// Declared events.
    pub events: Vec<EventDef>,
    /// Declared flags.
    pub flags: Vec<FlagDef>,
    /// Declared attributes.
    pub attributes: Vec<AttributeDef>,
    /// Declared webhook targets.
    pub webhooks: Vec<String>,
    /// The fulfillment actions staff can record, in the order offered.
    pub fulfillment_actions: Vec<String>,
    /// The actions the list marks `hidden`: recorded hidden from the customer unless the
    /// `record` or the staff say otherwise.
    pub hidden_actions: Vec<String>,
    /// Settings.
    pub settings: Settings,
    /// Channels and their defaults.
    pub channels: Vec<Channel>,
    /// Event-driven and automatic transitions, in file order.
    pub transitions: Vec<Transition>,
    /// Timers.
    pub timers: Vec<Timer>,
    /// Actions run on entering each status (indexed by status).
    pub on_enter: Vec<Vec<Action>>,
    /// Actions run on leaving each status (indexed by status).
    pub on_leave: Vec<Vec<Action>>,
    /// Actions run once when an order is created, after its initial status is set.
    pub on_create: Vec<Action>,
    /// Actions run when an order of one channel is created (`on created from CHANNEL`), after
    /// those of every channel.
    pub on_create_from: Vec<(String, Vec<Action>)>,
    /// Actions run once, when the order becomes fully invoiced (`on invoiced`).
    pub on_invoiced: Vec<Action>,
    /// Actions run once, when the order is paid in full (`on paid in full`).
    pub on_paid_in_full: Vec<Action>,
    /// `renamed old -> new` mappings for hot reload.
    pub renamed: Vec<(String, StatusId)>,
    /// Hook files the workflow refers to (relative to its `hooks/` folder).
    pub hook_files: Vec<String>,
    /// Every hook reference (`file.rhai` or `file.rhai::function`) and where it is written, so
    /// that the functions can be checked once the hooks are compiled.
    pub hook_refs: Vec<(String, Span)>,
}

impl Workflow {
    /// The status with this code.
    pub fn status_id(&self, code: &str) -> Option<StatusId> {
        self.statuses.iter().position(|s| s.code == code)
    }

    /// The status with this code.
    pub fn status(&self, code: &str) -> Option<&Status> {
        self.statuses.iter().find(|s| s.code == code)
    }

    /// The phase `status` is in, if any.
    pub fn phase_of(&self, status: &Status) -> Option<&Phase> {
        status.phase.and_then(|p| self.phases.get(p))
    }

    /// The event with this name.
    pub fn event_id(&self, name: &str) -> Option<EventId> {
        self.events.iter().position(|e| e.name == name)
    }

    /// The channel with this code.
    pub fn channel(&self, code: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.code == code)
    }

    /// Event-driven transitions that leave `status` on `event`, in file order.
    pub fn transitions_on(&self, status: StatusId, event: EventId) -> impl Iterator<Item = &Transition> {
        self.transitions.iter().filter(move |t| t.event == Some(event) && t.sources.contains(&status))
    }

    /// Events some transition accepts in `status` (guards not evaluated), in declaration order.
    pub fn events_accepted_in(&self, status: StatusId) -> Vec<EventId> {
        let mut out: Vec<EventId> =
            self.transitions.iter().filter(|t| t.sources.contains(&status)).filter_map(|t| t.event).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// A group of statuses shown together.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// The phase code.
    pub code: String,
    /// Its label (the code when none was given).
    pub label: String,
    /// Its statuses, in file order.
    pub statuses: Vec<StatusId>,
}

/// Where an order is.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The code (snake_case).
    pub code: String,
    /// The label staff see.
    pub label: String,
    /// The label customers see (the staff label when none was given).
    pub customer_label: String,
    /// Whether no transition leaves it.
    pub is_final: bool,
    /// Its phase, if it is in one.
    pub phase: Option<usize>,
}

/// What the engine does with an event beyond the workflow's own actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// No built-in meaning.
    Plain,
    /// Carrier, tracking number, shipping amount and quantities per line: updates shipped
    /// quantities (over-shipping is rejected).
    Shipment,
    /// Method, outcome and amount: updates the order's payment.
    Payment,
    /// Stock received for lines: updates in-stock quantities.
    Receipt,
}

impl EventKind {
    /// Every kind's name as written after `is`.
    pub(crate) const NAMES: &'static [&'static str] = &["shipment", "payment", "receipt"];

    /// The fields every event of this kind carries.
    pub(crate) fn builtin_fields(self) -> &'static [(&'static str, Type, bool)] {
        match self {
            EventKind::Plain => &[],
            EventKind::Shipment => &[
                ("carrier", Type::Text, true),
                ("tracking_number", Type::Text, true),
                ("amount", Type::Money, true),
            ],
            EventKind::Payment => &[
                ("method", Type::Code(Codes::Methods), true),
                // A payment without its outcome would have to be guessed: the data must say it.
                ("outcome", Type::Code(Codes::Outcomes), false),
                ("amount", Type::Money, true),
                ("reference", Type::Text, true),
            ],
            EventKind::Receipt => &[("vendor", Type::Text, true)],
        }
    }
}

/// A declared event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDef {
    /// Its name.
    pub name: String,
    /// Its built-in kind.
    pub kind: EventKind,
    /// What it means.
    pub description: Option<String>,
    /// The data it carries (declared fields, then the kind's built-in ones).
    pub fields: Vec<FieldDef>,
}

/// A data field an event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// The field's name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether it may be left out.
    pub optional: bool,
}

/// A declared flag.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagDef {
    /// Its name.
    pub name: String,
    /// What it means.
    pub description: Option<String>,
}

/// A declared attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// Workflow settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// In-stock lines are flagged picked when the order is created.
    pub auto_pick: bool,
    /// The order is invoiced as soon as every line is in stock and picked.
    pub auto_invoice: bool,
    /// How long a lock lasts unless renewed.
    pub lock_lease: Duration,
    /// The most automatic transitions one event may cause (a bound against cycles).
    pub max_automatic_steps: u32,
    /// The currency of money amounts (ISO 4217 code).
    pub currency: String,
    /// Orders from a channel that other workflows also have, and that name no workflow, come
    /// to this one.
    pub default_for_channels: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_pick: false,
            auto_invoice: false,
            lock_lease: Duration::from_secs(15 * 60),
            max_automatic_steps: 16,
            currency: "USD".into(),
            default_for_channels: false,
        }
    }
}

/// A channel's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// The channel code.
    pub code: String,
    /// A human label.
    pub label: String,
    /// Fields an order from this channel must carry, each for every order or only some.
    pub required: Vec<Required>,
    /// Rules in order; the first that matches decides.
    pub rules: Vec<ChannelRule>,
}

/// Payment outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PaymentOutcome {
    /// The payment went through.
    Approved,
    /// The payment was refused.
    Declined,
    /// The payment has not cleared yet.
    Pending,
    /// The payment provider reported it invalid.
    Invalid,
}

impl PaymentOutcome {
    /// Every outcome, in the order they are listed to users.
    pub(crate) const ALL: [PaymentOutcome; 4] = [
        PaymentOutcome::Approved,
        PaymentOutcome::Declined,
        PaymentOutcome::Pending,
        PaymentOutcome::Invalid,
    ];

    /// The outcome's code.
    pub fn code(self) -> &'static str {
        match self {
            PaymentOutcome::Approved => "approved",
            PaymentOutcome::Declined => "declined",
            PaymentOutcome::Pending => "pending",
            PaymentOutcome::Invalid => "invalid",
        }
    }

    /// The outcome with this code.
    pub fn from_code(code: &str) -> Option<PaymentOutcome> {
        PaymentOutcome::ALL.into_iter().find(|o| o.code() == code)
    }
}

/// One rule of a channel: conditions and the initial status (or a refusal).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRule {
    /// The initial status; `None` refuses the order.
    pub start: Option<StatusId>,
    /// Modes it applies to (`None`: any).
    pub modes: Option<Vec<String>>,
    /// Payment methods it applies to (`None`: any).
    pub methods: Option<Vec<String>>,
    /// Payment outcomes it applies to (`None`: any).
    pub outcomes: Option<Vec<PaymentOutcome>>,
    /// Applies only to orders that arrive without a payment.
    pub unpaid: bool,
    /// For refusals: the message.
    pub message: Option<String>,
    /// Where it is written.
    pub span: Span,
}

/// A field a channel requires: of every order, or (`require ... when` / `unless`) only of some.
#[derive(Debug, Clone, PartialEq)]
pub struct Required {
    /// The field.
    pub field: FieldRef,
    /// `Some((conditions, unless))`: for the orders `conditions` takes (a rule with no status),
    /// or, with `unless`, for the others.
    pub only: Option<(ChannelRule, bool)>,
}

impl Required {
    /// Whether the field is required of an order in `mode`, paid as `payment` (method, outcome)
    /// or unpaid (`None`).
    pub fn applies(&self, mode: Option<&str>, payment: Option<(&str, PaymentOutcome)>) -> bool {
        match &self.only {
            None => true,
            Some((when, unless)) => when.takes(mode, payment.map(|(m, o)| (Some(m), o))) != *unless,
        }
    }
}

impl ChannelRule {
    /// Whether the rule takes an order in `mode`, paid as `payment` (method, outcome) or unpaid
    /// (`None`). A method of `None` stands for one no rule names: it never matches `paid by`.
    pub(crate) fn takes(&self, mode: Option<&str>, payment: Option<(Option<&str>, PaymentOutcome)>) -> bool {
        let mode_ok = self.modes.as_ref().is_none_or(|ms| mode.is_some_and(|m| ms.iter().any(|x| x == m)));
        let payment_ok = match payment {
            None => self.methods.is_none() && self.outcomes.is_none(),
            Some((method, outcome)) => {
                !self.unpaid
                    && self
                        .methods
                        .as_ref()
                        .is_none_or(|ms| method.is_some_and(|m| ms.iter().any(|x| x == m)))
                    && self.outcomes.as_ref().is_none_or(|os| os.contains(&outcome))
            }
        };
        mode_ok && payment_ok
    }
}

impl Channel {
    /// The first rule that takes an order in `mode`, paid as `payment`, with its index.
    pub fn rule_for(
        &self,
        mode: Option<&str>,
        payment: Option<(&str, PaymentOutcome)>,
    ) -> Option<(usize, &ChannelRule)> {
        self.rules.iter().enumerate().find(|(_, r)| r.takes(mode, payment.map(|(m, o)| (Some(m), o))))
    }
}

/// An event-driven or automatic transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The event; `None` for automatic transitions.
    pub event: Option<EventId>,
    /// The statuses it may leave.
    pub sources: Vec<StatusId>,
    /// The guard.
    pub guard: Option<Expr>,
    /// The target; `None` stays in the current status.
    pub target: Option<StatusId>,
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// Where it is written.
    pub span: Span,
    /// The line it starts on (1-based), for messages.
    pub line: usize,
}

/// A timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    /// Its name.
    pub name: String,
    /// How long after it starts it fires.
    pub after: Duration,
    /// Statuses that start it on entry; it is cancelled when the order leaves them.
    pub statuses: Vec<StatusId>,
    /// Checked when it is due: when false, the timer does nothing (its history says why).
    pub guard: Option<Expr>,
    /// Where the order goes when it fires (`None`: stays).
    pub target: Option<StatusId>,
    /// Actions run when it fires.
    pub actions: Vec<Action>,
    /// Where it is written.
    pub span: Span,
}

/// An action the engine carries out.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set a flag.
    SetFlag(String),
    /// Clear a flag.
    ClearFlag(String),
    /// Set an attribute to the value of an expression.
    SetAttribute(String, Expr),
    /// Record a fulfillment action.
    Record(RecordSpec),
    /// Start a timer by name.
    StartTimer(String),
    /// Cancel a timer by name.
    CancelTimer(String),
    /// Queue a webhook to a named target, with an optional payload hook.
    SendWebhook {
        /// The target.
        target: String,
        /// The hook that builds the payload.
        hook: Option<String>,
    },
    /// Queue an email.
    SendEmail {
        /// Who gets it.
        to: Recipient,
        /// The template name.
        template: String,
        /// The subject line.
        subject: Option<String>,
    },
    /// Run a hook (`file.rhai` or `file.rhai::function`).
    RunHook(String),
    /// Emit a follow-up event on the same order.
    Emit(EventId),
    /// Put the order in a staff queue.
    AssignQueue(String),
    /// Assign the order to a person (name or email).
    AssignPerson(Expr),
    /// Add a note to the history.
    Note(Expr),
    /// Flag in-stock lines picked.
    Pick,
    /// Invoice picked lines.
    Invoice,
}

/// A fulfillment action to record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSpec {
    /// The action's name, from the workflow's list.
    pub name: String,
    /// Complete (true) or partial (false).
    pub complete: bool,
    /// The person notified.
    pub notify: Option<Expr>,
    /// A note.
    pub note: Option<Expr>,
    /// The contact's email or phone (default: the customer's email).
    pub contact: Option<Expr>,
    /// Whether the customer sees it.
    pub visible: bool,
}

/// Who an email goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipient {
    /// The order's customer.
    Customer,
    /// An address computed from the order.
    Address(Expr),
}

/// Named sets of codes a field's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codes {
    /// Line fulfillment methods.
    Fulfillment,
    /// Payment outcomes.
    Outcomes,
    /// Payment methods.
    Methods,
    /// The workflow's channels.
    Channels,
    /// The workflow's order modes (as channels name them).
    Modes,
    /// The workflow's statuses.
    Statuses,
    /// The workflow's phases.
    Phases,
}

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// true / false
    Bool,
    /// Free text.
    Text,
    /// An amount of money (decimal).
    Money,
    /// A decimal number.
    Number,
    /// A length of time.
    Duration,
    /// A moment in time (UTC).
    Time,
    /// One code out of a known set.
    Code(Codes),
}

impl Type {
    /// The names attribute and event field types are written with.
    pub(crate) const NAMES: &'static [&'static str] =
        &["text", "money", "number", "bool", "time", "duration"];

    /// The type written as `name`.
    pub(crate) fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "text" => Type::Text,
            "money" => Type::Money,
            "number" => Type::Number,
            "bool" => Type::Bool,
            "time" => Type::Time,
            "duration" => Type::Duration,
            _ => return None,
        })
    }

    /// How the type is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Type::Bool => "yes/no",
            Type::Text | Type::Code(_) => "text",
            Type::Money => "money",
            Type::Number => "number",
            Type::Duration => "duration",
            Type::Time => "time",
        }
    }

    /// Whether arithmetic and ordering apply.
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Type::Money | Type::Number)
    }

    /// Whether the type holds text (free or coded).
    pub(crate) fn is_textual(self) -> bool {
        matches!(self, Type::Text | Type::Code(_))
    }
}

/// A field of the order, its customer, payment, addresses, attributes, flags or the event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// `order.NAME`
    Order(OrderField),
    /// `payment.NAME`
    Payment(PaymentField),
    /// `customer.NAME`
    Customer(CustomerField),
    /// `shipping.NAME`
    Shipping(AddressField),
    /// `billing.NAME`
    Billing(AddressField),
    /// `attributes.NAME`
    Attribute(String),
    /// `flags.NAME`
    Flag(String),
    /// `event.NAME`
    Event(String),
    /// `line.NAME` (inside an aggregate over lines)
    Line(LineField),
}

impl FieldRef {
    /// The path as written.
    pub fn path(&self) -> String {
        let (root, name): (&str, &str) = match self {
            FieldRef::Order(f) => ("order", f.name()),
            FieldRef::Payment(f) => ("payment", f.name()),
            FieldRef::Customer(f) => ("customer", f.name()),
            FieldRef::Shipping(f) => ("shipping", f.name()),
            FieldRef::Billing(f) => ("billing", f.name()),
            FieldRef::Attribute(n) => ("attributes", n),
            FieldRef::Flag(n) => ("flags", n),
            FieldRef::Event(n) => ("event", n),
            FieldRef::Line(f) => ("line", f.name()),
        };
        format!("{root}.{name}")
    }
}

/// A constant value in a guard.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// true / false
    Bool(bool),
    /// A decimal number or amount.
    Number(Decimal),
    /// Text or a code.
    Text(String),
    /// A length of time.
    Duration(Duration),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

pub use crate::syntax::ast::{Aggregate, TextTest};

/// A typed expression tree, evaluated natively by the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its type.
    pub ty: Type,
    /// Where it is written (for runtime explanations).
    pub span: Span,
}

/// Expression kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Const(Value),
    /// A field's value.
    Field(FieldRef),
    /// `not e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `a op b`
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `a op b` on numbers
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `e [not] in [..]`
    In(Box<Expr>, Vec<Expr>, bool),
    /// `e starts with "A"`, `e contains ["a", "b"]` (case ignored): true when any pattern holds.
    TextTest(TextTest, Box<Expr>, Vec<Expr>),
    /// An aggregate over lines.
    Aggregate(Aggregate, Option<Box<Expr>>),
    /// A rhai hook used as a guard.
    Hook(String),
}
