//! Where a replayed input differs from the recording ([`Difference`]), and the rule a difference
//! points at ([`Rule`]): the same text for every order the same change affects, so that a report
//! can group orders by it.

use super::Message;
use crate::engine::{Candidate, Problem, Rejection, RejectionCode};
use crate::order::Time;
use serde::Serialize;

/// One input whose outcome under the candidate is not what was recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The input's position in the order's record, from 1 (a timer the candidate fires on its
    /// own has the position of the input it comes before, or one past the last).
    pub input: usize,
    /// When it was applied (for a timer the candidate fires on its own: when it is due).
    pub at: Time,
    /// What it was: ``event `payment_received` ``, ``timer `payment_overdue` ``, ...
    pub what: String,
    /// The status the order was in before it (the same in the recording and the candidate,
    /// up to the first difference), under the candidate's names.
    pub status: String,
    /// How the outcome differs.
    #[serde(flatten)]
    pub kind: DifferenceKind,
}

/// How an outcome differs. Serialized with a `difference` field naming the variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "difference", rename_all = "snake_case")]
pub enum DifferenceKind {
    /// The order went to (or through) a status the candidate does not have.
    StatusRemoved {
        /// The status, as recorded.
        removed: String,
        /// Where the candidate left the order instead.
        candidate: String,
        /// The candidate's refusal, when it refused the input.
        #[serde(skip_serializing_if = "Option::is_none")]
        refusal: Option<Refusal>,
    },
    /// The candidate refuses an input that was accepted.
    Refused {
        /// Why.
        refusal: Refusal,
        /// The lines of the candidate's transitions among `refusal.guards` that would have taken
        /// the order where it went then: the guards that changed (the others did not hold then
        /// either). Empty when none would have.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        diverged: Vec<usize>,
    },
    /// The candidate accepts an input the workflow refused then (a timer or a failed delivery).
    Accepted {
        /// The recorded refusal's code.
        was_refused: RejectionCode,
        /// The status the candidate leaves the order in.
        candidate: String,
    },
    /// The order ends the input in another status, or goes through other statuses.
    Status {
        /// The status after it, as recorded.
        recorded: String,
        /// The status after it under the candidate.
        candidate: String,
        /// The statuses entered, as recorded.
        recorded_steps: Vec<String>,
        /// The statuses entered under the candidate.
        candidate_steps: Vec<String>,
    },
    /// Other messages are queued.
    Messages {
        /// As recorded.
        recorded: Vec<Message>,
        /// Under the candidate.
        candidate: Vec<Message>,
    },
    /// A timer fired that the candidate does not have pending.
    TimerNotPending {
        /// The timer.
        timer: String,
    },
    /// The candidate fires a timer the recording did not have (or had due at another time).
    TimerFires {
        /// The timer.
        timer: String,
        /// The status after it under the candidate.
        candidate: String,
        /// The candidate's refusal, when the timer could not fire.
        #[serde(skip_serializing_if = "Option::is_none")]
        refusal: Option<Refusal>,
    },
}

/// The engine's refusal, as a report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// The stable code (`no_transition`, `invalid_data`, ...).
    pub code: RejectionCode,
    /// The engine's sentence.
    pub message: String,
    /// For `no_transition`: each transition that could have taken the event and the part of its
    /// guard that failed, with the values it saw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<Candidate>,
    /// For bad data: each field and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// The events the order accepts in its status under the candidate.
    pub allowed_events: Vec<String>,
}

impl Refusal {
    /// The refusal of a rejection.
    pub fn of(r: &Rejection) -> Refusal {
        Refusal {
            code: r.code,
            message: r.message.clone(),
            guards: r.candidates.clone(),
            problems: r.problems.clone(),
            allowed_events: r.allowed_events.clone(),
        }
    }

    /// A timer the recording fired and the candidate does not have pending.
    pub(crate) fn timer_not_pending(timer: &str) -> Refusal {
        Refusal {
            code: RejectionCode::UnknownTimer,
            message: format!(
                "timer `{timer}` is not pending: the candidate does not start it, or cancels it"
            ),
            guards: Vec::new(),
            problems: Vec::new(),
            allowed_events: Vec::new(),
        }
    }
}

/// What kind of rule diverged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A status the orders were in or went through is gone.
    StatusRemoved,
    /// The guards of the transitions that took the input now fail.
    GuardFalse,
    /// No transition takes the input in that status any more.
    NoTransition,
    /// The input is refused for another reason (its data, a lock, a hook, a loop).
    Refused,
    /// The input now leads to another status, or through other statuses.
    Transition,
    /// The input now queues other messages.
    Messages,
    /// A timer the orders had is no longer pending when it fired.
    TimerNotPending,
    /// The candidate fires a timer of its own.
    TimerFires,
    /// An input the workflow refused is now accepted.
    Accepted,
}

/// The rule a difference points at: its kind and a sentence that is the same for every order
/// the same change affects (no amounts, addresses or order numbers in it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Rule {
    /// What kind of rule.
    pub kind: RuleKind,
    /// The rule in words: ``guard of event `payment_received` in status `awaiting_payment` now
    /// false (line 12: `event.amount > 100`)``.
    pub text: String,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Difference {
    /// The rule this difference points at.
    pub fn rule(&self) -> Rule {
        let (what, status) = (&self.what, &self.status);
        let (kind, text) = match &self.kind {
            DifferenceKind::StatusRemoved { removed, .. } => {
                (RuleKind::StatusRemoved, format!("status `{removed}` removed"))
            }
            DifferenceKind::Refused { refusal, diverged } => refusal_rule(what, status, refusal, diverged),
            DifferenceKind::Accepted { was_refused, .. } => (
                RuleKind::Accepted,
                format!("{what} in status `{status}` now accepted (was refused: {was_refused})"),
            ),
            DifferenceKind::Status { recorded, candidate, recorded_steps, candidate_steps } => {
                let text = if recorded != candidate {
                    format!("{what} in status `{status}` now leads to `{candidate}` (was `{recorded}`)")
                } else {
                    format!(
                        "{what} in status `{status}` now goes through {} (was {})",
                        path(candidate_steps),
                        path(recorded_steps)
                    )
                };
                (RuleKind::Transition, text)
            }
            DifferenceKind::Messages { recorded, candidate } => (
                RuleKind::Messages,
                format!(
                    "{what} in status `{status}` now sends {} (was {})",
                    messages(candidate),
                    messages(recorded)
                ),
            ),
            DifferenceKind::TimerNotPending { timer } => {
                (RuleKind::TimerNotPending, format!("timer `{timer}` no longer pending in status `{status}`"))
            }
            DifferenceKind::TimerFires { timer, .. } => {
                (RuleKind::TimerFires, format!("timer `{timer}` now fires in status `{status}`"))
            }
        };
        Rule { kind, text }
    }
}

/// The rule of a refusal: for failed guards, those of the transitions that took the order where
/// it went then (`diverged`), when there are such.
fn refusal_rule(what: &str, status: &str, r: &Refusal, diverged: &[usize]) -> (RuleKind, String) {
    let guards: Vec<Candidate> = if diverged.is_empty() {
        r.guards.clone()
    } else {
        r.guards.iter().filter(|g| diverged.contains(&g.line)).cloned().collect()
    };
    match (r.code, guards.as_slice()) {
        (RejectionCode::NoTransition, []) => {
            (RuleKind::NoTransition, format!("no transition takes {what} in status `{status}`"))
        }
        (RejectionCode::NoTransition, [one]) => (
            RuleKind::GuardFalse,
            format!("guard of {what} in status `{status}` now false (line {}: `{}`)", one.line, one.guard),
        ),
        (RejectionCode::NoTransition, many) => (
            RuleKind::GuardFalse,
            format!(
                "guards of {what} in status `{status}` now false ({})",
                many.iter().map(|c| format!("line {}: `{}`", c.line, c.guard)).collect::<Vec<_>>().join("; ")
            ),
        ),
        (code, _) => (RuleKind::Refused, format!("{what} in status `{status}` now refused: {code}")),
    }
}

/// The statuses an input went through, in words: `` `a` -> `b` ``, or `no status`.
pub fn path(steps: &[String]) -> String {
    if steps.is_empty() {
        return "no status".into();
    }
    steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" -> ")
}

fn messages(list: &[Message]) -> String {
    if list.is_empty() {
        return "no message".into();
    }
    let mut labels: Vec<String> = list.iter().map(Message::label).collect();
    labels.sort();
    labels.join(", ")
}
