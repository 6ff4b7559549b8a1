//! `GET /v1/workflows` (the active versions and the last reload, with its findings),
//! `GET /v1/workflows/{name}` (statuses, events, transitions), `.../graph` (a picture) and
//! `POST /v1/workflows/reload` (admin).

use super::auth::{scope, Authorized};
use super::error::{ApiError, ErrorCode, PathArgs, QueryArgs};
use super::AppState;
use crate::graph::{self, Format};
use crate::registry::Active;
use crate::reload::{ReloadReport, Trigger};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One active workflow, in short.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct WorkflowSummary {
    name: String,
    title: Option<String>,
    /// Its version number (a new one for every change of its text or hooks).
    version: i64,
    /// SHA-256 of its text and hooks.
    hash: String,
    /// The file it came from.
    file: String,
    /// How many statuses it has.
    statuses: usize,
    /// How many events it declares.
    events: usize,
    /// How many transitions it has.
    transitions: usize,
    /// Its channels' codes.
    channels: Vec<String>,
}

impl WorkflowSummary {
    fn of(a: &Active) -> Self {
        let w = &a.workflow;
        WorkflowSummary {
            name: w.name.clone(),
            title: w.title.clone(),
            version: a.version,
            hash: a.hash.clone(),
            file: a.path.display().to_string(),
            statuses: w.statuses.len(),
            events: w.events.len(),
            transitions: w.transitions.len(),
            channels: w.channels.iter().map(|c| c.code.clone()).collect(),
        }
    }
}

/// The active workflows and how the last reload went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct WorkflowList {
    workflows: Vec<WorkflowSummary>,
    /// The last reload: when, what triggered it, ok or not, the findings when it failed; `null`
    /// for a service without a workflows folder to reload.
    last_reload: Option<ReloadReport>,
}

/// Lists the active workflows, with the last reload's result.
#[utoipa::path(
    get, path = "/v1/workflows", tag = "workflows", operation_id = "list_workflows",
    responses(
        (status = 200, description = "Active workflows", body = WorkflowList),
        (status = 403, description = "`forbidden`: the token lacks `workflows:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::WorkflowsRead>,
) -> Result<Json<WorkflowList>, ApiError> {
    let registry = state.service.registry();
    Ok(Json(WorkflowList {
        workflows: registry.all().map(WorkflowSummary::of).collect(),
        last_reload: state.reloader.as_ref().map(|r| r.last()),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct PhaseView {
    code: String,
    label: String,
    statuses: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct StatusDetail {
    code: String,
    label: String,
    customer_label: String,
    phase: Option<String>,
    /// No transition leaves it.
    #[serde(rename = "final")]
    is_final: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct FieldView {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    optional: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct EventView {
    name: String,
    description: Option<String>,
    fields: Vec<FieldView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct TransitionView {
    /// Its line in the file.
    line: usize,
    /// The event; absent for automatic transitions.
    event: Option<String>,
    from: Vec<String>,
    /// The target; absent when the order stays.
    to: Option<String>,
    guard: Option<String>,
}

/// One workflow in full: what [`WorkflowSummary`] shows, with the lists where the summary has
/// counts (one key, one meaning: `statuses` here is the list, not how many).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct WorkflowDetail {
    name: String,
    title: Option<String>,
    /// Its version number (a new one for every change of its text or hooks).
    version: i64,
    /// SHA-256 of its text and hooks.
    hash: String,
    /// The file it came from.
    file: String,
    /// Its channels' codes.
    channels: Vec<String>,
    /// Its phases, in lifecycle order.
    phases: Vec<PhaseView>,
    statuses: Vec<StatusDetail>,
    /// Its events with their data fields.
    events: Vec<EventView>,
    /// Its transitions, in file order.
    transitions: Vec<TransitionView>,
    /// The fulfillment actions staff may record.
    fulfillment_actions: Vec<String>,
    /// Those the list marks `hidden`: recorded hidden from the customer unless said otherwise.
    hidden_fulfillment_actions: Vec<String>,
}

fn find(state: &AppState, name: &str) -> Result<Active, ApiError> {
    let registry = state.service.registry();
    registry.get(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = registry.all().map(|a| a.workflow.name.as_str()).collect();
        let hint = crate::diagnostics::did_you_mean(name, names.iter().copied())
            .map(|m| format!("; did you mean `{m}`?"))
            .unwrap_or_else(|| format!(" (active: {})", names.join(", ")));
        ApiError::new(ErrorCode::NotFound, format!("no active workflow `{name}`{hint}"))
    })
}

/// A workflow: phases, statuses, events with their data, transitions with their guards.
#[utoipa::path(
    get, path = "/v1/workflows/{name}", tag = "workflows", operation_id = "get_workflow",
    params(("name" = String, Path, description = "The workflow's name")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetail),
        (status = 404, description = "`not_found`: no active workflow has this name (with a did-you-mean)", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `workflows:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::WorkflowsRead>,
    PathArgs(name): PathArgs<String>,
) -> Result<Json<WorkflowDetail>, ApiError> {
    let a = find(&state, &name)?;
    let w = &a.workflow;
    // Ids come from the checked workflow; `?` would show one it does not have, as the graphs do.
    let code = |s: usize| w.statuses.get(s).map_or("?", |s| s.code.as_str()).to_string();
    Ok(Json(WorkflowDetail {
        name: w.name.clone(),
        title: w.title.clone(),
        version: a.version,
        hash: a.hash.clone(),
        file: a.path.display().to_string(),
        channels: w.channels.iter().map(|c| c.code.clone()).collect(),
        phases: w
            .phases
            .iter()
            .map(|p| PhaseView {
                code: p.code.clone(),
                label: p.label.clone(),
                statuses: p.statuses.iter().map(|s| code(*s)).collect(),
            })
            .collect(),
        statuses: w
            .statuses
            .iter()
            .map(|s| StatusDetail {
                code: s.code.clone(),
                label: s.label.clone(),
                customer_label: s.customer_label.clone(),
                phase: w.phase_of(s).map(|p| p.code.clone()),
                is_final: s.is_final,
            })
            .collect(),
        events: w
            .events
            .iter()
            .map(|e| EventView {
                name: e.name.clone(),
                description: e.description.clone(),
                fields: e
                    .fields
                    .iter()
                    .map(|f| FieldView {
                        name: f.name.clone(),
                        ty: f.ty.describe().into(),
                        optional: f.optional,
                    })
                    .collect(),
            })
            .collect(),
        transitions: w
            .transitions
            .iter()
            .map(|t| TransitionView {
                line: t.line,
                event: t.event.map(|e| w.events.get(e).map_or("?", |e| e.name.as_str()).to_string()),
                from: t.sources.iter().map(|s| code(*s)).collect(),
                to: t.target.map(code),
                guard: t.guard.as_ref().map(crate::engine::show_guard),
            })
            .collect(),
        fulfillment_actions: w.fulfillment_actions.clone(),
        hidden_fulfillment_actions: w.hidden_actions.clone(),
    }))
}

/// The picture format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct GraphParams {
    /// `svg` (default), `dot` or `mermaid`.
    #[param(inline)]
    format: Option<GraphFormat>,
}

/// A picture format and the media type it is sent as.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum GraphFormat {
    /// `image/svg+xml`.
    Svg,
    /// Graphviz, `text/vnd.graphviz`.
    Dot,
    /// Mermaid, `text/plain`.
    Mermaid,
}

/// The workflow as a picture: statuses grouped by phase, transitions as arrows.
#[utoipa::path(
    get, path = "/v1/workflows/{name}/graph", tag = "workflows", operation_id = "workflow_graph",
    params(("name" = String, Path, description = "The workflow's name"), GraphParams),
    responses(
        (status = 200, description = "The picture: SVG for `svg`, DOT for `dot`, Mermaid for `mermaid` (each as text in UTF-8)",
            content(
                (String = "image/svg+xml"),
                (String = "text/vnd.graphviz"),
                (String = "text/plain"),
            )),
        (status = 400, description = "`bad_query`: an unknown format or parameter; `bad_path`", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: no active workflow has this name", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `workflows:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn graph(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::WorkflowsRead>,
    PathArgs(name): PathArgs<String>,
    QueryArgs(p): QueryArgs<GraphParams>,
) -> Result<Response, ApiError> {
    let (format, mime) = match p.format.unwrap_or(GraphFormat::Svg) {
        GraphFormat::Svg => (Format::Svg, "image/svg+xml"),
        GraphFormat::Dot => (Format::Dot, "text/vnd.graphviz; charset=utf-8"),
        GraphFormat::Mermaid => (Format::Mermaid, "text/plain; charset=utf-8"),
    };
    let a = find(&state, &name)?;
    Ok(([(header::CONTENT_TYPE, mime)], graph::render(&a.workflow, format)).into_response())
}

/// Reloads the workflows folder now (as a file change would): parse, check, check against the
/// orders in the database, swap. A failure keeps the running version.
#[utoipa::path(
    post, path = "/v1/workflows/reload", tag = "workflows", operation_id = "reload_workflows",
    responses(
        (status = 200, description = "Reloaded (`changed` lists new versions)", body = ReloadReport),
        (status = 409, description = "`no_reload`: the service was started without a workflows folder to reload", body = super::error::ErrorBody),
        (status = 422, description = "`reload_failed`: the running version stays; `findings` has every diagnostic, `rendered` the same as text", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `admin`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn reload(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::Admin>,
) -> Result<Response, ApiError> {
    let Some(reloader) = &state.reloader else {
        return Err(ApiError::new(
            ErrorCode::NoReload,
            "this service was started without a workflows folder to reload",
        ));
    };
    let report = reloader.reload(Trigger::Api).await;
    if report.ok {
        Ok(Json(report).into_response())
    } else {
        Err(ApiError::new(ErrorCode::ReloadFailed, report.message.clone())
            .with("findings", &report.findings)
            .with("rendered", &report.rendered))
    }
}
