//! The v1 HTTP API without a socket (`app(state).oneshot(request)`), on SQLite and PostgreSQL:
//! the retail walk from a website order paid by check to Shipped, refusals that explain
//! themselves, bad input that changes nothing, locks, tokens and scopes, the tracking page,
//! the order grid, workflows, health, metrics and the OpenAPI document.

use crate::support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use orderly::config::Config;
use orderly::http::{app, AppState};
use orderly::metrics::Metrics;
use orderly::registry::Registry;
use orderly::reload::Reloader;
use orderly::service::{Service, SystemClock};
use orderly::store::Store;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const READER: &str = "reader-secret-0123456789";
const WRITER: &str = "writer-secret-0123456789";
const PAYMENTS: &str = "payments-secret-012345678";
const ADMIN: &str = "admin-secret-0123456789ab";
const TILL: &str = "till-secret-0123456789abc";

fn config(with_tokens: bool, extra: &str) -> Config {
    let tokens = if with_tokens {
        format!(
            r#"
[[tokens]]
name = "reader"
secret = "{READER}"
scopes = ["orders:read", "workflows:read"]

[[tokens]]
name = "shop"
secret = "{WRITER}"
scopes = ["orders:read", "orders:write", "events:write"]

[[tokens]]
name = "gateway"
secret = "{PAYMENTS}"
scopes = ["events:write"]
events = ["payment_received"]

[[tokens]]
name = "ops"
secret = "{ADMIN}"
scopes = ["admin"]

[[tokens]]
name = "till-1"
secret = "{TILL}"
scopes = ["orders:read", "orders:write", "events:write"]
acts_for = ["alice", "bob"]
"#
        )
    } else {
        String::new()
    };
    Config::from_toml(&format!("{extra}\n{tokens}"), Path::new("orderly.toml"), |_| None)
        .expect("test config")
}

struct Api {
    app: Router,
    service: Arc<Service>,
    token: Option<&'static str>,
}

impl Api {
    async fn new(store: Store, config: Config) -> Api {
        Self::in_dir(store, config, Path::new("workflows")).await
    }

    async fn in_dir(store: Store, config: Config, dir: &Path) -> Api {
        let registry = Registry::load(dir, &store).await.expect("workflows load");
        let service = Arc::new(Service::serving(store, registry, Arc::new(SystemClock)));
        let reloader = Arc::new(Reloader::new(service.clone(), dir.to_path_buf()));
        let state = AppState::new(service.clone(), config, Arc::new(Metrics::new()), Some(reloader));
        Api { app: app(state), service, token: None }
    }

    fn as_token(&mut self, token: Option<&'static str>) -> &mut Self {
        self.token = token;
        self
    }

    async fn raw(
        &self,
        method: Method,
        uri: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, String, axum::http::HeaderMap) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let res = self.app.clone().oneshot(req).await.expect("the router answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024).await.expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned(), headers)
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, text, _) = self.raw(method, uri, body.map(|b| b.to_string().into_bytes())).await;
        let value = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        if !value.is_string() {
            if let Err(e) = serde_json::from_str::<NoKeyTwice>(&text) {
                panic!("{uri} answered an object with a key twice ({e}): {text}");
            }
        }
        (status, value)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, None).await
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(body)).await
    }

    async fn event(&self, order: &str, event: &str, data: Value) -> (StatusCode, Value) {
        // With a token, the token is the actor; without, the request names one.
        let mut body = json!({"event": event, "data": data});
        if self.token.is_none() {
            body["actor"] = json!("clerk");
        }
        self.post(&format!("/v1/orders/{order}/events"), body).await
    }

    /// Everything stored about an order, to show that a refusal changed nothing.
    async fn stored(&self, number: &str) -> String {
        let o = self.service.order(number).await.expect("order");
        let h = self.service.store().history(o.id).await.expect("history");
        let t = self.service.store().timers(o.id).await.expect("timers");
        let m = self.service.store().outbox(Some(o.id)).await.expect("outbox");
        format!("{}\n{h:?}\n{t:?}\n{m:?}", serde_json::to_string(&o).expect("json"))
    }
}

/// JSON read refusing an object that holds a key twice (serde_json keeps the last one
/// silently). Every JSON answer in these tests goes through it.
struct NoKeyTwice;

impl<'de> serde::Deserialize<'de> for NoKeyTwice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoKeyTwice)
    }
}

impl<'de> serde::de::Visitor<'de> for NoKeyTwice {
    type Value = NoKeyTwice;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoKeyTwice>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("`{key}` twice")));
            }
            map.next_value::<NoKeyTwice>()?;
        }
        Ok(self)
    }
}

#[test]
fn a_key_twice_is_caught() {
    assert!(serde_json::from_str::<NoKeyTwice>(r#"{"a": [1, {"b": 2, "c": "x"}], "d": null}"#).is_ok());
    assert!(serde_json::from_str::<NoKeyTwice>(r#"{"a": 1, "b": {"c": 1, "c": [2]}}"#).is_err());
}

/// A website order paid by check, for a customer of their own (a shared name would flag the
/// order `possible_duplicate`).
fn website_check_order(email: &str) -> Value {
    let last = email.split('@').next().unwrap_or("Lee");
    json!({
        "channel": "website",
        "customer": {"email": email, "first_name": "Ann", "last_name": last},
        "shipping_address": {"first_name": "Ann", "last_name": last, "address": "12 Elm St", "city": "Albany", "state": "NY", "zip": "12207"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [
            {"sku": "STAND-3", "description": "Guitar stand", "qty": 2, "unit_price": "25.00", "fulfillment": "stock", "in_stock": true},
            {"sku": "GTR-1", "description": "Acoustic guitar", "qty": 1, "unit_price": "499.00", "fulfillment": "stock", "in_stock": true}
        ]
    })
}

fn number(order: &Value) -> String {
    order["number"].as_str().expect("an order number").to_string()
}

#[tokio::test]
async fn a_website_check_order_walks_to_shipped_and_refuses_a_void() {
    support::on_both("a_website_check_order_walks_to_shipped_and_refuses_a_void", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let (status, order) = api.post("/v1/orders", website_check_order("ann@example.com")).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        assert_eq!(order["workflow"], "retail", "shared channels go to the default workflow: {order}");
        assert_eq!(order["status"], json!({"code": "awaiting_payment", "label": "Awaiting Payment", "phase": "payment_processing"}));
        assert_eq!(order["balance_due"], "549.00");
        let allowed: Vec<&str> = order["allowed_events"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
        assert!(allowed.contains(&"payment_received") && allowed.contains(&"void"), "{allowed:?}");
        let n = number(&order);

        let (status, r) = api
            .event(&n, "payment_received", json!({"amount": "549.00", "outcome": "approved", "method": "check", "reference": "check #1042"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["order"]["status"]["code"], "ready_to_process");
        assert_eq!(r["transitions"][0]["from"], "awaiting_payment");
        assert_eq!(r["transitions"][0]["to"], "ready_to_process");

        let (status, r) = api.event(&n, "payment_confirmed", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["order"]["status"]["code"], "in_shipping", "{r}");
        let (status, r) = api.event(&n, "picked", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        let (status, r) = api
            .event(&n, "shipment", json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "lines": [{"sku": "STAND-3", "qty": 2}, {"sku": "GTR-1", "qty": 1}]}))
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["order"]["status"], json!({"code": "shipped", "label": "Shipped", "phase": "pick_pack_and_ship"}), "{r}");

        let before = api.stored(&n).await;
        let (status, err) = api.event(&n, "void", json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        assert_eq!(err["error"], "no_transition");
        assert_eq!(err["status"], "shipped");
        assert!(err["allowed_events"].is_array(), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("void"), "{err}");
        assert_eq!(api.stored(&n).await, before, "a refused event changes nothing");

        let (status, view) = api.get(&format!("/v1/orders/{n}")).await;
        assert_eq!(status, StatusCode::OK);
        let history = view["history"].as_array().expect("history");
        assert!(history.len() >= 5, "{view}");
        assert!(history.iter().all(|h| h["workflow_version"].as_i64() == Some(1)), "{view}");
        // The same order by id, written `id:N`.
        let (status, by_id) = api.get(&format!("/v1/orders/id:{}", view["id"])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(by_id["number"], view["number"]);
    })
    .await;
}

/// An order is named by its number exactly as given, or by its id written `id:N`; never one
/// read as the other. An order numbered like another order's id is the one every route reaches
/// by that number: GET, events, fulfillment actions, lock and unlock, tracking, the outbox
/// filter (issue 11, item 7).
#[tokio::test]
async fn every_route_reaches_the_order_the_client_named() {
    support::on_both("every_route_reaches_the_order_the_client_named", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let (_, first) = api.post("/v1/orders", website_check_order("first@example.com")).await;
        let (_, second) = api.post("/v1/orders", website_check_order("second@example.com")).await;
        let (i1, i2) = (first["id"].as_i64().expect("id"), second["id"].as_i64().expect("id"));
        // A fulfillment order numbered like the first order's id; a retail one numbered `+i2`.
        let mut shadow = json!({
            "channel": "website", "workflow": "fulfillment", "number": i1.to_string(),
            "customer": {"email": "shadow@example.com", "first_name": "Sam", "last_name": "Shadow"},
            "payment": {"method": "credit_card", "outcome": "approved"},
            "lines": [{"sku": "A", "qty": 1, "unit_price": "10.00"}]
        });
        let (status, shadow_view) = api.post("/v1/orders", shadow.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{shadow_view}");
        assert_eq!(shadow_view["number"], i1.to_string());
        let mut plus = website_check_order("plus@example.com");
        plus["number"] = json!(format!("+{i2}"));
        let (status, plus_view) = api.post("/v1/orders", plus).await;
        assert_eq!(status, StatusCode::CREATED, "{plus_view}");
        let first_before = api.stored(&number(&first)).await;
        let second_before = api.stored(&number(&second)).await;

        // GET: digits are a number; `id:N` is an id; a sign is part of a number.
        let (status, got) = api.get(&format!("/v1/orders/{i1}")).await;
        assert_eq!((status, &got["id"]), (StatusCode::OK, &shadow_view["id"]), "{got}");
        let (_, got) = api.get(&format!("/v1/orders/id:{i1}")).await;
        assert_eq!(got["id"], first["id"], "{got}");
        let (_, got) = api.get(&format!("/v1/orders/+{i2}")).await;
        assert_eq!(got["id"], plus_view["id"], "{got}");
        let (status, err) = api.get(&format!("/v1/orders/{i2}")).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains(&format!("`id:{i2}`")), "a hint: {err}");
        // Exactly as written: no trimming, no leading zero read away, no other spelling of an id.
        for raw in [
            format!("%20{i1}"),
            format!("0{i1}"),
            format!("id:%20{i1}"),
            format!("id:+{i1}"),
            "id:".into(),
            "id:x".into(),
            format!("ID:{i1}"),
        ] {
            let (status, err) = api.get(&format!("/v1/orders/{raw}")).await;
            assert_eq!(
                (status, err["error"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{raw}: {err}"
            );
        }

        // Events: `void` by the number `i1` reaches the fulfillment order (which has no `void`),
        // never the first order; `void` by `+i2` voids the order numbered so.
        let (status, err) = api.event(&i1.to_string(), "void", json!({})).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_event")),
            "{err}"
        );
        let (status, r) = api.event(&format!("+{i2}"), "void", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(
            (&r["order"]["id"], &r["order"]["status"]["code"]),
            (&plus_view["id"], &json!("voided")),
            "{r}"
        );
        let (status, r) = api
            .event(&format!("id:{i1}"), "card_declined", json!({"outcome": "declined", "amount": "549.00"}))
            .await;
        assert_eq!((status, &r["order"]["id"]), (StatusCode::OK, &first["id"]), "{r}");
        let after = api.stored(&number(&first)).await;
        assert_ne!(after, first_before, "the event by id reached the first order");
        let first_before = after;

        // Fulfillment actions (the first order's retail workflow has none).
        let (status, r) =
            api.post(&format!("/v1/orders/{i1}/fulfillment-actions"), json!({"name": "Picked"})).await;
        assert_eq!((status, &r["id"]), (StatusCode::CREATED, &shadow_view["id"]), "{r}");
        let (status, r) = api
            .call(
                Method::PATCH,
                &format!("/v1/orders/{i1}/fulfillment-actions/1"),
                Some(json!({"complete": false})),
            )
            .await;
        assert_eq!((status, &r["id"]), (StatusCode::OK, &shadow_view["id"]), "{r}");
        // Lock and unlock.
        let (status, r) = api.post(&format!("/v1/orders/{i1}/lock"), json!({"holder": "alice"})).await;
        assert_eq!(
            (status, &r["id"], &r["lock"]["holder"]),
            (StatusCode::OK, &shadow_view["id"], &json!("alice")),
            "{r}"
        );
        let (status, r) = api
            .call(Method::DELETE, &format!("/v1/orders/{i1}/lock"), Some(json!({"holder": "alice"})))
            .await;
        assert_eq!((status, &r["id"]), (StatusCode::OK, &shadow_view["id"]), "{r}");
        let (status, r) =
            api.post(&format!("/v1/orders/id:{i2}/lock"), json!({"holder": "bob", "ttl_seconds": 60})).await;
        assert_eq!((status, &r["id"]), (StatusCode::OK, &second["id"]), "{r}");
        let (status, r) = api
            .call(Method::DELETE, &format!("/v1/orders/id:{i2}/lock"), Some(json!({"holder": "bob"})))
            .await;
        assert_eq!((status, &r["id"]), (StatusCode::OK, &second["id"]), "{r}");
        let after = api.stored(&number(&second)).await;
        assert_ne!(after, second_before, "the lock by id reached the second order");
        let second_before = after;
        // Tracking is by number only (ids are guessable).
        let (status, r) = api.get(&format!("/v1/track/{i1}?email=shadow@example.com")).await;
        assert_eq!((status, &r["number"]), (StatusCode::OK, &json!(i1.to_string())), "{r}");
        let (status, _) = api.get(&format!("/v1/track/id:{i1}?email=first@example.com")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The outbox filter names orders the same way.
        let (status, page) = api.get(&format!("/v1/outbox?order={i1}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page["messages"].as_array().expect("messages").iter().all(|m| m["order_id"] == shadow_view["id"]),
            "{page}"
        );
        let (status, page) = api.get(&format!("/v1/outbox?order=id:{i1}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page["messages"].as_array().expect("messages").iter().all(|m| m["order_id"] == first["id"]),
            "{page}"
        );
        let (status, _) = api.get("/v1/outbox?order=id:nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Nothing reached the first two orders but what named them by id.
        assert_eq!(api.stored(&number(&first)).await, first_before);
        assert_eq!(api.stored(&number(&second)).await, second_before);

        // A number that starts with `id:` (any case) is refused, and so is one of the store's
        // own form (`ORD` and digits), which would take the number of an order not yet made;
        // nothing is stored.
        let count = api.service.store().count_orders().await.expect("count");
        for taken in
            [format!("id:{i1}"), "ID:7".into(), "Id:".into(), format!("ORD{:06}", i2 + 5), "ord12".into()]
        {
            shadow["number"] = json!(taken);
            let (status, err) = api.post("/v1/orders", shadow.clone()).await;
            assert_eq!(
                (status, err["error"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_order")),
                "{taken}: {err}"
            );
            assert_eq!(err["problems"][0]["field"], "number", "{err}");
        }
        assert_eq!(api.service.store().count_orders().await.expect("count"), count);
    })
    .await;
}

#[tokio::test]
async fn refusals_say_what_was_wrong_and_change_nothing() {
    support::on_both("refusals_say_what_was_wrong_and_change_nothing", |store| async move {
        let api = Api::new(store, config(false, "body_limit = 4096")).await;
        // Missing fields: every one listed.
        let (status, err) = api
            .post("/v1/orders", json!({"channel": "website", "workflow": "repair_store", "lines": [{"sku": "A", "qty": 1, "unit_price": "1"}]}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"], "invalid_order", "{err}");
        assert_eq!(err["problems"].as_array().map(Vec::len), Some(7), "every missing field is listed: {err}");
        assert!(!err["problems"].as_array().expect("problems").is_empty(), "{err}");
        // Unknown channel.
        let (status, err) = api.post("/v1/orders", json!({"channel": "fax"})).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_channel")), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("fax"), "{err}");
        // A workflow that is not active.
        let (status, err) = api.post("/v1/orders", json!({"channel": "website", "workflow": "retial"})).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("workflow_unavailable")),
            "{err}"
        );
        assert!(err["message"].as_str().unwrap_or_default().contains("retial"), "{err}");
        // Malformed JSON: 400, with where.
        let (status, text, _) = api.raw(Method::POST, "/v1/orders", Some(b"{\"channel\": ".to_vec())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        let err: Value = serde_json::from_str(&text).expect("a JSON error");
        assert_eq!(err["error"], "bad_json");
        assert!(err["message"].as_str().unwrap_or_default().contains("line 1"), "{err}");
        assert!(!err["message"].as_str().unwrap_or_default().contains("channel:"), "no field path for broken JSON: {err}");
        // Wrong type, and an unknown field: 422 naming the field.
        let (status, err) = api.post("/v1/orders", json!({"channel": 7})).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")), "{err}");
        let (status, err) = api.post("/v1/orders", json!({"channel": "website", "custmer": {}})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("custmer"), "{err}");
        // Over the body limit: 413.
        let big = json!({"channel": "website", "attributes": {"x": "y".repeat(5000)}});
        let (status, err) = api.post("/v1/orders", big).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")), "{err}");
        // Not JSON at all.
        let (status, text, _) = api.raw(Method::POST, "/v1/orders", None).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
        assert_eq!(api.service.store().count_orders().await.expect("count"), 0, "nothing was created");

        let (_, order) = api.post("/v1/orders", website_check_order("bob@example.com")).await;
        let n = number(&order);
        let before = api.stored(&n).await;
        // Unknown order, unknown event, event data missing a declared field, wrong type.
        let (status, err) = api.event("ORD999999", "void", json!({})).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{err}");
        let (status, err) = api.event(&n, "payment_recieved", json!({})).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_event")), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("payment_received"), "did-you-mean: {err}");
        let (status, err) = api.event(&n, "payment_received", json!({"amount": "10.00"})).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_data")), "{err}");
        assert!(err["problems"].to_string().contains("outcome"), "{err}");
        let (status, err) = api.event(&n, "payment_received", json!({"amount": "lots", "outcome": "approved"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        let (status, err) = api.post(&format!("/v1/orders/{n}/events"), json!({"event": "void", "colour": "red"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        // Path parts that are not what they should be.
        let (status, err) = api.call(Method::PATCH, &format!("/v1/orders/{n}/fulfillment-actions/first"), Some(json!({}))).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_path")), "{err}");
        let (status, err) = api.get("/v1/nothing/here").await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("no_route")), "{err}");
        let (status, err) = api.call(Method::DELETE, "/v1/workflows", None).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")), "{err}");
        let (status, err) = api.get("/v1/orders?limit=0").await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_query")), "{err}");
        let (status, err) = api.get("/v1/orders?phase=paymnt_processing").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("payment_processing"), "did-you-mean: {err}");
        assert_eq!(api.stored(&n).await, before, "no bad input changed the order");
    })
    .await;
}

/// The fields of an error's `problems`.
fn problem_fields(err: &Value) -> Vec<String> {
    err["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["field"].as_str().map(str::to_string))
        .collect()
}

/// Money and quantities past the limits (whole quantities 1 to 10^9; amounts, and every total,
/// at most 999999999999.9999 with 4 decimals; 1000 lines) are refused 422 naming the field,
/// never a panic, and nothing is stored. The issue's examples, each (issue 11, item 8).
#[tokio::test]
async fn money_and_quantities_past_the_limits_are_refused_naming_the_field() {
    support::on_both("money_and_quantities_past_the_limits_are_refused_naming_the_field", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let line = |qty: Value, price: Value| json!({"sku": "GTR-1", "qty": qty, "unit_price": price, "in_stock": true});
        let order = |lines: Vec<Value>| {
            let mut o = website_check_order("limits@example.com");
            o["lines"] = json!(lines);
            o
        };
        const HUGE: &str = "79228162514264337593543950335";
        let refused = [
            // qty 1e14 × unit_price 1e15
            (order(vec![line(json!(100_000_000_000_000_u64), json!(1e15))]), vec!["lines[0].qty", "lines[0].unit_price"]),
            // Both within their own bounds, their product past the largest amount.
            (order(vec![line(json!(1_000_000_000), json!("999999999999"))]), vec!["lines[0]"]),
            // Two lines of 5e28.
            (order(vec![line(json!(1), json!("50000000000000000000000000000")), line(json!(1), json!("50000000000000000000000000000"))]), vec!["lines[0].unit_price", "lines[1].unit_price"]),
            // Two lines whose sum is past the largest amount.
            (order(vec![line(json!(1), json!("600000000000")), line(json!(1), json!("600000000000"))]), vec!["lines"]),
            // Fractions of a unit, money past 4 decimals, a stock past the limit.
            (order(vec![line(json!(1.5), json!("10")), line(json!("0.5"), json!("1.00001"))]), vec!["lines[0].qty", "lines[1].qty", "lines[1].unit_price"]),
            (order(vec![json!({"sku": "A", "qty": 1, "unit_price": "1", "in_stock_qty": 1e12})]), vec!["lines[0].in_stock_qty"]),
            // More than 1000 lines.
            (order((0..1001).map(|_| line(json!(1), json!("1"))).collect()), vec!["lines"]),
        ];
        for (body, fields) in refused {
            let (status, err) = api.post("/v1/orders", body).await;
            assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_order")), "{err}");
            assert_eq!(problem_fields(&err), fields, "{err}");
        }
        // A payment amount of Decimal::MAX.
        let mut paid = order(vec![line(json!(1), json!("10"))]);
        paid["payment"] = json!({"method": "check", "outcome": "pending", "amount": HUGE});
        let (status, err) = api.post("/v1/orders", paid).await;
        assert_eq!((status, problem_fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["payment.amount".to_string()]), "{err}");
        assert_eq!(api.service.store().count_orders().await.expect("count"), 0, "nothing was stored");

        // A whole quantity written with a point is read as the whole number it is.
        let (status, o) = api.post("/v1/orders", order(vec![line(json!(1.0), json!("549.00")), line(json!("2.0"), json!("0.5"))])).await;
        assert_eq!(status, StatusCode::CREATED, "{o}");
        assert_eq!((&o["lines"][0]["qty"], &o["lines"][1]["qty"]), (&json!("1"), &json!("2")), "{o}");
        let n = number(&o);

        // Events: amounts of Decimal::MAX, a shipment naming one line twice with huge
        // quantities, a fraction of a unit. Each 422 naming the field; nothing stored.
        let before = api.stored(&n).await;
        let tries = [
            ("payment_received", json!({"amount": HUGE, "outcome": "approved"}), vec!["data.amount"]),
            ("payment_received", json!({"amount": 79228162514264337593543950335.0_f64, "outcome": "approved"}), vec!["data.amount"]),
            ("shipment", json!({"carrier": "UPS", "tracking_number": "1Z", "amount": HUGE}), vec!["data.amount"]),
            ("shipment", json!({"carrier": "UPS", "tracking_number": "1Z", "lines": [{"sku": "GTR-1", "qty": "50000000000000000000000000000"}, {"sku": "GTR-1", "qty": "50000000000000000000000000000"}]}), vec!["data.lines[0].qty", "data.lines[1].qty"]),
            ("shipment", json!({"carrier": "UPS", "tracking_number": "1Z", "lines": [{"line": 1, "qty": 0.5}]}), vec!["data.lines[0].qty"]),
        ];
        for (event, data, fields) in tries {
            let (status, err) = api.event(&n, event, data).await;
            assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_data")), "{event}: {err}");
            assert_eq!(problem_fields(&err), fields, "{err}");
        }
        // One line twice, each within the limit: more than was ordered, said so.
        let (status, err) = api
            .event(&n, "shipment", json!({"carrier": "UPS", "tracking_number": "1Z", "lines": [{"line": 1, "qty": 1_000_000_000}, {"line": 1, "qty": 1_000_000_000}]}))
            .await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::CONFLICT, Some("over_shipment")), "{err}");
        assert_eq!(api.stored(&n).await, before, "no refused event changed the order");
        // What was paid stays an amount: the largest amount, then one more cent.
        let (status, r) = api.event(&n, "payment_received", json!({"amount": "999999999999.9999", "outcome": "approved"})).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        let before = api.stored(&n).await;
        let (status, err) = api.event(&n, "payment_received", json!({"amount": "0.01", "outcome": "approved"})).await;
        assert_eq!((status, problem_fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["data.amount".to_string()]), "{err}");
        assert_eq!(api.stored(&n).await, before);
    })
    .await;
}

/// What a request can make the service store or send back is bounded: a 1 MB idempotency key is
/// refused and not stored; free-text fields past their lengths are refused naming them; a body
/// with thousands of problems is answered with the first 50 and their count, in a few KB
/// (issue 11, item 12).
#[tokio::test]
async fn a_request_cannot_make_the_service_store_or_send_back_without_bound() {
    support::on_both("a_request_cannot_make_the_service_store_or_send_back_without_bound", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let (_, order) = api.post("/v1/orders", website_check_order("bounds@example.com")).await;
        let n = number(&order);
        let events = format!("/v1/orders/{n}/events");
        let before = api.stored(&n).await;

        // A 1 MB idempotency key: refused, small answer, nothing stored (nor the key).
        let declined = json!({"outcome": "declined", "amount": "549.00"});
        let body = json!({"event": "card_declined", "data": declined, "actor": "clerk", "idempotency_key": "k".repeat(1_000_000)});
        let (status, text, _) = api.raw(Method::POST, &events, Some(body.to_string().into_bytes())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{}", &text[..text.len().min(500)]);
        assert!(text.len() < 2048, "{} bytes: {}", text.len(), &text[..text.len().min(500)]);
        let err: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(err["error"], "invalid_body");
        assert_eq!(problem_fields(&err), ["idempotency_key"], "{err}");
        assert_eq!(api.stored(&n).await, before, "nothing stored");
        // The header too; 200 characters is the most.
        let mut req = Request::builder().method(Method::POST).uri(&events).header(header::CONTENT_TYPE, "application/json");
        req = req.header("idempotency-key", "h".repeat(201));
        let res = api.app.clone().oneshot(req.body(Body::from(json!({"event": "card_declined", "data": declined, "actor": "clerk"}).to_string())).expect("request")).await.expect("answer");
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let err: Value = serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body")).expect("JSON");
        assert_eq!(problem_fields(&err), ["Idempotency-Key"], "{err}");
        assert_eq!(api.stored(&n).await, before, "nothing stored");
        let ok = json!({"event": "card_declined", "data": declined, "actor": "clerk", "idempotency_key": "k".repeat(200)});
        assert_eq!(api.post(&events, ok).await.0, StatusCode::OK, "200 characters are kept");

        // Free text past its length, each named.
        let mut long = website_check_order("long@example.com");
        long["customer"]["first_name"] = json!("A".repeat(201));
        long["lines"][0]["description"] = json!("d".repeat(2001));
        long["number"] = json!("N".repeat(65));
        long["actor"] = json!("a".repeat(201));
        let (status, err) = api.post("/v1/orders", long).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(problem_fields(&err), ["number", "actor", "customer.first_name", "lines[0].description"], "{err}");
        let (status, err) = api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "h".repeat(201)})).await;
        assert_eq!((status, problem_fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["holder".to_string()]), "{err}");
        let (status, err) = api.post(&events, json!({"event": "void", "actor": "a".repeat(201)})).await;
        assert_eq!((status, problem_fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["actor".to_string()]), "{err}");
        // Nothing rides along in a shipment's lines (the request is kept with its idempotency key).
        let before = api.stored(&n).await;
        let junk = json!({"carrier": "UPS", "tracking_number": "1Z", "everything": "x".repeat(1000), "lines": [{"line": 1, "qty": 1, "junk": "x".repeat(100_000)}]});
        let (status, err) = api.event(&n, "shipment", junk).await;
        assert_eq!((status, problem_fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["data.everything".to_string(), "data.lines[0].junk".to_string()]), "{err}");
        assert_eq!(api.stored(&n).await, before, "nothing stored");

        // Thousands of problems in a 900 KB body: the first 50, their count, a small answer.
        let bad_line = json!({"sku": "", "qty": 0.5, "unit_price": -1});
        let mut hostile = json!({"channel": "website", "customer": {"email": "h@example.com"}, "lines": []});
        let per_line = bad_line.to_string().len() + 1;
        hostile["lines"] = json!(vec![bad_line; 900_000 / per_line]);
        let body = hostile.to_string().into_bytes();
        assert!((850_000..1_000_000).contains(&body.len()), "{}", body.len());
        let (status, text, _) = api.raw(Method::POST, "/v1/orders", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let err: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(err["problems"].as_array().map(Vec::len), Some(50), "{}", &text[..500]);
        let count = err["problem_count"].as_u64().expect("problem_count");
        assert!(count > 50_000, "{count}");
        eprintln!("a {} byte body with {count} problems is answered in {} bytes", body.len(), text.len());
        assert!(text.len() < 16 * 1024, "{} bytes", text.len());

        // The same with an event whose data has thousands of long unknown keys.
        let mut data = serde_json::Map::new();
        for i in 0..8_000 {
            data.insert(format!("{i:05}{}", "x".repeat(100)), json!("v"));
        }
        let body = json!({"event": "card_declined", "data": data, "actor": "clerk"}).to_string().into_bytes();
        let (status, text, _) = api.raw(Method::POST, &events, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let err: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(err["problems"].as_array().map(Vec::len), Some(50));
        eprintln!("a {} byte event with {} problems is answered in {} bytes", body.len(), err["problem_count"], text.len());
        assert!(text.len() < 16 * 1024, "{} bytes", text.len());
        assert_eq!(api.service.store().count_orders().await.expect("count"), 1);
    })
    .await;
}

/// Answers are built from what the transaction wrote, never read back after it: a new order's
/// answer is the order as `GET` shows it; an event's answer is the order and the rows the event
/// added, so it does not grow with the order's age; a lock's answer is the order as `GET` shows
/// it; and a replay (k1, k2, k1) is exactly the first answer (issue 11, items 2 and 3).
#[tokio::test]
async fn answers_are_what_was_committed_and_a_replay_is_the_first_answer() {
    support::on_both("answers_are_what_was_committed_and_a_replay_is_the_first_answer", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let (status, created) = api.post("/v1/orders", website_check_order("kay@example.com")).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let n = number(&created);
        let (_, got) = api.get(&format!("/v1/orders/{n}")).await;
        assert_eq!(created, got, "the new order's answer is the stored order");

        // Declined, then declined again and again (a `stay` with a note).
        let declined = |key: &str| json!({"event": "card_declined", "idempotency_key": key, "actor": "clerk", "data": {"outcome": "declined", "amount": "549.00"}});
        let events = format!("/v1/orders/{n}/events");
        let (s1, k1) = api.post(&events, declined("k1")).await;
        assert_eq!(s1, StatusCode::OK, "{k1}");
        assert!(k1["order"].get("history").is_none(), "the event's answer leaves the whole history out: {k1}");
        let rows = k1["history"].as_array().expect("the rows the event added");
        assert!(!rows.is_empty(), "{k1}");
        let created_ids: Vec<&Value> = created["history"].as_array().expect("history").iter().map(|r| &r["id"]).collect();
        assert!(rows.iter().all(|r| !created_ids.contains(&&r["id"])), "only new rows: {k1}");
        let (s2, k2) = api.post(&events, declined("k2")).await;
        assert_eq!(s2, StatusCode::OK, "{k2}");
        assert_ne!(k2["history"], k1["history"]);
        assert_ne!(k2["order"]["version"], k1["order"]["version"]);
        // Many events later, an answer is no bigger than an early one.
        for i in 0..20 {
            api.post(&events, declined(&format!("more-{i}"))).await;
        }
        let (_, late) = api.post(&events, declined("late")).await;
        assert_eq!(late["history"].as_array().map(Vec::len), k2["history"].as_array().map(Vec::len), "{late}");

        let (s3, replay) = api.post(&events, declined("k1")).await;
        assert_eq!(s3, StatusCode::OK, "{replay}");
        assert_eq!(replay["replayed"], true);
        let mut first = k1.clone();
        first["replayed"] = json!(true);
        assert_eq!(replay, first, "a replay is exactly the first answer");

        let (status, locked) = api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "kay"})).await;
        assert_eq!(status, StatusCode::OK, "{locked}");
        let (_, got) = api.get(&format!("/v1/orders/{n}")).await;
        assert_eq!(locked, got, "the lock's answer is the stored order");
    })
    .await;
}

#[tokio::test]
async fn repeats_are_answered_once() {
    support::on_both("repeats_are_answered_once", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let mut body = website_check_order("cy@example.com");
        body["external_id"] = json!("web-1001");
        let (status, first) = api.post("/v1/orders", body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, again) = api.post("/v1/orders", body).await;
        assert_eq!(status, StatusCode::OK, "the same external id gives the first order: {again}");
        assert_eq!(again["id"], first["id"]);
        let n = number(&first);
        let pay = json!({"event": "payment_received", "idempotency_key": "gw-77", "data": {"amount": "549.00", "outcome": "approved"}});
        let (s1, r1) = api.post(&format!("/v1/orders/{n}/events"), pay.clone()).await;
        let (s2, r2) = api.post(&format!("/v1/orders/{n}/events"), pay).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{r1} {r2}");
        assert_eq!(r1["replayed"], false);
        assert_eq!(r2["replayed"], true);
        assert_eq!(r2["order"]["version"], r1["order"]["version"]);
        assert_eq!(r2["order"]["amount_paid"], "549.00", "paid once, not twice: {r2}");
        // The same key for another request is a client's mistake: refused, not replayed.
        let before = api.stored(&n).await;
        let (status, err) = api
            .post(&format!("/v1/orders/{n}/events"), json!({"event": "void", "idempotency_key": "gw-77"}))
            .await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_conflict")), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("payment_received"), "{err}");
        assert_eq!(api.stored(&n).await, before);
    })
    .await;
}

#[tokio::test]
async fn a_lock_keeps_other_holders_out_with_423() {
    support::on_both("a_lock_keeps_other_holders_out_with_423", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let (_, order) = api.post("/v1/orders", website_check_order("dee@example.com")).await;
        let n = number(&order);
        let (status, locked) = api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "alice"})).await;
        assert_eq!(status, StatusCode::OK, "{locked}");
        assert_eq!(locked["lock"]["holder"], "alice");
        // Without a ttl the workflow's lock_lease (15m in retail) applies.
        let expires = chrono::DateTime::parse_from_rfc3339(locked["lock"]["expires_at"].as_str().expect("time")).expect("rfc3339");
        let left = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
        assert!((800..=900).contains(&left), "lease of about 15 minutes, got {left} s");

        let before = api.stored(&n).await;
        let (status, err) = api
            .post(&format!("/v1/orders/{n}/events"), json!({"event": "payment_received", "actor": "bob", "data": {"amount": "549.00", "outcome": "approved"}}))
            .await;
        assert_eq!(status, StatusCode::LOCKED, "{err}");
        assert_eq!(err["error"], "locked");
        assert!(err["message"].as_str().unwrap_or_default().contains("alice"), "names the holder: {err}");
        assert!(err.get("allowed_events").is_none(), "a lock refuses every event: {err}");
        assert_eq!(api.stored(&n).await, before);
        let (status, err) = api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "bob"})).await;
        assert_eq!(status, StatusCode::LOCKED, "{err}");
        let (status, err) = api.call(Method::DELETE, &format!("/v1/orders/{n}/lock"), Some(json!({"holder": "bob"}))).await;
        assert_eq!(status, StatusCode::LOCKED, "{err}");
        // The holder's own events pass.
        let (status, r) = api
            .post(&format!("/v1/orders/{n}/events"), json!({"event": "payment_received", "actor": "alice", "data": {"amount": "549.00", "outcome": "approved"}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        let (status, r) = api.call(Method::DELETE, &format!("/v1/orders/{n}/lock"), Some(json!({"holder": "alice"}))).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert!(r["lock"].is_null(), "{r}");
        let (status, err) = api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "bob", "ttl_seconds": 0})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        let (status, _) = api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "bob", "ttl_seconds": 60})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, grid) = api.get("/v1/orders?locked=true").await;
        assert_eq!(grid["orders"].as_array().map(Vec::len), Some(1), "{grid}");
        assert_eq!(grid["orders"][0]["lock_holder"], "bob");
    })
    .await;
}

/// With tokens, the actor is the token or a name it may act for: nobody passes another holder's
/// lock by naming it, and releasing someone else's lock is an administrator's recorded break.
#[tokio::test]
async fn with_tokens_actors_are_authenticated_and_only_an_admin_breaks_a_lock() {
    support::on_both(
        "with_tokens_actors_are_authenticated_and_only_an_admin_breaks_a_lock",
        |store| async move {
            let mut api = Api::new(store, config(true, "")).await;
            api.as_token(Some(TILL));
            let (status, order) = api.post("/v1/orders", website_check_order("lock@example.com")).await;
            assert_eq!(status, StatusCode::CREATED, "{order}");
            let n = number(&order);
            assert_eq!(order["history"][0]["actor"], "till-1", "{order}");
            // The shared till acts for its clerks.
            let (status, locked) =
                api.post(&format!("/v1/orders/{n}/lock"), json!({"holder": "alice"})).await;
            assert_eq!(status, StatusCode::OK, "{locked}");
            assert_eq!(locked["lock"]["holder"], "alice");

            // Another token cannot pass the lock by naming its holder, nor release it, nor sign as her.
            api.as_token(Some(WRITER));
            let before = api.get(&format!("/v1/orders/{n}")).await.1;
            let (status, err) = api
                .call(
                    Method::POST,
                    &format!("/v1/orders/{n}/events"),
                    Some(json!({"event": "void", "actor": "alice"})),
                )
                .await;
            assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{err}");
            assert_eq!(err["allowed"], json!(["shop"]), "{err}");
            let (status, err) = api
                .call(Method::DELETE, &format!("/v1/orders/{n}/lock"), Some(json!({"holder": "alice"})))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
            let (status, err) =
                api.call(Method::DELETE, &format!("/v1/orders/{n}/lock"), Some(json!({}))).await;
            assert_eq!((status, err["error"].as_str()), (StatusCode::LOCKED, Some("locked")), "{err}");
            let (status, err) =
                api.call(Method::DELETE, &format!("/v1/orders/{n}/lock"), Some(json!({"break": true}))).await;
            assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{err}");
            assert_eq!(err["required_scope"], "admin", "{err}");
            let (status, err) = api.event(&n, "void", json!({})).await;
            assert_eq!(status, StatusCode::LOCKED, "{err}");
            let after = api.get(&format!("/v1/orders/{n}")).await.1;
            assert_eq!(before, after, "refusals change nothing");

            // An administrator breaks it; the history says whose lock it was and who broke it.
            api.as_token(Some(ADMIN));
            let (status, r) =
                api.call(Method::DELETE, &format!("/v1/orders/{n}/lock"), Some(json!({"break": true}))).await;
            assert_eq!(status, StatusCode::OK, "{r}");
            assert!(r["lock"].is_null(), "{r}");
            let broken = r["history"].as_array().expect("history").last().cloned().expect("a row");
            assert_eq!(broken["kind"], "lock_broken", "{r}");
            assert_eq!(broken["actor"], "ops", "{r}");
            assert_eq!(broken["detail"]["holder"], "alice", "{r}");
            assert_eq!(broken["detail"]["by"], "ops", "{r}");

            // Now the shop's own event goes through, signed as the shop.
            api.as_token(Some(WRITER));
            let (status, r) = api.event(&n, "void", json!({})).await;
            assert_eq!(status, StatusCode::OK, "{r}");
            let last =
                r["order"]["history"].as_array().or(r["history"].as_array()).and_then(|h| h.last().cloned());
            assert_eq!(last.expect("a row")["actor"], "shop", "{r}");
        },
    )
    .await;
}

#[tokio::test]
async fn tokens_and_scopes() {
    support::on_both("tokens_and_scopes", |store| async move {
        let mut api = Api::new(store, config(true, "")).await;
        let (status, err) = api.get("/v1/orders").await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{err}"
        );
        let (_, _, headers) = api.raw(Method::GET, "/v1/orders", None).await;
        assert!(headers.get(header::WWW_AUTHENTICATE).is_some());
        api.as_token(Some("not-a-token-at-all-000000"));
        let (status, _) = api.get("/v1/orders").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        api.as_token(Some(READER));
        let (status, _) = api.get("/v1/orders").await;
        assert_eq!(status, StatusCode::OK);
        let (status, err) = api.post("/v1/orders", website_check_order("eve@example.com")).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("orders:write"), "{err}");
        let (status, _) = api.call(Method::POST, "/v1/workflows/reload", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = api.get("/metrics").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "metrics need metrics:read");

        api.as_token(Some(WRITER));
        let (status, order) = api.post("/v1/orders", website_check_order("eve@example.com")).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let n = number(&order);
        let history = order["history"].as_array().expect("history");
        assert_eq!(history[0]["actor"], "shop", "the token's name is the actor by default: {order}");

        api.as_token(Some(PAYMENTS));
        let (status, err) = api.event(&n, "void", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("void"), "{err}");
        let (status, r) =
            api.event(&n, "payment_received", json!({"amount": "549.00", "outcome": "approved"})).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        let (status, _) = api.get(&format!("/v1/orders/{n}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "events:write alone cannot read orders");

        api.as_token(Some(ADMIN));
        let (status, r) = api.call(Method::POST, "/v1/workflows/reload", None).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["ok"], true);
        let (status, _) = api.get("/metrics").await;
        assert_eq!(status, StatusCode::OK);

        // No token needed: health, the OpenAPI document, tracking.
        api.as_token(None);
        assert_eq!(api.get("/healthz").await.0, StatusCode::OK);
        assert_eq!(api.get("/v1/openapi.json").await.0, StatusCode::OK);
        let (status, _) = api.get(&format!("/v1/track/{n}?email=eve@example.com")).await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
}

/// The scope is checked from the request's head, before its path, query or body are read: a
/// token without the scope learns nothing about its body (issue 11, item 14).
#[tokio::test]
async fn the_scope_is_checked_before_the_body_is_read() {
    support::on_both("the_scope_is_checked_before_the_body_is_read", |store| async move {
        let mut api = Api::new(store, config(true, "body_limit = 4096")).await;
        let forbidden = |status: StatusCode, body: &str, scope: &str| {
            let err: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
            assert_eq!(err["required_scope"], scope, "{body}");
        };
        api.as_token(Some(READER));
        for body in [&b"{}"[..], b"{\"channel\": ", b"not json at all", &[b'x'; 10_000][..]] {
            let (status, text, _) = api.raw(Method::POST, "/v1/orders", Some(body.to_vec())).await;
            forbidden(status, &text, "orders:write");
        }
        let (status, text, _) = api.raw(Method::POST, "/v1/orders/X/lock", Some(b"[".to_vec())).await;
        forbidden(status, &text, "orders:write");
        let (status, text, _) = api
            .raw(Method::PATCH, "/v1/orders/X/fulfillment-actions/not-a-number", Some(b"{}".to_vec()))
            .await;
        forbidden(status, &text, "orders:write");
        let (status, text, _) = api.raw(Method::POST, "/v1/orders/X/events", Some(b"{}".to_vec())).await;
        forbidden(status, &text, "events:write");
        let (status, text, _) = api.raw(Method::POST, "/v1/workflows/reload", Some(b"{".to_vec())).await;
        forbidden(status, &text, "admin");
        api.as_token(Some(PAYMENTS));
        let (status, text, _) = api.raw(Method::GET, "/v1/orders?limit=0&colour=red", None).await;
        forbidden(status, &text, "orders:read");
        // Without a token: 401, whatever the body.
        api.as_token(None);
        let (status, text, _) = api.raw(Method::POST, "/v1/orders", Some(b"{".to_vec())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        // With the scope, the body is read as before.
        api.as_token(Some(WRITER));
        let (status, text, _) = api.raw(Method::POST, "/v1/orders", Some(b"{}".to_vec())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert_eq!(api.service.store().count_orders().await.expect("count"), 0);
    })
    .await;
}

/// A number another order has is refused in our words: 409 `duplicate` naming the number, not
/// the database's text (issue 11, item 14).
#[tokio::test]
async fn a_taken_number_is_a_409_in_our_words() {
    support::on_both("a_taken_number_is_a_409_in_our_words", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let mut order = website_check_order("dup@example.com");
        order["number"] = json!("A-1001");
        let (status, first) = api.post("/v1/orders", order.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, err) = api.post("/v1/orders", order).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::CONFLICT, Some("duplicate")), "{err}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains("`A-1001`"), "{err}");
        assert_eq!(err["problems"], json!([{"field": "number", "problem": "`A-1001` is taken"}]), "{err}");
        let text = err.to_string().to_lowercase();
        for leak in
            ["unique constraint", "constraint", "orders.number", "duplicate key", "sqlite", "violates"]
        {
            assert!(!text.contains(leak), "the answer repeats the database's `{leak}`: {err}");
        }
        assert_eq!(api.service.store().count_orders().await.expect("count"), 1);
    })
    .await;
}

/// Where a test's log goes: the subscriber `orderly serve` uses, writing to memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

/// Text a client sends cannot forge a log line: an event name holding a newline, a fake record
/// and a terminal escape stays inside its own record (the refusal's text and the request's
/// span), escaped, in the human log; JSON lines carry each key once, the refusal's text under
/// `reason` (issue 11, item 11).
#[tokio::test]
async fn client_text_cannot_forge_a_log_line() {
    const FORGED: &str = "2026-12-06T00:00:00.000000Z  INFO orderly::http: order ORD000001 refunded in full";
    for format in ["human", "json"] {
        let log = LogBuffer::default();
        let cfg = config(false, &format!("log_format = \"{format}\"\nlog_level = \"info\""));
        let _guard = tracing::subscriber::set_default(orderly::logging::subscriber(&cfg, log.clone(), false));
        // Other tests set and drop their own subscribers on other threads meanwhile: have every
        // callsite ask again, so an interest cached without this subscriber does not drop the
        // line this test reads (it failed so about once in eight full runs).
        tracing::callsite::rebuild_interest_cache();
        let dir = tempfile::tempdir().expect("dir");
        let store =
            Store::connect(&format!("sqlite://{}", dir.path().join("o.db").display())).await.expect("store");
        let api = Api::new(store, cfg).await;
        let (_, order) = api.post("/v1/orders", website_check_order("log@example.com")).await;
        let n = number(&order);
        let event = format!("void\n{FORGED}\r\n\u{1b}[2J");
        let (status, err) = api.event(&n, &event, json!({})).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_event")),
            "{err}"
        );
        let text = log.text();
        assert!(text.contains("event refused"), "{format}: {text}");
        for line in text.lines() {
            assert!(!line.starts_with("2026-12-06T00:00:00.000000Z"), "{format}: a forged line:\n{text}");
            assert!(!line.contains('\u{1b}'), "{format}: a terminal escape reached the log:\n{text}");
        }
        match format {
            "human" => {
                assert!(
                    text.contains(&format!("void\\n{FORGED}\\r\\n\\u{{1b}}[2J")),
                    "escaped in place:\n{text}"
                );
                let refused = text.lines().find(|l| l.contains("event refused")).expect("the refusal's line");
                assert!(refused.contains("reason=") && refused.contains("refunded in full"), "{refused}");
            }
            _ => {
                let mut refused = None;
                for line in text.lines() {
                    serde_json::from_str::<NoKeyTwice>(line)
                        .unwrap_or_else(|e| panic!("a key twice ({e}): {line}"));
                    let v: Value = serde_json::from_str(line).expect("a JSON line");
                    if v["fields"]["message"] == "event refused" {
                        refused = Some(v);
                    }
                }
                let refused = refused.expect("the refusal's line");
                let reason = refused["fields"]["reason"].as_str().expect("the refusal's text under `reason`");
                assert!(reason.contains("refunded in full"), "{refused}");
                assert_eq!(refused["fields"]["code"], "unknown_event", "{refused}");
            }
        }
    }
}

#[tokio::test]
async fn the_tracking_page_shows_the_customer_only_their_order() {
    support::on_both("the_tracking_page_shows_the_customer_only_their_order", |store| async move {
        let api = Api::new(store, config(false, "track_per_minute = 5")).await;
        let (_, order) = api.post("/v1/orders", website_check_order("fay@example.com")).await;
        let n = number(&order);
        let (status, view) = api.get(&format!("/v1/track/{n}?email=FAY@example.com")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let mut keys: Vec<&str> = view.as_object().expect("object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["fulfillment_actions", "lines", "number", "placed_at", "shipments", "status"]);
        assert_eq!(view["status"], "Waiting for your payment", "the customer's label: {view}");
        // (The time it was placed can hold any digits: it is left out of the search.)
        let mut shown = view.clone();
        shown["placed_at"] = serde_json::Value::Null;
        let text = shown.to_string();
        for secret in ["fay@example.com", "unit_price", "history", "flags", "attributes", "549"] {
            assert!(!text.contains(secret), "the tracking view shows `{secret}`: {text}");
        }
        let (s1, wrong_email, _) =
            api.raw(Method::GET, &format!("/v1/track/{n}?email=someone@example.com"), None).await;
        let (s2, wrong_number, _) =
            api.raw(Method::GET, "/v1/track/ORD424242?email=fay@example.com", None).await;
        let (s3, no_email, _) = api.raw(Method::GET, &format!("/v1/track/{n}"), None).await;
        assert_eq!((s1, s2, s3), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert_eq!(wrong_email, wrong_number, "a wrong email and a wrong number look the same");
        assert_eq!(wrong_email, no_email);
        // An id is not a number: ids are guessable.
        let (status, _) = api.get(&format!("/v1/track/{}?email=fay@example.com", order["id"])).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Five a minute from one address: the sixth is refused.
        let (status, err) = api.get(&format!("/v1/track/{n}?email=fay@example.com")).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_grid_filters_and_pages() {
    support::on_both("the_grid_filters_and_pages", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let mut numbers = Vec::new();
        for i in 0..7 {
            let (status, o) = api.post("/v1/orders", website_check_order(&format!("g{i}@example.com"))).await;
            assert_eq!(status, StatusCode::CREATED, "{o}");
            numbers.push(number(&o));
        }
        let card = json!({
            "channel": "website",
            "customer": {"email": "card@example.com", "first_name": "Cara", "last_name": "Card"},
            "payment": {"method": "credit_card", "outcome": "approved"},
            "lines": [{"sku": "GTR-1", "qty": 1, "unit_price": "499.00", "in_stock": true}]
        });
        let (status, paid) = api.post("/v1/orders", card).await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");
        let (_, all) = api.get("/v1/orders").await;
        assert_eq!(all["orders"].as_array().map(Vec::len), Some(8), "{all}");
        assert!(all["next_cursor"].is_null());
        assert_eq!(all["orders"][0]["number"], paid["number"], "newest first");
        let (_, waiting) = api.get("/v1/orders?status=awaiting_payment").await;
        assert_eq!(waiting["orders"].as_array().map(Vec::len), Some(7));
        let (_, phase) = api.get("/v1/orders?phase=inventory_sourcing").await;
        assert_eq!(phase["orders"].as_array().map(Vec::len), Some(1), "{phase}");
        let (_, both) = api.get("/v1/orders?status=awaiting_payment,ready_to_process&channel=website").await;
        assert_eq!(both["orders"].as_array().map(Vec::len), Some(8));
        let (_, none) = api.get("/v1/orders?channel=pos").await;
        assert_eq!(none["orders"].as_array().map(Vec::len), Some(0));
        let (_, free) = api.get("/v1/orders?locked=false").await;
        assert_eq!(free["orders"].as_array().map(Vec::len), Some(8));
        let (_, flagged) = api.get("/v1/orders?flag=possible_duplicate").await;
        assert_eq!(flagged["orders"].as_array().map(Vec::len), Some(0), "{flagged}");
        let (_, assigned) = api.get("/v1/orders?assignee=nobody").await;
        assert_eq!(assigned["orders"].as_array().map(Vec::len), Some(0));
        // Pages of three, by cursor, see every order once.
        let mut seen = Vec::new();
        let mut uri = "/v1/orders?limit=3".to_string();
        loop {
            let (status, page) = api.get(&uri).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(page["orders"].as_array().expect("rows").iter().map(|r| r["number"].clone()));
            match page["next_cursor"].as_str() {
                Some(c) => uri = format!("/v1/orders?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 8);
        let mut dedup = seen.clone();
        dedup.sort_by_key(ToString::to_string);
        dedup.dedup();
        assert_eq!(dedup.len(), 8, "no order twice: {seen:?}");
        for cursor in ["abc", "0", "+3", "007", "9999999999999999999"] {
            let (status, err) = api.get(&format!("/v1/orders?cursor={cursor}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "cursor {cursor}: {err}");
        }
        // An unknown status is refused like an unknown phase: 400 with a did-you-mean, not an
        // empty page that looks like no orders.
        let (status, err) = api.get("/v1/orders?status=awaiting_paymnt").await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_query")), "{err}");
        assert!(
            err["message"].as_str().unwrap_or_default().contains("`awaiting_payment`"),
            "did-you-mean: {err}"
        );
        let (status, err) = api.get("/v1/orders?status=awaiting_payment,nowhere_at_all").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("`nowhere_at_all`"), "{err}");
        // Empty filters (a form's blank fields) filter nothing.
        let (status, blank) = api.get("/v1/orders?status=&phase=&channel=&flag=&assignee=&cursor=").await;
        assert_eq!(status, StatusCode::OK, "{blank}");
        assert_eq!(blank["orders"].as_array().map(Vec::len), Some(8), "{blank}");
    })
    .await;
}

#[tokio::test]
async fn fulfillment_actions_are_added_and_changed() {
    support::on_both("fulfillment_actions_are_added_and_changed", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let order = json!({
            "channel": "website", "workflow": "fulfillment",
            "customer": {"email": "gus@example.com", "first_name": "Gus", "last_name": "Gray"},
            "payment": {"method": "credit_card", "outcome": "approved"},
            "lines": [{"sku": "A", "qty": 1, "unit_price": "10.00"}]
        });
        let (status, o) = api.post("/v1/orders", order).await;
        assert_eq!(status, StatusCode::CREATED, "{o}");
        let n = number(&o);
        let (_, wf) = api.get("/v1/workflows/fulfillment").await;
        let action = wf["fulfillment_actions"][0].as_str().expect("an action").to_string();
        let (status, r) = api
            .post(
                &format!("/v1/orders/{n}/fulfillment-actions"),
                json!({"name": action, "note": "called", "complete": false}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(r["fulfillment_actions"][0]["complete"], false);
        let (status, r) = api
            .call(
                Method::PATCH,
                &format!("/v1/orders/{n}/fulfillment-actions/1"),
                Some(json!({"complete": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["fulfillment_actions"][0]["complete"], true);
        assert_eq!(r, api.get(&format!("/v1/orders/{n}")).await.1, "the answer is the stored order");
        let (status, err) =
            api.post(&format!("/v1/orders/{n}/fulfillment-actions"), json!({"name": "Sent a pigeon"})).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_action")),
            "{err}"
        );
        let before = api.stored(&n).await;
        let (status, err) = api
            .call(
                Method::PATCH,
                &format!("/v1/orders/{n}/fulfillment-actions/9"),
                Some(json!({"complete": true})),
            )
            .await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{err}");
        assert!(err["message"].as_str().unwrap_or_default().contains("no fulfillment action 9"), "{err}");
        assert_eq!(api.stored(&n).await, before, "a missing action changes nothing");
    })
    .await;
}

#[tokio::test]
async fn workflows_health_and_metrics() {
    support::on_both("workflows_health_and_metrics", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        let (status, list) = api.get("/v1/workflows").await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = list["workflows"].as_array().expect("list").iter().filter_map(|w| w["name"].as_str()).collect();
        assert_eq!(names, ["fulfillment", "repair_store", "retail", "special_orders"]);
        assert!(list["workflows"][0]["version"].as_i64().is_some());
        let (status, retail) = api.get("/v1/workflows/retail").await;
        assert_eq!(status, StatusCode::OK);
        assert!(retail["statuses"].as_array().expect("statuses").iter().any(|s| s["code"] == "awaiting_payment" && s["phase"] == "payment_processing"));
        assert!(retail["transitions"].as_array().expect("transitions").iter().any(|t| t["guard"].is_string()));
        let (status, err) = api.get("/v1/workflows/retial").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(err["message"].as_str().unwrap_or_default().contains("`retail`"), "{err}");
        for (format, mime, start) in [("svg", "image/svg+xml", "<svg"), ("dot", "text/vnd.graphviz", "digraph"), ("mermaid", "text/plain", "flowchart")] {
            let (status, body, headers) = api.raw(Method::GET, &format!("/v1/workflows/retail/graph?format={format}"), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(headers[header::CONTENT_TYPE].to_str().unwrap_or_default().starts_with(mime));
            assert!(body.contains(start), "{format}: {}", &body[..body.len().min(200)]);
        }
        let (status, _) = api.get("/v1/workflows/retail/graph?format=png").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, health) = api.get("/healthz").await;
        assert_eq!((status, health["database"].as_str()), (StatusCode::OK, Some("ok")));

        let (_, o) = api.post("/v1/orders", website_check_order("hal@example.com")).await;
        let n = number(&o);
        let _ = api.event(&n, "payment_received", json!({"amount": "549.00", "outcome": "approved"})).await;
        let _ = api.event(&n, "start_shipping", json!({})).await;
        let (status, text, _) = api.raw(Method::GET, "/metrics", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains(r#"orderly_events_applied_total{workflow="retail",event="payment_received"} 1"#), "{text}");
        assert!(text.contains(r#"orderly_events_rejected_total{workflow="retail",event="start_shipping",reason="no_transition"} 1"#), "{text}");
        assert!(text.contains(r#"orderly_orders{workflow="retail",status="ready_to_process"} 1"#), "{text}");
        assert!(text.contains("orderly_event_duration_seconds_bucket"), "{text}");
        assert!(text.contains("orderly_db_pool_connections"), "{text}");
        assert!(text.contains("orderly_reloads{result=\"ok\"}"), "{text}");
    })
    .await;
}

/// The OpenAPI document stays true: every route answers (nothing in the document is missing
/// from the router, nothing served is missing from the document), and real answers have
/// exactly the properties their schemas declare.
#[tokio::test]
async fn the_openapi_document_matches_the_service() {
    let dir = tempfile::tempdir().expect("dir");
    let store =
        Store::connect(&format!("sqlite://{}", dir.path().join("o.db").display())).await.expect("store");
    let api = Api::new(store, config(false, "")).await;
    let (status, doc) = api.get("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let paths = doc["paths"].as_object().expect("paths");
    let mut listed: Vec<String> = Vec::new();
    for (path, ops) in paths {
        for method in ops.as_object().expect("operations").keys() {
            listed.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    listed.sort();
    let expected = [
        "DELETE /v1/orders/{id}/lock",
        "GET /healthz",
        "GET /metrics",
        "GET /v1/customers",
        "GET /v1/customers/{id}",
        "GET /v1/orders",
        "GET /v1/orders/{id}",
        "GET /v1/outbox",
        "GET /v1/track/{number}",
        "GET /v1/workflows",
        "GET /v1/workflows/{name}",
        "GET /v1/workflows/{name}/graph",
        "PATCH /v1/orders/{id}/fulfillment-actions/{n}",
        "POST /v1/customers",
        "POST /v1/customers/{id}/merge",
        "POST /v1/orders",
        "POST /v1/orders/{id}/customer",
        "POST /v1/orders/{id}/events",
        "POST /v1/orders/{id}/fulfillment-actions",
        "POST /v1/orders/{id}/lock",
        "POST /v1/outbox/{id}/retry",
        "POST /v1/workflows/reload",
    ];
    assert_eq!(listed, expected, "the contract's routes, each documented");
    // Every documented route is served (not the fallback).
    for entry in &listed {
        let (method, path) = entry.split_once(' ').expect("method and path");
        let uri = path
            .replace("{id}", "1")
            .replace("{number}", "X")
            .replace("{name}", "retail")
            .replace("{n}", "1");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let (_, body) = api.call(method, &uri, Some(json!({}))).await;
        assert_ne!(body["error"], "no_route", "{entry} is documented but not served");
    }
    // Answers have the properties their schemas declare, no more, no less (required ones).
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    // (properties, required) of a schema, through `allOf` (flattened structs) and `$ref`s.
    fn shape(schemas: &serde_json::Map<String, Value>, schema: &Value) -> (Vec<String>, Vec<String>) {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap_or_default();
            return shape(schemas, &schemas[name]);
        }
        let mut props: Vec<String> =
            schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let (p, r) = shape(schemas, part);
            props.extend(p);
            required.extend(r);
        }
        (props, required)
    }
    let check = |name: &str, value: &Value| {
        let (props, required) = shape(schemas, &schemas[name]);
        assert!(!props.is_empty(), "schema {name} has no properties");
        let value = value.as_object().unwrap_or_else(|| panic!("{name}: an object, got {value}"));
        for k in value.keys() {
            assert!(props.contains(k), "`{k}` of {name} is not in its schema");
        }
        for r in &required {
            assert!(value.contains_key(r), "{name} lacks required `{r}`");
        }
    };
    let (_, order) = api.post("/v1/orders", website_check_order("ivy@example.com")).await;
    check("OrderView", &order);
    check("StatusView", &order["status"]);
    check("Line", &order["lines"][0]);
    check("Customer", &order["customer"]);
    check("StoredHistory", &order["history"][0]);
    let n = number(&order);
    let (_, applied) =
        api.event(&n, "payment_received", json!({"amount": "549.00", "outcome": "approved"})).await;
    check("EventResult", &applied);
    check("Step", &applied["transitions"][0]);
    let (_, refused) = api.event(&n, "start_shipping", json!({})).await;
    check("ErrorBody", &refused);
    let (_, grid) = api.get("/v1/orders").await;
    check("GridAnswer", &grid);
    check("GridRow", &grid["orders"][0]);
    let (_, tracked) = api.get(&format!("/v1/track/{n}?email=ivy@example.com")).await;
    check("TrackingView", &tracked);
    let (_, list) = api.get("/v1/workflows").await;
    check("WorkflowList", &list);
    check("WorkflowSummary", &list["workflows"][0]);
    let (_, wf) = api.get("/v1/workflows/retail").await;
    check("WorkflowDetail", &wf);
}

/// The document says what each service does: with tokens, every route but health, tracking and
/// the document itself asks for one and documents 401 and 403; without tokens, none does.
/// operationIds are unique, and `ErrorBody.error` lists exactly the codes the source answers with.
#[tokio::test]
async fn the_openapi_document_is_precise() {
    let dir = tempfile::tempdir().expect("dir");
    let store =
        Store::connect(&format!("sqlite://{}", dir.path().join("o.db").display())).await.expect("store");
    let mut with_tokens = Api::new(store.clone(), config(true, "")).await;
    with_tokens.as_token(None);
    let (_, secured) = with_tokens.get("/v1/openapi.json").await;
    assert_eq!(secured, orderly::http::openapi(), "the served document is the library's");
    let (_, open) = Api::new(store, config(false, "")).await.get("/v1/openapi.json").await;
    let public = ["GET /healthz", "GET /v1/track/{number}"];
    let mut ids = Vec::new();
    for (doc, tokens) in [(&secured, true), (&open, false)] {
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for (method, op) in ops.as_object().expect("operations") {
                let entry = format!("{} {path}", method.to_uppercase());
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                let answers = op["responses"].as_object().expect("responses");
                let says_401 = answers.contains_key("401") && answers.contains_key("403");
                if tokens {
                    ids.push(op["operationId"].as_str().expect("an operationId").to_string());
                    assert_eq!(secured, !public.contains(&entry.as_str()), "{entry}: security");
                    assert_eq!(says_401, secured, "{entry}: 401 and 403 with tokens");
                } else {
                    assert!(
                        !secured && !answers.contains_key("401") && !answers.contains_key("403"),
                        "{entry}: open"
                    );
                }
                assert!(answers.contains_key("500"), "{entry}: 500");
                if op["requestBody"]["required"] == true {
                    // The lock's release reads its optional body whatever its media type: no 415.
                    let codes: &[&str] = if method == "delete" {
                        &["400", "413", "422"]
                    } else {
                        &["400", "413", "415", "422"]
                    };
                    for code in codes {
                        assert!(answers.contains_key(*code), "{entry}: a JSON body route documents {code}");
                    }
                }
            }
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "operationIds are unique: {ids:?}");
    // Without tokens the lock's holder is required: no token name stands in for it.
    assert_eq!(open["components"]["schemas"]["LockRequest"]["required"], json!(["holder"]));
    assert_eq!(open["paths"]["/v1/orders/{id}/lock"]["delete"]["requestBody"]["required"], true);
    assert_ne!(secured["paths"]["/v1/orders/{id}/lock"]["delete"]["requestBody"]["required"], true);
    // Media types as sent, enums and bounds.
    let graph = &secured["paths"]["/v1/workflows/{name}/graph"]["get"];
    let types: Vec<&String> =
        graph["responses"]["200"]["content"].as_object().expect("content").keys().collect();
    assert_eq!(types, ["image/svg+xml", "text/plain", "text/vnd.graphviz"]);
    assert_eq!(graph["parameters"][1]["schema"]["enum"], json!(["svg", "dot", "mermaid"]));
    let metrics = &secured["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(metrics.get("application/openmetrics-text").is_some(), "{metrics}");
    let grid = secured["paths"]["/v1/orders"]["get"]["parameters"].as_array().expect("parameters");
    let limit = grid.iter().find(|p| p["name"] == "limit").expect("limit");
    assert_eq!((&limit["schema"]["minimum"], &limit["schema"]["maximum"]), (&json!(1), &json!(500)));
    // Amounts and quantities say their bounds (issue 11, item 8).
    let money = &secured["components"]["schemas"]["MoneyInput"]["oneOf"];
    assert_eq!((&money[0]["type"], &money[1]["type"]), (&json!("string"), &json!("number")), "{money}");
    assert_eq!(money[1]["maximum"], json!(999_999_999_999.999_9), "{money}");
    let qty = &secured["components"]["schemas"]["QuantityInput"]["oneOf"];
    assert_eq!((&qty[0]["type"], &qty[1]["type"]), (&json!("string"), &json!("integer")), "{qty}");
    assert_eq!((&qty[1]["minimum"], &qty[1]["maximum"]), (&json!(1), &json!(1_000_000_000)), "{qty}");

    // Every code the source answers with is in the enum, and nothing else is.
    let documented: Vec<String> = secured["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorBody.error is an enum")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    // The codes are an enum (ErrorCode, RejectionCode maps onto it): the document lists them all.
    let used: std::collections::BTreeSet<String> =
        orderly::http::error::ErrorCode::all().map(|c| c.as_str().to_string()).collect();
    let documented: std::collections::BTreeSet<String> = documented.into_iter().collect();
    assert_eq!(used, documented, "ErrorCode and the document differ");
}

/// A reload through the API: a broken file keeps the running version and shows its findings.
#[tokio::test]
async fn a_broken_reload_keeps_serving_and_shows_why() {
    let dir = tempfile::tempdir().expect("dir");
    let flows = dir.path().join("workflows");
    std::fs::create_dir_all(flows.join("hooks")).expect("dir");
    std::fs::create_dir_all(flows.join("templates")).expect("dir");
    for entry in std::fs::read_dir("workflows").expect("workflows") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "flow") {
            std::fs::copy(&p, flows.join(p.file_name().expect("name"))).expect("copy");
        }
    }
    for sub in ["hooks", "templates"] {
        for entry in std::fs::read_dir(Path::new("workflows").join(sub)).expect("shipped folder") {
            let p = entry.expect("entry").path();
            std::fs::copy(&p, flows.join(sub).join(p.file_name().expect("name"))).expect("copy");
        }
    }
    let store =
        Store::connect(&format!("sqlite://{}", dir.path().join("o.db").display())).await.expect("store");
    let api = Api::in_dir(store, config(false, ""), &flows).await;
    let retail = flows.join("retail.flow");
    let text = std::fs::read_to_string(&retail).expect("read");
    std::fs::write(&retail, text.replacen("on void from any status", "on void frm any status", 1))
        .expect("write");
    let (status, err) = api.call(Method::POST, "/v1/workflows/reload", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"], "reload_failed");
    assert!(err["rendered"].as_str().unwrap_or_default().contains("retail.flow"), "{err}");
    let (_, list) = api.get("/v1/workflows").await;
    assert_eq!(list["last_reload"]["ok"], false, "{list}");
    assert!(!list["last_reload"]["findings"].as_array().expect("findings").is_empty(), "{list}");
    let (status, o) = api.post("/v1/orders", website_check_order("jo@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "the old version still serves: {o}");
    std::fs::write(
        &retail,
        text.replace("\"Awaiting Payment\" customer sees", "\"Waiting for Payment\" customer sees"),
    )
    .expect("write");
    let (status, r) = api.call(Method::POST, "/v1/workflows/reload", None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (_, o) = api.post("/v1/orders", website_check_order("jo2@example.com")).await;
    assert_eq!(o["status"]["label"], "Waiting for Payment", "{o}");
    assert_eq!(o["workflow_version"], 2);
}

/// Behind a trusted proxy the tracking limit counts each client the proxy names; a client that
/// is not a trusted proxy cannot pick its own bucket with `X-Forwarded-For`.
#[tokio::test]
async fn the_tracking_limit_keys_on_the_client_behind_a_trusted_proxy() {
    support::on_both("the_tracking_limit_keys_on_the_client_behind_a_trusted_proxy", |store| async move {
        let api =
            Api::new(store, config(false, "track_per_minute = 2\ntrusted_proxies = [\"10.0.0.0/8\"]")).await;
        let (_, order) = api.post("/v1/orders", website_check_order("proxy@example.com")).await;
        let n = number(&order);
        let ask = |peer: &'static str, forwarded: &'static str| {
            let app = api.app.clone();
            let uri = format!("/v1/track/{n}?email=proxy@example.com");
            async move {
                let mut req = Request::builder().method(Method::GET).uri(uri);
                if !forwarded.is_empty() {
                    req = req.header("x-forwarded-for", forwarded);
                }
                let mut req = req.body(Body::empty()).expect("request");
                let addr: std::net::SocketAddr = peer.parse().expect("address");
                req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
                app.oneshot(req).await.expect("answers").status()
            }
        };
        // Two customers behind the proxy: two each.
        for _ in 0..2 {
            assert_eq!(ask("10.0.0.2:5000", "203.0.113.1").await, StatusCode::OK);
            assert_eq!(ask("10.0.0.2:5000", "203.0.113.2").await, StatusCode::OK);
        }
        assert_eq!(ask("10.0.0.2:5000", "203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
        // A direct client spends its own bucket, whatever it claims to forward.
        assert_eq!(ask("192.0.2.50:6000", "198.51.100.1").await, StatusCode::OK);
        assert_eq!(ask("192.0.2.50:6000", "198.51.100.2").await, StatusCode::OK);
        assert_eq!(ask("192.0.2.50:6000", "198.51.100.3").await, StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

/// Every kind of request, answered while the database is down: `503 database_unavailable`
/// with `Retry-After: 5`, never 500. `id` is an order's id, `n` its number.
async fn assert_unavailable(api: &Api, id: &str, n: &str) {
    let pay = json!({"event": "payment_received", "actor": "clerk", "data": {"amount": "549.00", "outcome": "approved"}});
    let requests = [
        (Method::POST, "/v1/orders".to_string(), Some(website_check_order("down@example.com"))),
        (Method::GET, format!("/v1/orders/{n}"), None),
        (Method::GET, "/v1/orders".to_string(), None),
        (Method::POST, format!("/v1/orders/{id}/events"), Some(pay.clone())),
        (Method::POST, format!("/v1/orders/{n}/events"), Some(pay)),
        (Method::POST, format!("/v1/orders/{id}/lock"), Some(json!({"holder": "kay"}))),
        (Method::GET, "/healthz".to_string(), None),
    ];
    for (method, uri, body) in requests {
        let (status, text, headers) =
            api.raw(method.clone(), &uri, body.map(|b| b.to_string().into_bytes())).await;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
            "{method} {uri}: {text}"
        );
        assert_eq!(
            headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()),
            Some("5"),
            "{method} {uri}"
        );
    }
}

/// A database that goes away is `503 database_unavailable` with `Retry-After` for reads, writes
/// and `/healthz`, never 500, and the writes refused stored nothing. On PostgreSQL the server is
/// reached through a forwarder: every backend terminated (a server restart) is survived by the
/// pool; the forwarder cut (a server gone: connections dropped, the port refusing) is 503 within
/// the acquire timeout; restored, the same service serves again. On SQLite the pool is closed
/// under the service (issue 11, item 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_down_is_503_database_unavailable() {
    support::on_both_at("a_database_that_is_down_is_503_database_unavailable", |store, url| async move {
        use orderly::store::{Backend, ConnectOptions};
        use sqlx::{Connection, Executor};
        let quick =
            ConnectOptions { acquire_timeout: std::time::Duration::from_secs(1), ..Default::default() };
        match store.backend() {
            Backend::Sqlite => {
                let api = Api::new(store.clone(), config(false, "")).await;
                let (status, o) = api.post("/v1/orders", website_check_order("dee@example.com")).await;
                assert_eq!(status, StatusCode::CREATED, "{o}");
                let before = api.stored(&number(&o)).await;
                store.close().await;
                assert_unavailable(&api, &o["id"].to_string(), &number(&o)).await;
                let again = Api::new(Store::connect(&url).await.expect("reopen"), config(false, "")).await;
                assert_eq!(again.stored(&number(&o)).await, before, "a refused write stored something");
                let (_, grid) = again.get("/v1/orders").await;
                assert_eq!(grid["orders"].as_array().map(Vec::len), Some(1), "{grid}");
            }
            Backend::Postgres => {
                let mut proxy = support::Proxy::start(&url).await;
                let through =
                    Store::connect_with(&proxy.url(&url), quick).await.expect("connects through the proxy");
                let api = Api::new(through, config(false, "")).await;
                let (status, o) = api.post("/v1/orders", website_check_order("dee@example.com")).await;
                assert_eq!(status, StatusCode::CREATED, "{o}");
                let n = number(&o);

                // Every connection terminated by the server: the pool notices and reconnects.
                let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin connection");
                let killed = admin
                    .fetch_all(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    )
                    .await
                    .expect("terminate");
                assert!(!killed.is_empty(), "the service had connections to terminate");
                let (status, again) = api.post("/v1/orders", website_check_order("eve@example.com")).await;
                assert_eq!(status, StatusCode::CREATED, "after a restart of the server's side: {again}");
                let before = api.stored(&n).await;

                proxy.cut().await;
                let started = std::time::Instant::now();
                assert_unavailable(&api, &o["id"].to_string(), &n).await;
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(30),
                    "{:?} for 7 answers",
                    started.elapsed()
                );

                proxy.restore().await;
                assert_eq!(api.stored(&n).await, before, "a refused write stored something");
                let (_, grid) = api.get("/v1/orders").await;
                assert_eq!(grid["orders"].as_array().map(Vec::len), Some(2), "{grid}");
                // Writes failed seconds ago: `/healthz` says so until one goes through.
                let (status, health) = api.get("/healthz").await;
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
                let (status, third) = api.post("/v1/orders", website_check_order("fay@example.com")).await;
                assert_eq!(status, StatusCode::CREATED, "served again: {third}");
                let (status, health) = api.get("/healthz").await;
                assert_eq!(status, StatusCode::OK, "back: {health}");
                admin.close().await.ok();
            }
        }
    })
    .await;
}

/// Rows in the tables a creation or an event writes, read on a connection of its own.
async fn row_counts(conn: &mut sqlx::SqliteConnection) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in
        ["orders", "customers", "order_lines", "order_history", "timers", "outbox", "idempotency_keys"]
    {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"));
        counts.push(n);
    }
    counts
}

/// A full SQLite file (`SQLITE_FULL`, made deterministic with `max_page_count` on every
/// connection): writes are refused `503 database_unavailable`, never 500, with nothing half
/// applied, and `/healthz` is 503 while it lasts. Once space is freed, the same service writes
/// again on every connection of its pool (no reconnect, no restart: a connection SQLite rolled
/// back under sqlx is closed, not reused), timers fire, and `/healthz` is 200 (issue 11, item 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_file_refuses_writes_with_503_and_writes_again_once_space_is_freed() {
    use orderly::store::ConnectOptions;
    use sqlx::{Connection, Executor};
    const PAGES: u32 = 2000;
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("full.db").display());
    let cap = format!("PRAGMA max_page_count = {PAGES}");
    let store =
        Store::connect_with(&url, ConnectOptions { sqlite_pragmas: vec![cap.clone()], ..Default::default() })
            .await
            .expect("store");
    let api = Api::new(store, config(false, "")).await;
    let (status, first) = api.post("/v1/orders", website_check_order("first@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let n = number(&first);

    // Fill the file to its cap from a connection of its own: big rows, then smaller ones.
    let mut side = sqlx::SqliteConnection::connect(&url).await.expect("side connection");
    side.execute(cap.as_str()).await.expect("cap");
    side.execute("CREATE TABLE filler (pad BLOB NOT NULL)").await.expect("filler");
    for size in [65536, 4096, 512, 64, 8] {
        loop {
            match sqlx::query("INSERT INTO filler VALUES (zeroblob($1))").bind(size).execute(&mut side).await
            {
                Ok(_) => continue,
                Err(e) if e.to_string().contains("full") => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
    }

    // Writes until both kinds are refused three times running: what still fits in pages partly
    // free is stored whole (a repeatable event, a `stay` with a note, and new orders).
    let declined = json!({"outcome": "declined", "amount": "549.00"});
    let (mut accepted, mut running, mut i) = (0, 0, 0);
    while running < 6 {
        let (status, text, headers) = if i % 2 == 0 {
            let body = website_check_order(&format!("fill{i}@example.com")).to_string().into_bytes();
            api.raw(Method::POST, "/v1/orders", Some(body)).await
        } else {
            // The key stores the whole answer: a plain one-row INSERT that needs pages of its
            // own, which SQLite answers by rolling the whole transaction back.
            let key = format!("fill-{i}");
            let body =
                json!({"event": "card_declined", "actor": "clerk", "data": declined, "idempotency_key": key});
            let body = body.to_string().into_bytes();
            api.raw(Method::POST, &format!("/v1/orders/{n}/events"), Some(body)).await
        };
        i += 1;
        assert!(i < 1000, "a full file kept taking writes");
        if status.is_success() {
            accepted += 1;
            running = 0;
            continue;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
        assert!(text.contains("\"database_unavailable\""), "{text}");
        assert_eq!(headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
        running += 1;
    }

    // While it lasts: every write refused the same way (on every connection the pool has),
    // nothing half applied, `/healthz` 503; reads still answer.
    let counts = row_counts(&mut side).await;
    let before = api.stored(&n).await;
    let mut refusals = running;
    for i in 0..12 {
        let (status, answer) = if i % 2 == 0 {
            api.post("/v1/orders", website_check_order(&format!("more{i}@example.com"))).await
        } else {
            let key = format!("more-{i}");
            let body =
                json!({"event": "card_declined", "actor": "clerk", "data": declined, "idempotency_key": key});
            api.post(&format!("/v1/orders/{n}/events"), body).await
        };
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
            "write {i}: {answer}"
        );
        refusals += 1;
    }
    assert_eq!(row_counts(&mut side).await, counts, "a refused write stored something");
    assert_eq!(api.stored(&n).await, before);
    let (status, health) = api.get("/healthz").await;
    assert_eq!(
        (status, health["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
        "{health}"
    );
    let (status, _) = api.get(&format!("/v1/orders/{n}")).await;
    assert_eq!(status, StatusCode::OK, "reads need no room");

    // Space freed: the same service writes again, on every pooled connection, and is healthy.
    side.execute("DELETE FROM filler").await.expect("free space");
    let (status, health) = api.get("/healthz").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "writes failed seconds ago and none went through since: {health}"
    );
    for i in 0..20 {
        let (status, answer) =
            api.post("/v1/orders", website_check_order(&format!("back{i}@example.com"))).await;
        assert_eq!(status, StatusCode::CREATED, "write {i} after space was freed: {answer}");
    }
    let (status, paid) =
        api.event(&n, "payment_received", json!({"amount": "549.00", "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    api.service.fire_due_timers().await.expect("timers run again");
    let (status, health) = api.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    eprintln!("full file: {accepted} writes accepted after filling, then {refusals} refused in a row, 21 accepted after freeing");
    side.close().await.ok();
}

/// `/healthz` says whether the database takes writes, not only whether it answers: a probe row
/// is written (and only the newest kept); on PostgreSQL a database turned read-only (what a
/// standby is) makes writes `503 database_unavailable` and `/healthz` 503 while it lasts, and
/// both recover without a restart (issue 11, item 1; the full SQLite file is the test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_whether_the_database_takes_writes() {
    support::on_both_at("healthz_says_whether_the_database_takes_writes", |store, url| async move {
        use orderly::store::Backend;
        use sqlx::{Connection, Executor};
        let backend = store.backend();
        let api = Api::new(store, config(false, "")).await;
        let started = std::time::Instant::now();
        for _ in 0..30 {
            let (status, health) = api.get("/healthz").await;
            assert_eq!(status, StatusCode::OK, "{health}");
            assert_eq!(health, json!({"status": "ok", "database": "ok", "writes": "ok"}));
        }
        let seconds = started.elapsed().as_secs() as i64;
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&url).await.expect("admin connection");
        let (probes, last): (i64, i64) = sqlx::query_as("SELECT COUNT(*), MAX(id) FROM health_probe")
            .fetch_one(&mut admin)
            .await
            .expect("count");
        assert_eq!(probes, 1, "each probe deletes the ones before");
        assert!(
            last <= seconds + 1,
            "30 health checks in {seconds} s made {last} probe writes, not one a second"
        );
        if backend == Backend::Postgres {
            let (db,): (String,) =
                sqlx::query_as("SELECT current_database()::text").fetch_one(&mut admin).await.expect("name");
            let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE datname = current_database() AND pid <> pg_backend_pid()";
            // The last probe answers for a second (a flood of health checks writes once a second).
            tokio::time::sleep(orderly::store::PROBE_FRESH).await;
            admin
                .execute(format!("ALTER DATABASE {db} SET default_transaction_read_only = on").as_str())
                .await
                .expect("read-only");
            admin.execute(terminate).await.expect("terminate");
            let (status, health) = api.get("/healthz").await;
            assert_eq!(
                (status, health["error"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
                "{health}"
            );
            let (status, refused) = api.post("/v1/orders", website_check_order("ro@example.com")).await;
            assert_eq!(
                (status, refused["error"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
                "{refused}"
            );
            let (_, grid) = api.get("/v1/orders").await;
            assert_eq!(
                grid["orders"].as_array().map(Vec::len),
                Some(0),
                "reads answer, nothing stored: {grid}"
            );

            admin
                .execute(format!("ALTER DATABASE {db} RESET default_transaction_read_only").as_str())
                .await
                .expect("writable");
            admin.execute(terminate).await.expect("terminate");
            let (status, health) = api.get("/healthz").await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "a write failed seconds ago and none went through since: {health}"
            );
            let (status, created) = api.post("/v1/orders", website_check_order("ro@example.com")).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let (status, health) = api.get("/healthz").await;
            assert_eq!(status, StatusCode::OK, "{health}");
        }
        admin.close().await.ok();
    })
    .await;
}

/// A channel two active workflows share, neither its default: the order must say which, and
/// the answer names both.
#[tokio::test]
async fn a_channel_in_two_workflows_without_a_default_asks_which() {
    support::on_both("a_channel_in_two_workflows_without_a_default_asks_which", |store| async move {
        let dir = tempfile::tempdir().expect("dir");
        for name in ["retail", "wholesale"] {
            let text = format!(
                "workflow {name} \"{name}\"\nstatus new \"New\"\nstatus done \"Done\" final\nevent ship\n\
                 channel web {{ start in new }}\non ship from new go to done\n"
            );
            std::fs::write(dir.path().join(format!("{name}.flow")), text).expect("write");
        }
        let api = Api::in_dir(store, config(false, ""), dir.path()).await;
        let lines = json!([{"sku": "A", "qty": 1, "unit_price": "1.00"}]);
        let (status, err) = api.post("/v1/orders", json!({"channel": "web", "lines": lines})).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_order")),
            "{err}"
        );
        assert_eq!(problem_fields(&err), ["workflow"], "{err}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains("`retail`") && message.contains("`wholesale`"), "{err}");
        let (status, o) =
            api.post("/v1/orders", json!({"channel": "web", "workflow": "wholesale", "lines": lines})).await;
        assert_eq!((status, o["workflow"].as_str()), (StatusCode::CREATED, Some("wholesale")), "{o}");
    })
    .await;
}

/// A body that breaks off while it is read is 400 `bad_body`; nothing is stored.
#[tokio::test]
async fn a_body_that_breaks_off_is_400_bad_body() {
    struct Broken;
    impl axum::body::HttpBody for Broken {
        type Data = axum::body::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
            std::task::Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))))
        }
    }
    support::on_both("a_body_that_breaks_off_is_400_bad_body", |store| async move {
        let api = Api::new(store, config(false, "")).await;
        for uri in ["/v1/orders", "/v1/orders/ORD1/lock"] {
            let request = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::new(Broken))
                .expect("request");
            let res = api.app.clone().oneshot(request).await.expect("the router answers");
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body");
            let err: Value = serde_json::from_slice(&bytes).expect("a JSON error");
            assert_eq!(
                (status, err["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("bad_body")),
                "{uri}: {err}"
            );
        }
        let (_, grid) = api.get("/v1/orders").await;
        assert_eq!(grid["orders"].as_array().map(Vec::len), Some(0), "{grid}");
    })
    .await;
}

/// A commit the database did not confirm is 503 `outcome_unknown` with `Retry-After: 1` (the
/// service test makes one happen; this is what a client sees of it).
#[tokio::test]
async fn an_unknown_outcome_is_503_with_retry_after() {
    use axum::response::IntoResponse;
    let answer = orderly::http::error::ApiError::from(orderly::service::ServiceError::OutcomeUnknown(
        "connection reset during COMMIT".into(),
    ))
    .into_response();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("1"));
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20).await.expect("body");
    let err: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(err["error"], "outcome_unknown");
    assert!(
        !err["message"].as_str().unwrap_or_default().contains("connection reset"),
        "the cause is logged, not sent: {err}"
    );
}
