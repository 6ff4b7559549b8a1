//! Customers by hand (issue 14: Find Cust and Create Cust), through the HTTP API and the
//! service, on SQLite and PostgreSQL: search by email, name, company and postal code with `%`
//! and `_` taken literally; creation with its checks and the email claim; linking an order to a
//! customer (the `possible_duplicate` flag clears, the history names the actor, another
//! holder's lock refuses it and changes nothing); merging two customers (the one merged away is
//! kept, marked `merged_into`); and the replay of a linked order.

use crate::support::{self, t0};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use orderly::config::Config;
use orderly::engine::{EventInput, NewOrder, RejectionCode};
use orderly::http::{app, AppState};
use orderly::metrics::Metrics;
use orderly::registry::Registry;
use orderly::replay::{replay, Input, ReplayOptions, ReplayState, Replayer};
use orderly::service::{ManualClock, NewCustomer, Service, ServiceError};
use orderly::store::{RecordedQuery, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

struct Api {
    app: Router,
    service: Arc<Service>,
    clock: Arc<ManualClock>,
}

impl Api {
    async fn new(store: Store) -> Api {
        let registry = Registry::load(Path::new("workflows"), &store).await.expect("workflows load");
        let clock = Arc::new(ManualClock::new(t0()));
        let service = Arc::new(Service::serving(store, registry, clock.clone()));
        let config = Config::from_toml("", Path::new("orderly.toml"), |_| None).expect("config");
        let state = AppState::new(service.clone(), config, Arc::new(Metrics::new()), None);
        Api { app: app(state), service, clock }
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder().method(method).uri(uri);
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let res = self.app.clone().oneshot(req).await.expect("the router answers");
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, None).await
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(body)).await
    }

    /// Creates a customer; its id.
    async fn customer(&self, body: Value) -> i64 {
        let (status, c) = self.post("/v1/customers", body).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        c["id"].as_i64().expect("an id")
    }

    /// The ids of the customers a search finds, in the order found.
    async fn search(&self, q: &str) -> Vec<i64> {
        let q: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
        let (status, found) = self.get(&format!("/v1/customers?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        found["customers"]
            .as_array()
            .expect("customers")
            .iter()
            .map(|c| c["id"].as_i64().expect("id"))
            .collect()
    }

    /// Creates an order; the stored order.
    async fn order(&self, order: NewOrder) -> orderly::order::Order {
        self.service.create_order(&order).await.expect("created").order
    }

    /// Everything stored about an order, to show that a refusal changed nothing.
    async fn stored(&self, number: &str) -> String {
        let o = self.service.order(number).await.expect("order");
        let h = self.service.store().history(o.id).await.expect("history");
        let inputs = self
            .service
            .store()
            .recorded_orders(&RecordedQuery::default(), o.id - 1, 1)
            .await
            .expect("inputs");
        format!("{}\n{h:?}\n{inputs:?}", serde_json::to_string(&o).expect("json"))
    }
}

/// A shopping-cart order (special orders), paid at checkout.
fn cart_order(email: &str, first: &str, last: &str, company: &str, zip: &str) -> NewOrder {
    serde_json::from_value(json!({
        "channel": "cart_import",
        "customer": {"email": email, "first_name": first, "last_name": last, "company": company},
        "shipping_address": {"first_name": first, "last_name": last, "address": "1 Main St", "city": "Albany", "state": "NY", "zip": zip},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "STAND-M", "qty": 4, "unit_price": "15.00", "in_stock": true}],
    }))
    .expect("a valid order")
}

/// A retail website order paid by check.
fn website_order(email: &str, last: &str) -> NewOrder {
    serde_json::from_value(json!({
        "channel": "website",
        "customer": {"email": email, "first_name": "Ann", "last_name": last},
        "shipping_address": {"address": "12 Elm St", "city": "Albany", "state": "NY", "zip": "12207"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{"sku": "GTR-1", "qty": 1, "unit_price": "499.00", "in_stock": true}],
    }))
    .expect("a valid order")
}

/// Gina's first order (her music school, customer A) and one for her band under the same
/// email: a new customer B, and the order flagged `possible_duplicate`.
async fn gina(api: &Api) -> (orderly::order::Order, orderly::order::Order) {
    let school =
        api.order(cart_order("gina@example.com", "Gina", "Ortiz", "Ortiz Music School", "12207")).await;
    let band = api.order(cart_order("gina@example.com", "Gina", "Ortiz", "Valley Youth Band", "12207")).await;
    assert!(band.flags.contains("possible_duplicate"), "{:?}", band.flags);
    assert_ne!(school.customer.id, band.customer.id);
    (school, band)
}

fn id_of(order: &orderly::order::Order) -> i64 {
    order.customer.id.expect("a linked customer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_by_email_name_company_and_zip_and_takes_wildcards_literally() {
    support::on_both("search_finds_by_email_name_company_and_zip_and_takes_wildcards_literally", |store| async move {
        let api = Api::new(store).await;
        let ann = api
            .customer(json!({"email": "Ann.Lee@Example.com", "first_name": "Ann", "last_name": "Lee", "company": "Acme Music", "zip": "SW1A 1AA"}))
            .await;
        let bob = api
            .customer(json!({"email": "bob_smith@example.com", "first_name": "Bob", "last_name": "Smith", "company": "100% Guitars", "zip": "12207"}))
            .await;
        let phone = api.customer(json!({"phone": "555-0100", "last_name": "Cole"})).await;

        assert_eq!(api.search("  ANN.LEE@example.COM ").await, [ann], "email, trimmed and lowercased");
        assert_eq!(api.search("lee").await, [ann], "last name");
        assert_eq!(api.search("ann  lee").await, [ann], "first and last name");
        assert_eq!(api.search("cole").await, [phone], "a last name alone");
        assert_eq!(api.search("acme").await, [ann], "company");
        assert_eq!(api.search("sw1a 1aa").await, [ann], "postal code without spaces");
        assert_eq!(api.search("SW1A").await, [ann], "postal code, its start");
        assert_eq!(api.search("1220").await, [bob]);
        assert_eq!(api.search("example.com").await, [bob, ann], "newest first");
        // The email that is the query comes first, whatever its age.
        assert_eq!(api.search("ann.lee@example.com").await, [ann]);
        // Wildcards are plain characters.
        assert_eq!(api.search("%").await, [bob], "only the company with a percent sign");
        assert_eq!(api.search("100%").await, [bob]);
        assert_eq!(api.search("_").await, [bob], "only the email with an underscore");
        assert_eq!(api.search("b_b").await, Vec::<i64>::new(), "`_` is no wildcard");
        assert_eq!(api.search("a%e").await, Vec::<i64>::new(), "`%` is no wildcard");
        assert_eq!(api.search("\\").await, Vec::<i64>::new());
        assert_eq!(api.search("'; DROP TABLE customers; --").await, Vec::<i64>::new());
        assert_eq!(api.search("").await, [phone, bob, ann], "no query: the newest");

        // Each with its orders counted.
        api.order(website_order("ann.lee@example.com", "Lee")).await;
        let (_, found) = api.get("/v1/customers?q=acme").await;
        let c = &found["customers"][0];
        assert_eq!(c["orders"], 1, "{found}");
        assert_eq!((&c["email"], &c["first_name"], &c["company"], &c["is_guest"]), (&json!("Ann.Lee@Example.com"), &json!("Ann"), &json!("Acme Music"), &json!(false)));
        assert_eq!(c["created_at"], json!("2026-03-02T09:00:00Z"), "{c}");

        // Bounds: the limit and the query's length.
        let (_, two) = api.get("/v1/customers?limit=2").await;
        assert_eq!(two["customers"].as_array().map(Vec::len), Some(2));
        for bad in ["/v1/customers?limit=0".to_string(), "/v1/customers?limit=101".into(), format!("/v1/customers?q={}", "a".repeat(201)), "/v1/customers?x=1".into()] {
            let (status, err) = api.get(&bad).await;
            assert_eq!((status, &err["error"]), (StatusCode::BAD_REQUEST, &json!("bad_query")), "{bad}: {err}");
        }
        let (status, _) = api.get(&format!("/v1/customers?q={}", "a".repeat(200))).await;
        assert_eq!(status, StatusCode::OK);
        // Control characters are searched for as they are (a NUL, which PostgreSQL refuses, too).
        assert_eq!(api.search("a\0b").await, Vec::<i64>::new());
        assert_eq!(api.search("\u{8c}$h").await, Vec::<i64>::new());
        match api.service.search_customers(&"x".repeat(201), 20).await {
            Err(ServiceError::Rejected(r)) => assert_eq!(r.code, RejectionCode::InvalidData),
            other => panic!("a long query: {other:?}"),
        }
        assert_eq!(api.service.search_customers("", 1000).await.expect("clamped").len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_checks_its_fields_and_the_first_customer_for_an_email_claims_it() {
    support::on_both_at("create_checks_its_fields_and_the_first_customer_for_an_email_claims_it", |store, url| async move {
        let api = Api::new(store).await;
        let cases = [
            (json!({"email": "not an address", "last_name": "Lee"}), "email"),
            (json!({"email": "ann@example", "last_name": "Lee"}), "email"),
            (json!({"last_name": "Lee"}), "email"),
            (json!({"email": "ann@example.com"}), "last_name"),
            (json!({"email": "ann@example.com", "last_name": "x".repeat(201)}), "last_name"),
            (json!({"phone": "5".repeat(65), "company": "Acme"}), "phone"),
        ];
        for (body, field) in cases {
            let (status, err) = api.post("/v1/customers", body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
            assert_eq!(err["error"], "invalid_data", "{err}");
            assert!(err["problems"].as_array().expect("problems").iter().any(|p| p["field"] == field), "{body}: {err}");
        }
        let (status, err) = api.post("/v1/customers", json!({"email": "a@b.co", "last_name": "Lee", "age": 3})).await;
        assert_eq!((status, &err["error"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_body")), "{err}");
        assert_eq!(api.search("").await, Vec::<i64>::new(), "nothing refused was stored");

        // Created by hand, a customer claims its new email: an order with that email and no
        // company is matched to it.
        let (status, created) = api.post("/v1/customers", json!({"email": " New@Example.com ", "first_name": "Nia", "last_name": "Park", "phone": "555-0101", "zip": "12207"})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!((&created["email"], &created["orders"], &created["is_guest"]), (&json!("New@Example.com"), &json!(0), &json!(false)));
        let nia = created["id"].as_i64().expect("id");
        let second = api.customer(json!({"email": "new@example.com", "last_name": "Park", "company": "Park Pianos"})).await;
        let order = api.order(website_order("new@example.com", "Park")).await;
        assert_eq!(order.customer.id, Some(nia), "the first customer with the email");
        assert!(!order.customer.is_new);
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
        let claims: Vec<(String, i64)> = sqlx::query_as("SELECT email_norm, customer_id FROM customer_emails ORDER BY email_norm")
            .fetch_all(&pool)
            .await
            .expect("claims");
        assert_eq!(claims, [("new@example.com".to_string(), nia)], "the second ({second}) claims nothing");
        pool.close().await;

        let (status, view) = api.get(&format!("/v1/customers/{nia}")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["customer"]["orders"], 1);
        assert_eq!(view["orders"][0]["number"], json!(order.number));
        assert_eq!(view["orders"][0]["status"], "awaiting_payment");
        let (status, err) = api.get("/v1/customers/999999").await;
        assert_eq!((status, &err["error"]), (StatusCode::NOT_FOUND, &json!("customer_not_found")), "{err}");
        let (status, err) = api.get("/v1/customers/abc").await;
        assert_eq!((status, &err["error"]), (StatusCode::BAD_REQUEST, &json!("bad_path")), "{err}");
        let input = NewCustomer { phone: "555-0102".into(), company: "Acme".into(), ..NewCustomer::default() };
        assert_eq!(api.service.create_customer(&input).await.expect("a phone customer").email, "");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_an_order_clears_possible_duplicate_and_records_the_actor() {
    support::on_both("linking_an_order_clears_possible_duplicate_and_records_the_actor", |store| async move {
        let api = Api::new(store).await;
        let (school, band) = gina(&api).await;
        let (a, b) = (id_of(&school), id_of(&band));
        // Create Order waits while the customer is in doubt.
        let create_order = EventInput { name: "create_order".into(), actor: Some("alice".into()), ..EventInput::default() };
        api.service.apply_event(&band.number, &EventInput { name: "cart_orders".into(), ..EventInput::default() }, None).await.expect("in the grid");
        assert!(api.service.apply_event(&band.number, &create_order, None).await.is_err());
        let before = api.service.order(&band.number).await.expect("order");

        api.clock.advance(chrono::Duration::minutes(1));
        let uri = format!("/v1/orders/{}/customer", band.number);
        let (status, view) = api.post(&uri, json!({"customer_id": a, "actor": "alice"})).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["customer"]["id"], a);
        assert_eq!(view["customer"]["company"], "Ortiz Music School");
        assert_eq!(view["flags"], json!(["in_import_grid"]));
        assert_eq!(view["version"], before.version + 1);
        let history = view["history"].as_array().expect("the whole history");
        let linked = history.iter().find(|h| h["kind"] == "customer_linked").expect("a customer_linked row");
        assert_eq!(linked["actor"], "alice");
        assert_eq!(linked["detail"], json!({"customer_id": a, "previous": b}));
        let flag = history.iter().find(|h| h["kind"] == "flag" && h["detail"]["cleared"] == "possible_duplicate");
        assert_eq!(flag.expect("the flag's row")["actor"], "alice");

        // Stored: the body's customer and the column both (the customer's orders list it).
        let stored = api.service.order(&band.number).await.expect("order");
        assert_eq!(stored.customer.id, Some(a));
        assert!(!stored.flags.contains("possible_duplicate"));
        let (_, view_a) = api.get(&format!("/v1/customers/{a}")).await;
        assert_eq!(view_a["customer"]["orders"], 2, "{view_a}");
        assert_eq!(view_a["orders"][0]["number"], json!(band.number), "newest first");
        let (_, view_b) = api.get(&format!("/v1/customers/{b}")).await;
        assert_eq!(view_b["customer"]["orders"], 0, "{view_b}");
        let recorded = api.service.store().recorded_orders(&RecordedQuery::default(), band.id - 1, 1).await.expect("inputs");
        let last = recorded[0].inputs.last().expect("inputs");
        assert_eq!(last.input.kind(), "link_customer");
        assert!(matches!(&last.input, Input::LinkCustomer { customer, actor } if customer.id == Some(a) && actor.as_deref() == Some("alice")));

        // Now Create Order goes through.
        let applied = api.service.apply_event(&band.number, &create_order, None).await.expect("Create Order");
        assert_eq!(applied.order.status, "invoiced");

        // Unknown customer, unknown order.
        let (status, err) = api.post(&uri, json!({"customer_id": 999999})).await;
        assert_eq!((status, &err["error"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_data")), "{err}");
        assert_eq!(err["problems"][0]["field"], "customer_id", "{err}");
        let (status, err) = api.post("/v1/orders/NOPE-1/customer", json!({"customer_id": a})).await;
        assert_eq!((status, &err["error"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{err}");
        let (status, err) = api.post(&uri, json!({"customer_id": a, "actor": "x".repeat(201)})).await;
        assert_eq!((status, &err["error"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_body")), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_refused_while_another_holder_has_the_lock_and_changes_nothing() {
    support::on_both(
        "a_link_is_refused_while_another_holder_has_the_lock_and_changes_nothing",
        |store| async move {
            let api = Api::new(store).await;
            let first = api.order(website_order("lou@example.com", "Lou")).await;
            let other = api
                .customer(json!({"email": "lou.work@example.com", "first_name": "Lou", "last_name": "Reed"}))
                .await;
            api.service.lock(&first.number, "bob", chrono::Duration::minutes(15)).await.expect("locked");
            let before = api.stored(&first.number).await;

            let uri = format!("/v1/orders/{}/customer", first.number);
            let (status, err) = api.post(&uri, json!({"customer_id": other, "actor": "alice"})).await;
            assert_eq!((status, &err["error"]), (StatusCode::LOCKED, &json!("locked")), "{err}");
            assert!(err["message"].as_str().unwrap_or_default().contains("bob"), "{err}");
            match api.service.link_customer(&first.number, other, None).await {
                Err(ServiceError::Rejected(r)) => assert_eq!(r.code, RejectionCode::Locked),
                other => panic!("no actor is not the holder: {other:?}"),
            }
            assert_eq!(api.stored(&first.number).await, before, "a refused link changed something");

            // The holder links it.
            let applied =
                api.service.link_customer(&first.number, other, Some("bob")).await.expect("the holder links");
            assert_eq!(applied.order.customer.id, Some(other));
            assert_eq!(applied.order.customer.email, "lou.work@example.com");
            assert_eq!(applied.order.status, "awaiting_payment", "the retail order stays where it was");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_moves_every_order_and_marks_the_other_merged() {
    support::on_both_at("merging_moves_every_order_and_marks_the_other_merged", |store, url| async move {
        let api = Api::new(store).await;
        let (school, band) = gina(&api).await;
        let band2 =
            api.order(cart_order("gina@example.com", "Gina", "Ortiz", "Ortiz Music School", "12207")).await;
        let (a, b) = (id_of(&school), id_of(&band));
        assert_eq!(id_of(&band2), a);

        // Refusals first: nothing changes.
        let (status, err) = api.post(&format!("/v1/customers/{a}/merge"), json!({"from": a})).await;
        assert_eq!(
            (status, &err["error"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_data")),
            "{err}"
        );
        assert!(err["message"].as_str().unwrap_or_default().contains("itself"), "{err}");
        let (status, err) = api.post(&format!("/v1/customers/{b}/merge"), json!({"from": 999999})).await;
        assert_eq!(
            (status, &err["error"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_data")),
            "{err}"
        );
        assert_eq!(err["problems"][0]["field"], "from", "{err}");
        let (status, err) = api.post("/v1/customers/999999/merge", json!({"from": a})).await;
        assert_eq!((status, &err["error"]), (StatusCode::NOT_FOUND, &json!("customer_not_found")), "{err}");

        // A's orders are locked by someone else: the merge stops at the first, moving none.
        api.service.lock(&school.number, "carol", chrono::Duration::minutes(15)).await.expect("locked");
        let (status, err) =
            api.post(&format!("/v1/customers/{b}/merge"), json!({"from": a, "actor": "alice"})).await;
        assert_eq!((status, &err["error"]), (StatusCode::LOCKED, &json!("locked")), "{err}");
        assert_eq!(api.service.order(&school.number).await.expect("order").customer.id, Some(a));
        api.service.unlock(&school.number, "carol").await.expect("unlocked");

        // Merged into B (the band's customer); A, which held the email's claim, goes.
        let (status, merged) =
            api.post(&format!("/v1/customers/{b}/merge"), json!({"from": a, "actor": "alice"})).await;
        assert_eq!(status, StatusCode::OK, "{merged}");
        assert_eq!((&merged["into"], &merged["from"]), (&json!(b), &json!(a)));
        let moved: Vec<&str> =
            merged["moved"].as_array().expect("moved").iter().filter_map(|o| o["number"].as_str()).collect();
        assert_eq!(moved, [school.number.as_str(), band2.number.as_str()]);
        for n in [&school.number, &band2.number] {
            let o = api.service.order(n).await.expect("order");
            assert_eq!(o.customer.id, Some(b));
            let history = api.service.store().history(o.id).await.expect("history");
            let row = history.iter().find(|h| h.entry.kind == "customer_linked").expect("recorded");
            assert_eq!(row.entry.actor.as_deref(), Some("alice"));
            assert_eq!(row.entry.detail, json!({"customer_id": b, "previous": a}));
        }
        // A is kept, marked: it still answers, search skips it, nothing links to it.
        let (status, view_a) = api.get(&format!("/v1/customers/{a}")).await;
        assert_eq!(status, StatusCode::OK, "{view_a}");
        assert_eq!(
            (&view_a["customer"]["merged_into"], &view_a["customer"]["orders"]),
            (&json!(b), &json!(0))
        );
        assert_eq!(api.search("gina").await, [b], "merged customers are not found");
        let (status, err) =
            api.post(&format!("/v1/orders/{}/customer", band.number), json!({"customer_id": a})).await;
        assert_eq!(
            (status, &err["error"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_data")),
            "{err}"
        );
        assert!(
            err["message"].as_str().unwrap_or_default().contains(&format!("merged into customer {b}")),
            "{err}"
        );
        let (status, err) = api.post(&format!("/v1/customers/{a}/merge"), json!({"from": b})).await;
        assert_eq!(
            (status, &err["error"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_data")),
            "{err}"
        );
        // The same merge again: answered, nothing moved.
        let (status, again) = api.post(&format!("/v1/customers/{b}/merge"), json!({"from": a})).await;
        assert_eq!((status, &again["moved"]), (StatusCode::OK, &json!([])), "{again}");
        let (_, view_b) = api.get(&format!("/v1/customers/{b}")).await;
        assert_eq!(view_b["customer"]["orders"], 3, "{view_b}");
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
        let claims: Vec<(String, i64)> =
            sqlx::query_as("SELECT email_norm, customer_id FROM customer_emails")
                .fetch_all(&pool)
                .await
                .expect("claims");
        assert_eq!(claims, [("gina@example.com".to_string(), b)], "the claim moved to B");

        // A customer under another email merged in: its claim comes along, and its email's
        // next order (no company to tell) is matched to the customer kept.
        let carl = api.order(cart_order("carl@example.com", "Carl", "Ortiz", "", "90210")).await;
        let c = id_of(&carl);
        let merged = api.service.merge_customers(b, c, Some("alice")).await.expect("merged");
        assert_eq!(
            merged.moved.iter().map(|o| o.number.as_str()).collect::<Vec<_>>(),
            [carl.number.as_str()]
        );
        let again = api.order(cart_order("Carl@Example.com", "Carl", "Ortiz", "", "90210")).await;
        assert_eq!(again.customer.id, Some(b), "matched through the moved claim");
        assert!(!again.customer.is_new && !again.flags.contains("possible_duplicate"));
        let gina_again = api.order(cart_order("gina@example.com", "Gina", "Ortiz", "", "12207")).await;
        assert_eq!(gina_again.customer.id, Some(b));
        let mut claims: Vec<(String, i64)> =
            sqlx::query_as("SELECT email_norm, customer_id FROM customer_emails")
                .fetch_all(&pool)
                .await
                .expect("claims");
        claims.sort();
        assert_eq!(claims, [("carl@example.com".to_string(), b), ("gina@example.com".to_string(), b)]);
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE merged_into IS NULL")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(live, 1, "A and C are merged into B");

        // B merged into a customer made by hand: A and C, merged into B, now name it.
        let d = api
            .customer(json!({"email": "gina.ortiz@example.com", "first_name": "Gina", "last_name": "Ortiz"}))
            .await;
        let merged = api.service.merge_customers(d, b, Some("alice")).await.expect("merged");
        assert_eq!(merged.moved.len(), 6, "{merged:?}");
        let into: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, merged_into FROM customers ORDER BY id")
                .fetch_all(&pool)
                .await
                .expect("rows");
        assert_eq!(into, [(a, Some(d)), (b, Some(d)), (c, Some(d)), (d, None)]);
        let mut claims: Vec<(String, i64)> =
            sqlx::query_as("SELECT email_norm, customer_id FROM customer_emails")
                .fetch_all(&pool)
                .await
                .expect("claims");
        claims.sort();
        let emails = ["carl@example.com", "gina.ortiz@example.com", "gina@example.com"];
        assert_eq!(claims, emails.map(|e| (e.to_string(), d)));
        pool.close().await;
        match api.service.merge_customers(b, c, None).await {
            Err(ServiceError::Rejected(r)) => assert_eq!(r.code, RejectionCode::InvalidData),
            other => panic!("B is merged: {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_of_a_linked_order_reproduces_it() {
    support::on_both("the_replay_of_a_linked_order_reproduces_it", |store| async move {
        let api = Api::new(store.clone()).await;
        let (school, band) = gina(&api).await;
        let minute = chrono::Duration::minutes(1);
        api.clock.advance(minute);
        api.service
            .apply_event(
                &band.number,
                &EventInput { name: "cart_orders".into(), ..EventInput::default() },
                None,
            )
            .await
            .expect("grid");
        api.clock.advance(minute);
        api.service.link_customer(&band.number, id_of(&school), Some("alice")).await.expect("linked");
        api.clock.advance(minute);
        let create_order = EventInput { name: "create_order".into(), ..EventInput::default() };
        api.service.apply_event(&band.number, &create_order, None).await.expect("Create Order");
        let stored = api.service.order(&band.number).await.expect("order");

        // The engine's replay of its inputs comes to the same order.
        let registry = api.service.registry();
        let active = registry.get("special_orders").expect("the workflow");
        let hooks = registry.hooks();
        let replayer = Replayer::new(&active.workflow, &*hooks);
        let recorded =
            store.recorded_orders(&RecordedQuery::default(), band.id - 1, 1).await.expect("inputs");
        let kinds: Vec<&str> = recorded[0].inputs.iter().map(|r| r.input.kind()).collect();
        assert_eq!(kinds, ["create", "event", "link_customer", "event"]);
        let mut state = ReplayState::default();
        for r in &recorded[0].inputs {
            replayer
                .step(&mut state, &r.input, r.at)
                .unwrap_or_else(|e| panic!("{}: {e:?}", r.input.label()));
        }
        let replayed = state.order().expect("the order");
        assert_eq!(replayed.customer, stored.customer);
        assert_eq!(replayed.flags, stored.flags);
        assert_eq!((replayed.status.as_str(), replayed.version), (stored.status.as_str(), stored.version));

        // And `orderly replay` on the unchanged workflows finds nothing to report.
        let checked = Registry::check(Path::new("workflows")).expect("the shipped workflows check");
        let options =
            ReplayOptions { as_of: Some(t0() + chrono::Duration::hours(1)), ..ReplayOptions::default() };
        let report = replay(&store, &checked, &options).await.expect("replays");
        assert!(!report.differs(), "{}", report.render());
        assert!(report.not_replayable.is_empty(), "{}", report.render());
        assert_eq!(report.replayed, 2);
    })
    .await;
}
