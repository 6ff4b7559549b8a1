//! One order's whole record replayed on the candidate, and compared input by input.
//!
//! Timers: a timer the recording fired fires again at the same moment if the candidate has it
//! pending. A timer the candidate starts that the recording did not have pending with the same
//! name and due time (a new timer, a changed duration, a timer of a status the order now
//! reaches) fires on its own when it is due, before the next input or, after the last one,
//! up to `as_of`; each such firing is a difference.

use super::compare::{Difference, DifferenceKind, Refusal, Rule};
use super::step::{Refused, ReplayState, Replayer};
use super::{Input, Message, Recorded, TimerChange};
use crate::model::Workflow;
use crate::order::{OrderId, Time};
use serde::Serialize;
use std::borrow::Cow;

/// How many differences an order's result lists; later ones are only counted.
pub const MAX_DIFFERENCES: usize = 20;

/// How many timers the candidate may fire on its own between two inputs (a timer that starts
/// itself again at once would otherwise never end).
const MAX_OWN_TIMERS: usize = 100;

/// What replaying one order came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replayed {
    /// The status the order is in, as recorded (under the candidate's names where it renamed
    /// it).
    pub recorded_status: String,
    /// The status the candidate leaves it in (none when the candidate refuses to create it).
    pub candidate_status: Option<String>,
    /// How many recorded inputs were replayed.
    pub inputs: usize,
    /// Where the candidate differs, in order (at most [`MAX_DIFFERENCES`]).
    pub differences: Vec<Difference>,
    /// How many differences there are in all.
    pub difference_count: usize,
}

impl Replayed {
    /// Whether the candidate does anything differently with this order.
    pub fn differs(&self) -> bool {
        self.difference_count > 0
    }

    /// The rule of the first difference: where the candidate starts to diverge.
    pub fn first_rule(&self) -> Option<Rule> {
        self.differences.first().map(Difference::rule)
    }
}

/// Replays an order's record (oldest first; it starts with its creation) on the candidate
/// `replayer` runs, and lists where the outcome differs. `id` is the order's id (the engine
/// decides a creation before the store gives one); `as_of` is how far timers run after the
/// last input.
pub fn replay_order(replayer: &Replayer<'_>, id: OrderId, record: &[Recorded], as_of: Time) -> Replayed {
    let w = replayer.workflow();
    let renames: Vec<(usize, &str, &str)> = record
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.input {
            Input::Rename { from, to } => Some((i, from.as_str(), to.as_str())),
            _ => None,
        })
        .collect();
    let canon = |i: usize, status: &'_ str| canonical(w, &renames, i, status).into_owned();
    let mut out = Out::default();
    let mut state = ReplayState::default();
    // The timers the recording had pending: (name, due, status).
    let mut recorded_timers: Vec<(String, Time, String)> = Vec::new();
    let mut recorded_before = String::new();
    for (i, r) in record.iter().enumerate() {
        if i > 0 {
            own_timers(replayer, &mut state, &recorded_timers, r.at, i + 1, &mut out);
        }
        let candidate_before = state.status().unwrap_or_default().to_string();
        let result = replayer.step(&mut state, &r.input, r.at);
        if matches!(r.input, Input::Create { .. }) && result.is_ok() {
            state.set_ids(Some(id), None);
        }
        if state.related() > 0 {
            state.set_ids(None, r.outcome.related.last().copied());
        }
        let seen = Seen {
            w,
            state: &state,
            result: &result,
            recorded: r,
            recorded_before: &recorded_before,
            candidate_before: &candidate_before,
            canon: &|s| canonical(w, &renames, i, s),
        };
        if let Some(kind) = seen.difference() {
            out.push(Difference {
                input: i + 1,
                at: r.at,
                what: r.input.label(),
                status: candidate_before,
                kind,
            });
        }
        match &r.input {
            Input::Timer { timer } => {
                if let Some(k) = recorded_timers.iter().position(|(n, _, _)| n == timer) {
                    recorded_timers.remove(k);
                }
            }
            Input::Rename { from, to } => {
                for (_, _, status) in recorded_timers.iter_mut().filter(|(_, _, s)| s == from) {
                    status.clone_from(to);
                }
            }
            _ => {}
        }
        for change in &r.outcome.timers {
            match change {
                TimerChange::Start { name, due_at, status } => {
                    recorded_timers.push((name.clone(), *due_at, status.clone()))
                }
                TimerChange::CancelName { name } => recorded_timers.retain(|(n, _, _)| n != name),
                TimerChange::CancelStatus { status } => recorded_timers.retain(|(_, _, s)| s != status),
            }
        }
        recorded_before = canon(i, &r.outcome.status);
        if state.order().is_none() {
            // The candidate refused to create it: nothing else can be replayed.
            return out.finish(recorded_before_last(record, &canon), None, i + 1);
        }
    }
    own_timers(replayer, &mut state, &recorded_timers, as_of, record.len() + 1, &mut out);
    let candidate = state.status().map(str::to_string);
    out.finish(recorded_before, candidate, record.len())
}

/// The recorded status after the last input.
fn recorded_before_last(record: &[Recorded], canon: &dyn Fn(usize, &str) -> String) -> String {
    record
        .len()
        .checked_sub(1)
        .and_then(|i| Some(canon(i, &record.get(i)?.outcome.status)))
        .unwrap_or_default()
}

/// A recorded status under the candidate's names: renamed by the reloads recorded after input
/// `i`, then by the candidate's own `renamed` lines.
fn canonical<'a>(
    w: &'a Workflow,
    renames: &[(usize, &'a str, &'a str)],
    i: usize,
    status: &'a str,
) -> Cow<'a, str> {
    let mut s = status;
    for (_, from, to) in renames.iter().filter(|(j, _, _)| *j > i) {
        if s == *from {
            s = to;
        }
    }
    if w.status_id(s).is_none() {
        if let Some(code) = w.renamed.iter().find(|(old, _)| old == s).and_then(|(_, id)| w.statuses.get(*id))
        {
            return Cow::Borrowed(code.code.as_str());
        }
    }
    Cow::Borrowed(s)
}

/// Fires the timers the candidate has due by `until` that the recording did not have pending.
fn own_timers(
    replayer: &Replayer<'_>,
    state: &mut ReplayState,
    recorded: &[(String, Time, String)],
    until: Time,
    position: usize,
    out: &mut Out,
) {
    for _ in 0..MAX_OWN_TIMERS {
        let due = state
            .timers()
            .iter()
            .filter(|t| t.due_at <= until && !recorded.iter().any(|(n, d, _)| *n == t.name && *d == t.due_at))
            .min_by_key(|t| t.due_at)
            .map(|t| (t.name.clone(), t.due_at));
        let Some((timer, at)) = due else { return };
        let status = state.status().unwrap_or_default().to_string();
        let input = Input::Timer { timer: timer.clone() };
        let refusal = match replayer.step(state, &input, at) {
            Ok(()) => None,
            Err(Refused::Rejected(r)) => Some(Refusal::of(&r)),
            Err(Refused::TimerNotPending) => Some(Refusal::timer_not_pending(&timer)),
            Err(Refused::NoOrder) => return,
        };
        let candidate = state.status().unwrap_or_default().to_string();
        out.push(Difference {
            input: position,
            at,
            what: input.label(),
            status,
            kind: DifferenceKind::TimerFires { timer, candidate, refusal },
        });
    }
}

/// The differences found so far.
#[derive(Default)]
struct Out {
    differences: Vec<Difference>,
    count: usize,
}

impl Out {
    fn push(&mut self, d: Difference) {
        self.count += 1;
        if self.differences.len() < MAX_DIFFERENCES {
            self.differences.push(d);
        }
    }

    fn finish(self, recorded_status: String, candidate_status: Option<String>, inputs: usize) -> Replayed {
        Replayed {
            recorded_status,
            candidate_status,
            inputs,
            differences: self.differences,
            difference_count: self.count,
        }
    }
}

/// One input as recorded and as replayed.
struct Seen<'a> {
    w: &'a Workflow,
    state: &'a ReplayState,
    result: &'a Result<(), Refused>,
    recorded: &'a Recorded,
    /// The recorded status before the input (candidate names).
    recorded_before: &'a str,
    /// The candidate's status before it.
    candidate_before: &'a str,
    canon: &'a dyn Fn(&'a str) -> Cow<'a, str>,
}

impl Seen<'_> {
    /// How the candidate's outcome differs from the recorded one, if it does. Compares without
    /// allocating when they agree (the common case).
    fn difference(&self) -> Option<DifferenceKind> {
        let outcome = &self.recorded.outcome;
        let candidate = || self.state.status().unwrap_or_default().to_string();
        let refusal = |e: &Refused| match e {
            Refused::Rejected(r) => Refusal::of(r),
            Refused::TimerNotPending | Refused::NoOrder => {
                let timer = match &self.recorded.input {
                    Input::Timer { timer } => timer.as_str(),
                    _ => "",
                };
                Refusal::timer_not_pending(timer)
            }
        };
        // A status the recording reached or went through that the candidate does not have.
        let removed = std::iter::once(outcome.status.as_str())
            .chain(outcome.steps.iter().map(String::as_str))
            .map(|s| (self.canon)(s))
            .find(|s| !s.is_empty() && self.w.status_id(s).is_none());
        match (self.result, outcome.refused) {
            (Err(Refused::Rejected(r)), Some(code)) if r.code == code => None,
            (Err(e), _) => Some(match removed {
                Some(removed) => DifferenceKind::StatusRemoved {
                    removed: removed.into_owned(),
                    candidate: candidate(),
                    refusal: Some(refusal(e)),
                },
                None if matches!(e, Refused::TimerNotPending) => {
                    let timer = match &self.recorded.input {
                        Input::Timer { timer } => timer.clone(),
                        _ => String::new(),
                    };
                    DifferenceKind::TimerNotPending { timer }
                }
                None => DifferenceKind::Refused { refusal: refusal(e), diverged: self.diverged(e) },
            }),
            (Ok(()), Some(code)) => {
                Some(DifferenceKind::Accepted { was_refused: code, candidate: candidate() })
            }
            (Ok(()), None) => {
                if let Some(removed) = removed {
                    return Some(DifferenceKind::StatusRemoved {
                        removed: removed.into_owned(),
                        candidate: candidate(),
                        refusal: None,
                    });
                }
                if let Some(kind) = self.status_difference() {
                    return Some(kind);
                }
                self.message_difference()
            }
        }
    }

    /// Of the transitions whose guards failed, the lines of those that go where the order went
    /// then: its first status entered, or where it stayed.
    fn diverged(&self, e: &Refused) -> Vec<usize> {
        let Refused::Rejected(r) = e else { return Vec::new() };
        let outcome = &self.recorded.outcome;
        let went = (self.canon)(outcome.steps.first().unwrap_or(&outcome.status));
        r.candidates
            .iter()
            .filter(|c| {
                self.w.transitions.iter().any(|t| {
                    let target = t.target.and_then(|id| self.w.statuses.get(id)).map(|s| s.code.as_str());
                    t.line == c.line && target.unwrap_or(self.candidate_before) == went
                })
            })
            .map(|c| c.line)
            .collect()
    }

    fn status_difference(&self) -> Option<DifferenceKind> {
        let outcome = &self.recorded.outcome;
        let w = self.w;
        let after = self.state.status().unwrap_or_default();
        let recorded_after = (self.canon)(&outcome.status);
        let entered = self.state.entered();
        let same_steps = entered.len() == outcome.steps.len()
            && entered
                .iter()
                .zip(&outcome.steps)
                .all(|(id, s)| w.statuses.get(*id).is_some_and(|st| st.code == *(self.canon)(s)));
        if after == recorded_after && same_steps {
            return None;
        }
        // Both stayed where they were, already apart: said at the input that parted them.
        let stayed = entered.is_empty() && outcome.steps.is_empty();
        if stayed && after == self.candidate_before && *recorded_after == *self.recorded_before {
            return None;
        }
        Some(DifferenceKind::Status {
            recorded: recorded_after.into_owned(),
            candidate: after.to_string(),
            recorded_steps: outcome.steps.iter().map(|s| (self.canon)(s).into_owned()).collect(),
            candidate_steps: entered
                .iter()
                .filter_map(|id| w.statuses.get(*id))
                .map(|s| s.code.clone())
                .collect(),
        })
    }

    fn message_difference(&self) -> Option<DifferenceKind> {
        let recorded = &self.recorded.outcome.messages;
        let candidate = self.state.messages();
        if recorded.is_empty() && candidate.is_empty() {
            return None;
        }
        let mut used = vec![false; recorded.len()];
        let same = recorded.len() == candidate.len()
            && candidate.iter().all(|m| {
                let found = recorded
                    .iter()
                    .enumerate()
                    .find(|(k, r)| *r == m && !used.get(*k).copied().unwrap_or(true));
                match found.and_then(|(k, _)| used.get_mut(k)) {
                    Some(u) => {
                        *u = true;
                        true
                    }
                    None => false,
                }
            });
        if same {
            return None;
        }
        let mut recorded = recorded.clone();
        let mut candidate: Vec<Message> = candidate.to_vec();
        recorded.sort();
        candidate.sort();
        Some(DifferenceKind::Messages { recorded, candidate })
    }
}
