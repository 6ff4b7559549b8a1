//! A stand-in CRM for the repair store's Salesforce hand-off, to watch the whole integration
//! loop on one machine:
//!
//! 1. `orderly serve` queues a `crm` webhook when a repair-store order enters Order Placed and
//!    POSTs it here after commit, signed;
//! 2. this program checks the signature and the timestamp, answers 200 (a repeated delivery,
//!    same `Idempotency-Key`, is acknowledged and not processed twice), "creates" an
//!    opportunity and a quote;
//! 3. and answers back the way Salesforce would: a `crm_accepted` event with its ids and the
//!    kind of order, which routes the order to Awaiting Evaluation, In Process or Awaiting
//!    Payment.
//!
//! ```sh
//! cargo run --example crm                        # listens on 127.0.0.1:9090
//! ```
//! with `orderly serve` configured as README.md's "Watch the CRM loop" shows. Settings, from
//! the environment: `CRM_LISTEN` (127.0.0.1:9090), `CRM_SECRET` (the `[webhooks.crm]` secret),
//! `ORDERLY_URL` (http://127.0.0.1:8080), `ORDERLY_TOKEN` (a token with `events:write`, when
//! the service has tokens).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "an example program, not library code: a failure should stop it loudly"
)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// How old a delivery may be before it is refused as a replay.
const MAX_AGE_SECONDS: i64 = 300;

struct Crm {
    secret: String,
    orderly: String,
    token: Option<String>,
    seen: Mutex<HashSet<String>>,
    client: reqwest::Client,
}

/// Checks `X-Orderly-Signature: sha256=HEX` = HMAC-SHA256(secret, "TIMESTAMP.BODY").
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).ok_or(format!("no {name} header"));
    let timestamp = header("x-orderly-timestamp")?;
    let signature = header("x-orderly-signature")?;
    let sent: i64 = timestamp.parse().map_err(|_| "the timestamp is not a number".to_string())?;
    if (chrono::Utc::now().timestamp() - sent).abs() > MAX_AGE_SECONDS {
        return Err("the timestamp is too old: a replayed delivery?".into());
    }
    let hex = signature.strip_prefix("sha256=").ok_or("the signature is not `sha256=...`")?;
    let expected: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<_>>()
        .ok_or("the signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&expected).map_err(|_| "the signature does not match".to_string())
}

async fn receive(State(crm): State<Arc<Crm>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if let Err(why) = verify(&crm.secret, &headers, &body) {
        eprintln!("refused a delivery: {why}");
        return (StatusCode::UNAUTHORIZED, why);
    }
    let id = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if !crm.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.clone()) {
        println!("delivery {id} again: already handled, acknowledged");
        return (StatusCode::OK, "already handled".into());
    }
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
    };
    let number = payload["ecommerce_order_number"].as_str().unwrap_or_default().to_string();
    let kind = payload["kind"].as_str().unwrap_or("purchase").to_string();
    let account = payload["account"]["name"].as_str().unwrap_or_default();
    println!("order {number}: account `{account}`, a `{kind}` opportunity (delivery {id})");
    // Answer after acknowledging, as a real CRM's workflow would: the webhook's 200 only says
    // "received"; the routing comes back as an event.
    tokio::spawn(answer(crm.clone(), number, kind));
    (StatusCode::OK, "received".into())
}

async fn answer(crm: Arc<Crm>, number: String, kind: String) {
    let suffix: String = number.chars().filter(char::is_ascii_alphanumeric).collect();
    let event = serde_json::json!({
        "event": "crm_accepted",
        "actor": "salesforce",
        "idempotency_key": format!("crm-accepted-{number}"),
        "data": {"order_kind": kind, "opportunity_id": format!("006{suffix}"), "quote_id": format!("0Q0{suffix}")}
    });
    let mut request = crm.client.post(format!("{}/v1/orders/{number}/events", crm.orderly)).json(&event);
    if let Some(t) = &crm.token {
        request = request.bearer_auth(t);
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            match v["order"]["status"]["code"].as_str() {
                Some(s) if status.is_success() => println!("order {number}: crm_accepted -> {s}"),
                _ => eprintln!("order {number}: crm_accepted answered {status}: {text}"),
            }
        }
        Err(e) => eprintln!("order {number}: cannot reach orderly at {}: {e}", crm.orderly),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let listen = var("CRM_LISTEN", "127.0.0.1:9090");
    let crm = Arc::new(Crm {
        secret: var("CRM_SECRET", "change-me-crm-secret-0123"),
        orderly: var("ORDERLY_URL", "http://127.0.0.1:8080").trim_end_matches('/').to_string(),
        token: std::env::var("ORDERLY_TOKEN").ok().filter(|t| !t.is_empty()),
        seen: Mutex::new(HashSet::new()),
        client: reqwest::Client::new(),
    });
    let app = Router::new().route("/orderly", post(receive)).with_state(crm);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("CRM listening on http://{listen}/orderly");
    axum::serve(listener, app).await
}
