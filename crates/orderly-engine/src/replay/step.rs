//! One recorded input on one order, in memory: the engine's decision as the service would make
//! it, kept in a [`ReplayState`] instead of written. Events (most of what orders receive) take a
//! path of their own: the order is changed in place, with no history rows, no message payloads
//! and no copy of the order unless the run could fail after changing it.

use super::{Input, Message};
use crate::engine::{
    self, as_of, create_quiet, locked, Decision, Effects, EventInput, Hooks, Rejection, RejectionCode, Run,
    TimerCancel, TimerStart,
};
use crate::model::{Action, EventKind, StatusId, Workflow};
use crate::order::{Lock, Order, OrderId, Time};

/// Runs recorded inputs through one workflow (the candidate) with its hooks.
pub struct Replayer<'w> {
    w: &'w Workflow,
    hooks: &'w dyn Hooks,
    /// Whether a run that has chosen its transition always finishes: no hooks, no automatic
    /// transitions, no `emit`, every index in range. Then a plain event needs no copy of the
    /// order to put back: it can only be refused before anything changed.
    settles_surely: bool,
}

impl std::fmt::Debug for Replayer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer").field("workflow", &self.w.name).finish_non_exhaustive()
    }
}

/// One order as replay has it: the order, the timers it has pending, and what the last input
/// did (the statuses it entered, the messages it queued).
#[derive(Debug, Default)]
pub struct ReplayState {
    order: Option<Order>,
    timers: Vec<TimerStart>,
    entered: Vec<StatusId>,
    messages: Vec<Message>,
    related: usize,
}

impl ReplayState {
    /// The order, once created.
    pub fn order(&self) -> Option<&Order> {
        self.order.as_ref()
    }

    /// Its status, once created.
    pub fn status(&self) -> Option<&str> {
        self.order.as_ref().map(|o| o.status.as_str())
    }

    /// The statuses the last input entered, in order (indexes into the workflow's statuses).
    pub fn entered(&self) -> &[StatusId] {
        &self.entered
    }

    /// The messages the last input queued.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// How many related orders the last input asked for (a hook's).
    pub fn related(&self) -> usize {
        self.related
    }

    /// The timers pending, in the order they were started.
    pub fn timers(&self) -> &[TimerStart] {
        &self.timers
    }

    /// Gives the order the id and links the store gave it: the engine decides a creation before
    /// the order has an id (`id`), and a related order's link is the store's (`related`).
    pub fn set_ids(&mut self, id: Option<OrderId>, related: Option<OrderId>) {
        if let Some(o) = &mut self.order {
            if let Some(id) = id {
                o.id = id;
            }
            if related.is_some() {
                o.related_order = related;
            }
        }
    }

    fn clear_last(&mut self) {
        self.entered.clear();
        self.messages.clear();
        self.related = 0;
    }

    /// Keeps the timers, messages and related orders of a run.
    fn absorb(&mut self, w: &Workflow, effects: Effects) {
        self.cancel(&effects.timer_cancels);
        self.timers.extend(effects.timer_starts);
        self.messages.extend(effects.outbox.iter().map(Message::of));
        self.related = effects.related.len();
        if effects.entered.is_empty() {
            self.entered.extend(effects.steps.iter().filter_map(|s| w.status_id(&s.to)));
        } else {
            self.entered = effects.entered;
        }
    }

    /// Takes a decision made by one of the engine's public functions.
    fn decided(&mut self, w: &Workflow, d: Decision) {
        let version = self.order.as_ref().map_or(0, |o| o.version) + 1;
        let mut order = d.order;
        order.version = version;
        self.order = Some(order);
        let effects = Effects {
            steps: d.steps,
            entered: Vec::new(),
            timer_starts: d.timer_starts,
            timer_cancels: d.timer_cancels,
            outbox: d.outbox,
            related: d.related,
        };
        self.absorb(w, effects);
    }

    fn cancel(&mut self, cancels: &[TimerCancel]) {
        for c in cancels {
            match c {
                TimerCancel::Status(s) => self.timers.retain(|t| &t.status != s),
                TimerCancel::Name(n) => self.timers.retain(|t| &t.name != n),
            }
        }
    }
}

/// Why a recorded input could not be applied again.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The engine refused it, as it would refuse a client.
    Rejected(Rejection),
    /// A timer fired in the recording that the candidate does not have pending: it never
    /// started it, or cancelled it since.
    TimerNotPending,
    /// The order does not exist in the replay (its creation was refused), or exists already
    /// (a second creation).
    NoOrder,
}

impl<'w> Replayer<'w> {
    /// A replayer for `w`, running `hooks` where the workflow calls them.
    pub fn new(w: &'w Workflow, hooks: &'w dyn Hooks) -> Self {
        Replayer { w, hooks, settles_surely: settles_surely(w) }
    }

    /// The workflow inputs are replayed on.
    pub fn workflow(&self) -> &'w Workflow {
        self.w
    }

    /// Whether events are replayed without a copy of the order (tests).
    #[cfg(test)]
    pub(crate) fn settles_surely_for_tests(&self) -> bool {
        self.settles_surely
    }

    /// Applies one recorded input at `at`. On `Err` the order is as it was, except after a
    /// timer or a failed delivery the workflow refused, which change the order as the service
    /// records them (the timer is gone; the order is flagged `integration_failed`).
    pub fn step(&self, state: &mut ReplayState, input: &Input, at: Time) -> Result<(), Refused> {
        state.clear_last();
        match input {
            Input::Create { order, number, customer, possible_duplicate, related_to } => {
                if state.order.is_some() {
                    return Err(Refused::NoOrder);
                }
                // The store's number is given as the service gives it: set aside, not sent.
                let numbered;
                let order = if order.number.as_deref().is_none_or(str::is_empty) {
                    let mut o = (**order).clone();
                    o.number = None;
                    o.assigned_number = Some(number.clone());
                    numbered = o;
                    &numbered
                } else {
                    &**order
                };
                let buffer = std::mem::take(&mut state.entered);
                let (mut created, effects) = create_quiet(
                    self.w,
                    order,
                    customer.clone(),
                    *possible_duplicate,
                    at,
                    self.hooks,
                    buffer,
                )
                .map_err(Refused::Rejected)?;
                if !effects.related.is_empty() {
                    // The service refuses a related order at creation.
                    return Err(Refused::Rejected(Rejection::new(
                        RejectionCode::HookFailed,
                        "a hook asked for a related order while this order was being created",
                    )));
                }
                created.version = 1;
                created.related_order = *related_to;
                state.order = Some(created);
                state.absorb(self.w, effects);
                Ok(())
            }
            Input::Event { event } => self.event(state, event, at),
            Input::Timer { timer } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                let Some(i) = state.timers.iter().position(|t| &t.name == timer) else {
                    return Err(Refused::TimerNotPending);
                };
                let decided = engine::fire_timer(self.w, order, timer, at, self.hooks);
                state.timers.remove(i);
                match decided {
                    Ok(d) => {
                        state.decided(self.w, d);
                        Ok(())
                    }
                    Err(r) => {
                        if let Some(o) = &mut state.order {
                            o.version += 1;
                        }
                        Err(Refused::Rejected(r))
                    }
                }
            }
            Input::Lock { holder, expires_at, force } => {
                let order = state.order.as_mut().ok_or(Refused::NoOrder)?;
                if let (Some(l), false) = (order.lock_at(at).filter(|l| &l.holder != holder), force) {
                    return Err(Refused::Rejected(engine::locked_rejection(order, l)));
                }
                order.lock = expires_at.map(|expires_at| Lock { holder: holder.clone(), expires_at });
                order.version += 1;
                Ok(())
            }
            Input::AddAction { action } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                let d =
                    engine::add_fulfillment_action(self.w, order, action, at).map_err(Refused::Rejected)?;
                state.decided(self.w, d);
                Ok(())
            }
            Input::EditAction { n, action } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                let d = engine::edit_fulfillment_action(self.w, order, *n, action, at)
                    .map_err(Refused::Rejected)?;
                state.decided(self.w, d);
                Ok(())
            }
            Input::Assign { assign } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                let d = engine::assign(self.w, order, assign, at).map_err(Refused::Rejected)?;
                state.decided(self.w, d);
                Ok(())
            }
            Input::Email { email } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                let d = engine::email(self.w, order, email, at).map_err(Refused::Rejected)?;
                state.decided(self.w, d);
                Ok(())
            }
            Input::IntegrationFailed { detail } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                match engine::integration_failed(self.w, order, detail.clone(), at, self.hooks) {
                    Ok(d) => {
                        state.decided(self.w, d);
                        Ok(())
                    }
                    Err(r) => {
                        let d = engine::integration_failed_plain(order, detail.clone(), &r, at);
                        state.decided(self.w, d);
                        Err(Refused::Rejected(r))
                    }
                }
            }
            Input::LinkCustomer { customer, actor } => {
                let order = state.order.as_ref().ok_or(Refused::NoOrder)?;
                let d = engine::link_customer(self.w, order, customer, at, actor.as_deref(), self.hooks)
                    .map_err(Refused::Rejected)?;
                state.decided(self.w, d);
                Ok(())
            }
            Input::Rename { from, to } => {
                let w = self.w;
                let order = state.order.as_mut().ok_or(Refused::NoOrder)?;
                // What a reload does, for a candidate that still has the old name's orders.
                if &order.status == from && w.status_id(from).is_none() && w.status_id(to).is_some() {
                    order.status.clone_from(to);
                    for t in state.timers.iter_mut().filter(|t| &t.status == from) {
                        t.status.clone_from(to);
                    }
                }
                order.version += 1;
                Ok(())
            }
        }
    }

    /// An event, on the order in place.
    fn event(&self, state: &mut ReplayState, input: &EventInput, at: Time) -> Result<(), Refused> {
        let w = self.w;
        let order = state.order.as_mut().ok_or(Refused::NoOrder)?;
        locked(order, input.actor.as_deref(), at).map_err(Refused::Rejected)?;
        let event = w.events.iter().position(|e| e.name == input.name);
        let backup = self.may_change_then_fail(order, event).then(|| order.clone());
        let buffer = std::mem::take(&mut state.entered);
        let mut run = Run::new_quiet(w, self.hooks, &mut *order, at, input.actor.clone(), buffer);
        let done = run.handle_event(input, event).and_then(|()| run.settle());
        let effects = run.into_effects();
        match done {
            Ok(()) => {
                order.version += 1;
                state.absorb(w, effects);
                Ok(())
            }
            Err(r) => {
                state.entered = effects.entered;
                state.entered.clear();
                // Without a copy the run was refused before it changed anything.
                if let Some(backup) = backup {
                    *order = backup;
                }
                Err(Refused::Rejected(as_of(w, order, r)))
            }
        }
    }

    /// Whether applying event number `event` (of the workflow's events) could change the order
    /// and then be refused, so that the order must be copied first to be put back: an event
    /// with a built-in effect (payment, shipment, receipt), an order that auto-invoice would
    /// invoice first, or a workflow whose runs can fail after choosing their transition (hooks,
    /// automatic transitions, `emit`).
    fn may_change_then_fail(&self, order: &Order, event: Option<usize>) -> bool {
        if !self.settles_surely {
            return true;
        }
        let plain = event.and_then(|e| self.w.events.get(e)).is_none_or(|e| e.kind == EventKind::Plain);
        !plain || (self.w.settings.auto_invoice && !order.invoiced && order.ready_to_invoice())
    }
}

/// Whether every run on `w` that has chosen its transition finishes (see
/// `Replayer::settles_surely`): guards and expressions fail only in hooks, `emit` and
/// automatic transitions are what can loop, and a status index out of range (a workflow not
/// built by `check`) is refused wherever it is met.
fn settles_surely(w: &Workflow) -> bool {
    let n = w.statuses.len();
    let in_range = |s: &StatusId| *s < n;
    let actions_ok =
        |actions: &[Action]| actions.iter().all(|a| !matches!(a, Action::Emit(_) | Action::RunHook(_)));
    w.hook_refs.is_empty()
        && w.on_enter.len() == n
        && w.on_leave.len() == n
        && w.transitions.iter().all(|t| {
            t.event.is_some()
                && t.sources.iter().all(in_range)
                && t.target.is_none_or(|s| s < n)
                && actions_ok(&t.actions)
        })
        && w.timers.iter().all(|t| {
            t.statuses.iter().all(in_range) && t.target.is_none_or(|s| s < n) && actions_ok(&t.actions)
        })
        && w.on_enter.iter().chain(&w.on_leave).all(|a| actions_ok(a))
        && actions_ok(&w.on_create)
        && w.on_create_from.iter().all(|(_, a)| actions_ok(a))
        && actions_ok(&w.on_invoiced)
        && actions_ok(&w.on_paid_in_full)
}
