//! The console's board at `/`: every active workflow's phases and statuses with the number of
//! orders in each (CORESense's phase table), and the orders, stuck ones first (a timer past
//! due, `integration_failed`, `overdue`, `possible_duplicate`), then the newest: filtered by
//! workflow, status, phase, channel, flag, queue, assignee, lock, creation and change days, or
//! searched by number, email, name or company; and the CSR dashboard's two views, "In queue"
//! (in a queue, nobody assigned) and "My open" (assigned to me, not final). Read-only; it reads
//! through the store's grid and counts, as `GET /v1/orders` does. Needs `orders:read`. The page's
//! script reloads the list when orders change (`/events/orders`, server-sent events).

use super::render;
use super::session::{Refusal, Staff};
use super::studio::staff_ctx;
use crate::config::Scope;
use crate::http::error::ErrorCode;
use crate::http::AppState;
use crate::store::GridQuery;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The board's filters, as the links and the form write them.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct BoardFilter {
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    locked: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    /// A search text: number, email, name or company.
    #[serde(default)]
    q: Option<String>,
    /// `queue` (In queue: in a queue, nobody assigned) or `mine` (My open: assigned to me,
    /// not in a final status).
    #[serde(default)]
    view: Option<String>,
    /// `YYYY-MM-DD` (UTC).
    #[serde(default)]
    created_since: Option<String>,
    /// `YYYY-MM-DD` (UTC).
    #[serde(default)]
    updated_since: Option<String>,
}

/// A day written `YYYY-MM-DD`, as its first moment (UTC).
fn day(v: &Option<String>) -> Result<Option<crate::order::Time>, Refusal> {
    let Some(text) = given(v) else { return Ok(None) };
    let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
        Refusal::new(
            false,
            ErrorCode::BadQuery,
            format!(
                "`{}` is not a day written YYYY-MM-DD",
                crate::limits::shown(&text, crate::limits::MAX_SHOWN)
            ),
        )
    })?;
    Ok(date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

/// A status on the board, with its count.
#[derive(Debug, Serialize)]
struct StatusCount {
    code: String,
    label: String,
    count: i64,
    is_final: bool,
}

/// A phase (or the statuses in none) on the board.
#[derive(Debug, Serialize)]
struct PhaseCounts {
    label: String,
    count: i64,
    statuses: Vec<StatusCount>,
}

/// A workflow on the board.
#[derive(Debug, Serialize)]
struct WorkflowCounts {
    name: String,
    version: i64,
    count: i64,
    phases: Vec<PhaseCounts>,
}

/// The orders a page shows at most.
const PAGE: u32 = 100;

/// A filter's text, empty meaning none, bounded in length.
fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty() && s.len() <= 200).map(str::to_string)
}

/// `GET /`: the board.
pub(crate) async fn board(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    Query(filter): Query<BoardFilter>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, false)?;
    let store = state.service.store();
    let unavailable =
        |e: crate::store::StoreError| Refusal::unavailable(false, "the board could not read the orders", &e);
    let counts = store.status_counts().await.map_err(unavailable)?;
    let by_status: BTreeMap<(&str, &str), i64> =
        counts.iter().map(|(w, s, n)| ((w.as_str(), s.as_str()), *n)).collect();
    let registry = state.service.registry();
    let workflows: Vec<WorkflowCounts> = registry
        .all()
        .map(|a| {
            let w = &a.workflow;
            let count_of = |code: &str| by_status.get(&(w.name.as_str(), code)).copied().unwrap_or(0);
            let status = |i: &usize| {
                w.statuses.get(*i).map(|s| StatusCount {
                    code: s.code.clone(),
                    label: s.label.clone(),
                    count: count_of(&s.code),
                    is_final: s.is_final,
                })
            };
            let mut phases: Vec<PhaseCounts> = w
                .phases
                .iter()
                .map(|p| {
                    let statuses: Vec<StatusCount> = p.statuses.iter().filter_map(status).collect();
                    PhaseCounts {
                        label: p.label.clone(),
                        count: statuses.iter().map(|s| s.count).sum(),
                        statuses,
                    }
                })
                .collect();
            let loose: Vec<StatusCount> = (0..w.statuses.len())
                .filter(|i| w.statuses.get(*i).is_some_and(|s| s.phase.is_none()))
                .filter_map(|i| status(&i))
                .collect();
            if !loose.is_empty() {
                phases.push(PhaseCounts {
                    label: "Other".into(),
                    count: loose.iter().map(|s| s.count).sum(),
                    statuses: loose,
                });
            }
            WorkflowCounts {
                name: w.name.clone(),
                version: a.version,
                count: phases.iter().map(|p| p.count).sum(),
                phases,
            }
        })
        .collect();
    // A filter that names nothing there is, or a search too long to run, is said, not ignored.
    let mut notices: Vec<String> = Vec::new();
    let unknown = |what: &str, value: &str, known: Vec<&str>| {
        let hint = crate::diagnostics::did_you_mean(value, known.iter().copied())
            .map(|m| format!("; did you mean `{m}`?"))
            .unwrap_or_default();
        format!(
            "No active workflow has the {what} `{}`{hint}",
            crate::limits::shown(value, crate::limits::MAX_SHOWN)
        )
    };
    if let Some(w) = given(&filter.workflow).filter(|w| registry.get(w).is_none()) {
        notices.push(unknown("name", &w, registry.all().map(|a| a.workflow.name.as_str()).collect()));
    }
    if let Some(code) = given(&filter.status) {
        let known: Vec<&str> =
            registry.all().flat_map(|a| a.workflow.statuses.iter().map(|s| s.code.as_str())).collect();
        if !known.contains(&code.as_str()) {
            notices.push(unknown("status", &code, known));
        }
    }
    if let Some(code) = given(&filter.phase) {
        let known: Vec<&str> = registry
            .all()
            .flat_map(|a| a.workflow.phases.iter().flat_map(|p| [p.code.as_str(), p.label.as_str()]))
            .collect();
        if !known.contains(&code.as_str()) {
            notices.push(unknown("phase", &code, known));
        }
    }
    if let Some(v) = given(&filter.view).filter(|v| v != "queue" && v != "mine") {
        notices.push(format!(
            "`{}` is not a view: the views are All, In queue and My open",
            crate::limits::shown(&v, crate::limits::MAX_SHOWN)
        ));
    }
    if let Some(l) = given(&filter.locked).filter(|l| l != "yes" && l != "no") {
        notices.push(format!("`{}` is not yes or no", crate::limits::shown(&l, crate::limits::MAX_SHOWN)));
    }
    if filter.q.as_deref().is_some_and(|q| q.trim().chars().count() > 200) {
        notices.push("The search is longer than 200 characters: shorten it".into());
    }
    let workflow = given(&filter.workflow);
    let status = given(&filter.status);
    let phase = given(&filter.phase);
    let view = given(&filter.view);
    // The (workflow, status) pairs the workflow, status, phase and view filters leave.
    let mut pairs: Option<Vec<(String, String)>> = None;
    if workflow.is_some() || status.is_some() || phase.is_some() || view.as_deref() == Some("mine") {
        let mut list = Vec::new();
        for a in registry.all() {
            let w = &a.workflow;
            if workflow.as_ref().is_some_and(|n| *n != w.name) {
                continue;
            }
            for s in &w.statuses {
                let in_phase = |p: &str| {
                    s.phase.and_then(|i| w.phases.get(i)).is_some_and(|ph| ph.code == p || ph.label == p)
                };
                let keep = status.as_ref().is_none_or(|c| *c == s.code)
                    && phase.as_deref().is_none_or(in_phase)
                    && (view.as_deref() != Some("mine") || !s.is_final);
                if keep {
                    list.push((w.name.clone(), s.code.clone()));
                }
            }
        }
        pairs = Some(list);
    }
    let query = GridQuery {
        statuses: Vec::new(),
        workflow_statuses: pairs,
        channel: given(&filter.channel),
        flag: given(&filter.flag),
        locked: match given(&filter.locked).as_deref() {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        },
        assignee: if view.as_deref() == Some("mine") {
            Some(staff.name.clone())
        } else {
            given(&filter.assignee)
        },
        queue: given(&filter.queue),
        unassigned_in_queue: view.as_deref() == Some("queue"),
        search: given(&filter.q),
        created_since: day(&filter.created_since)?,
        updated_since: day(&filter.updated_since)?,
        stuck_first: true,
        before: None,
        limit: PAGE,
    };
    let page = store.grid(&query, state.service.now()).await.map_err(unavailable)?;
    let filtered = workflow.is_some()
        || status.is_some()
        || phase.is_some()
        || view.is_some()
        || query.channel.is_some()
        || query.flag.is_some()
        || query.locked.is_some()
        || query.assignee.is_some()
        || query.queue.is_some()
        || query.search.is_some()
        || query.created_since.is_some()
        || query.updated_since.is_some();
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff),
        workflows => workflows,
        rows => page.rows,
        more => page.next.is_some(),
        filter => filter,
        filtered => filtered || !notices.is_empty(),
        notices => notices,
    };
    Ok(render::page(StatusCode::OK, "board.html", ctx))
}
