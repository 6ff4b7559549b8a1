//! The workflow AST: what a file says, with a byte span on every node.
//!
//! Names are kept as written (`Name`), unresolved; the checker resolves them and turns the
//! AST into the compiled [`crate::model::Workflow`].

use crate::diagnostics::Span;

/// A name as written in the file, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The text of the name.
    pub text: String,
    /// Where it stands in the file.
    pub span: Span,
}

/// A string literal, unescaped, with its span (quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str {
    /// The unescaped text.
    pub text: String,
    /// Where it stands in the file.
    pub span: Span,
}

/// A parsed workflow file: its items in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    /// Every top-level item, in the order written.
    pub items: Vec<Item>,
}

/// One top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `workflow name "title"`
    Workflow(WorkflowDecl),
    /// `phase code "Label" { status ... }`
    Phase(PhaseDecl),
    /// `status code "Label" ...` outside any phase.
    Status(StatusDecl),
    /// `flag name "description"`
    Flag(FlagDecl),
    /// `attribute name: type "description"`
    Attribute(AttributeDecl),
    /// `event name [is kind] ["description"] [{ fields }]`
    Event(EventDecl),
    /// `webhook name "description"`
    Webhook(WebhookDecl),
    /// `fulfillment actions { "..." ... }`
    Actions(ActionsDecl),
    /// `settings { key = value ... }`
    Settings(SettingsDecl),
    /// `channel code "Label" { require ...  start in ... when ... }`
    Channel(ChannelDecl),
    /// `on EVENT from SOURCES [when GUARD] go to STATUS [{ actions }]`
    Transition(TransitionDecl),
    /// `on entering STATUSES { actions }` / `on leaving STATUSES { actions }` / `on created { actions }`
    StatusHook(StatusHookDecl),
    /// `timer name after DURATION [in STATUSES] [go to STATUS] [{ actions }]`
    Timer(TimerDecl),
    /// `renamed old -> new`
    Renamed(RenamedDecl),
}

/// `workflow name "title"`
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowDecl {
    /// The workflow's name (used in the API and in order rows).
    pub name: Name,
    /// A human title.
    pub title: Option<Str>,
    /// The whole declaration.
    pub span: Span,
}

/// `phase code "Label" { statuses }`
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseDecl {
    /// The phase code.
    pub code: Name,
    /// The phase label.
    pub label: Option<Str>,
    /// Statuses in the phase, in order.
    pub statuses: Vec<StatusDecl>,
    /// The whole declaration.
    pub span: Span,
}

/// `status code "Staff label" [customer sees "Customer label"] [final]`
#[derive(Debug, Clone, PartialEq)]
pub struct StatusDecl {
    /// The status code (snake_case).
    pub code: Name,
    /// The label staff see.
    pub label: Str,
    /// The label customers see, if different.
    pub customer_label: Option<Str>,
    /// Whether the status is final (no transition leaves it).
    pub is_final: bool,
    /// The whole declaration.
    pub span: Span,
}

/// `flag name "description"`
#[derive(Debug, Clone, PartialEq)]
pub struct FlagDecl {
    /// The flag's name.
    pub name: Name,
    /// What the flag means, for staff.
    pub description: Option<Str>,
    /// The whole declaration.
    pub span: Span,
}

/// `attribute name: type "description"`
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDecl {
    /// The attribute's name.
    pub name: Name,
    /// Its type as written (`text`, `money`, ...).
    pub ty: Name,
    /// What it holds.
    pub description: Option<Str>,
    /// The whole declaration.
    pub span: Span,
}

/// `event name [is kind] ["description"] [{ field: type ... }]`
#[derive(Debug, Clone, PartialEq)]
pub struct EventDecl {
    /// The event's name.
    pub name: Name,
    /// A built-in kind (`shipment`, `payment`, `receipt`) the engine gives meaning to.
    pub kind: Option<Name>,
    /// What the event means.
    pub description: Option<Str>,
    /// The data fields it carries.
    pub fields: Vec<FieldDecl>,
    /// The whole declaration.
    pub span: Span,
}

/// `name: type[?]` inside an event.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    /// The field's name.
    pub name: Name,
    /// Its type as written.
    pub ty: Name,
    /// Whether the field may be left out (`?`).
    pub optional: bool,
    /// The whole declaration.
    pub span: Span,
}

/// `webhook name "description"`: a target the deployment config gives a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDecl {
    /// The target's name.
    pub name: Name,
    /// What it is.
    pub description: Option<Str>,
    /// The whole declaration.
    pub span: Span,
}

/// `fulfillment actions { "Payment received" "Picked" ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct ActionsDecl {
    /// The action names offered to staff, in order.
    pub names: Vec<Str>,
    /// The names marked `hidden`: recorded hidden from the customer unless said otherwise.
    pub hidden: Vec<String>,
    /// The whole declaration.
    pub span: Span,
}

/// `settings { key = value ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsDecl {
    /// Each setting in order.
    pub entries: Vec<Setting>,
    /// The whole declaration.
    pub span: Span,
}

/// `key = value`
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key.
    pub key: Name,
    /// The value.
    pub value: SettingValue,
    /// Where the value stands.
    pub value_span: Span,
}

/// A setting's value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    /// `on` / `off` / `yes` / `no` / `true` / `false`
    Switch(bool),
    /// `15m`, unvalidated.
    Duration(String),
    /// `3`, `2.5`
    Number(String),
    /// `"text"`
    Text(String),
}

/// `channel code "Label" { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelDecl {
    /// The channel code (`website`, `pos`, ...).
    pub code: Name,
    /// A human label.
    pub label: Option<Str>,
    /// `require` clauses, in order.
    pub required: Vec<Requirement>,
    /// Start and refuse rules, in order: the first that matches decides.
    pub rules: Vec<ChannelRule>,
    /// The whole declaration.
    pub span: Span,
}

/// `require FIELD, ... [when|unless CONDITIONS]`
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// The field paths.
    pub fields: Vec<Name>,
    /// The orders it is for (empty: every order): those the conditions take, or with `unless`
    /// the others.
    pub conditions: Vec<ChannelCond>,
    /// `unless` rather than `when`.
    pub unless: bool,
    /// The whole clause.
    pub span: Span,
}

/// One `start in STATUS when ...` or `refuse when ... "message"` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRule {
    /// `Some(status)` to start there, `None` to refuse the order.
    pub start: Option<Name>,
    /// Conditions, all of which must hold.
    pub conditions: Vec<ChannelCond>,
    /// For refuse rules: the message given to the channel.
    pub message: Option<Str>,
    /// The whole rule.
    pub span: Span,
}

/// A condition in a channel rule.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelCond {
    /// `mode carry, delivery`
    Mode(Vec<Name>),
    /// `paid by credit_card, paypal`
    Method(Vec<Name>),
    /// `payment is approved, pending`
    Outcome(Vec<Name>),
    /// `unpaid`: the order arrives with no payment.
    Unpaid(Span),
}

/// Where a transition may start.
#[derive(Debug, Clone, PartialEq)]
pub enum Sources {
    /// `any status`: every non-final status.
    Any(Span),
    /// A list of statuses.
    List(Vec<Name>),
}

/// Where a transition goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `go to STATUS`
    GoTo(Name),
    /// `stay`
    Stay(Span),
}

/// An event-driven (`on EVENT`) or automatic (`automatically`) transition.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionDecl {
    /// The event; `None` for an automatic transition.
    pub event: Option<Name>,
    /// Source statuses.
    pub sources: Sources,
    /// The guard, if any.
    pub guard: Option<Expr>,
    /// Where it goes.
    pub target: Target,
    /// Actions run when it fires.
    pub actions: Vec<Action>,
    /// The whole declaration.
    pub span: Span,
}

/// Whether a status hook runs on entering or leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookMoment {
    /// `on entering`
    Entering,
    /// `on leaving`
    Leaving,
    /// `on created [from CHANNELS]`: once, when the order is created (after its initial status
    /// is set).
    Created,
    /// `on invoiced`: once, when the order becomes fully invoiced.
    Invoiced,
    /// `on paid in full`: once, when nothing is left to pay of a total above zero.
    PaidInFull,
}

/// `on entering STATUSES { actions }` / `on leaving STATUSES { actions }`
#[derive(Debug, Clone, PartialEq)]
pub struct StatusHookDecl {
    /// Entering or leaving.
    pub moment: HookMoment,
    /// The statuses (`on entering` / `on leaving`), or the channels (`on created from ...`;
    /// empty: every channel).
    pub statuses: Vec<Name>,
    /// The actions.
    pub actions: Vec<Action>,
    /// The whole declaration.
    pub span: Span,
}

/// `timer name after DURATION [in STATUSES] [go to STATUS | stay] [{ actions }]`
#[derive(Debug, Clone, PartialEq)]
pub struct TimerDecl {
    /// The timer's name.
    pub name: Name,
    /// The delay as written, unvalidated.
    pub after: Name,
    /// Statuses that start it on entry (and cancel it on exit); empty: started by `start timer`.
    pub statuses: Vec<Name>,
    /// `when CONDITION`: checked when it fires; when false, it does nothing.
    pub guard: Option<Expr>,
    /// Where the order goes when it fires.
    pub target: Option<Target>,
    /// Actions run when it fires.
    pub actions: Vec<Action>,
    /// The whole declaration.
    pub span: Span,
}

/// `renamed old -> new`
#[derive(Debug, Clone, PartialEq)]
pub struct RenamedDecl {
    /// The old status code.
    pub old: Name,
    /// The new status code.
    pub new: Name,
    /// The whole declaration.
    pub span: Span,
}

/// An action inside `{ ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// What it does.
    pub kind: ActionKind,
    /// The whole action.
    pub span: Span,
}

/// The kinds of action.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// `set flag NAME`
    SetFlag(Name),
    /// `clear flag NAME`
    ClearFlag(Name),
    /// `set PATH = EXPR`
    SetField(Name, Expr),
    /// `record "Action" [complete|partial] [notify E] [note E] [contact E] [visible|hidden]`
    Record(RecordAction),
    /// `start timer NAME`
    StartTimer(Name),
    /// `cancel timer NAME`
    CancelTimer(Name),
    /// `send webhook TARGET [with hook "file.rhai"]`
    SendWebhook {
        /// The declared webhook target.
        target: Name,
        /// A hook that builds the payload.
        hook: Option<Str>,
    },
    /// `send email to RECIPIENT template "name" [subject "..."]`
    SendEmail {
        /// Who gets it.
        to: Recipient,
        /// The template name.
        template: Str,
        /// A subject line.
        subject: Option<Str>,
    },
    /// `run hook "file.rhai[::function]"`
    RunHook(Str),
    /// `emit EVENT`
    Emit(Name),
    /// `assign to queue "name"`
    AssignQueue(Str),
    /// `assign to EXPR`: a person (staff member) by name or email.
    AssignPerson(Expr),
    /// `note EXPR`: a history note.
    Note(Expr),
    /// `pick`: flag in-stock lines picked.
    Pick,
    /// `invoice`: invoice picked lines.
    Invoice,
}

/// `record "Action" ...`
#[derive(Debug, Clone, PartialEq)]
pub struct RecordAction {
    /// The fulfillment action's name.
    pub name: Str,
    /// `Some(true)` complete, `Some(false)` partial, `None` as the engine defaults (complete).
    pub complete: Option<bool>,
    /// The person notified.
    pub notify: Option<Expr>,
    /// A note.
    pub note: Option<Expr>,
    /// Email or phone of the person contacted.
    pub contact: Option<Expr>,
    /// Whether the customer sees it (`None`: visible, as SalesCart does).
    pub visible: Option<bool>,
}

/// Who an email goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipient {
    /// `customer`: the order's customer email.
    Customer(Span),
    /// Any text expression: a literal address or a field.
    Expr(Expr),
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// Where it stands.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `and`
    And,
    /// `or`
    Or,
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
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinOp {
    /// The operator as written.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// The text tests: `starts with`, `ends with`, `contains` (case ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTest {
    /// `starts with`
    StartsWith,
    /// `ends with`
    EndsWith,
    /// `contains`
    Contains,
}

impl TextTest {
    /// The words as written.
    pub fn words(self) -> &'static str {
        match self {
            TextTest::StartsWith => "starts with",
            TextTest::EndsWith => "ends with",
            TextTest::Contains => "contains",
        }
    }

    /// Whether `text` passes the test with `pattern`, case ignored.
    pub fn holds(self, text: &str, pattern: &str) -> bool {
        let (text, pattern) = (text.to_lowercase(), pattern.to_lowercase());
        match self {
            TextTest::StartsWith => text.starts_with(&pattern),
            TextTest::EndsWith => text.ends_with(&pattern),
            TextTest::Contains => text.contains(&pattern),
        }
    }
}

/// Aggregates over an order's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// `all lines(cond)`
    All,
    /// `any line(cond)`
    Any,
    /// `count lines[(cond)]`
    Count,
    /// `sum lines(value)`
    Sum,
}

impl Aggregate {
    /// How it is written: `all lines`, `any line`, `count lines`, `sum lines`.
    pub fn words(self) -> &'static str {
        match self {
            Aggregate::All => "all lines",
            Aggregate::Any => "any line",
            Aggregate::Count => "count lines",
            Aggregate::Sum => "sum lines",
        }
    }
}

/// Expression kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `true` / `false`
    Bool(bool),
    /// `12`, `19.99`, kept as written for exact decimals.
    Number(String),
    /// `"text"`
    Text(String),
    /// `15m`, unvalidated.
    Duration(String),
    /// A bare word: a code such as `dropship` or `approved`.
    Code(String),
    /// `order.total`, `event.amount`, `line.qty`, ...: the path as written (its parts joined by
    /// dots, no spaces) and where.
    Path(Name),
    /// `not e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `e [not] in [a, b]`
    In {
        /// The value tested.
        value: Box<Expr>,
        /// The list.
        list: Vec<Expr>,
        /// `not in`
        negated: bool,
    },
    /// `e starts with "A"`, `e contains ["a", "b"]`: true when any pattern matches.
    TextTest {
        /// The value tested.
        value: Box<Expr>,
        /// Which test.
        test: TextTest,
        /// The patterns: one written alone, or a list.
        patterns: Vec<Expr>,
    },
    /// `all lines(e)`, `count lines`, ...
    Aggregate(Aggregate, Option<Box<Expr>>),
    /// `hook "file.rhai[::function]"` used as a guard.
    Hook(Str),
}
