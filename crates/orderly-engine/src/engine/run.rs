//! Applying events, timers and fulfillment-action edits to an order: transitions with their
//! leaving / transition / entering actions, timers, auto-invoice, automatic transitions and
//! follow-up events, all into one [`Decision`].

use super::data::{apply_kind, validate};
use super::eval::{eval, explain, show, why_false, Ctx, Value};
use super::{
    Candidate, Decision, EventInput, HistoryEntry, Hooks, MessageKind, OutboxMessage, Problem, Rejection,
    RejectionCode, Step, TimerCancel, TimerStart,
};
use crate::model::{Action, Recipient, StatusId, Transition, Type, Workflow};
use crate::order::{FulfillmentAction, Order, Time};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;

/// The work of one input, accumulating into a decision.
pub(crate) struct Run<'a> {
    /// Whether the order was fully invoiced before this input: `on invoiced` runs once, when
    /// it becomes so.
    invoiced_before: bool,
    /// Whether it was paid in full before this input (likewise `on paid in full`).
    paid_before: bool,
    pub(crate) w: &'a Workflow,
    hooks: &'a dyn Hooks,
    pub(crate) now: Time,
    actor: Option<String>,
    pub(crate) order: Held<'a>,
    /// The index of the order's status in the workflow (`None`: a status it does not have),
    /// kept as the run moves the order.
    at: Option<StatusId>,
    steps: Vec<super::Step>,
    pub(crate) history: Vec<HistoryEntry>,
    timer_starts: Vec<TimerStart>,
    timer_cancels: Vec<TimerCancel>,
    outbox: Vec<OutboxMessage>,
    budget: u32,
    pending: VecDeque<EventInput>,
    related: Vec<super::NewOrder>,
    /// A replay's run ([`crate::replay`]): no history rows and no message payloads (nothing
    /// will be written or sent), and the statuses entered kept as indexes in `entered` instead
    /// of [`Step`]s. What is decided is the same.
    quiet: bool,
    /// With `quiet`: the status entered by each step, in order (what `steps` would hold as `to`).
    pub(crate) entered: Vec<StatusId>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        w: &'a Workflow,
        hooks: &'a dyn Hooks,
        order: impl Into<Held<'a>>,
        now: Time,
        actor: Option<String>,
    ) -> Self {
        let mut order = order.into();
        let at = w.status_id(&order.status);
        set_phase(w, &mut order, at);
        let invoiced_before = order.invoiced;
        let paid_before = paid_in_full(&order);
        Run {
            invoiced_before,
            paid_before,
            w,
            hooks,
            now,
            actor,
            order,
            at,
            steps: Vec::new(),
            history: Vec::new(),
            timer_starts: Vec::new(),
            timer_cancels: Vec::new(),
            outbox: Vec::new(),
            budget: w.settings.max_automatic_steps,
            pending: VecDeque::new(),
            related: Vec::new(),
            quiet: false,
            entered: Vec::new(),
        }
    }

    /// A replay's run (see the `quiet` field), on an order it owns or changes in place: `entered` is a
    /// buffer to reuse (it is cleared).
    pub(crate) fn new_quiet(
        w: &'a Workflow,
        hooks: &'a dyn Hooks,
        order: impl Into<Held<'a>>,
        now: Time,
        actor: Option<String>,
        mut entered: Vec<StatusId>,
    ) -> Self {
        entered.clear();
        let mut run = Self::new(w, hooks, order, now, actor);
        run.quiet = true;
        run.entered = entered;
        run
    }

    /// The order as the run left it, and what it decided besides (history is empty when quiet).
    pub(crate) fn into_parts(self) -> (Order, Effects) {
        let (order, effects) = self.split();
        (order.into_owned(), effects)
    }

    /// What the run decided besides the order, for a run that changed an order in place.
    pub(crate) fn into_effects(self) -> Effects {
        self.split().1
    }

    fn split(self) -> (Held<'a>, Effects) {
        let effects = Effects {
            steps: self.steps,
            entered: self.entered,
            timer_starts: self.timer_starts,
            timer_cancels: self.timer_cancels,
            outbox: self.outbox,
            related: self.related,
        };
        (self.order, effects)
    }

    /// Whether history and payloads are left out (a replay's run).
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Records a step: a [`Step`], or in a quiet run the status entered.
    fn step(&mut self, label: Option<String>, from: String, to: StatusId, line: usize) {
        if self.quiet {
            self.entered.push(to);
        } else {
            self.steps.push(Step { event: label, from, to: self.order.status.clone(), line });
        }
    }

    pub(crate) fn into_decision(self) -> Decision {
        Decision {
            order: self.order.into_owned(),
            steps: self.steps,
            history: self.history,
            timer_starts: self.timer_starts,
            timer_cancels: self.timer_cancels,
            outbox: self.outbox,
            related: self.related,
        }
    }

    pub(crate) fn record(&mut self, kind: &str, event: Option<&str>, detail: serde_json::Value) {
        if self.quiet {
            return;
        }
        self.history.push(HistoryEntry {
            at: self.now,
            kind: kind.into(),
            event: event.map(str::to_string),
            from_status: None,
            to_status: None,
            actor: self.actor.clone(),
            detail,
        });
    }

    fn status_id(&self) -> Result<StatusId, Rejection> {
        self.at.ok_or_else(|| {
            Rejection::new(
                RejectionCode::UnknownStatus,
                format!(
                    "the order is in status `{}`, which workflow `{}` no longer has",
                    self.order.status, self.w.name
                ),
            )
        })
    }

    fn ctx<'b>(&'b self, event: Option<&'b EventInput>) -> Ctx<'b> {
        Ctx { workflow: self.w, order: &self.order, event, now: self.now, hooks: self.hooks, line: None }
    }

    fn hook_failed(&self, message: String) -> Rejection {
        let mut r = Rejection::new(RejectionCode::HookFailed, message);
        r.status = Some(self.order.status.clone());
        r
    }

    /// Whether a guard (a transition's or a timer's) holds; no guard always does.
    fn holds(
        &self,
        guard: Option<&crate::model::Expr>,
        event: Option<&EventInput>,
    ) -> Result<bool, Rejection> {
        match guard {
            None => Ok(true),
            Some(g) => match eval(g, &self.ctx(event)) {
                Ok(v) => Ok(v == Value::Bool(true)),
                Err(e) => Err(self.hook_failed(e)),
            },
        }
    }

    /// Refuses a step that needs what the workflow does not have. A workflow `check` built has
    /// every status and event its transitions, timers, channels and actions name: this is one
    /// put together some other way, and the step is refused rather than the worker stopped.
    fn missing(&self, code: RejectionCode, what: String) -> Rejection {
        let mut r = Rejection::new(code, format!("workflow `{}` has no {what}", self.w.name));
        r.status = Some(self.order.status.clone());
        r
    }

    /// Sets the status, runs entering actions and starts the status's timers.
    pub(crate) fn enter(&mut self, to: StatusId, event: Option<&EventInput>) -> Result<(), Rejection> {
        let w = self.w;
        let (Some(status), Some(actions)) = (w.statuses.get(to), w.on_enter.get(to)) else {
            return Err(self.missing(RejectionCode::UnknownStatus, format!("status number {to}")));
        };
        // `clone_from` keeps the status's buffer: entering a status allocates nothing.
        self.order.status.clone_from(&status.code);
        self.at = Some(to);
        set_phase(w, &mut self.order, self.at);
        self.order.status_since = self.now;
        for t in self.w.timers.iter().filter(|t| t.statuses.contains(&to)) {
            // A timer with `when` starts only for an order its condition holds for (and checks
            // it again when it is due).
            if !self.holds(t.guard.as_ref(), None)? {
                continue;
            }
            let due_at = self.now + chrono::Duration::from_std(t.after).unwrap_or(chrono::Duration::MAX);
            self.timer_starts.push(TimerStart { name: t.name.clone(), due_at, status: status.code.clone() });
        }
        self.run_actions(actions, event)
    }

    fn leave(&mut self, from: StatusId, event: Option<&EventInput>) -> Result<(), Rejection> {
        let w = self.w;
        let (Some(status), Some(actions)) = (w.statuses.get(from), w.on_leave.get(from)) else {
            return Err(self.missing(RejectionCode::UnknownStatus, format!("status number {from}")));
        };
        self.timer_starts.retain(|t| t.status != status.code);
        // A replay keeps only the timers its workflow starts: without timers there is nothing
        // to cancel (the store also cancels those an older version started).
        if !(self.quiet && w.timers.is_empty()) {
            self.timer_cancels.push(TimerCancel::Status(status.code.clone()));
        }
        self.run_actions(actions, event)
    }

    /// Takes a transition: leaving actions, its actions, entering actions (when it moves).
    fn take(
        &mut self,
        t: &Transition,
        event: Option<&EventInput>,
        label: Option<String>,
    ) -> Result<(), Rejection> {
        let from = self.status_id()?;
        let from_code = if self.quiet { String::new() } else { self.order.status.clone() };
        let to = match t.target {
            Some(to) if to != from => {
                self.leave(from, event)?;
                self.run_actions(&t.actions, event)?;
                self.enter(to, event)?;
                to
            }
            _ => {
                self.run_actions(&t.actions, event)?;
                from
            }
        };
        if !self.quiet {
            let to_code = self.order.status.clone();
            self.history.push(HistoryEntry {
                at: self.now,
                kind: if from_code == to_code { "event".into() } else { "transition".into() },
                event: label.clone(),
                from_status: Some(from_code.clone()),
                to_status: Some(to_code),
                actor: self.actor.clone(),
                detail: json!({"line": t.line, "automatic": t.event.is_none()}),
            });
        }
        self.step(label, from_code, to, t.line);
        Ok(())
    }

    fn text_of(&self, e: &crate::model::Expr, event: Option<&EventInput>) -> Result<String, Rejection> {
        match eval(e, &self.ctx(event)).map_err(|m| self.hook_failed(m))? {
            Value::Text(t) => Ok(t.into_owned()),
            Value::Null => Ok(String::new()),
            other => Ok(other.to_string()),
        }
    }

    pub(crate) fn run_actions(
        &mut self,
        actions: &[Action],
        event: Option<&EventInput>,
    ) -> Result<(), Rejection> {
        for a in actions {
            self.run_action(a, event)?;
        }
        Ok(())
    }

    pub(crate) fn run_action(&mut self, a: &Action, event: Option<&EventInput>) -> Result<(), Rejection> {
        let ev = event.map(|e| e.name.clone());
        match a {
            Action::SetFlag(f) => {
                if self.order.flags.insert(f.clone()) {
                    self.record("flag", ev.as_deref(), json!({"set": f}));
                }
            }
            Action::ClearFlag(f) => {
                if self.order.flags.remove(f) {
                    self.record("flag", ev.as_deref(), json!({"cleared": f}));
                }
            }
            Action::SetAttribute(name, e) => {
                let ty = self.w.attributes.iter().find(|x| &x.name == name).map_or(Type::Text, |x| x.ty);
                let v = eval(e, &self.ctx(event)).map_err(|m| self.hook_failed(m))?;
                let json = to_json(&v, ty);
                self.order.attributes.insert(name.clone(), json);
            }
            Action::Record(spec) => {
                let notify =
                    spec.notify.as_ref().map(|e| self.text_of(e, event)).transpose()?.unwrap_or_default();
                let note =
                    spec.note.as_ref().map(|e| self.text_of(e, event)).transpose()?.unwrap_or_default();
                let contact = match &spec.contact {
                    Some(e) => self.text_of(e, event)?,
                    None => self.order.customer.email.clone(),
                };
                let input = FulfillmentActionInput {
                    name: Some(spec.name.clone()),
                    complete: Some(spec.complete),
                    notify: Some(notify),
                    note: Some(note),
                    contact: Some(contact),
                    visible: Some(spec.visible),
                    actor: None,
                };
                self.push_action(spec.name.clone(), &input, ev.as_deref());
            }
            Action::StartTimer(name) => {
                if let Some(t) = self.w.timers.iter().find(|t| &t.name == name) {
                    let due_at =
                        self.now + chrono::Duration::from_std(t.after).unwrap_or(chrono::Duration::MAX);
                    self.timer_starts.retain(|s| &s.name != name);
                    self.timer_cancels.push(TimerCancel::Name(name.clone()));
                    self.timer_starts.push(TimerStart {
                        name: name.clone(),
                        due_at,
                        status: self.order.status.clone(),
                    });
                }
            }
            Action::CancelTimer(name) => {
                self.timer_starts.retain(|s| &s.name != name);
                self.timer_cancels.push(TimerCancel::Name(name.clone()));
            }
            Action::SendWebhook { target, hook } => {
                // A payload hook runs at delivery, on this payload's event and data and the
                // order as it is then; the body it builds is recorded with each attempt.
                self.queue(OutboxMessage {
                    kind: MessageKind::Webhook,
                    target: target.clone(),
                    template: None,
                    subject: None,
                    hook: hook.clone(),
                    event: ev.clone(),
                    payload: self.payload(ev.as_deref(), event),
                });
            }
            Action::SendEmail { to, template, subject } => {
                let to = match to {
                    Recipient::Customer => self.order.customer.email.clone(),
                    Recipient::Address(e) => self.text_of(e, event)?,
                };
                self.queue(OutboxMessage {
                    kind: MessageKind::Email,
                    target: to,
                    template: Some(template.clone()),
                    subject: subject.clone(),
                    hook: None,
                    event: ev.clone(),
                    payload: self.payload(ev.as_deref(), event),
                });
            }
            Action::RunHook(h) => {
                let effects =
                    self.hooks.run(h, &self.order, event, self.now).map_err(|m| self.hook_failed(m))?;
                self.record("hook", ev.as_deref(), json!({"hook": h, "effects": effects.len()}));
                for effect in effects {
                    self.apply_effect(h, effect, event)?;
                }
            }
            Action::Emit(e) => {
                let Some(def) = self.w.events.get(*e) else {
                    return Err(self.missing(RejectionCode::UnknownEvent, format!("event number {e}")));
                };
                let name = def.name.clone();
                self.pending.push_back(EventInput {
                    name,
                    data: Default::default(),
                    actor: self.actor.clone(),
                });
            }
            Action::AssignQueue(q) => {
                self.order.queue = Some(q.clone());
                self.record("assigned", ev.as_deref(), json!({"queue": q}));
            }
            Action::AssignPerson(e) => {
                let who = self.text_of(e, event)?;
                self.order.assignee = (!who.is_empty()).then_some(who.clone());
                self.record("assigned", ev.as_deref(), json!({"assignee": who}));
            }
            Action::Note(e) => {
                let text = self.text_of(e, event)?;
                self.record("note", ev.as_deref(), json!({"note": text}));
            }
            Action::Pick => {
                self.pick(ev.as_deref());
                self.auto_invoice();
            }
            Action::Invoice => self.invoice(ev.as_deref()),
        }
        Ok(())
    }

    /// Applies one effect a hook returned, checked against the workflow like the same action
    /// written in the DSL would be.
    fn apply_effect(
        &mut self,
        hook: &str,
        effect: super::Effect,
        event: Option<&EventInput>,
    ) -> Result<(), Rejection> {
        use super::Effect as E;
        let ev = event.map(|e| e.name.clone());
        let status = self.order.status.clone();
        let refuse = |what: String| {
            let mut r = Rejection::new(RejectionCode::HookFailed, format!("hook `{hook}` {what}"));
            r.status = Some(status.clone());
            r
        };
        let w = self.w;
        match effect {
            E::SetAttribute { name, value } => {
                let Some(a) = w.attributes.iter().find(|a| a.name == name) else {
                    return Err(refuse(format!(
                        "set attribute `{name}`, which workflow `{}` does not declare",
                        w.name
                    )));
                };
                if !value.is_null() && super::eval::typed(Some(&value), a.ty) == Value::Null {
                    return Err(refuse(format!(
                        "set attribute `{name}` to {value}, but it holds {}",
                        a.ty.describe()
                    )));
                }
                self.order.attributes.insert(name, value);
            }
            E::SetFlag { name } | E::ClearFlag { name } if !w.flags.iter().any(|f| f.name == name) => {
                return Err(refuse(format!(
                    "used flag `{name}`, which workflow `{}` does not declare",
                    w.name
                )));
            }
            E::SetFlag { name } => self.run_action(&Action::SetFlag(name), event)?,
            E::ClearFlag { name } => self.run_action(&Action::ClearFlag(name), event)?,
            E::Note { text } => self.record("note", ev.as_deref(), json!({"note": text, "hook": hook})),
            E::RecordAction { action } => {
                let name = action_name(w, action.name.as_deref().unwrap_or_default())?;
                self.push_action(name, &action, ev.as_deref());
            }
            E::Webhook { target, payload } => {
                if !w.webhooks.contains(&target) {
                    return Err(refuse(format!(
                        "sent a webhook to `{target}`, which workflow `{}` does not declare",
                        w.name
                    )));
                }
                // The script built the body: it is sent as it is (no payload hook runs).
                self.queue(OutboxMessage {
                    kind: MessageKind::Webhook,
                    target,
                    template: None,
                    subject: None,
                    hook: None,
                    event: ev.clone(),
                    payload,
                });
            }
            E::Email { to, template, subject } => {
                let body = self.payload(ev.as_deref(), event);
                self.queue(OutboxMessage {
                    kind: MessageKind::Email,
                    target: to,
                    template: Some(template),
                    subject,
                    hook: None,
                    event: ev.clone(),
                    payload: body,
                });
            }
            E::Emit { event: name, data } => {
                if w.event_id(&name).is_none() {
                    return Err(refuse(format!(
                        "emitted event `{name}`, which workflow `{}` does not declare",
                        w.name
                    )));
                }
                self.pending.push_back(EventInput { name, data, actor: self.actor.clone() });
            }
            E::AssignQueue { queue } => {
                self.record("assigned", ev.as_deref(), json!({"queue": queue}));
                self.order.queue = Some(queue);
            }
            E::AssignPerson { person } => {
                self.record("assigned", ev.as_deref(), json!({"assignee": person}));
                self.order.assignee = (!person.is_empty()).then_some(person);
            }
            E::CreateRelatedOrder { order } => {
                self.record("related_order", ev.as_deref(), json!({"hook": hook, "channel": order.channel}));
                self.related.push(*order);
            }
        }
        Ok(())
    }

    /// Records fulfillment action `name` (already checked against the workflow's list), numbered
    /// next, with the input's details and their defaults (complete, visible, the customer's email
    /// as contact), and a history row.
    fn push_action(&mut self, name: String, input: &FulfillmentActionInput, event: Option<&str>) {
        let visible = input.visible.unwrap_or_else(|| !self.w.hidden_actions.contains(&name));
        let fa = FulfillmentAction {
            n: self.order.fulfillment_actions.len() as u32 + 1,
            name,
            complete: input.complete.unwrap_or(true),
            notify: input.notify.clone().unwrap_or_default(),
            note: input.note.clone().unwrap_or_default(),
            contact: input.contact.clone().unwrap_or_else(|| self.order.customer.email.clone()),
            visible,
            at: self.now,
            updated_at: self.now,
        };
        self.record("fulfillment_action", event, serde_json::to_value(&fa).unwrap_or_default());
        self.order.fulfillment_actions.push(fa);
    }

    /// What a message carries ([`payload`]); nothing in a quiet run, which sends nothing.
    fn payload(&self, event: Option<&str>, input: Option<&EventInput>) -> serde_json::Value {
        if self.quiet {
            return serde_json::Value::Null;
        }
        payload(&self.order, event, input, self.now)
    }

    pub(crate) fn queue(&mut self, m: OutboxMessage) {
        self.record(
            "outbox",
            None,
            json!({"kind": m.kind, "target": m.target, "template": m.template, "hook": m.hook}),
        );
        self.outbox.push(m);
    }

    /// Flags every unit in stock as picked.
    pub(crate) fn pick(&mut self, event: Option<&str>) {
        let mut picked = Vec::new();
        for l in &mut self.order.lines {
            let can = l.qty.min(l.in_stock_qty);
            if can > l.picked_qty {
                picked.push(json!({"line": l.n, "qty": (can - l.picked_qty).to_string()}));
                l.picked_qty = can;
            }
        }
        if !picked.is_empty() {
            self.record("picked", event, json!({"lines": picked}));
        }
    }

    /// With `auto_invoice` on, invoices the order the moment it is ready: every stock and
    /// just-in-time line in stock and picked, every drop-ship line shipped (by the vendor). Run
    /// right after whatever can make it ready (auto-pick at creation, an event's built-in
    /// effect, a `pick` action) and before anything else reads the order, so entering actions,
    /// hooks and guards see it invoiced.
    pub(crate) fn auto_invoice(&mut self) {
        if self.w.settings.auto_invoice && !self.order.invoiced && self.order.ready_to_invoice() {
            self.invoice(None);
        }
    }

    /// Invoices every unit picked or shipped.
    fn invoice(&mut self, event: Option<&str>) {
        let mut lines = Vec::new();
        for l in &mut self.order.lines {
            let ready = l.picked_qty.max(l.shipped_qty).min(l.qty);
            if ready > l.invoiced_qty {
                lines.push(json!({"line": l.n, "qty": (ready - l.invoiced_qty).to_string()}));
                l.invoiced_qty = ready;
            }
        }
        self.order.invoiced =
            !self.order.lines.is_empty() && self.order.lines.iter().all(|l| l.invoiced_qty >= l.qty);
        if !lines.is_empty() {
            self.record("invoiced", event, json!({"lines": lines, "complete": self.order.invoiced}));
        }
    }

    /// Handles one event: its data, its built-in effect, the first transition that takes it.
    pub(crate) fn handle(&mut self, input: &EventInput) -> Result<(), Rejection> {
        let event = self.w.events.iter().position(|e| e.name == input.name);
        self.handle_event(input, event)
    }

    /// [`Run::handle`] for an event already looked up: its index in the workflow's events, if
    /// it has it.
    pub(crate) fn handle_event(&mut self, input: &EventInput, event: Option<usize>) -> Result<(), Rejection> {
        let Some((event_id, def)) = event.and_then(|i| Some((i, self.w.events.get(i)?))) else {
            let mut r = Rejection::new(
                RejectionCode::UnknownEvent,
                format!("workflow `{}` has no event `{}`", self.w.name, input.name),
            );
            r.status = Some(self.order.status.clone());
            r.allowed_events = self.allowed_events();
            if let Some(s) =
                crate::diagnostics::suggestion(&input.name, self.w.events.iter().map(|e| e.name.as_str()))
            {
                r.message.push_str(&format!("; {s}"));
            }
            return Err(r);
        };
        validate(def, input)?;
        let from = self.status_id()?;
        apply_kind(&mut self.order, def, input, self.now, &mut self.history)?;
        if self.quiet {
            self.history.clear();
        }
        self.auto_invoice();
        let mut candidates = Vec::new();
        for t in self.w.transitions_on(from, event_id) {
            if self.holds(t.guard.as_ref(), Some(input))? {
                return self.take(t, Some(input), Some(input.name.clone()));
            }
            if let Some(g) = &t.guard {
                candidates.push(Candidate {
                    line: t.line,
                    guard: show(g),
                    failed: explain(self.w, g, &self.order, Some(input), self.now, self.hooks),
                });
            }
        }
        let mut r = Rejection::new(
            RejectionCode::NoTransition,
            if candidates.is_empty() {
                format!("event `{}` is not accepted in status `{}`", input.name, self.order.status)
            } else {
                format!(
                    "no transition for `{}` from status `{}` has a guard that holds",
                    input.name, self.order.status
                )
            },
        );
        r.status = Some(self.order.status.clone());
        r.allowed_events = self.allowed_events();
        r.candidates = candidates;
        Err(r)
    }

    pub(crate) fn allowed_events(&self) -> Vec<String> {
        allowed_in(self.w, &self.order.status)
    }

    /// A new order: nothing had happened to it before this input, so being invoiced or paid in
    /// full at creation is a moment too.
    pub(crate) fn as_new_order(&mut self) {
        self.invoiced_before = false;
        self.paid_before = false;
    }

    /// Runs the actions of the business moments this input brought about, each once: the order
    /// became fully invoiced (`on invoiced`), or paid in full (`on paid in full`).
    fn moments(&mut self) -> Result<(), Rejection> {
        let w = self.w;
        if !self.invoiced_before && self.order.invoiced {
            self.invoiced_before = true;
            self.run_actions(&w.on_invoiced, None)?;
        }
        if !self.paid_before && paid_in_full(&self.order) {
            self.paid_before = true;
            self.run_actions(&w.on_paid_in_full, None)?;
        }
        Ok(())
    }

    /// Auto-invoice and automatic transitions until none fires, then follow-up events.
    pub(crate) fn settle(&mut self) -> Result<(), Rejection> {
        // Statuses gone through, for the message when the bound is hit: filled from the first
        // automatic step on, so settling an order that does not move allocates nothing.
        let start = self.at;
        let mut visited: Vec<StatusId> = Vec::new();
        loop {
            self.auto_invoice();
            self.moments()?;
            let from = self.status_id()?;
            let mut fired = None;
            // `stay` rules fire too: their actions run and the loop looks again, so a `stay`
            // whose guard keeps holding is caught by the step bound below.
            for t in self.w.transitions.iter().filter(|t| t.event.is_none() && t.sources.contains(&from)) {
                if self.holds(t.guard.as_ref(), None)? {
                    fired = Some(t);
                    break;
                }
            }
            let next = match fired {
                Some(t) => Next::Automatic(t),
                None => match self.pending.pop_front() {
                    Some(e) => Next::Emitted(e),
                    None => return Ok(()),
                },
            };
            if self.budget == 0 {
                if visited.is_empty() {
                    visited.extend(start);
                }
                let mut r = Rejection::new(
                    RejectionCode::AutomaticLoop,
                    format!(
                        "more than {} automatic steps for one event (statuses {}): the workflow loops",
                        self.w.settings.max_automatic_steps,
                        visited
                            .iter()
                            .filter_map(|s| self.w.statuses.get(*s))
                            .map(|s| s.code.as_str())
                            .collect::<Vec<_>>()
                            .join(" -> ")
                    ),
                );
                r.status = Some(self.order.status.clone());
                return Err(r);
            }
            self.budget -= 1;
            if visited.is_empty() {
                visited.extend(start);
            }
            match next {
                Next::Emitted(e) => self.handle(&e)?,
                Next::Automatic(t) => self.take(t, None, None)?,
            }
            visited.extend(self.at);
        }
    }
}

/// Sets the order's phase to that of its status, `status` (a copy only when it changes).
fn set_phase(w: &Workflow, order: &mut Order, status: Option<StatusId>) {
    match status.and_then(|s| w.statuses.get(s)).and_then(|s| w.phase_of(s)) {
        Some(p) if order.phase.as_deref() == Some(p.code.as_str()) => {}
        Some(p) => order.phase = Some(p.code.clone()),
        None => order.phase = None,
    }
}

/// What a run decided besides the order ([`Run::into_parts`]): a replay keeps the order where
/// it is and reads these.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// The steps taken (empty in a quiet run).
    pub(crate) steps: Vec<Step>,
    /// In a quiet run, the status each step entered.
    pub(crate) entered: Vec<StatusId>,
    /// Timers started (net of those cancelled within the run).
    pub(crate) timer_starts: Vec<TimerStart>,
    /// Timers cancelled among those there before.
    pub(crate) timer_cancels: Vec<TimerCancel>,
    /// Messages queued.
    pub(crate) outbox: Vec<OutboxMessage>,
    /// Related orders a hook asked for.
    pub(crate) related: Vec<super::NewOrder>,
}

/// The events a workflow accepts in `status` (none for a status it does not have).
pub(crate) fn allowed_in(w: &Workflow, status: &str) -> Vec<String> {
    w.status_id(status)
        .map(|s| {
            w.events_accepted_in(s)
                .into_iter()
                .filter_map(|e| w.events.get(e))
                .map(|e| e.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// What settles next: an automatic transition, or an event a transition emitted.
enum Next<'w> {
    Automatic(&'w Transition),
    Emitted(EventInput),
}

/// An attribute value as stored: decimals as strings, durations as `15m`, times RFC 3339.
fn to_json(v: &Value, ty: Type) -> serde_json::Value {
    match (v, ty) {
        (Value::Null, _) => serde_json::Value::Null,
        (Value::Bool(b), _) => json!(b),
        (Value::Number(n), _) => json!(n.to_string()),
        (Value::Text(t), _) => json!(t),
        (Value::Duration(d), _) => json!(super::data::format_duration(*d)),
        (Value::Time(t), _) => json!(t.to_rfc3339()),
    }
}

/// What a message carries: the event (its name and data) and the order after it, for webhook
/// receivers and email templates. The order is the field catalogue's JSON: the fields and names
/// guards and hooks read (`order.shipping.city`, `order.customer.is_new`, `order.lines`).
fn payload(o: &Order, event: Option<&str>, input: Option<&EventInput>, now: Time) -> serde_json::Value {
    json!({
        "event": event,
        "data": input.map(|i| &i.data),
        "order": o.to_catalogue_json(now),
    })
}

/// The refusal for an order another holder has locked.
pub fn locked_rejection(order: &Order, lock: &crate::order::Lock) -> Rejection {
    let mut r = Rejection::new(
        RejectionCode::Locked,
        format!(
            "order {} is locked by `{}` until {}",
            order.number,
            lock.holder,
            lock.expires_at.to_rfc3339()
        ),
    );
    r.status = Some(order.status.clone());
    r
}

/// Refuses an input from `actor` while another holder has the order's lock.
pub(crate) fn locked(order: &Order, actor: Option<&str>, now: Time) -> Result<(), Rejection> {
    match order.lock_at(now) {
        Some(lock) if actor != Some(lock.holder.as_str()) => Err(locked_rejection(order, lock)),
        _ => Ok(()),
    }
}

/// What a timer that could not fire leaves: the order unchanged, and a history row saying why.
pub fn failed_timer(order: &Order, timer: &str, why: &Rejection, now: Time) -> Decision {
    Decision {
        order: order.clone(),
        steps: Vec::new(),
        history: vec![HistoryEntry {
            at: now,
            kind: "timer_failed".into(),
            event: Some(format!("timer:{timer}")),
            from_status: None,
            to_status: None,
            actor: Some("timer".into()),
            detail: json!({"timer": timer, "code": why.code, "message": why.to_string()}),
        }],
        timer_starts: Vec::new(),
        timer_cancels: Vec::new(),
        outbox: Vec::new(),
        related: Vec::new(),
    }
}

/// The flag the engine sets when delivering a message failed for good (a built-in flag).
pub const INTEGRATION_FAILED: &str = "integration_failed";

/// A message to another system could not be delivered (the outbox gave up on it): the order
/// gets the built-in flag `integration_failed` and a history row saying which message and why,
/// then automatic transitions run, so a workflow can react with `when flags.integration_failed`.
/// Like timers, it ignores locks. `detail` describes the message (id, kind, target, error).
pub fn integration_failed(
    w: &Workflow,
    order: &Order,
    detail: serde_json::Value,
    now: Time,
    hooks: &dyn Hooks,
) -> Result<Decision, Rejection> {
    let mut run = Run::new(w, hooks, order.clone(), now, Some("delivery".into()));
    run.record("integration_failed", None, detail);
    run.run_action(&Action::SetFlag(INTEGRATION_FAILED.into()), None)?;
    run.settle()?;
    Ok(run.into_decision())
}

/// What a failed delivery leaves when the workflow refuses what [`integration_failed`] would do
/// (a hook fails, automatic steps loop): the flag and the history rows, nothing else.
pub fn integration_failed_plain(
    order: &Order,
    detail: serde_json::Value,
    why: &Rejection,
    now: Time,
) -> Decision {
    let mut order = order.clone();
    order.flags.insert(INTEGRATION_FAILED.into());
    let entry = |kind: &str, detail: serde_json::Value| HistoryEntry {
        at: now,
        kind: kind.into(),
        event: None,
        from_status: None,
        to_status: None,
        actor: Some("delivery".into()),
        detail,
    };
    Decision {
        order,
        steps: Vec::new(),
        history: vec![
            entry("integration_failed", detail),
            entry(
                "flag",
                json!({"set": INTEGRATION_FAILED, "note": format!("automatic steps refused: {why}")}),
            ),
        ],
        timer_starts: Vec::new(),
        timer_cancels: Vec::new(),
        outbox: Vec::new(),
        related: Vec::new(),
    }
}

/// Applies an event to an order.
pub fn apply(
    w: &Workflow,
    order: &Order,
    input: &EventInput,
    now: Time,
    hooks: &dyn Hooks,
) -> Result<Decision, Rejection> {
    locked(order, input.actor.as_deref(), now)?;
    let mut run = Run::new(w, hooks, order.clone(), now, input.actor.clone());
    match run.handle(input).and_then(|()| run.settle()) {
        Ok(()) => Ok(run.into_decision()),
        Err(r) => Err(as_of(w, order, r)),
    }
}

/// A refusal as the client sees it: the order did not change, so it names the status the
/// order is in and the events it accepts there, wherever in the run the refusal came from (a
/// hook failing on entering the next status, a loop several steps on).
pub(crate) fn as_of(w: &Workflow, order: &Order, mut r: Rejection) -> Rejection {
    r.status = Some(order.status.clone());
    r.allowed_events = allowed_in(w, &order.status);
    r
}

/// Fires a timer of an order.
pub fn fire_timer(
    w: &Workflow,
    order: &Order,
    timer: &str,
    now: Time,
    hooks: &dyn Hooks,
) -> Result<Decision, Rejection> {
    let Some(t) = w.timers.iter().find(|t| t.name == timer) else {
        return Err(Rejection::new(
            RejectionCode::UnknownTimer,
            format!("workflow `{}` has no timer `{timer}`", w.name),
        ));
    };
    fire(w, order, t, now, hooks).map_err(|r| as_of(w, order, r))
}

fn fire(
    w: &Workflow,
    order: &Order,
    t: &crate::model::Timer,
    now: Time,
    hooks: &dyn Hooks,
) -> Result<Decision, Rejection> {
    let timer = t.name.as_str();
    let label = format!("timer:{timer}");
    let mut run = Run::new(w, hooks, order.clone(), now, Some("timer".into()));
    if !run.holds(t.guard.as_ref(), None)? {
        // Due, and its condition does not hold (so it has one): it does nothing, and says why.
        let why = t.guard.as_ref().map(|g| why_false(g, &run.ctx(None))).unwrap_or_default();
        run.record("timer_skipped", Some(&label), json!({"timer": timer, "because": why}));
        return Ok(run.into_decision());
    }
    run.record("timer", Some(&label), json!({"timer": timer}));
    run.run_actions(&t.actions, None)?;
    let from = run.status_id()?;
    if let Some(to) = t.target.filter(|to| *to != from) {
        let from_code = run.order.status.clone();
        run.leave(from, None)?;
        run.enter(to, None)?;
        if !run.quiet {
            run.history.push(HistoryEntry {
                at: now,
                kind: "transition".into(),
                event: Some(label.clone()),
                from_status: Some(from_code.clone()),
                to_status: Some(run.order.status.clone()),
                actor: Some("timer".into()),
                detail: json!({"timer": timer}),
            });
        }
        run.step(Some(label), from_code, to, 0);
    }
    run.settle()?;
    Ok(run.into_decision())
}

/// A fulfillment action to add, or the parts of one to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FulfillmentActionInput {
    /// The action's name, from the workflow's list (required to add).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub name: Option<String>,
    /// Complete (true) or partial (false); default complete.
    #[serde(default)]
    pub complete: Option<bool>,
    /// The person notified.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub notify: Option<String>,
    /// A note.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
    /// Email or phone of the person contacted (default: the customer's email).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub contact: Option<String>,
    /// Whether the customer sees it (default: yes, unless the workflow's list marks the action
    /// `hidden`).
    #[serde(default)]
    pub visible: Option<bool>,
    /// Who does it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub actor: Option<String>,
}

fn action_name(w: &Workflow, name: &str) -> Result<String, Rejection> {
    if w.fulfillment_actions.iter().any(|a| a == name) {
        return Ok(name.to_string());
    }
    let hint = crate::diagnostics::did_you_mean(name, w.fulfillment_actions.iter().map(String::as_str))
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_else(|| format!("; the actions are: {}", w.fulfillment_actions.join(", ")));
    let mut r = Rejection::new(
        RejectionCode::UnknownAction,
        format!(
            "\"{}\" is not one of workflow `{}`'s fulfillment actions{hint}",
            crate::limits::shown(name, crate::limits::MAX_SHOWN),
            w.name
        ),
    );
    r.problems.push(Problem { field: "name".into(), problem: "is not in the workflow's list".into() });
    Err(r)
}

/// Refuses a fulfillment action whose texts are longer than the service keeps
/// ([`crate::limits`]).
fn action_texts(input: &FulfillmentActionInput) -> Result<(), Rejection> {
    use crate::limits::{text_problem, MAX_EMAIL, MAX_NAME, MAX_TEXT};
    let fields = [
        ("name", &input.name, MAX_NAME),
        ("notify", &input.notify, MAX_NAME),
        ("note", &input.note, MAX_TEXT),
        ("contact", &input.contact, MAX_EMAIL),
        ("actor", &input.actor, MAX_NAME),
    ];
    let problems: Vec<Problem> = fields
        .into_iter()
        .filter_map(|(field, text, max)| {
            text.as_deref()
                .and_then(|t| text_problem(t, max))
                .map(|problem| Problem { field: field.into(), problem })
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    let mut r = Rejection::new(
        RejectionCode::InvalidData,
        "the fulfillment action has texts longer than the service keeps",
    );
    r.problems = problems;
    Err(r)
}

/// Adds a fulfillment action to an order.
pub fn add_fulfillment_action(
    w: &Workflow,
    order: &Order,
    input: &FulfillmentActionInput,
    now: Time,
) -> Result<Decision, Rejection> {
    action_texts(input)?;
    locked(order, input.actor.as_deref(), now)?;
    let Some(name) = input.name.as_deref() else {
        let mut r = Rejection::new(RejectionCode::InvalidData, "a fulfillment action needs a name");
        r.problems.push(Problem { field: "name".into(), problem: "is missing".into() });
        return Err(r);
    };
    let name = action_name(w, name)?;
    let mut run = Run::new(w, &super::NoHooks, order.clone(), now, input.actor.clone());
    run.push_action(name, input, None);
    Ok(run.into_decision())
}

/// Changes fulfillment action `n` of an order; the history keeps the before and after.
pub fn edit_fulfillment_action(
    w: &Workflow,
    order: &Order,
    n: u32,
    input: &FulfillmentActionInput,
    now: Time,
) -> Result<Decision, Rejection> {
    action_texts(input)?;
    locked(order, input.actor.as_deref(), now)?;
    let mut o = order.clone();
    let Some(fa) = o.fulfillment_actions.iter_mut().find(|f| f.n == n) else {
        return Err(Rejection::new(
            RejectionCode::NotFound,
            format!("order {} has no fulfillment action {n}", order.number),
        ));
    };
    let before = serde_json::to_value(&*fa).unwrap_or_default();
    if let Some(name) = &input.name {
        fa.name = action_name(w, name)?;
    }
    if let Some(c) = input.complete {
        fa.complete = c;
    }
    if let Some(x) = &input.notify {
        fa.notify.clone_from(x);
    }
    if let Some(x) = &input.note {
        fa.note.clone_from(x);
    }
    if let Some(x) = &input.contact {
        fa.contact.clone_from(x);
    }
    if let Some(v) = input.visible {
        fa.visible = v;
    }
    fa.updated_at = now;
    let after = serde_json::to_value(&*fa).unwrap_or_default();
    let mut run = Run::new(w, &super::NoHooks, o, now, input.actor.clone());
    run.record("fulfillment_action_changed", None, json!({"n": n, "before": before, "after": after}));
    Ok(run.into_decision())
}

/// Paid in full: a total above zero with nothing left to pay (so something was paid: an order
/// with nothing paid is not, whatever its lines, and they need not be added up).
fn paid_in_full(order: &Order) -> bool {
    use rust_decimal::Decimal;
    if order.amount_paid <= Decimal::ZERO {
        return false;
    }
    let total = order.total();
    total > Decimal::ZERO && total.saturating_sub(order.amount_paid) <= Decimal::ZERO
}

/// The order a run works on: its own copy, or the caller's, changed in place (a replay's).
/// Boxed when owned, so that a run is small to move.
pub(crate) enum Held<'a> {
    /// The run's own.
    Owned(Box<Order>),
    /// The caller's.
    Borrowed(&'a mut Order),
}

impl Held<'_> {
    /// The order, owned (a copy of a borrowed one: the replay, which borrows, never asks).
    fn into_owned(self) -> Order {
        match self {
            Held::Owned(o) => *o,
            Held::Borrowed(o) => o.clone(),
        }
    }
}

impl From<Order> for Held<'_> {
    fn from(o: Order) -> Self {
        Held::Owned(Box::new(o))
    }
}

impl<'a> From<&'a mut Order> for Held<'a> {
    fn from(o: &'a mut Order) -> Self {
        Held::Borrowed(o)
    }
}

impl std::ops::Deref for Held<'_> {
    type Target = Order;

    fn deref(&self) -> &Order {
        match self {
            Held::Owned(o) => o,
            Held::Borrowed(o) => o,
        }
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Order {
        match self {
            Held::Owned(o) => o,
            Held::Borrowed(o) => o,
        }
    }
}
