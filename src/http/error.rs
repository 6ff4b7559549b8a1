//! Every error the API answers with: `{"error": code, "message": text, ...details}` and the
//! status code that goes with it. Store failures are logged, never sent: a database that is down,
//! unreachable or out of room is `503 database_unavailable` (`Retry-After: 5`), a commit it did
//! not confirm `503 outcome_unknown`, anything else a plain 500.

use crate::engine::{Problem, Rejection, RejectionCode};
use crate::limits;
use crate::service::ServiceError;
use crate::store::{OrderKey, StoreError};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The stable code (`no_transition`, `not_found`, `invalid_body`, ...); it gives the status.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
    /// More fields merged into the body (`status`, `allowed_events`, `problems`, ...).
    pub details: Map<String, Value>,
    /// Extra headers (`Retry-After`, `WWW-Authenticate`).
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// The body of every error, for the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// A stable code; the status it comes with and when are in each answer's description.
    pub error: ErrorCode,
    /// What was wrong, in words.
    pub message: String,
    /// For refused events and locks: the order's status.
    #[schema(nullable = false)]
    pub status: Option<String>,
    /// For refused events: the events the order accepts now.
    #[schema(nullable = false)]
    pub allowed_events: Option<Vec<String>>,
    /// For `no_transition`: each transition that could have taken the event and the part of its
    /// guard that failed.
    #[schema(nullable = false)]
    pub candidates: Option<Vec<crate::engine::Candidate>>,
    /// For bad data (`invalid_order`, `invalid_data`, `duplicate`, ...): each field and what is
    /// wrong with it; the first 50.
    #[schema(nullable = false)]
    pub problems: Option<Vec<crate::engine::Problem>>,
    /// With `problems`: how many problems there were (more than listed when over 50).
    #[schema(nullable = false)]
    pub problem_count: Option<usize>,
    /// For `forbidden`: the scope the route needs.
    #[schema(nullable = false)]
    pub required_scope: Option<String>,
    /// For `forbidden` on an event: the events the token may post.
    #[schema(nullable = false)]
    pub allowed: Option<Vec<String>>,
    /// For `reload_failed`: every diagnostic (file, line, column, code, message, ...).
    #[schema(nullable = false)]
    pub findings: Option<Vec<serde_json::Map<String, Value>>>,
    /// For `reload_failed`: the findings as text.
    #[schema(nullable = false)]
    pub rendered: Option<String>,
}

/// Every `error` code the API answers with.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is not HTTP the service can read (a malformed request line or header).
    BadRequest,
    /// 400: the body is not JSON.
    BadJson,
    /// 400: the body could not be read.
    BadBody,
    /// 400: a path part does not fit.
    BadPath,
    /// 400: a query parameter does not fit.
    BadQuery,
    /// 401: no valid token.
    Unauthorized,
    /// 403: the token lacks the scope, or may not post this event.
    Forbidden,
    /// 403: a page's change without the session's form token, or from another site.
    BadFormToken,
    /// 404: no such order, workflow, fulfillment action or message.
    NotFound,
    /// 404: no such route.
    NoRoute,
    /// 404: no customer has the id.
    CustomerNotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: no transition takes the event now.
    NoTransition,
    /// 409: a shipment of more than is left.
    OverShipment,
    /// 409: automatic transitions that never settle.
    AutomaticLoop,
    /// 409: an order number taken.
    Duplicate,
    /// 409: a reload without a workflows folder.
    NoReload,
    /// 409: the outbox message was delivered already.
    AlreadySent,
    /// 413: the body is over the limit.
    BodyTooLarge,
    /// 414: the path and query are over 65534 bytes.
    UriTooLong,
    /// 415: the body is not sent as JSON.
    UnsupportedMediaType,
    /// 422: the JSON does not fit.
    InvalidBody,
    /// 422: a new order misses or has invalid fields.
    InvalidOrder,
    /// 422: the event's data is wrong.
    InvalidData,
    /// 422: the workflow has no such event.
    UnknownEvent,
    /// 422: no workflow has the channel.
    UnknownChannel,
    /// 422: the channel refuses the order.
    Refused,
    /// 422: a hook failed.
    HookFailed,
    /// 422: not one of the workflow's fulfillment actions.
    UnknownAction,
    /// 422: the order's status is gone from its workflow.
    UnknownStatus,
    /// 422: the order's workflow is not active.
    WorkflowUnavailable,
    /// 422: the idempotency key was used for another request.
    IdempotencyConflict,
    /// 422: the reload found errors.
    ReloadFailed,
    /// 422: the studio's text has errors, so it cannot be simulated, replayed or saved.
    WorkflowInvalid,
    /// 423: another holder has the lock.
    Locked,
    /// 429: too many tracking requests.
    RateLimited,
    /// 431: the headers are over `max_header_size`, or more than 100.
    HeadersTooLarge,
    /// 500: a failure on the service's side.
    Internal,
    /// 503: the database is busy, or the order kept changing.
    Busy,
    /// 503: the database does not answer.
    DatabaseUnavailable,
    /// 503: the commit was not confirmed; retry with the same idempotency key.
    OutcomeUnknown,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            BadRequest | BadJson | BadBody | BadPath | BadQuery => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden | BadFormToken => StatusCode::FORBIDDEN,
            NotFound | NoRoute | CustomerNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NoTransition | OverShipment | AutomaticLoop | Duplicate | NoReload | AlreadySent => {
                StatusCode::CONFLICT
            }
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UriTooLong => StatusCode::URI_TOO_LONG,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InvalidBody | InvalidOrder | InvalidData | UnknownEvent | UnknownChannel | Refused
            | HookFailed | UnknownAction | UnknownStatus | WorkflowUnavailable | IdempotencyConflict
            | ReloadFailed | WorkflowInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Locked => StatusCode::LOCKED,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Busy | DatabaseUnavailable | OutcomeUnknown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

orderly_lang::stable_code!(ErrorCode);

impl From<RejectionCode> for ErrorCode {
    fn from(code: RejectionCode) -> ErrorCode {
        match code {
            RejectionCode::NoTransition => ErrorCode::NoTransition,
            RejectionCode::UnknownEvent => ErrorCode::UnknownEvent,
            RejectionCode::InvalidData => ErrorCode::InvalidData,
            RejectionCode::OverShipment => ErrorCode::OverShipment,
            RejectionCode::Locked => ErrorCode::Locked,
            RejectionCode::InvalidOrder => ErrorCode::InvalidOrder,
            RejectionCode::UnknownChannel => ErrorCode::UnknownChannel,
            RejectionCode::Refused => ErrorCode::Refused,
            RejectionCode::AutomaticLoop => ErrorCode::AutomaticLoop,
            RejectionCode::HookFailed => ErrorCode::HookFailed,
            RejectionCode::UnknownAction => ErrorCode::UnknownAction,
            RejectionCode::UnknownStatus => ErrorCode::UnknownStatus,
            RejectionCode::WorkflowUnavailable => ErrorCode::WorkflowUnavailable,
            RejectionCode::Duplicate => ErrorCode::Duplicate,
            RejectionCode::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            RejectionCode::NotFound => ErrorCode::NotFound,
            // Only the timer loop fires timers by name; one reaching a client is a fault of ours.
            RejectionCode::UnknownTimer => ErrorCode::Internal,
        }
    }
}

impl ApiError {
    /// An error with a code (which gives the status) and a message (cut to `limits::MAX_MESSAGE`
    /// characters: a message may quote what the client sent).
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match limits::shown(&message, limits::MAX_MESSAGE) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(cut) => cut,
        };
        ApiError { code, message, details: Map::new(), headers: Vec::new() }
    }

    /// Adds `problems`: the first `limits::MAX_PROBLEMS`, each field and text cut to a length an
    /// answer shows, and `problem_count`, how many there were.
    pub(crate) fn with_problems(self, problems: Vec<Problem>) -> Self {
        let count = problems.len();
        let listed: Vec<Problem> = problems
            .into_iter()
            .take(limits::MAX_PROBLEMS)
            .map(|p| Problem {
                field: limits::shown(&p.field, 2 * limits::MAX_SHOWN).into_owned(),
                problem: limits::shown(&p.problem, limits::MAX_PROBLEM_TEXT).into_owned(),
            })
            .collect();
        self.with("problems", listed).with("problem_count", count)
    }

    /// Adds a field to the body.
    pub(crate) fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.details.insert(key.to_string(), serde_json::to_value(value).unwrap_or(Value::Null));
        self
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// 404 for an order key that names no order.
    pub(crate) fn no_order(key: &OrderKey) -> Self {
        let message = match key {
            OrderKey::Id(id) => format!("no order has id {id}"),
            // Digits are a number here; say how an id is written, in case one was meant.
            OrderKey::Number(n)
                if !n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                format!("no order has number `{n}` (an order's id is written `id:{n}`)")
            }
            OrderKey::Number(n) => format!("no order has number `{}`", limits::shown(n, limits::MAX_SHOWN)),
        };
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 404 for a path part that starts with `id:` but is no id (`id:x`, `id:+5`): it names no
    /// order, since no order number starts with `id:`.
    pub(crate) fn bad_order_key(raw: &str) -> Self {
        ApiError::new(ErrorCode::NotFound,
            format!(
                "no order is named `{}`: an order is named by its number, or by its id written `id:` and digits (`id:42`)",
                limits::shown(raw, limits::MAX_SHOWN)
            ),
        )
    }

    /// 503 for a database that is down, unreachable or out of room (nothing was applied): try
    /// again in a few seconds. The cause is logged, not sent.
    pub(crate) fn database_unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "the database is unavailable");
        ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "the database is unavailable (down, unreachable or out of room), so nothing was done; try again \
             in a few seconds",
        )
        .header(header::RETRY_AFTER, "5")
    }

    /// 500 for a failure the client cannot act on; the cause is logged, not sent.
    pub(crate) fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %crate::logging::clean(&cause.to_string()), "internal error");
        ApiError::new(ErrorCode::Internal, "the service failed to answer; the error is in its log")
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let mut e = ApiError::new(r.code.into(), r.message);
        if let Some(status) = r.status {
            e = e.with("status", status);
            // A lock refuses every event: listing the status's events would mislead.
            if r.code != RejectionCode::Locked {
                e = e.with("allowed_events", r.allowed_events);
            }
        }
        if !r.candidates.is_empty() {
            e = e.with("candidates", r.candidates);
        }
        if !r.problems.is_empty() {
            e = e.with_problems(r.problems);
        }
        e
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Rejected(r) => r.into(),
            ServiceError::NotFound(key) => ApiError::no_order(&key),
            ServiceError::CustomerNotFound(id) => {
                ApiError::new(ErrorCode::CustomerNotFound, format!("no customer has id {id}"))
            }
            ServiceError::Workflow(message) => ApiError::new(ErrorCode::WorkflowUnavailable, message),
            ServiceError::Busy(..) => {
                ApiError::new(ErrorCode::Busy, e.to_string()).header(header::RETRY_AFTER, "1")
            }
            ServiceError::OutcomeUnknown(_) => {
                tracing::error!(error = %crate::logging::clean(&e.to_string()), "a commit's outcome is unknown");
                ApiError::new(
                    ErrorCode::OutcomeUnknown,
                    "the database did not confirm the commit, so this change may or may not be stored: \
                     send the same request again with the same idempotency key (a stored change is \
                     answered as it was, a lost one is applied); without a key, read the order first",
                )
                .header(header::RETRY_AFTER, "1")
            }
            ServiceError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                ApiError::new(ErrorCode::Busy, "the database is busy with other writes; try again")
                    .header(header::RETRY_AFTER, "1")
            }
            e if e.is_unavailable() => ApiError::database_unavailable(&e),
            other => ApiError::internal(&other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::new(ErrorCode::BadJson, format!("the body is not valid JSON: {}", json_text(&e)))
            }
            JsonRejection::JsonDataError(e) => {
                ApiError::new(ErrorCode::InvalidBody, format!("the body does not fit: {}", source_text(&e)))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON, with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorCode::BodyTooLarge,
                "the body is larger than the service accepts (`body_limit` in orderly.toml)",
            ),
            other => ApiError::new(ErrorCode::BadBody, other.body_text()),
        }
    }
}

/// serde_json's own message (what and where: line and column), without the path of the field
/// it was reading, which means nothing when the text is not JSON at all.
fn json_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(json) = err.downcast_ref::<serde_json::Error>() {
            return json.to_string();
        }
        if let Some(wrapped) = err.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            return wrapped.inner().to_string();
        }
        cur = err.source();
    }
    source_text(e)
}

/// The innermost error's text: serde's own message, with the path and position.
fn source_text(e: &dyn std::error::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(ErrorCode::BadPath, format!("the path does not fit: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(ErrorCode::BadQuery, format!("the query string does not fit: {}", source_text(&r)))
    }
}

impl ApiError {
    /// The body: `{"error": code, "message": text, ...details}`.
    pub(crate) fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.as_str().into()));
        body.insert("message".into(), Value::String(self.message.clone()));
        for (k, v) in &self.details {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), axum::Json(self.body())).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON body whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct Body<T>(pub T);

/// A path whose rejections are [`ApiError`]s.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct PathArgs<T>(pub T);

/// A query string whose rejections are [`ApiError`]s.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct QueryArgs<T>(pub T);

/// The answer to a panic in a handler (tower-http's `CatchPanic`): logged, then a 500.
pub(crate) fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic".into());
    tracing::error!(panic = %crate::logging::clean(&detail), "a request handler panicked; the service goes on");
    ApiError::new(ErrorCode::Internal, "the service failed to answer; the error is in its log")
        .into_response()
}

/// 405 for a route that exists without this method.
pub(crate) async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("`{}` does not take {method}; see /v1/openapi.json", uri.path()),
    )
}

/// 404 for a path no route has.
pub(crate) async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NoRoute, format!("no route `{}`; see /v1/openapi.json", uri.path()))
}
