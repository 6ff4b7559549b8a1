//! First pass: every declaration (statuses, phases, events, flags, attributes, webhooks,
//! fulfillment actions, settings, timers' names, channels' codes), with duplicates reported.

use super::{parse_duration, Checker};
use crate::diagnostics::{suggestion, Code, Diagnostic, Span};
use crate::model::{
    AttributeDef, Codes, EventDef, EventKind, FieldDef, FlagDef, Phase, Settings, Status, Type,
};
use crate::schema;
use crate::syntax::ast::{self, ChannelCond, Item, Name, SettingValue};
use std::collections::HashMap;

/// Everything declared in a file, by name.
pub(super) struct Decls {
    pub(super) workflow: Option<(String, Option<String>)>,
    pub(super) statuses: Vec<Status>,
    pub(super) status_spans: Vec<Span>,
    /// Each status's index and where its code is written, by code.
    pub(super) status_index: HashMap<String, (usize, Span)>,
    pub(super) phases: Vec<Phase>,
    pub(super) events: Vec<EventDef>,
    pub(super) event_index: HashMap<String, usize>,
    pub(super) flags: Vec<FlagDef>,
    pub(super) attributes: Vec<AttributeDef>,
    pub(super) webhooks: Vec<String>,
    pub(super) fulfillment_actions: Vec<String>,
    /// The actions marked `hidden` in the list.
    pub(super) hidden_actions: Vec<String>,
    pub(super) settings: Settings,
    pub(super) timers: Vec<String>,
    pub(super) channels: Vec<String>,
    pub(super) modes: Vec<String>,
    pub(super) methods: Vec<String>,
}

impl Decls {
    pub(super) fn status_names(&self) -> impl Iterator<Item = &str> {
        self.statuses.iter().map(|s| s.code.as_str())
    }

    pub(super) fn event(&self, name: &str) -> Option<usize> {
        self.event_index.get(name).copied()
    }

    pub(super) fn status(&self, name: &str) -> Option<usize> {
        self.status_index.get(name).map(|(id, _)| *id)
    }

    pub(super) fn flag_names(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| f.name.as_str())
    }

    pub(super) fn attribute(&self, name: &str) -> Option<Type> {
        self.attributes.iter().find(|a| a.name == name).map(|a| a.ty)
    }

    /// The values a coded field may take, when the set is closed.
    pub(super) fn codes(&self, codes: Codes) -> Vec<&str> {
        match codes {
            Codes::Fulfillment => schema::FULFILLMENT_METHODS.to_vec(),
            Codes::Outcomes => crate::model::PaymentOutcome::ALL.iter().map(|o| o.code()).collect(),
            Codes::Methods => {
                let mut v: Vec<&str> = schema::PAYMENT_METHODS.to_vec();
                v.extend(self.methods.iter().map(String::as_str));
                v
            }
            Codes::Channels => self.channels.iter().map(String::as_str).collect(),
            Codes::Modes => self.modes.iter().map(String::as_str).collect(),
            Codes::Statuses => self.status_names().collect(),
            Codes::Phases => self.phases.iter().map(|p| p.code.as_str()).collect(),
        }
    }
}

/// Tracks first declarations of names in one namespace.
struct Seen<'a> {
    what: &'static str,
    first: HashMap<&'a str, Span>,
}

impl<'a> Seen<'a> {
    fn new(what: &'static str) -> Self {
        Seen { what, first: HashMap::new() }
    }

    /// Whether `name` is new; reports a duplicate otherwise.
    fn fresh(&mut self, ch: &mut Checker<'_>, name: &'a Name) -> bool {
        match self.first.get(name.text.as_str()) {
            Some(first) => {
                ch.duplicate(self.what, name, *first);
                false
            }
            None => {
                self.first.insert(&name.text, name.span);
                true
            }
        }
    }
}

pub(super) fn collect(ch: &mut Checker<'_>, file: &ast::File) -> Decls {
    let mut d = Decls {
        workflow: None,
        statuses: Vec::new(),
        status_spans: Vec::new(),
        status_index: HashMap::new(),
        phases: Vec::new(),
        events: Vec::new(),
        event_index: HashMap::new(),
        flags: schema::BUILTIN_FLAGS
            .iter()
            .map(|(n, desc)| FlagDef { name: (*n).into(), description: Some((*desc).into()) })
            .collect(),
        attributes: Vec::new(),
        webhooks: Vec::new(),
        fulfillment_actions: Vec::new(),
        hidden_actions: Vec::new(),
        settings: Settings::default(),
        timers: Vec::new(),
        channels: Vec::new(),
        modes: Vec::new(),
        methods: Vec::new(),
    };
    let mut workflow_span: Option<Span> = None;
    let mut statuses = Seen::new("status");
    let mut phases = Seen::new("phase");
    let mut events = Seen::new("event");
    let mut flags = Seen::new("flag");
    let mut attributes = Seen::new("attribute");
    let mut webhooks = Seen::new("webhook");
    let mut timers = Seen::new("timer");
    let mut channels = Seen::new("channel");
    let mut actions_first: HashMap<&str, Span> = HashMap::new();
    let mut settings_seen = Seen::new("setting");

    for item in &file.items {
        match item {
            Item::Workflow(w) => match workflow_span {
                Some(first) => ch.report(
                    Diagnostic::error(Code::Duplicate, "a file holds one workflow", w.span)
                        .with_label("second `workflow` line")
                        .with_note(first, "the workflow is named here")
                        .with_help("put each workflow in its own `.flow` file"),
                ),
                None => {
                    workflow_span = Some(w.name.span);
                    d.workflow = Some((w.name.text.clone(), w.title.as_ref().map(|t| t.text.clone())));
                }
            },
            Item::Phase(p) => {
                if phases.fresh(ch, &p.code) {
                    // The phase's statuses are added first: they know its index, the next one.
                    let index = d.phases.len();
                    let mut ids = Vec::new();
                    for s in &p.statuses {
                        ids.extend(add_status(ch, &mut d, &mut statuses, s, Some(index)));
                    }
                    d.phases.push(Phase {
                        code: p.code.text.clone(),
                        label: p.label.as_ref().map_or_else(|| p.code.text.clone(), |l| l.text.clone()),
                        statuses: ids,
                    });
                } else {
                    for s in &p.statuses {
                        add_status(ch, &mut d, &mut statuses, s, None);
                    }
                }
            }
            Item::Status(s) => {
                add_status(ch, &mut d, &mut statuses, s, None);
            }
            Item::Flag(f) => {
                if d.flags.iter().any(|b| b.name == f.name.text)
                    && !flags.first.contains_key(f.name.text.as_str())
                {
                    // Declaring a built-in flag again is harmless: keep the merchant's description.
                    if let Some(def) = d.flags.iter_mut().find(|b| b.name == f.name.text) {
                        def.description = f.description.as_ref().map(|s| s.text.clone());
                    }
                    flags.first.insert(&f.name.text, f.name.span);
                } else if flags.fresh(ch, &f.name) {
                    d.flags.push(FlagDef {
                        name: f.name.text.clone(),
                        description: f.description.as_ref().map(|s| s.text.clone()),
                    });
                }
            }
            Item::Attribute(a) => {
                if attributes.fresh(ch, &a.name) {
                    let ty = type_of(ch, &a.ty).unwrap_or(Type::Text);
                    d.attributes.push(AttributeDef { name: a.name.text.clone(), ty });
                }
            }
            Item::Event(e) => {
                if events.fresh(ch, &e.name) {
                    let def = event(ch, e);
                    d.event_index.insert(def.name.clone(), d.events.len());
                    d.events.push(def);
                }
            }
            Item::Webhook(w) => {
                if webhooks.fresh(ch, &w.name) {
                    d.webhooks.push(w.name.text.clone());
                }
            }
            Item::Actions(a) => {
                for n in &a.names {
                    if let Some(first) = actions_first.get(n.text.as_str()) {
                        ch.report(
                            Diagnostic::error(
                                Code::Duplicate,
                                format!("fulfillment action `{}` is listed twice", n.text),
                                n.span,
                            )
                            .with_label("listed again here")
                            .with_note(*first, "first listed here")
                            .with_help("remove one of them"),
                        );
                    } else {
                        actions_first.insert(&n.text, n.span);
                        d.fulfillment_actions.push(n.text.clone());
                        if a.hidden.contains(&n.text) {
                            d.hidden_actions.push(n.text.clone());
                        }
                    }
                }
            }
            Item::Settings(s) => {
                for entry in &s.entries {
                    if settings_seen.fresh(ch, &entry.key) {
                        setting(ch, &mut d.settings, entry);
                    }
                }
            }
            Item::Timer(t) => {
                if timers.fresh(ch, &t.name) {
                    d.timers.push(t.name.text.clone());
                }
            }
            Item::Channel(c) => {
                if channels.fresh(ch, &c.code) {
                    d.channels.push(c.code.text.clone());
                }
                for rule in &c.rules {
                    for cond in &rule.conditions {
                        match cond {
                            ChannelCond::Mode(ms) => push_new(&mut d.modes, ms),
                            ChannelCond::Method(ms) => push_new(&mut d.methods, ms),
                            _ => {}
                        }
                    }
                }
            }
            Item::Transition(_) | Item::StatusHook(_) | Item::Renamed(_) => {}
        }
    }
    if d.workflow.is_none() && !ch.skipped_words.iter().any(|w| w == "workflow") {
        ch.report(
            Diagnostic::error(Code::MissingWorkflow, "the file does not name its workflow", Span::new(0, 0))
                .with_label("expected a `workflow` line")
                .with_help(
                    "start the file with `workflow NAME \"Title\"`, e.g. `workflow retail \"Retail orders\"`",
                ),
        );
    }
    d
}

fn push_new(into: &mut Vec<String>, names: &[Name]) {
    for n in names {
        if !into.contains(&n.text) {
            into.push(n.text.clone());
        }
    }
}

fn add_status(
    ch: &mut Checker<'_>,
    d: &mut Decls,
    seen: &mut Seen<'_>,
    s: &ast::StatusDecl,
    phase: Option<usize>,
) -> Option<usize> {
    // `Seen` borrows names from the AST; statuses are checked by their own map to keep the
    // borrow simple.
    if let Some(&(_, first)) = d.status_index.get(&s.code.text) {
        ch.duplicate(seen.what, &s.code, first);
        return None;
    }
    let id = d.statuses.len();
    d.status_index.insert(s.code.text.clone(), (id, s.code.span));
    d.status_spans.push(s.code.span);
    d.statuses.push(Status {
        code: s.code.text.clone(),
        label: s.label.text.clone(),
        customer_label: s.customer_label.as_ref().map_or_else(|| s.label.text.clone(), |l| l.text.clone()),
        is_final: s.is_final,
        phase,
    });
    Some(id)
}

fn type_of(ch: &mut Checker<'_>, name: &Name) -> Option<Type> {
    let ty = Type::from_name(&name.text);
    if ty.is_none() {
        ch.unknown(Code::UnknownType, "type", name, Type::NAMES.iter().copied(), || {
            format!("the types are {}", Type::NAMES.join(", "))
        });
    }
    ty
}

fn event(ch: &mut Checker<'_>, e: &ast::EventDecl) -> EventDef {
    let kind = match &e.kind {
        None => EventKind::Plain,
        Some(k) => match k.text.as_str() {
            "shipment" => EventKind::Shipment,
            "payment" => EventKind::Payment,
            "receipt" => EventKind::Receipt,
            _ => {
                ch.unknown(Code::UnknownEventKind, "event kind", k, EventKind::NAMES.iter().copied(), || {
                    format!(
                        "the kinds are {}; leave `is ...` out for a plain event",
                        EventKind::NAMES.join(", ")
                    )
                });
                EventKind::Plain
            }
        },
    };
    let mut fields: Vec<FieldDef> = Vec::new();
    let mut first: HashMap<&str, Span> = HashMap::new();
    for f in &e.fields {
        if let Some(span) = first.get(f.name.text.as_str()) {
            ch.duplicate("field", &f.name, *span);
            continue;
        }
        first.insert(&f.name.text, f.name.span);
        if schema::lookup(schema::EVENT_BUILTIN, &f.name.text).is_some() {
            ch.report(
                Diagnostic::error(
                    Code::ReservedField,
                    format!("every event already carries `{}`", f.name.text),
                    f.name.span,
                )
                .with_label("built-in field")
                .with_help("remove this line, or pick another name"),
            );
            continue;
        }
        let ty = type_of(ch, &f.ty).unwrap_or(Type::Text);
        if let Some((_, builtin_ty, _)) = kind.builtin_fields().iter().find(|(n, _, _)| *n == f.name.text) {
            if !compatible_decl(*builtin_ty, ty) {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!(
                            "`{}` of a {} event is {}, not {}",
                            f.name.text,
                            kind_name(kind),
                            builtin_ty.describe(),
                            ty.describe()
                        ),
                        f.ty.span,
                    )
                    .with_label("conflicts with the built-in field")
                    .with_help(format!(
                        "write `{}: {}` or leave the line out",
                        f.name.text,
                        builtin_ty.describe()
                    )),
                );
            }
        }
        fields.push(FieldDef { name: f.name.text.clone(), ty, optional: f.optional });
    }
    for (name, ty, optional) in kind.builtin_fields() {
        if !fields.iter().any(|f| f.name == *name) {
            fields.push(FieldDef { name: (*name).into(), ty: *ty, optional: *optional });
        }
    }
    EventDef {
        name: e.name.text.clone(),
        kind,
        description: e.description.as_ref().map(|s| s.text.clone()),
        fields,
    }
}

fn compatible_decl(builtin: Type, declared: Type) -> bool {
    builtin == declared || (builtin.is_textual() && declared.is_textual())
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Plain => "plain",
        EventKind::Shipment => "shipment",
        EventKind::Payment => "payment",
        EventKind::Receipt => "receipt",
    }
}

const SETTINGS: &[&str] =
    &["auto_pick", "auto_invoice", "lock_lease", "max_automatic_steps", "currency", "default_for_channels"];

fn setting(ch: &mut Checker<'_>, s: &mut Settings, entry: &ast::Setting) {
    let key = entry.key.text.as_str();
    let wrong = |ch: &mut Checker<'_>, expected: &str, example: &str| {
        ch.report(
            Diagnostic::error(Code::InvalidSetting, format!("`{key}` takes {expected}"), entry.value_span)
                .with_label("not a valid value here")
                .with_help(format!("for example `{key} = {example}`")),
        );
    };
    match (key, &entry.value) {
        ("auto_pick", SettingValue::Switch(b)) => s.auto_pick = *b,
        ("auto_invoice", SettingValue::Switch(b)) => s.auto_invoice = *b,
        ("default_for_channels", SettingValue::Switch(b)) => s.default_for_channels = *b,
        ("auto_pick" | "auto_invoice" | "default_for_channels", _) => wrong(ch, "`on` or `off`", "on"),
        ("lock_lease", SettingValue::Duration(text)) => match parse_duration(text) {
            Ok(d) => s.lock_lease = d,
            Err(e) => ch.report(super::exprs::duration_error(text, &e, entry.value_span)),
        },
        ("lock_lease", _) => wrong(ch, "a duration", "15m"),
        ("max_automatic_steps", SettingValue::Number(n)) => match n.parse::<u32>() {
            Ok(v) if (1..=1000).contains(&v) => s.max_automatic_steps = v,
            _ => wrong(ch, "a whole number from 1 to 1000", "16"),
        },
        ("max_automatic_steps", _) => wrong(ch, "a whole number", "16"),
        ("currency", SettingValue::Text(t)) if t.len() == 3 && t.chars().all(|c| c.is_ascii_uppercase()) => {
            s.currency = t.clone();
        }
        ("currency", _) => wrong(ch, "a three-letter currency code in quotes", "\"USD\""),
        _ => ch.report(
            Diagnostic::error(Code::UnknownSetting, format!("unknown setting `{key}`"), entry.key.span)
                .with_label("not a setting")
                .with_help(
                    suggestion(key, SETTINGS.iter().copied())
                        .unwrap_or_else(|| format!("the settings are {}", SETTINGS.join(", "))),
                ),
        ),
    }
}
