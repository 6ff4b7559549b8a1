//! The OpenAPI document: what the handlers' annotations say, plus the answers every route of a
//! kind can give, added here in one place so no route forgets one: `bad_path` where a path has
//! parameters, `bad_query` where it has a query, `bad_json` / `body_too_large` /
//! `unsupported_media_type` / `invalid_body` where it takes a JSON body, 401 / 403 where it needs
//! a token, `busy` where it writes to the database; `bad_request`, `uri_too_long`,
//! `headers_too_large` (a head the service cannot read, answered before any route) and
//! `internal` everywhere. [`for_service`] gives
//! the document a running service serves: without tokens its routes are open, and the document
//! says so rather than promising a 401 that never comes.

use super::error::ErrorBody;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi as _};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "orderly",
        description = "Order workflows: create orders from channels, move them with events, lock them, \
                       track them. Errors are `{\"error\": code, \"message\": text, ...details}`: \
                       `ErrorBody` lists every code."
    ),
    components(schemas(ErrorBody, super::error::ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "orders", description = "Orders: create, view, list"),
        (name = "events", description = "Events that move orders along their workflow"),
        (name = "locks", description = "Leases that keep other actors off an order"),
        (name = "fulfillment", description = "Fulfillment actions recorded on orders"),
        (name = "customers", description = "Customers: find, create, link to an order, merge"),
        (name = "tracking", description = "The customer's view, without a token"),
        (name = "workflows", description = "Active workflows, reloads, pictures"),
        (name = "outbox", description = "Messages for other systems (webhooks, emails) and their delivery"),
        (name = "operations", description = "Health and metrics")
    )
)]
pub(super) struct ApiDoc;

/// The start of the document, before the routes' own parts are added.
pub(super) fn base() -> OpenApi {
    ApiDoc::openapi()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The operations that never touch the database (so never answer `busy`).
const NO_STORE: &[&str] = &["list_workflows", "get_workflow", "workflow_graph", "healthz"];

/// Adds the answers common to a kind of route (see the module's docs) to every route of the
/// finished document. An answer a route documents itself is kept as it is.
pub(super) fn standard(mut openapi: OpenApi) -> OpenApi {
    for item in openapi.paths.paths.values_mut() {
        for op in operations_mut(item) {
            standard_answers(op);
        }
    }
    openapi
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// An error answer with `ErrorBody`, unless the operation documents this status itself.
fn add_error(op: &mut Operation, status: &str, description: &str, header: Option<(&str, &str)>) {
    if op.responses.responses.contains_key(status) {
        return;
    }
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
    );
    if let Some((name, text)) = header {
        response = response.header(
            name,
            HeaderBuilder::new()
                .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String))
                .description(Some(text))
                .build(),
        );
    }
    op.responses.responses.insert(status.to_string(), RefOr::T(response.build()));
}

fn standard_answers(op: &mut Operation) {
    let has = |at: ParameterIn| op.parameters.iter().flatten().any(|p| p.parameter_in == at);
    let (path, query) = (has(ParameterIn::Path), has(ParameterIn::Query));
    if path {
        add_error(op, "400", "`bad_path`: a path part does not fit its type", None);
    }
    if query {
        add_error(op, "400", "`bad_query`: a query parameter does not fit (its type, an unknown name)", None);
    }
    let json_body =
        op.request_body.as_ref().is_some_and(|b: &RequestBody| b.required == Some(Required::True));
    if json_body {
        add_error(op, "400", "`bad_json`: the body is not JSON (the message has line and column)", None);
        add_error(op, "413", "`body_too_large`: the body is over `body_limit`", None);
        add_error(
            op,
            "415",
            "`unsupported_media_type`: the body is not sent as `Content-Type: application/json`",
            None,
        );
        add_error(
            op,
            "422",
            "`invalid_body`: the JSON does not fit (a wrong type, an unknown or missing field)",
            None,
        );
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add_error(
            op,
            "401",
            "`unauthorized`: no token, or not a valid one",
            Some(("WWW-Authenticate", "`Bearer realm=\"orderly\"`")),
        );
        add_error(
            op,
            "403",
            "`forbidden`: the token lacks the scope this route needs (`required_scope`)",
            None,
        );
    }
    if !op.operation_id.as_deref().is_some_and(|id| NO_STORE.contains(&id)) {
        add_error(
            op,
            "503",
            "`busy`: the database is busy with other writes, or the order kept changing; try again. \
             `database_unavailable`: the database is down, unreachable or out of room, and nothing \
             was done; try again after `Retry-After`. `outcome_unknown` (a write): the database did \
             not confirm the commit; send the same request again with the same idempotency key",
            Some(("Retry-After", "Seconds to wait before trying again")),
        );
    }
    // Answers about the request's head, which every route can give before it is reached.
    const NOT_HTTP: &str =
        "`bad_request`: the request is not HTTP the service can read (a malformed request line or header)";
    match op.responses.responses.get_mut("400") {
        Some(RefOr::T(r)) => r.description = format!("{}. {NOT_HTTP}", r.description),
        _ => add_error(op, "400", NOT_HTTP, None),
    }
    add_error(op, "414", "`uri_too_long`: the path and query are over 65534 bytes", None);
    add_error(
        op,
        "431",
        "`headers_too_large`: the headers are over `max_header_size` (128 KiB by default), or more than 100",
        None,
    );
    add_error(op, "500", "`internal`: a failure on the service's side; the details are in its log", None);
}

/// The document as JSON. utoipa 5 writes a link's keys as Rust names (`operation_id`); OpenAPI
/// spells them `operationId`, `operationRef`, `requestBody`.
pub(super) fn to_json(doc: &OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(doc).unwrap_or_default();
    let responses = json
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(serde_json::Value::as_object_mut))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let links = response.get_mut("links").and_then(serde_json::Value::as_object_mut);
        for link in
            links.into_iter().flat_map(|l| l.values_mut()).filter_map(serde_json::Value::as_object_mut)
        {
            for (rust, spec) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(rust) {
                    link.insert(spec.to_string(), v);
                }
            }
        }
    }
    json
}

/// The document a service serves: with tokens, as [`super::openapi`] gives it; without, every
/// route is open (the service then listens on loopback only), so no route asks for a token and
/// none answers 401 or 403.
pub(super) fn for_service(mut doc: OpenApi, has_tokens: bool) -> OpenApi {
    if has_tokens {
        return doc;
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            op.security = None;
            op.responses.responses.remove("401");
            op.responses.responses.remove("403");
        }
    }
    if let Some(c) = doc.components.as_mut() {
        c.security_schemes.clear();
        // No token name stands in for a lock's holder: the request names one.
        for name in ["LockRequest", "UnlockRequest"] {
            if let Some(RefOr::T(Schema::Object(o))) = c.schemas.get_mut(name) {
                o.required.push("holder".into());
                if let Some(RefOr::T(Schema::Object(holder))) = o.properties.get_mut("holder") {
                    holder.schema_type = SchemaType::Type(Type::String);
                    holder.pattern = Some(r"[^ \t\n\r]".into());
                    holder.description = Some(
                        "Who holds the lock: not blank (something besides spaces, tabs and line breaks)"
                            .into(),
                    );
                }
            }
        }
    }
    if let Some(op) = doc.paths.paths.get_mut("/v1/orders/{id}/lock").and_then(|p| p.delete.as_mut()) {
        if let Some(body) = op.request_body.as_mut() {
            body.required = Some(Required::True);
            body.description = Some("`{\"holder\": ...}`: who releases the lock".into());
            for content in body.content.values_mut() {
                content.schema = Some(RefOr::Ref(Ref::from_schema_name("UnlockRequest")));
            }
        }
    }
    let note = "\n\nThis service has no tokens: every route is open to callers on its loopback address.";
    doc.info.description = Some(format!("{}{note}", doc.info.description.unwrap_or_default()));
    doc
}
