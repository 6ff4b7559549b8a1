//! The studio's simulated order: a workflow as written in the editor (checked, not active), one
//! order created as a channel would send it, and the steps the merchant took (events with their
//! data, timers fast-forwarded), replayed from the start on every call through the pure engine
//! in memory. Nothing is stored: the page keeps the steps, so the simulation is as
//! deterministic as the engine, and a refused step is shown with its reasons and changes nothing.

use crate::engine::{self, Decision, EventInput, Hooks, NewOrder, Rejection, TimerCancel};
use crate::model::Workflow;
use crate::order::{Customer, Order, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most steps one simulation replays.
pub(crate) const MAX_STEPS: usize = 200;

/// One thing the merchant did to the simulated order.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum SimStep {
    /// An event with its data.
    Event {
        /// The event's name.
        event: String,
        /// Its data.
        #[serde(default)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Fast-forward to a timer and fire it.
    Timer {
        /// The timer's name.
        timer: String,
    },
}

/// What a step did.
#[derive(Debug, Serialize)]
pub(crate) struct StepResult {
    /// What was asked, in words (`event pay`, `timer payment_overdue`, `created`).
    pub input: String,
    /// The status before and after (the same when refused).
    pub from: String,
    /// The status after.
    pub to: String,
    /// The statuses passed through, automatic steps included.
    pub path: Vec<String>,
    /// The refusal, when the engine refused.
    pub refused: Option<Refused>,
}

/// A refusal as the studio shows it: the sentence, and each candidate transition's guard with
/// the part that failed.
#[derive(Debug, Serialize)]
pub(crate) struct Refused {
    /// The rejection's code.
    pub code: String,
    /// The engine's sentence.
    pub message: String,
    /// Guard by guard: `line N: GUARD: what failed`.
    pub reasons: Vec<String>,
}

impl From<&Rejection> for Refused {
    fn from(r: &Rejection) -> Refused {
        let mut reasons: Vec<String> =
            r.candidates.iter().map(|c| format!("line {}: {}: {}", c.line, c.guard, c.failed)).collect();
        reasons.extend(r.problems.iter().map(|p| format!("{}: {}", p.field, p.problem)));
        Refused { code: r.code.to_string(), message: r.message.clone(), reasons }
    }
}

/// An event the order could be sent now, and what it would say.
#[derive(Debug, Serialize)]
pub(crate) struct EventChoice {
    /// The event's name.
    pub name: String,
    /// Whether a transition takes it from the current status.
    pub allowed: bool,
    /// Why not, when not (tried without data): the engine's reasons.
    pub why: Option<Refused>,
    /// Its data fields: name, type in words, required.
    pub fields: Vec<FieldChoice>,
}

/// A data field of an event, for the form.
#[derive(Debug, Serialize)]
pub(crate) struct FieldChoice {
    /// The field's name.
    pub name: String,
    /// Its type in words.
    pub ty: &'static str,
    /// Whether the event needs it.
    pub required: bool,
}

/// The simulated order after every step.
#[derive(Debug, Serialize)]
pub(crate) struct Simulation {
    /// Whether the order could be created at all.
    pub created: bool,
    /// Its status now (empty when not created).
    pub status: String,
    /// The status's phase.
    pub phase: Option<String>,
    /// Whether the status is final.
    pub is_final: bool,
    /// Each step, creation first.
    pub steps: Vec<StepResult>,
    /// Every declared event, allowed ones first.
    pub events: Vec<EventChoice>,
    /// Timers running, soonest first: name and when due.
    pub timers: Vec<(String, Time)>,
    /// The simulated clock now.
    pub now: Time,
    /// Messages queued so far: `kind target` (and template or hook).
    pub messages: Vec<String>,
    /// Flags set on the order.
    pub flags: Vec<String>,
    /// Balance due.
    pub balance: String,
}

/// Replays `order` and `steps` through `w` from `start`.
pub(crate) fn simulate(
    w: &Workflow,
    order: &NewOrder,
    steps: &[SimStep],
    start: Time,
    hooks: &dyn Hooks,
) -> Simulation {
    let mut input = order.clone();
    input.number = Some("SIM-1".into());
    input.workflow = Some(w.name.clone());
    let customer = Customer {
        id: Some(1),
        email: input.customer.email.clone(),
        first_name: input.customer.first_name.clone(),
        last_name: input.customer.last_name.clone(),
        ..Customer::default()
    };
    let mut now = start;
    let mut out = Simulation {
        created: false,
        status: String::new(),
        phase: None,
        is_final: false,
        steps: Vec::new(),
        events: Vec::new(),
        timers: Vec::new(),
        now,
        messages: Vec::new(),
        flags: Vec::new(),
        balance: String::new(),
    };
    let decision = match engine::create(w, &input, customer, false, now, hooks) {
        Ok(d) => d,
        Err(r) => {
            out.steps.push(StepResult {
                input: "created".into(),
                from: String::new(),
                to: String::new(),
                path: Vec::new(),
                refused: Some(Refused::from(&r)),
            });
            return out;
        }
    };
    out.created = true;
    let mut timers: BTreeMap<String, (Time, String)> = BTreeMap::new();
    let mut order = absorb(&mut out, &mut timers, "created".into(), String::new(), decision);
    for step in steps.iter().take(MAX_STEPS) {
        let from = order.status.clone();
        let (label, result) = match step {
            SimStep::Event { event, data } => {
                let input =
                    EventInput { name: event.clone(), data: data.clone(), actor: Some("studio".into()) };
                (format!("event {event}"), engine::apply(w, &order, &input, now, hooks))
            }
            SimStep::Timer { timer } => {
                // Fast-forward: the clock moves to when the timer is due (never backwards).
                if let Some((due, _)) = timers.get(timer) {
                    now = now.max(*due);
                }
                let result = if timers.contains_key(timer) {
                    engine::fire_timer(w, &order, timer, now, hooks)
                } else {
                    Err(Rejection::new(
                        engine::RejectionCode::UnknownTimer,
                        format!("timer `{timer}` is not running on this order"),
                    ))
                };
                if result.is_ok() {
                    timers.remove(timer);
                }
                (format!("timer {timer}"), result)
            }
        };
        match result {
            Ok(d) => order = absorb(&mut out, &mut timers, label, from, d),
            Err(r) => {
                let mut refused = Refused::from(&r);
                // No transition from here at all: say where the event is taken instead.
                if let (SimStep::Event { event, .. }, true) = (step, refused.reasons.is_empty()) {
                    if let Some(id) = w.events.iter().position(|e| &e.name == event) {
                        refused.reasons = not_here(w, &from, id).reasons;
                    }
                }
                out.steps.push(StepResult {
                    input: label,
                    from: from.clone(),
                    to: from,
                    path: Vec::new(),
                    refused: Some(refused),
                });
            }
        }
    }
    out.now = now;
    out.status = order.status.clone();
    out.phase = order.phase.clone();
    out.is_final = w.status(&order.status).is_some_and(|s| s.is_final);
    out.flags = order.flags.iter().cloned().collect();
    out.balance = order.balance_due().to_string();
    let mut timers: Vec<(String, Time)> = timers.into_iter().map(|(name, (due, _))| (name, due)).collect();
    timers.sort_by_key(|(name, due)| (*due, name.clone()));
    out.timers = timers;
    out.events = choices(w, &order, now, hooks, "studio");
    out
}

/// Records a decision's step and messages, and keeps the timers it starts and cancels.
fn absorb(
    out: &mut Simulation,
    timers: &mut BTreeMap<String, (Time, String)>,
    input: String,
    from: String,
    d: Decision,
) -> Order {
    for cancel in &d.timer_cancels {
        match cancel {
            TimerCancel::Status(s) => timers.retain(|_, (_, status)| status != s),
            TimerCancel::Name(n) => {
                timers.remove(n);
            }
        }
    }
    for t in &d.timer_starts {
        timers.insert(t.name.clone(), (t.due_at, t.status.clone()));
    }
    out.messages.extend(d.outbox.iter().map(|m| {
        let what = m.template.as_deref().or(m.hook.as_deref()).map(|t| format!(" ({t})")).unwrap_or_default();
        format!("{} {}{what}", m.kind, m.target)
    }));
    let mut path: Vec<String> = Vec::new();
    for s in &d.steps {
        if path.is_empty() && !s.from.is_empty() {
            path.push(s.from.clone());
        }
        path.push(s.to.clone());
    }
    let to = d.order.status.clone();
    out.steps.push(StepResult { input, from, to, path, refused: None });
    d.order
}

/// Why an event no transition takes in `status` is refused: where it is taken instead.
fn not_here(w: &Workflow, status: &str, event: usize) -> Refused {
    let mut from: Vec<&str> = w
        .transitions
        .iter()
        .filter(|t| t.event == Some(event))
        .flat_map(|t| t.sources.iter().filter_map(|s| w.statuses.get(*s)).map(|s| s.code.as_str()))
        .collect();
    from.sort_unstable();
    from.dedup();
    let name = w.events.get(event).map_or("", |e| e.name.as_str());
    let reasons = if from.is_empty() {
        vec!["no transition takes it (it may be sent by hooks or `emit`)".to_string()]
    } else {
        vec![format!("it is taken in: {}", from.join(", "))]
    };
    Refused {
        code: engine::RejectionCode::NoTransition.to_string(),
        message: format!("no transition takes `{name}` in status `{status}`"),
        reasons,
    }
}

/// Every declared event, with whether the order takes it now and, if not, why (tried without
/// data, so a refusal for missing data means the guard would be looked at next).
/// `actor` is who would send it (another holder's lock refuses it).
pub(crate) fn choices(
    w: &Workflow,
    order: &Order,
    now: Time,
    hooks: &dyn Hooks,
    actor: &str,
) -> Vec<EventChoice> {
    let accepted = w.status_id(&order.status).map(|s| w.events_accepted_in(s)).unwrap_or_default();
    let mut out: Vec<EventChoice> = w
        .events
        .iter()
        .enumerate()
        .map(|(id, e)| {
            let fields = e
                .fields
                .iter()
                .map(|f| FieldChoice { name: f.name.clone(), ty: f.ty.describe(), required: !f.optional })
                .collect();
            let why = if accepted.contains(&id) {
                // A transition takes it here; tried without data, only a guard can say no (a
                // refusal for missing data is the form's to fill).
                let tried = EventInput {
                    name: e.name.clone(),
                    data: serde_json::Map::new(),
                    actor: Some(actor.to_string()),
                };
                match engine::apply(w, order, &tried, now, hooks) {
                    Ok(_) => None,
                    Err(r) if r.code == engine::RejectionCode::InvalidData => None,
                    Err(r) => Some(Refused::from(&r)),
                }
            } else {
                Some(not_here(w, &order.status, id))
            };
            EventChoice { name: e.name.clone(), allowed: why.is_none(), why, fields }
        })
        .collect();
    out.sort_by_key(|c| !c.allowed);
    out
}
