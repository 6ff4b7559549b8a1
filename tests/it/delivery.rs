//! Delivery of outbox messages to a real HTTP receiver on a loopback port (issue 6, webhooks),
//! on SQLite and PostgreSQL: a repair-store order reaches the CRM once, signed, and the CRM's
//! answer moves it on; 500, 500, 200 is three deliveries; a receiver that never answers makes
//! the message dead, flags the order `integration_failed`, and the stuck-order timer still fires;
//! a process that dies after the commit (or mid-send) loses nothing and the message arrives once.
//!
//! The worker is driven round by round (`Worker::run_once`) on the service's manual clock, with
//! tiny timeouts and no backoff; the kill test runs the real binary twice on one SQLite file.

use crate::support;
use crate::support::{copy_dir, free_port, t0};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use orderly::config::{Config, DeliverySettings, WebhookSettings};
use orderly::delivery::Worker;
use orderly::engine::{EventInput, NewOrder};
use orderly::http::{app, AppState};
use orderly::metrics::Metrics;
use orderly::registry::Registry;
use orderly::service::{ManualClock, Service};
use orderly::store::Store;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::on_both;
use tower::ServiceExt;

const SECRET: &str = "crm-test-secret-0123456789";

// ------------------------------------------------------------------ the receiver (the "CRM")

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    idempotency_key: String,
    attempt: String,
    order: String,
    event: String,
    signature_ok: bool,
    body: Value,
}

type Answer = Pin<Box<dyn Future<Output = StatusCode> + Send>>;
type Script = Arc<dyn Fn(usize, Value) -> Answer + Send + Sync>;

struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    url: String,
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Script,
}

/// `X-Orderly-Signature` checked as docs/integrations.md says a receiver should.
fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let timestamp = get("x-orderly-timestamp");
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let Some(hex) = get("x-orderly-signature").strip_prefix("sha256=").map(str::to_string) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()) else { return false };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    match bytes {
        Some(bytes) => mac.verify_slice(&bytes).is_ok(),
        None => false,
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let hit = Hit {
        idempotency_key: get("idempotency-key"),
        attempt: get("x-orderly-attempt"),
        order: get("x-orderly-order"),
        event: get("x-orderly-event"),
        signature_ok: verify(&headers, &body),
        body: json.clone(),
    };
    let n = {
        let mut hits = state.hits.lock().expect("hits");
        hits.push(hit);
        hits.len()
    };
    (state.script)(n, json).await
}

/// A receiver on a free loopback port answering each request (the 1st, 2nd, ...) as `script`
/// says.
async fn receiver(script: Script) -> Receiver {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let state = ReceiverState { hits: hits.clone(), script };
    let router = axum::Router::new().route("/crm", axum::routing::post(receive)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/crm", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Receiver { hits, url }
}

impl Receiver {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }
}

/// A script that answers `statuses` in turn (the last one from then on) and, on a 2xx, posts
/// Salesforce's `crm_accepted` back through the service first, as the real CRM would.
fn answers(service: Option<Arc<Service>>, statuses: &[u16]) -> Script {
    let statuses = statuses.to_vec();
    Arc::new(move |n, body| {
        let status = StatusCode::from_u16(statuses[(n - 1).min(statuses.len() - 1)]).expect("status");
        let service = service.clone();
        Box::pin(async move {
            if let (true, Some(service)) = (status.is_success(), service) {
                let number = body["ecommerce_order_number"].as_str().unwrap_or_default().to_string();
                let mut data = serde_json::Map::new();
                data.insert("order_kind".into(), body["kind"].clone());
                data.insert("opportunity_id".into(), json!("006X000001"));
                data.insert("quote_id".into(), json!("801X000001"));
                let event =
                    EventInput { name: "crm_accepted".into(), data, actor: Some("salesforce".into()) };
                service.apply_event(&number, &event, None).await.expect("crm_accepted applies");
            }
            status
        })
    })
}

/// A receiver that never answers.
fn silent() -> Script {
    Arc::new(|_, _| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK
        })
    })
}

// ------------------------------------------------------------------ the service and its worker

async fn service(store: Store) -> (Arc<Service>, Arc<ManualClock>) {
    let registry = Registry::load(Path::new("workflows"), &store).await.expect("workflows load");
    let clock = Arc::new(ManualClock::new(t0()));
    (Arc::new(Service::serving(store, registry, clock.clone())), clock)
}

fn target(url: &str, timeout_ms: u64, max_attempts: u32) -> BTreeMap<String, WebhookSettings> {
    let crm = WebhookSettings { url: url.into(), secret: SECRET.into(), timeout_ms, max_attempts };
    BTreeMap::from([("crm".to_string(), crm)])
}

fn pacing() -> DeliverySettings {
    DeliverySettings { interval_ms: 20, backoff_base_ms: 0, backoff_max_ms: 0, lease_seconds: 60 }
}

/// A card-paid website order for a new product: it starts in Order Placed, which sends the
/// `crm` webhook (built by `crm_payload.rhai`) and starts the stuck-order timer.
fn repair_store_order(email: &str) -> NewOrder {
    serde_json::from_value(json!({
        "workflow": "repair_store",
        "channel": "website",
        "customer": {"email": email, "first_name": "Garth", "last_name": "Markey", "company": "Markey Metals"},
        "shipping_address": {"address": "400 Foundry Rd", "city": "Pittsburgh", "state": "PA", "zip": "15201"},
        "payment": {"method": "credit_card", "outcome": "approved", "reference": "auth-55120"},
        "lines": [{"sku": "ATS-SENSOR-2", "description": "Position sensor", "qty": 1, "unit_price": "310.00"}]
    }))
    .expect("order")
}

/// Runs delivery rounds until `done` holds (or 15 s pass).
async fn deliver_until<F, Fut>(worker: &Worker, what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
        worker.run_once().await.expect("a delivery round");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn outbox_state(store: &Store, order: i64) -> Vec<(String, i64)> {
    store.outbox(Some(order)).await.expect("outbox").into_iter().map(|m| (m.state, m.attempts)).collect()
}

async fn deliveries(store: &Store, order: i64) -> Vec<Value> {
    let history = store.history(order).await.expect("history");
    history.into_iter().filter(|h| h.entry.kind == "delivery").map(|h| h.entry.detail).collect()
}

// ------------------------------------------------------------------ the tests

#[tokio::test]
async fn an_order_reaches_the_crm_once_signed_and_its_answer_moves_it_on() {
    on_both("an_order_reaches_the_crm_once_signed_and_its_answer_moves_it_on", |store| async move {
        let (service, _clock) = service(store.clone()).await;
        let crm = receiver(answers(Some(service.clone()), &[200])).await;
        let metrics = Arc::new(Metrics::new());
        let worker =
            Worker::with(service.clone(), target(&crm.url, 2000, 5), pacing(), None, Some(metrics.clone()));
        let created = service.create_order(&repair_store_order("garth@example.com")).await.expect("created");
        let order = created.order;
        assert_eq!(order.status, "order_placed");
        assert_eq!(
            outbox_state(&store, order.id).await,
            [("pending".to_string(), 0)],
            "queued with the order"
        );
        assert!(crm.hits().is_empty(), "nothing is sent before the worker runs");

        let s = store.clone();
        deliver_until(&worker, "the message to be sent", || {
            let s = s.clone();
            async move { outbox_state(&s, order.id).await == [("sent".to_string(), 1)] }
        })
        .await;
        for _ in 0..3 {
            worker.run_once().await.expect("an idle round");
        }
        let hits = crm.hits();
        assert_eq!(hits.len(), 1, "exactly once: {hits:?}");
        let hit = &hits[0];
        assert!(hit.signature_ok, "the signature verifies: {hit:?}");
        let id = store.outbox(Some(order.id)).await.expect("outbox")[0].id;
        assert_eq!(hit.idempotency_key, format!("orderly-{id}"));
        assert_eq!(hit.order, order.number);
        assert_eq!(hit.attempt, "1");
        assert_eq!(
            hit.body["ecommerce_order_number"],
            json!(order.number),
            "the payload hook built the body"
        );
        assert_eq!(hit.body["contact"]["email"], "garth@example.com");

        let after = service.order(&order.number).await.expect("order");
        assert_eq!(after.status, "in_process", "the CRM's answer moved it on");
        assert_eq!(after.attributes["opportunity_id"], json!("006X000001"));
        let rows = deliveries(&store, order.id).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["outcome"], "sent");
        assert_eq!(rows[0]["status"], 200);
        assert_eq!(rows[0]["target"], "crm");
        let m = store.outbox_message(id).await.expect("read").expect("message");
        assert!(m.sent_at.is_some() && m.last_status == Some(200), "{m:?}");

        let page = metrics.render(&orderly::metrics::Snapshot {
            outbox_by_state: store.outbox_counts().await.expect("counts"),
            ..Default::default()
        });
        assert!(page.contains(r#"orderly_outbox_sent_total{kind="webhook",target="crm"} 1"#), "{page}");
        assert!(page.contains(r#"orderly_outbox_messages{state="sent"} 1"#), "{page}");
        assert!(page.contains("orderly_delivery_latency_seconds_count 1"), "{page}");
    })
    .await;
}

#[tokio::test]
async fn a_crm_that_fails_twice_gets_the_message_three_times_and_the_order_moves_on() {
    on_both(
        "a_crm_that_fails_twice_gets_the_message_three_times_and_the_order_moves_on",
        |store| async move {
            let (service, _clock) = service(store.clone()).await;
            let crm = receiver(answers(Some(service.clone()), &[500, 500, 200])).await;
            let metrics = Arc::new(Metrics::new());
            let worker = Worker::with(
                service.clone(),
                target(&crm.url, 2000, 5),
                pacing(),
                None,
                Some(metrics.clone()),
            );
            let order =
                service.create_order(&repair_store_order("twice@example.com")).await.expect("created").order;
            let s = store.clone();
            deliver_until(&worker, "the message to be sent", || {
                let s = s.clone();
                async move { outbox_state(&s, order.id).await == [("sent".to_string(), 3)] }
            })
            .await;
            worker.run_once().await.expect("an idle round");
            let hits = crm.hits();
            assert_eq!(hits.len(), 3, "{hits:?}");
            assert!(hits.iter().all(|h| h.signature_ok), "{hits:?}");
            assert!(
                hits.iter().all(|h| h.idempotency_key == hits[0].idempotency_key),
                "one key for every attempt"
            );
            assert_eq!(hits.iter().map(|h| h.attempt.as_str()).collect::<Vec<_>>(), ["1", "2", "3"]);
            let rows = deliveries(&store, order.id).await;
            let outcomes: Vec<_> = rows
                .iter()
                .map(|r| (r["attempt"].clone(), r["outcome"].clone(), r["status"].clone()))
                .collect();
            assert_eq!(
                outcomes,
                [
                    (json!(1), json!("retry"), json!(500)),
                    (json!(2), json!("retry"), json!(500)),
                    (json!(3), json!("sent"), json!(200))
                ],
                "three attempts in the history"
            );
            let after = service.order(&order.number).await.expect("order");
            assert_eq!(after.status, "in_process");
            assert!(!after.flags.contains("integration_failed"));
            let page = metrics.render(&orderly::metrics::Snapshot::default());
            assert!(
                page.contains(r#"orderly_outbox_retried_total{kind="webhook",target="crm"} 2"#),
                "{page}"
            );
            assert!(page.contains(r#"orderly_outbox_sent_total{kind="webhook",target="crm"} 1"#), "{page}");
        },
    )
    .await;
}

#[tokio::test]
async fn a_crm_that_never_answers_kills_the_message_flags_the_order_and_the_timer_fires() {
    on_both(
        "a_crm_that_never_answers_kills_the_message_flags_the_order_and_the_timer_fires",
        |store| async move {
            let (service, clock) = service(store.clone()).await;
            let crm = receiver(silent()).await;
            let worker = Worker::with(service.clone(), target(&crm.url, 150, 3), pacing(), None, None);
            let order =
                service.create_order(&repair_store_order("silent@example.com")).await.expect("created").order;
            let s = store.clone();
            deliver_until(&worker, "the message to die", || {
                let s = s.clone();
                async move { outbox_state(&s, order.id).await == [("dead".to_string(), 3)] }
            })
            .await;
            assert_eq!(crm.hits().len(), 3, "max_attempts tries");
            let rows = deliveries(&store, order.id).await;
            let outcomes: Vec<_> =
                rows.iter().map(|r| r["outcome"].as_str().unwrap_or_default().to_string()).collect();
            assert_eq!(outcomes, ["retry", "retry", "dead"], "{rows:?}");
            assert!(
                rows[2]["error"].as_str().unwrap_or_default().contains("no answer within 150 ms"),
                "{rows:?}"
            );

            let after = service.order(&order.number).await.expect("order");
            assert!(after.flags.contains("integration_failed"), "flagged: {:?}", after.flags);
            assert_eq!(after.status, "order_placed");
            let history = store.history(order.id).await.expect("history");
            let failed =
                history.iter().find(|h| h.entry.kind == "integration_failed").expect("a history row");
            assert_eq!(failed.entry.detail["target"], "crm");
            assert_eq!(
                failed.entry.detail["message_id"],
                json!(store.outbox(Some(order.id)).await.expect("o")[0].id)
            );

            // The stuck-order timer still fires 15 minutes after the order was placed.
            clock.advance(chrono::Duration::minutes(15));
            assert_eq!(service.fire_due_timers().await.expect("timers"), 1);
            let after = service.order(&order.number).await.expect("order");
            assert_eq!(after.queue.as_deref(), Some("csr"), "the CSRs take it");
            let history = store.history(order.id).await.expect("history");
            assert!(history.iter().any(|h| h.entry.event.as_deref() == Some("timer:crm_handoff_stuck")));

            // The outbox API shows it dead; an admin's retry makes it due again with fresh attempts.
            let config = Config::default();
            let api = app(AppState::new(service.clone(), config, Arc::new(Metrics::new()), None));
            let call = |method: &str, uri: &str| {
                let request = axum::http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .expect("request");
                let api = api.clone();
                async move {
                    let res = api.oneshot(request).await.expect("answer");
                    let status = res.status();
                    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body");
                    (status, serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null))
                }
            };
            let (status, page) = call("GET", "/v1/outbox?state=dead").await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let dead = page["messages"].as_array().expect("messages");
            assert_eq!(dead.len(), 1, "{page}");
            assert_eq!(dead[0]["attempts"], 3);
            assert!(dead[0]["last_error"].as_str().unwrap_or_default().contains("no answer"), "{page}");
            let id = dead[0]["id"].as_i64().expect("id");
            let (status, retried) = call("POST", &format!("/v1/outbox/{id}/retry")).await;
            assert_eq!(status, StatusCode::OK, "{retried}");
            assert_eq!((retried["state"].as_str(), retried["attempts"].as_i64()), (Some("pending"), Some(0)));
            let (_, pending) = call("GET", &format!("/v1/outbox?state=pending&order={}", order.number)).await;
            assert_eq!(pending["messages"].as_array().map(Vec::len), Some(1), "{pending}");
            let (status, bad) = call("GET", "/v1/outbox?state=pnding").await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(bad["message"].as_str().unwrap_or_default().contains("did you mean `pending`"), "{bad}");
        },
    )
    .await;
}

#[tokio::test]
async fn a_process_that_dies_mid_send_leaves_the_message_due_after_its_lease() {
    on_both("a_process_that_dies_mid_send_leaves_the_message_due_after_its_lease", |store| async move {
        let (service, clock) = service(store.clone()).await;
        let crm = receiver(answers(Some(service.clone()), &[200])).await;
        let worker = Worker::with(service.clone(), target(&crm.url, 2000, 5), pacing(), None, None);
        let order =
            service.create_order(&repair_store_order("crash@example.com")).await.expect("created").order;
        // A process claims the message, then dies before sending it.
        let what = orderly::store::Deliverable { webhooks: vec!["crm".into()], email: false };
        let claimed =
            store.claim_outbox(&what, service.now(), chrono::Duration::seconds(60), 16).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        drop(claimed);
        // Another process finds nothing due while the lease runs...
        assert_eq!(worker.run_once().await.expect("round"), 0, "leased to the dead process");
        assert!(crm.hits().is_empty());
        // ...and delivers it, once, after the lease.
        clock.advance(chrono::Duration::seconds(61));
        assert_eq!(worker.run_once().await.expect("round"), 1);
        worker.run_once().await.expect("an idle round");
        let hits = crm.hits();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].attempt, "2", "the lost claim counted as an attempt");
        assert_eq!(outbox_state(&store, order.id).await, [("sent".to_string(), 2)]);
        assert_eq!(service.order(&order.number).await.expect("order").status, "in_process");

        // A delivered message is not sent again on request; a service started without a
        // workflows folder has nothing to reload.
        let api = app(AppState::new(service.clone(), Config::default(), Arc::new(Metrics::new()), None));
        let id = store.outbox(Some(order.id)).await.expect("outbox")[0].id;
        for (uri, code) in
            [(format!("/v1/outbox/{id}/retry"), "already_sent"), ("/v1/workflows/reload".into(), "no_reload")]
        {
            let request = axum::http::Request::builder()
                .method("POST")
                .uri(&uri)
                .body(axum::body::Body::empty())
                .expect("request");
            let res = api.clone().oneshot(request).await.expect("answer");
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body");
            let body: Value = serde_json::from_slice(&body).expect("a JSON error");
            assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some(code)), "{uri}: {body}");
        }
        assert_eq!(outbox_state(&store, order.id).await, [("sent".to_string(), 2)], "nothing requeued");
    })
    .await;
}

#[tokio::test]
async fn two_processes_on_one_database_send_each_message_once() {
    on_both("two_processes_on_one_database_send_each_message_once", |store| async move {
        let (first, _) = service(store.clone()).await;
        let (second, _) = service(store.clone()).await;
        let crm = receiver(answers(None, &[200])).await;
        let workers = [first.clone(), second.clone()]
            .map(|s| Worker::with(s, target(&crm.url, 2000, 5), pacing(), None, None));
        for i in 0..6 {
            first.create_order(&repair_store_order(&format!("pair{i}@example.com"))).await.expect("created");
        }
        let (a, b) = tokio::join!(workers[0].run_once(), workers[1].run_once());
        assert_eq!(a.expect("first") + b.expect("second"), 6, "every message taken by one of them");
        let (a, b) = tokio::join!(workers[0].run_once(), workers[1].run_once());
        assert_eq!(a.expect("first") + b.expect("second"), 0, "nothing left");
        let mut keys: Vec<String> = crm.hits().into_iter().map(|h| h.idempotency_key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 6, "six messages, each sent once");
        assert_eq!(crm.hits().len(), 6);
        let counts = store.outbox_counts().await.expect("counts");
        assert_eq!(counts, [("sent".to_string(), 6)]);
    })
    .await;
}

// ------------------------------------------------------------------ the real binary, killed

const BIN: &str = env!("CARGO_BIN_EXE_orderly");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `orderly serve` in `dir` with `orderly.toml` as written, waited for until healthy.
async fn serve(dir: &Path, port: u16, log: &str) -> Child {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("serve").current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("ORDERLY_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    let file = std::fs::File::create(dir.join(log)).expect("log");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(file.try_clone().expect("clone")))
        .stderr(std::process::Stdio::from(file));
    let mut child = Child(cmd.spawn().expect("spawn orderly"));
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "orderly exited ({status}): {}",
                std::fs::read_to_string(dir.join(log)).unwrap_or_default()
            );
        }
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if r.status().is_success() {
                return child;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "orderly did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn killing_the_service_between_commit_and_delivery_loses_nothing() {
    let crm = receiver(answers(None, &[200])).await;
    let tmp = tempfile::tempdir().expect("dir");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows"), &tmp.path().join("workflows"));
    let port = free_port();
    let toml = |interval_ms: u64| {
        format!(
            "bind = \"127.0.0.1:{port}\"\nwatch = false\n\n[webhooks.crm]\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_ms = 2000\n\n\
             [delivery]\ninterval_ms = {interval_ms}\nbackoff_base_ms = 10\nbackoff_max_ms = 50\nlease_seconds = 1\n",
            crm.url
        )
    };
    // The first process delivers only at start: the order it takes later waits in the outbox.
    std::fs::write(tmp.path().join("orderly.toml"), toml(3_600_000)).expect("config");
    let mut first = serve(tmp.path(), port, "first.log").await;
    let http = reqwest::Client::new();
    let order = json!({
        "workflow": "repair_store",
        "channel": "website",
        "customer": {"email": "killed@example.com", "first_name": "Kil", "last_name": "Led"},
        "shipping_address": {"address": "1 Main St", "city": "Erie", "state": "PA", "zip": "16501"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "ATS-SENSOR-2", "qty": 1, "unit_price": "310.00"}]
    });
    let res =
        http.post(format!("http://127.0.0.1:{port}/v1/orders")).json(&order).send().await.expect("post");
    assert_eq!(res.status().as_u16(), 201);
    let number = res.json::<Value>().await.expect("json")["number"].as_str().expect("number").to_string();
    // Killed right after the commit's 200: no shutdown, no delivery.
    first.0.kill().expect("kill");
    first.0.wait().expect("wait");
    assert!(crm.hits().is_empty(), "nothing was sent before the kill");

    std::fs::write(tmp.path().join("orderly.toml"), toml(50)).expect("config");
    let second = serve(tmp.path(), port, "second.log").await;
    let start = Instant::now();
    while crm.hits().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(15), "the message was not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = crm.hits();
    assert_eq!(hits.len(), 1, "once: {hits:?}");
    assert!(hits[0].signature_ok);
    assert_eq!(hits[0].order, number);
    let page: Value = http
        .get(format!("http://127.0.0.1:{port}/v1/outbox?order={number}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(page["messages"][0]["state"], "sent", "{page}");
    drop(second);
}

/// Issue 10, items 8-10: a webhook an action hook queues is sent with the body the script
/// built (it is not run again as a payload hook); a payload hook runs at delivery and sees the
/// event that queued its message (and `X-Orderly-Event` names it); the outbox and the history
/// keep what was sent.
#[tokio::test]
async fn webhooks_built_by_hooks_are_sent_as_built_and_payload_hooks_see_the_event() {
    on_both(
        "webhooks_built_by_hooks_are_sent_as_built_and_payload_hooks_see_the_event",
        |store| async move {
            let registry = Registry::load(Path::new("tests/fixtures/hook_webhooks"), &store)
                .await
                .expect("workflow loads");
            let clock = Arc::new(ManualClock::new(t0()));
            let service = Arc::new(Service::serving(store.clone(), registry, clock));
            let erp = receiver(answers(None, &[200])).await;
            let mut targets = target(&erp.url, 2000, 3);
            let settings = targets.remove("crm").expect("a target");
            let worker = Worker::with(
                service.clone(),
                BTreeMap::from([("erp".to_string(), settings)]),
                pacing(),
                None,
                None,
            );
            let input: NewOrder = serde_json::from_value(json!({
                "channel": "web", "customer": {"email": "erp@example.com"},
                "lines": [{"sku": "A", "qty": 1, "unit_price": "5.00"}]
            }))
            .expect("order");
            let order = service.create_order(&input).await.expect("created").order;
            let ship = EventInput {
                name: "ship".into(),
                data: json!({"carrier": "UPS"}).as_object().cloned().expect("map"),
                actor: None,
            };
            service.apply_event(&order.number, &ship, None).await.expect("shipped");
            let s = store.clone();
            deliver_until(&worker, "both messages to be sent", || {
                let s = s.clone();
                async move { outbox_state(&s, order.id).await.iter().all(|(state, _)| state == "sent") }
            })
            .await;
            let mut hits = erp.hits();
            hits.sort_by_key(|h| {
                h.idempotency_key.trim_start_matches("orderly-").parse::<i64>().unwrap_or_default()
            });
            assert_eq!(hits.len(), 2, "{hits:?}");
            assert_eq!(
                hits[0].body,
                json!({"notice": "shipped", "order_number": order.number, "carrier": "UPS"}),
                "the action hook's body, as built"
            );
            assert_eq!(
                hits[1].body,
                json!({"order_number": order.number, "status": "shipped", "event": "ship", "carrier": "UPS"}),
                "the payload hook saw the event"
            );
            assert!(hits.iter().all(|h| h.signature_ok && h.attempt == "1" && h.event == "ship"), "{hits:?}");
            let outbox = store.outbox(Some(order.id)).await.expect("outbox");
            assert!(outbox.iter().all(|m| m.message.event.as_deref() == Some("ship")), "{outbox:?}");
            for (m, hit) in outbox.iter().zip(&hits) {
                assert_eq!(m.sent, Some(json!({"body": hit.body})), "the outbox shows what was sent");
            }
            let mut rows = deliveries(&store, order.id).await;
            rows.sort_by_key(|d| d["message_id"].as_i64());
            let sent: Vec<Value> = rows.into_iter().map(|d| d["sent"]["body"].clone()).collect();
            assert_eq!(
                sent,
                hits.iter().map(|h| h.body.clone()).collect::<Vec<_>>(),
                "each attempt's body is in the history"
            );
            assert!(
                store.order(order.id).await.expect("read").expect("order").flags.is_empty(),
                "nothing failed"
            );
            let history = store.history(order.id).await.expect("history");
            let created_note = format!("created as {}", order.number);
            assert!(
                history
                    .iter()
                    .any(|h| h.entry.kind == "note" && h.entry.detail["note"] == created_note.as_str()),
                "a hook at creation sees the order's number: {history:?}"
            );
        },
    )
    .await;
}
