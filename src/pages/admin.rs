//! The console's operator screens:
//! - `/workflows`: each active workflow's picture with the number of orders in every status
//!   (counted when the page is drawn), its versions, and the last reload with its findings as
//!   the checker prints them (`workflows:read`; the counts need `orders:read` too);
//! - `/outbox`: messages for other systems, pending, sent or dead, with their attempts, the last
//!   error and the body sent; a dead or pending message can be sent again (`admin`, as
//!   `POST /v1/outbox/{id}/retry`).

use super::extract::{PageForm, PagePath};
use super::render;
use super::session::{Refusal, Staff};
use super::studio::staff_ctx;
use crate::config::Scope;
use crate::graph::{self, Format};
use crate::http::error::ErrorCode;
use crate::http::AppState;
use crate::store::{OutboxQuery, OUTBOX_STATES};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

fn unavailable(e: crate::store::StoreError) -> Refusal {
    Refusal::unavailable(false, "an operator page could not read the database", &e)
}

#[derive(Debug, Serialize)]
struct WorkflowScreen {
    name: String,
    title: Option<String>,
    version: i64,
    file: String,
    svg: String,
    counts: Vec<(String, String, i64)>,
    total: i64,
    versions: Vec<crate::store::WorkflowVersion>,
}

/// `GET /workflows`.
pub(crate) async fn workflows(State(state): State<Arc<AppState>>, staff: Staff) -> Result<Response, Refusal> {
    staff.require(Scope::WorkflowsRead, false)?;
    let store = state.service.store();
    let counts = if staff.allows(Scope::OrdersRead) {
        store.status_counts().await.map_err(unavailable)?
    } else {
        Vec::new()
    };
    let by_status: BTreeMap<(&str, &str), i64> =
        counts.iter().map(|(w, s, n)| ((w.as_str(), s.as_str()), *n)).collect();
    let registry = state.service.registry();
    let mut screens = Vec::new();
    for a in registry.all() {
        let w = &a.workflow;
        let counts: Vec<(String, String, i64)> = w
            .statuses
            .iter()
            .map(|s| {
                let n = by_status.get(&(w.name.as_str(), s.code.as_str())).copied().unwrap_or(0);
                (s.code.clone(), s.label.clone(), n)
            })
            .collect();
        screens.push(WorkflowScreen {
            name: w.name.clone(),
            title: w.title.clone(),
            version: a.version,
            file: a.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            svg: graph::render(w, Format::Svg),
            total: counts.iter().map(|c| c.2).sum(),
            counts,
            versions: store.workflow_versions(&w.name, 10).await.map_err(unavailable)?,
        });
    }
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff),
        workflows => screens,
        last_reload => state.reloader.as_ref().map(|r| r.last()),
        can_edit => staff.allows(Scope::Admin),
    };
    Ok(render::page(StatusCode::OK, "workflows.html", ctx))
}

/// An outbox message as the page shows it.
#[derive(Debug, Serialize)]
struct OutboxRow<'a> {
    #[serde(flatten)]
    message: &'a crate::store::StoredOutbox,
    sent_text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OutboxFilter {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /outbox`: the newest 100 messages, by state.
pub(crate) async fn outbox(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    Query(filter): Query<OutboxFilter>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, false)?;
    let wanted = filter.state.as_deref().filter(|s| OUTBOX_STATES.contains(s)).map(str::to_string);
    let store = state.service.store();
    let q = OutboxQuery { state: wanted.clone(), order: None, before: None, limit: 100 };
    let (messages, more) = store.outbox_page(&q).await.map_err(unavailable)?;
    let counts = store.outbox_counts().await.map_err(unavailable)?;
    // Each message with the body it sent, pretty-printed for reading. (Typed rows: a JSON
    // value's numbers would not come through to the template as numbers.)
    let messages: Vec<OutboxRow<'_>> = messages
        .iter()
        .map(|m| OutboxRow {
            message: m,
            sent_text: m.sent.as_ref().map(|s| serde_json::to_string_pretty(s).unwrap_or_default()),
        })
        .collect();
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff),
        messages => messages,
        more => more.is_some(),
        counts => counts,
        state => wanted,
        states => OUTBOX_STATES,
        can_retry => staff.allows(Scope::Admin),
        done => filter.done.as_deref() == Some("retried"),
    };
    Ok(render::page(StatusCode::OK, "outbox.html", ctx))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RetryForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /outbox/{id}/retry`: send a message again (now).
pub(crate) async fn retry(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<RetryForm>,
) -> Result<Response, Refusal> {
    staff.require(Scope::Admin, false)?;
    staff.check_form_token(&headers, form.csrf.as_deref(), false)?;
    match crate::http::outbox::requeue(&state, id, Some(&staff.name)).await {
        Ok(_) => Ok(Redirect::to("/outbox?done=retried").into_response()),
        Err(e) => Err(match e.code {
            ErrorCode::NotFound => Refusal::new(false, e.code, format!("There is no outbox message {id}.")),
            ErrorCode::AlreadySent => Refusal::new(
                false,
                e.code,
                format!("Message {id} was delivered already; it is not sent again."),
            ),
            _ => Refusal::new(false, e.code, e.message),
        }),
    }
}
