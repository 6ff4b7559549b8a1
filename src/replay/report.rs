//! The replay report for people: a line saying what was replayed, the rules that diverged
//! (each with its orders), then each differing order with its differences in words, the way
//! `orderly test` shows a failing step. `--format json` prints the [`ReplayReport`] itself.

use super::{DifferenceKind, OrderDifferences, Refusal, ReplayReport};
use orderly_engine::replay::{path, Difference, Message};
use std::fmt::Write;

/// How many orders the text lists in detail (JSON lists every one).
const ORDERS_SHOWN: usize = 50;
/// How many order numbers a summary line lists.
const NUMBERS_SHOWN: usize = 20;

impl ReplayReport {
    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "replayed {} ({}) on workflow{} {}, timers run to {}",
            count(self.replayed, "order", "orders"),
            count(self.inputs, "input", "inputs"),
            if self.workflows.len() == 1 { "" } else { "s" },
            self.workflows.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
            time(self.as_of)
        );
        if self.differing == 0 {
            out.push_str("no order differs\n");
        } else {
            let _ = writeln!(
                out,
                "{} differ{}, by the first rule that diverged:",
                count(self.differing, "order", "orders"),
                if self.differing == 1 { "s" } else { "" }
            );
            for s in &self.summary {
                let _ = writeln!(out, "\n  {}: {}", count(s.count, "order", "orders"), s.rule);
                let _ = writeln!(out, "     {}", numbers(&s.orders));
            }
            for o in self.orders.iter().take(ORDERS_SHOWN) {
                out.push('\n');
                order(&mut out, o);
            }
            if self.orders.len() > ORDERS_SHOWN {
                let _ = writeln!(
                    out,
                    "\n... and {} more (`--format json` lists every one)",
                    count(self.orders.len() - ORDERS_SHOWN, "order", "orders")
                );
            }
        }
        if !self.not_replayable.is_empty() {
            let _ =
                writeln!(out, "\n{} not replayable:", count(self.not_replayable.len(), "order", "orders"));
            for n in &self.not_replayable {
                let _ = writeln!(out, "  {} ({}): {}", n.number, n.workflow, n.reason);
            }
        }
        for (workflow, n) in &self.other_workflows {
            let _ = writeln!(
                out,
                "\n{} of workflow `{workflow}`, which the candidate does not have, not replayed",
                count(*n, "order", "orders")
            );
        }
        out
    }
}

fn order(out: &mut String, o: &OrderDifferences) {
    let candidate = match &o.candidate_status {
        Some(s) => format!("`{s}` on the candidate"),
        None => "not created on the candidate".into(),
    };
    let _ = writeln!(out, "{} ({}): `{}` as recorded, {candidate}", o.number, o.workflow, o.recorded_status);
    for d in &o.differences {
        difference(out, d);
    }
    if o.difference_count > o.differences.len() {
        let _ = writeln!(
            out,
            "  (and {} more)",
            count(o.difference_count - o.differences.len(), "difference", "differences")
        );
    }
}

fn difference(out: &mut String, d: &Difference) {
    let status = if d.status.is_empty() { String::new() } else { format!(" in status `{}`", d.status) };
    // A timer the candidate fires on its own comes between two recorded inputs.
    let position = match d.kind {
        DifferenceKind::TimerFires { .. } => format!("after input {}", d.input.saturating_sub(1)),
        _ => format!("input {}", d.input),
    };
    let _ = writeln!(out, "  {position}, {} at {}{status}:", d.what, time(d.at));
    match &d.kind {
        DifferenceKind::StatusRemoved { removed, candidate, refusal } => {
            let _ = writeln!(
                out,
                "    went to `{removed}`, which the candidate does not have; it stays in `{candidate}`"
            );
            if let Some(r) = refusal {
                refused(out, r);
            }
        }
        DifferenceKind::Refused { refusal, .. } => refused(out, refusal),
        DifferenceKind::Accepted { was_refused, candidate } => {
            let _ = writeln!(
                out,
                "    accepted (it was refused: {was_refused}); the order goes to `{candidate}`"
            );
        }
        DifferenceKind::Status { recorded, candidate, recorded_steps, candidate_steps } => {
            let _ = writeln!(out, "    ends in `{candidate}` (recorded: `{recorded}`)");
            if recorded_steps != candidate_steps {
                let _ = writeln!(
                    out,
                    "    goes through {} (recorded: {})",
                    path(candidate_steps),
                    path(recorded_steps)
                );
            }
        }
        DifferenceKind::Messages { recorded, candidate } => {
            let _ = writeln!(out, "    sends {} (recorded: {})", messages(candidate), messages(recorded));
        }
        DifferenceKind::TimerNotPending { timer } => {
            let _ = writeln!(out, "    timer `{timer}` fired, but the candidate does not have it pending");
        }
        DifferenceKind::TimerFires { timer, candidate, refusal } => {
            let _ = writeln!(
                out,
                "    the candidate fires timer `{timer}` (not due then as recorded); the order goes to `{candidate}`"
            );
            if let Some(r) = refusal {
                refused(out, r);
            }
        }
    }
}

fn refused(out: &mut String, r: &Refusal) {
    let _ = writeln!(out, "    refused: {}: {}", r.code, r.message);
    for g in &r.guards {
        let _ = writeln!(out, "      guard at line {} `{}` failed: {}", g.line, g.guard, g.failed);
    }
    for p in &r.problems {
        let _ = writeln!(out, "      `{}` {}", p.field, p.problem);
    }
    if !r.allowed_events.is_empty() {
        let _ = writeln!(out, "      the order accepts: {}", r.allowed_events.join(", "));
    }
}

fn messages(list: &[Message]) -> String {
    if list.is_empty() {
        return "nothing".into();
    }
    list.iter().map(Message::to_string).collect::<Vec<_>>().join(", ")
}

fn numbers(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(NUMBERS_SHOWN).map(String::as_str).collect();
    match list.len().checked_sub(NUMBERS_SHOWN).filter(|more| *more > 0) {
        Some(more) => format!("{} and {more} more", shown.join(", ")),
        None => shown.join(", "),
    }
}

fn time(t: crate::order::Time) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `1 order`, `2 orders`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
