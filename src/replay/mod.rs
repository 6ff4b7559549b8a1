//! What-if replay at the edge: every order's recorded inputs, read from the store a page at a
//! time, run through a candidate set of workflows in memory ([`orderly_engine::replay`]), and
//! a [`ReplayReport`]: the orders whose outcome would differ, grouped by the first rule that
//! diverged. [`replay`] is what `orderly replay` runs and what the studio calls before saving a
//! workflow; it only reads (the command opens the database read-only). `report.rs` prints the
//! report for people; `command.rs` is the command line.

mod command;
mod report;

pub use command::{replay_cmd, ReplayArgs};
pub use orderly_engine::replay::{
    replay_order, Difference, DifferenceKind, Input, Message, Outcome, Recorded, Refusal, Refused,
    ReplayState, Replayed, Replayer, Rule, RuleKind, TimerChange,
};

use crate::order::{OrderId, Time};
use crate::registry::Checked;
use crate::store::{RecordedOrder, RecordedQuery, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many orders are read (and replayed) at a time.
const PAGE: i64 = 500;

/// The version of the JSON shape of [`ReplayReport`] (docs/replay.md).
pub const REPORT_FORMAT: u32 = 1;

/// Which orders to replay, and until when timers run.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Only the orders of this workflow (which the candidate must have).
    pub workflow: Option<String>,
    /// Only the orders created at or after this time.
    pub since: Option<Time>,
    /// How far timers the candidate starts may run after an order's last input (default: now).
    pub as_of: Option<Time>,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--workflow` names a workflow the candidate does not have.
    #[error("the candidate has no workflow `{0}` (it has: {1})")]
    UnknownWorkflow(String, String),
}

/// What replaying the recorded orders on a candidate came to. Serialized as documented in
/// docs/replay.md (`format` is its version).
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The version of this shape ([`REPORT_FORMAT`]).
    pub format: u32,
    /// How far timers ran after each order's last input.
    pub as_of: Time,
    /// The candidate's workflows the orders were replayed on.
    pub workflows: Vec<String>,
    /// Orders replayed.
    pub replayed: usize,
    /// Inputs replayed.
    pub inputs: usize,
    /// Orders whose outcome differs.
    pub differing: usize,
    /// The rules that diverged first, each with the orders it affects, most orders first.
    pub summary: Vec<RuleSummary>,
    /// Every order that differs, by id.
    pub orders: Vec<OrderDifferences>,
    /// Orders that could not be replayed, and why.
    pub not_replayable: Vec<NotReplayable>,
    /// Orders of workflows the candidate does not have (not replayed), per workflow.
    pub other_workflows: BTreeMap<String, usize>,
}

impl ReplayReport {
    /// Whether some order's outcome differs (what `orderly replay` exits 1 for).
    pub fn differs(&self) -> bool {
        self.differing > 0
    }
}

/// A rule that diverged first for some orders.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    /// The rule.
    pub rule: Rule,
    /// How many orders.
    pub count: usize,
    /// Their numbers, by id.
    pub orders: Vec<String>,
}

/// One order whose outcome under the candidate differs from what happened.
#[derive(Debug, Clone, Serialize)]
pub struct OrderDifferences {
    /// Its number.
    pub number: String,
    /// Its id.
    pub id: OrderId,
    /// Its workflow.
    pub workflow: String,
    /// Where it is, as recorded (under the candidate's names).
    pub recorded_status: String,
    /// Where the candidate would have it (none: the candidate refuses to create it).
    pub candidate_status: Option<String>,
    /// The rule that diverged first.
    pub first: Rule,
    /// Where it differs, in order (at most 20).
    pub differences: Vec<Difference>,
    /// How many differences in all.
    pub difference_count: usize,
}

/// An order that could not be replayed.
#[derive(Debug, Clone, Serialize)]
pub struct NotReplayable {
    /// Its number.
    pub number: String,
    /// Its workflow.
    pub workflow: String,
    /// Why.
    pub reason: String,
}

/// Replays every recorded order that `options` selects on the `candidate` workflows (as
/// [`crate::registry::Registry::check`] gives them, with their hooks) and reports where the
/// outcome would differ. Reads the store a page of orders at a time (each page one snapshot)
/// and writes nothing; the replay itself runs off the async workers.
pub async fn replay(
    store: &Store,
    candidate: &Checked,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let mut names: Vec<String> = candidate.workflows().map(|w| w.name.clone()).collect();
    if let Some(w) = &options.workflow {
        if !names.contains(w) {
            return Err(ReplayError::UnknownWorkflow(w.clone(), names.join(", ")));
        }
        names.retain(|n| n == w);
    }
    let as_of = options.as_of.unwrap_or_else(now);
    let hooks = candidate.hooks();
    let replayers: BTreeMap<&str, Replayer<'_>> =
        candidate.workflows().map(|w| (w.name.as_str(), Replayer::new(w, &*hooks))).collect();
    let query = RecordedQuery { workflow: options.workflow.clone(), since: options.since };
    let mut report = ReplayReport {
        format: REPORT_FORMAT,
        as_of,
        workflows: names,
        replayed: 0,
        inputs: 0,
        differing: 0,
        summary: Vec::new(),
        orders: Vec::new(),
        not_replayable: Vec::new(),
        other_workflows: BTreeMap::new(),
    };
    let mut after = 0;
    loop {
        let page = store.recorded_orders(&query, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        crate::service::off_async_workers(|| {
            for order in &page {
                replay_one(&replayers, order, as_of, &mut report);
            }
        });
        tokio::task::yield_now().await;
    }
    report.summary = summarize(&report.orders);
    Ok(report)
}

/// The time now, to the microsecond (what the store keeps).
pub(crate) fn now() -> Time {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}

/// Replays one order into the report.
fn replay_one(
    replayers: &BTreeMap<&str, Replayer<'_>>,
    order: &RecordedOrder,
    as_of: Time,
    report: &mut ReplayReport,
) {
    let Some(replayer) = replayers.get(order.workflow.as_str()) else {
        *report.other_workflows.entry(order.workflow.clone()).or_default() += 1;
        return;
    };
    if let Some(reason) = not_replayable(order) {
        report.not_replayable.push(NotReplayable {
            number: order.number.clone(),
            workflow: order.workflow.clone(),
            reason,
        });
        return;
    }
    let replayed = replay_order(replayer, order.id, &order.inputs, as_of);
    report.replayed += 1;
    report.inputs += replayed.inputs;
    let Some(first) = replayed.first_rule() else { return };
    report.differing += 1;
    report.orders.push(OrderDifferences {
        number: order.number.clone(),
        id: order.id,
        workflow: order.workflow.clone(),
        recorded_status: replayed.recorded_status,
        candidate_status: replayed.candidate_status,
        first,
        differences: replayed.differences,
        difference_count: replayed.difference_count,
    });
}

/// Why an order cannot be replayed, if it cannot: it was created before inputs were kept, one
/// of its inputs cannot be read, or some input it received was not recorded (an orderly that
/// did not keep inputs applied it: each input moves the order's version on by one).
fn not_replayable(order: &RecordedOrder) -> Option<String> {
    if let Some(e) = &order.unreadable {
        return Some(e.clone());
    }
    if !matches!(order.inputs.first().map(|r| &r.input), Some(Input::Create { .. })) {
        return Some("recorded before inputs were kept".into());
    }
    let kept = order.inputs.len();
    if i64::try_from(kept).ok() != Some(order.version) {
        return Some(format!(
            "{kept} of its inputs were kept but it is at version {}: some were applied by an orderly that \
             did not keep inputs",
            order.version
        ));
    }
    None
}

/// The orders grouped by their first rule, most orders first, then by the rule's text.
fn summarize(orders: &[OrderDifferences]) -> Vec<RuleSummary> {
    let mut by_rule: BTreeMap<&Rule, Vec<String>> = BTreeMap::new();
    for o in orders {
        by_rule.entry(&o.first).or_default().push(o.number.clone());
    }
    let mut summary: Vec<RuleSummary> = by_rule
        .into_iter()
        .map(|(rule, orders)| RuleSummary { rule: rule.clone(), count: orders.len(), orders })
        .collect();
    summary.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.text.cmp(&b.rule.text)));
    summary
}
