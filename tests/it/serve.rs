//! `orderly serve` as a new user runs it: the real binary, started in a temporary folder that
//! holds a copy of the shipped `workflows/`, on a free loopback port, with the default SQLite
//! file (`orderly.db` in that folder) and no configuration unless a test writes one. Every
//! request goes over a real socket; every failure shows the response and the tail of the
//! service's log.

use crate::support::{copy_dir, free_port};
use serde_json::{json, Value};
use std::fs;
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_orderly");

/// How long a fresh service may take to answer `/healthz` (it creates and migrates its SQLite
/// file and checks four workflows and their hooks; a debug build on a busy machine is slow).
const START_LIMIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------ the workspace

/// A fresh folder holding a copy of the repository's `workflows/` (hooks and tests included).
fn workspace() -> TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows"), &tmp.path().join("workflows"));
    tmp
}

/// `orderly serve` in `dir`, with none of the caller's `ORDERLY_*` or `RUST_LOG` settings, its
/// stdout and stderr going to `log`.
fn serve_command(dir: &Path, log: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("ORDERLY_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
    let file = fs::File::create(log).expect("log file");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().expect("clone log file")))
        .stderr(Stdio::from(file));
    cmd
}

fn tail(log: &Path, lines: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `orderly serve` that is expected to refuse to start: its exit code and its output.
fn run_to_exit(mut cmd: Command, log: &Path) -> (Option<i32>, String) {
    let mut child = cmd.spawn().expect("spawn orderly");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status.code(), fs::read_to_string(log).unwrap_or_default());
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`orderly serve` was expected to refuse to start but still runs after 30 s; log:\n{}",
                tail(log, 40)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------ the running service

/// One `orderly serve` child; killed when dropped.
struct Service {
    child: Child,
    log: PathBuf,
    port: u16,
    base: String,
    http: reqwest::Client,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers and the body as text.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("http client")
}

impl Service {
    /// Starts `orderly serve` in `dir` on a free loopback port with `env` and waits for
    /// `/healthz`.
    async fn start(dir: &Path, env: &[(&str, &str)]) -> Service {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut all: Vec<(&str, &str)> = vec![("ORDERLY_BIND", &bind)];
        all.extend_from_slice(env);
        Service::start_on(dir, port, &all).await
    }

    /// Starts `orderly serve` in `dir` with `env` (which sets the bind address, on `port`) and
    /// waits until it answers `/healthz` on `127.0.0.1:port`.
    async fn start_on(dir: &Path, port: u16, env: &[(&str, &str)]) -> Service {
        let log = dir.join(format!("serve-{port}.log"));
        let mut cmd = serve_command(dir, &log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn orderly serve");
        let mut service =
            Service { child, log, port, base: format!("http://127.0.0.1:{port}"), http: client() };
        service.wait_healthy().await;
        service
    }

    async fn wait_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("`orderly serve` exited ({status}) before answering /healthz; log:\n{}", self.tail());
            }
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            if started.elapsed() > START_LIMIT {
                panic!(
                    "`orderly serve` did not answer /healthz within {START_LIMIT:?}; log:\n{}",
                    self.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn tail(&self) -> String {
        tail(&self.log, 40)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What a failed assertion shows: the answer and the end of the log.
    fn why(&self, r: &Reply) -> String {
        format!("\n--- answer: HTTP {}\n{}\n--- service log (tail) ---\n{}\n", r.status, r.text, self.tail())
    }

    #[track_caller]
    fn expect(&self, r: &Reply, status: u16) -> Value {
        assert_eq!(r.status, status, "expected HTTP {status}{}", self.why(r));
        r.json()
    }

    #[track_caller]
    fn check(&self, ok: bool, r: &Reply, what: &str) {
        assert!(ok, "{what}{}", self.why(r));
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(Vec<u8>, &str)>,
    ) -> Reply {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((bytes, content_type)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let r = req.send().await.unwrap_or_else(|e| {
            panic!("{method} {path}: no answer: {e}\n--- service log ---\n{}", self.tail())
        });
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        Reply { status, headers, text }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_as(None, path, body).await
    }

    async fn post_as(&self, token: Option<&str>, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("json");
        self.send(reqwest::Method::POST, path, token, Some((bytes, "application/json"))).await
    }

    async fn event(&self, number: &str, event: &str, data: Value) -> Reply {
        self.post(
            &format!("/v1/orders/{number}/events"),
            &json!({"event": event, "data": data, "actor": "clerk"}),
        )
        .await
    }

    /// `GET /v1/workflows`, which must answer 200.
    async fn workflows(&self) -> Value {
        let r = self.get("/v1/workflows").await;
        self.expect(&r, 200)
    }

    /// The active version of workflow `name` (0 when it is not active).
    async fn version(&self, name: &str) -> i64 {
        let list = self.workflows().await;
        list["workflows"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["name"] == name))
            .and_then(|w| w["version"].as_i64())
            .unwrap_or(0)
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status =
            Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the child to exit: its exit code (`None`: killed by a signal), or `None` after
    /// `limit` when it still runs (outer `None`).
    fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status.code());
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Calls `probe` every 20 ms until it says yes: how long that took, or `None` after `limit`.
async fn wait_for<F, Fut>(limit: Duration, mut probe: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if probe().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An amount, whether the API wrote it as a string or a number, in any scale (`0`, `0.00`).
fn dec(v: &Value) -> Option<rust_decimal::Decimal> {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.parse::<rust_decimal::Decimal>().ok().map(|d| d.normalize())
}

fn money(text: &str) -> Option<rust_decimal::Decimal> {
    text.parse::<rust_decimal::Decimal>().ok().map(|d| d.normalize())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// A Website order paid by check or money order (no `workflow` field: retail takes the shared
/// `website` channel by default), as `workflows/tests/retail/channel-website-check.toml` places it.
fn website_check_order(email: &str) -> Value {
    json!({
        "channel": "website",
        "customer": {"email": email, "first_name": "Ann", "last_name": "Lee", "phone": "518-555-0100"},
        "shipping_address": {
            "first_name": "Ann", "last_name": "Lee", "address": "12 Elm St",
            "city": "Albany", "state": "NY", "zip": "12207", "country": "US"
        },
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{
            "sku": "GTR-1", "description": "Acoustic guitar", "qty": 1, "unit_price": "499.00",
            "fulfillment": "stock", "in_stock": true
        }]
    })
}

/// Creates a Website check order: its number.
async fn place_check_order(srv: &Service, email: &str) -> String {
    let r = srv.post("/v1/orders", &website_check_order(email)).await;
    let v = srv.expect(&r, 201);
    let number = v["number"].as_str().unwrap_or_default().to_string();
    srv.check(!number.is_empty(), &r, "the created order has a number");
    number
}

/// A small workflow of our own: a kiosk order starts in `b`; `advance` moves `a` to `b` and `b` to
/// `c`.
const HOLD_FLOW: &str = r#"workflow hold "Held orders"

status a "A"
status b "B"
status c "C" final

event advance "Advance"

channel kiosk "Kiosk" {
    start in b
}

on advance from a go to b
on advance from b go to c
"#;

/// The same workflow without status `b`.
const HOLD_FLOW_WITHOUT_B: &str = r#"workflow hold "Held orders"

status a "A"
status c "C" final

event advance "Advance"

channel kiosk "Kiosk" {
    start in a
}

on advance from a go to c
"#;

/// A workflow whose orders move from `b` to `c` on their own after a second.
const TIMER_FLOW: &str = r#"workflow wait "Orders that move by themselves"

status b "Waiting"
status c "Done" final

event advance "Advance"

channel kiosk "Kiosk" {
    start in b
}

on advance from b go to c
timer x after 1s in b go to c
"#;

fn kiosk_order(workflow: &str) -> Value {
    json!({
        "channel": "kiosk",
        "workflow": workflow,
        "customer": {"email": "kiosk@example.com", "first_name": "Kim", "last_name": "Osk"},
        "lines": [{"sku": "PICK-1", "qty": 2, "unit_price": "1.50", "in_stock": true}]
    })
}

// ------------------------------------------------------------------ 1. fresh start, the retail walk

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_start_serves_the_retail_walk_from_check_order_to_shipped() {
    let ws = workspace();
    assert!(!ws.path().join("orderly.toml").exists());
    assert!(!ws.path().join("orderly.db").exists());
    let srv = Service::start(ws.path(), &[]).await;

    // The log says where it listens and what it runs; the database file was made.
    let log = srv.log_text();
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{}", srv.port)),
        "the log does not say where it listens:\n{log}"
    );
    for w in ["retail@1", "fulfillment@1", "repair_store@1", "special_orders@1"] {
        assert!(log.contains(w), "the log does not list `{w}`:\n{log}");
    }
    assert!(
        log.contains("no tokens or users configured"),
        "the log does not warn that every route is open:\n{log}"
    );
    assert!(ws.path().join("orderly.db").is_file(), "orderly.db was not created in {}", ws.path().display());

    // A Website order paid by check waits for the check.
    let r = srv.post("/v1/orders", &website_check_order("ann@example.com")).await;
    let v = srv.expect(&r, 201);
    srv.check(v["workflow"] == "retail", &r, "a website order without `workflow` is a retail order");
    srv.check(v["workflow_version"] == 1, &r, "created under retail@1");
    srv.check(v["status"]["code"] == "awaiting_payment", &r, "a check waits in awaiting_payment");
    srv.check(v["status"]["label"] == "Awaiting Payment", &r, "the status carries its label");
    srv.check(v["status"]["phase"] == "payment_processing", &r, "the status carries its phase");
    let allowed = strings(&v["allowed_events"]);
    srv.check(
        allowed.iter().any(|e| e == "payment_received") && allowed.iter().any(|e| e == "void"),
        &r,
        "allowed_events lists what awaiting_payment accepts",
    );
    srv.check(dec(&v["total"]) == money("499.00"), &r, "total is the line's price");
    srv.check(dec(&v["balance_due"]) == money("499.00"), &r, "nothing is paid yet");
    let number = v["number"].as_str().expect("number").to_string();

    // The check arrives, for the whole amount.
    let r = srv
        .event(
            &number,
            "payment_received",
            json!({"method": "check", "outcome": "approved", "amount": "499.00", "reference": "check #1042"}),
        )
        .await;
    let v = srv.expect(&r, 200);
    srv.check(v["order"]["status"]["code"] == "ready_to_process", &r, "the paid check is ready to process");
    srv.check(dec(&v["order"]["balance_due"]) == money("0"), &r, "nothing is due any more");
    srv.check(
        v["transitions"][0]["from"] == "awaiting_payment" && v["transitions"][0]["to"] == "ready_to_process",
        &r,
        "transitions shows the step taken",
    );
    srv.check(v["replayed"] == false, &r, "a first event is not a replay");

    // Staff confirm the payment; everything is on the shelf, so it goes to the warehouse.
    let r = srv.event(&number, "payment_confirmed", json!({})).await;
    let v = srv.expect(&r, 200);
    let steps: Vec<&str> = v["transitions"]
        .as_array()
        .map_or(Vec::new(), |a| a.iter().filter_map(|s| s["to"].as_str()).collect());
    srv.check(steps == ["ready_to_source", "in_shipping"], &r, "confirmed, sourced from stock, in shipping");
    srv.check(v["order"]["status"]["code"] == "in_shipping", &r, "in shipping");

    // UPS reports the parcel: everything shipped.
    let r = srv
        .event(&number, "shipment", json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}))
        .await;
    let v = srv.expect(&r, 200);
    srv.check(v["order"]["status"]["code"] == "shipped", &r, "all shipped");
    srv.check(
        v["transitions"].as_array().and_then(|a| a.last()).is_some_and(|s| s["to"] == "shipped"),
        &r,
        "the last transition reaches shipped",
    );

    // A shipped order cannot be voided: 409 with the status and what it accepts.
    let r = srv.event(&number, "void", json!({})).await;
    let v = srv.expect(&r, 409);
    srv.check(v["error"] == "no_transition", &r, "error is no_transition");
    srv.check(v["status"] == "shipped", &r, "the refusal names the status");
    srv.check(v["allowed_events"].is_array(), &r, "the refusal lists allowed_events");
    srv.check(v["message"].as_str().is_some_and(|m| !m.is_empty()), &r, "the refusal has a message");

    // The order's history: every row names the workflow version it ran under.
    let r = srv.get(&format!("/v1/orders/{number}")).await;
    let v = srv.expect(&r, 200);
    srv.check(v["status"]["code"] == "shipped", &r, "still shipped after the refused void");
    let history = v["history"].as_array().cloned().unwrap_or_default();
    srv.check(history.len() >= 4, &r, "the history has the creation and the steps");
    srv.check(
        history.iter().all(|h| h["workflow_version"].as_i64().is_some_and(|n| n >= 1)),
        &r,
        "every history row has a workflow_version",
    );
    let reached: Vec<&str> = history.iter().filter_map(|h| h["to_status"].as_str()).collect();
    for status in ["awaiting_payment", "ready_to_process", "ready_to_source", "in_shipping", "shipped"] {
        srv.check(reached.contains(&status), &r, &format!("the history shows the order reaching `{status}`"));
    }
}

// ------------------------------------------------------------------ 2. graceful shutdown

/// Sends the head and the first bytes of a create request, and the rest when told: a request
/// that is surely in flight when the signal arrives. Returns the raw answer.
fn slow_create(
    port: u16,
    body: Vec<u8>,
    go_on: std::sync::mpsc::Receiver<()>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
        write!(
            s,
            "POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .expect("write head");
        s.write_all(&body[..10]).expect("write the first bytes");
        s.flush().expect("flush");
        let _ = go_on.recv();
        if let Err(e) = s.write_all(&body[10..]) {
            return format!("(the rest of the body could not be sent: {e})");
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&answer);
                    // Stop once the whole body is here (the connection may stay open).
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok());
                        if length.is_some_and(|n| body.len() >= n) {
                            break;
                        }
                    }
                }
                Err(e) => {
                    answer.extend_from_slice(format!("(read failed: {e})").as_bytes());
                    break;
                }
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_exits_0() {
    let ws = workspace();
    let mut srv = Service::start(ws.path(), &[]).await;

    // One request surely in flight (head sent, body half sent) ...
    let mut slow = website_check_order("slow@example.com");
    slow["number"] = json!("SLOW-1");
    let (go_on, wait) = std::sync::mpsc::channel();
    let slow_answer = slow_create(srv.port, serde_json::to_vec(&slow).expect("json"), wait);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // ... and a few more racing the signal.
    let mut racing = Vec::new();
    for i in 0..4 {
        let http = srv.http.clone();
        let url = format!("{}/v1/orders", srv.base);
        let mut order = website_check_order(&format!("race{i}@example.com"));
        order["number"] = json!(format!("RACE-{i}"));
        racing.push(tokio::spawn(async move {
            match http.post(url).json(&order).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    Ok((status, r.text().await.unwrap_or_default()))
                }
                Err(e) => Err(e.to_string()),
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    srv.terminate();

    // The half-sent request holds the shutdown: the service is still there for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        srv.child.try_wait().expect("try_wait").is_none(),
        "the service exited while a request was still in flight; log:\n{}",
        srv.tail()
    );
    go_on.send(()).expect("tell the slow client to go on");
    let answer =
        tokio::task::spawn_blocking(move || slow_answer.join().expect("slow client")).await.expect("join");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight at SIGTERM was not finished with 201:\n{answer}\n--- log ---\n{}",
        srv.tail()
    );

    // The racing requests were either served in full or never accepted: no 5xx, no half answer.
    let mut created = vec!["SLOW-1".to_string()];
    for (i, task) in racing.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok((201, _)) => created.push(format!("RACE-{i}")),
            Ok((status, body)) => {
                panic!("a request racing SIGTERM got HTTP {status}: {body}\n--- log ---\n{}", srv.tail())
            }
            Err(_refused) => {}
        }
    }

    let exited = tokio::task::block_in_place(|| srv.wait_exit(Duration::from_secs(5)));
    assert_eq!(
        exited,
        Some(Some(0)),
        "no exit with code 0 within 5 s of the last request; log:\n{}",
        srv.tail()
    );
    let log = srv.log_text();
    assert!(log.contains("shutting down"), "the log does not say it is shutting down:\n{log}");
    assert!(
        log.lines().any(|l| l.trim_end().ends_with("stopped")),
        "the log does not say it stopped:\n{log}"
    );

    // Every order that was answered 201 is in the database: start again and read them.
    drop(srv);
    let srv = Service::start(ws.path(), &[]).await;
    for number in &created {
        let r = srv.get(&format!("/v1/orders/{number}")).await;
        let v = srv.expect(&r, 200);
        srv.check(
            v["status"]["code"] == "awaiting_payment",
            &r,
            "the order answered 201 before shutdown is kept",
        );
    }
}

// ------------------------------------------------------------------ 3. hot reload

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_retail_flow_reloads_within_a_second_and_a_broken_save_keeps_the_old_version() {
    let ws = workspace();
    let srv = Service::start(ws.path(), &[]).await;
    let file = ws.path().join("workflows/retail.flow");
    let original = fs::read_to_string(&file).expect("retail.flow");
    let v1 = srv.version("retail").await;
    assert_eq!(v1, 1, "a fresh database starts at retail@1");

    // 1. Saved in place: checks now start ready to process.
    let check_rule = "start in awaiting_payment when paid by check";
    assert!(original.contains(check_rule), "retail.flow no longer has `{check_rule}`; update this test");
    let edited = original.replace(check_rule, "start in ready_to_process when paid by check");
    fs::write(&file, &edited).expect("write retail.flow");
    let s = &srv;
    let took = wait_for(Duration::from_secs(5), || async move { s.version("retail").await > v1 }).await;
    let list = srv.workflows().await;
    let took = took.unwrap_or_else(|| {
        panic!("no new retail version 5 s after saving; /v1/workflows: {list}\n--- log ---\n{}", srv.tail())
    });
    assert!(took <= Duration::from_secs(1), "the reload took {took:?} (more than 1 s); log:\n{}", srv.tail());
    eprintln!("reload after an in-place save: {took:?}");
    let v2 = srv.version("retail").await;
    assert_eq!(list["last_reload"]["ok"], true, "{list}");
    assert_eq!(list["last_reload"]["trigger"], "watch", "{list}");
    assert!(
        strings(&list["last_reload"]["changed"]).contains(&format!("retail@{v2}")),
        "last_reload.changed does not name retail@{v2}: {list}"
    );
    let r = srv.post("/v1/orders", &website_check_order("after-edit@example.com")).await;
    let v = srv.expect(&r, 201);
    srv.check(v["status"]["code"] == "ready_to_process", &r, "a check order follows the edited rule");
    srv.check(v["workflow_version"] == v2, &r, "the new order runs under the new version");

    // 2. Saved as editors do: a temporary file renamed over the original. A label changes.
    let label = r#"status ready_to_process "Ready to Process""#;
    assert!(edited.contains(label), "retail.flow no longer has `{label}`; update this test");
    let relabelled = edited.replace(label, r#"status ready_to_process "Ready To Go""#);
    let temp = ws.path().join("workflows/.retail.flow.tmp");
    fs::write(&temp, &relabelled).expect("write the temporary file");
    fs::rename(&temp, &file).expect("rename over retail.flow");
    let took = wait_for(Duration::from_secs(5), || async move { s.version("retail").await > v2 }).await;
    let took = took.unwrap_or_else(|| {
        panic!("a rename over retail.flow was not reloaded within 5 s; log:\n{}", srv.tail())
    });
    assert!(took <= Duration::from_secs(1), "the reload after a rename took {took:?}; log:\n{}", srv.tail());
    eprintln!("reload after a rename: {took:?}");
    let v3 = srv.version("retail").await;
    let r = srv.post("/v1/orders", &website_check_order("after-rename@example.com")).await;
    let v = srv.expect(&r, 201);
    srv.check(v["status"]["label"] == "Ready To Go", &r, "the new label shows");
    srv.check(v["workflow_version"] == v3, &r, "created under the renamed file's version");

    // 3. A broken save: the running version keeps serving, and /v1/workflows says why.
    let mistake = "this is not a workflow line";
    let broken = format!("{relabelled}\n{mistake}\n");
    let broken_line = broken[..broken.find(mistake).expect("mistake")].matches('\n').count() as i64 + 1;
    fs::write(&file, &broken).expect("write a broken retail.flow");
    let failed =
        wait_for(Duration::from_secs(5), || async move { s.workflows().await["last_reload"]["ok"] == false })
            .await;
    let list = srv.workflows().await;
    assert!(
        failed.is_some(),
        "the broken save was not reported within 5 s: {list}\n--- log ---\n{}",
        srv.tail()
    );
    assert_eq!(srv.version("retail").await, v3, "a broken save changed the active version: {list}");
    let findings = list["last_reload"]["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings.iter().any(|f| f["file"].as_str().is_some_and(|p| p.ends_with("retail.flow"))
            && f["line"].as_i64() == Some(broken_line)
            && f["severity"] == "error"),
        "no finding names retail.flow line {broken_line}: {list}"
    );
    let message = list["last_reload"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("retail@{v3}")), "the message does not say what still serves: {list}");
    let r = srv.post("/v1/orders", &website_check_order("while-broken@example.com")).await;
    let v = srv.expect(&r, 201);
    srv.check(
        v["status"]["code"] == "ready_to_process"
            && v["status"]["label"] == "Ready To Go"
            && v["workflow_version"] == v3,
        &r,
        "orders are still created by the last good version",
    );

    // 4. Fixed again: the next save goes through.
    fs::write(&file, &original).expect("restore retail.flow");
    let back =
        wait_for(Duration::from_secs(5), || async move { s.workflows().await["last_reload"]["ok"] == true })
            .await;
    assert!(back.is_some(), "restoring retail.flow was not reloaded; log:\n{}", srv.tail());
    let r = srv.post("/v1/orders", &website_check_order("restored@example.com")).await;
    let v = srv.expect(&r, 201);
    srv.check(v["status"]["code"] == "awaiting_payment", &r, "the restored rule applies again");
    srv.check(v["workflow_version"] == 1, &r, "the original text keeps its first version number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_would_strand_orders_is_refused_and_names_the_status_and_count() {
    let ws = workspace();
    let file = ws.path().join("workflows/hold.flow");
    fs::write(&file, HOLD_FLOW).expect("write hold.flow");
    let srv = Service::start(ws.path(), &[]).await;
    assert!(srv.log_text().contains("hold@1"), "hold@1 is not in the start log:\n{}", srv.tail());

    let r = srv.post("/v1/orders", &kiosk_order("hold")).await;
    let v = srv.expect(&r, 201);
    srv.check(v["status"]["code"] == "b", &r, "a kiosk order starts in b");
    let number = v["number"].as_str().expect("number").to_string();

    fs::write(&file, HOLD_FLOW_WITHOUT_B).expect("remove status b");
    let s = &srv;
    let refused =
        wait_for(Duration::from_secs(5), || async move { s.workflows().await["last_reload"]["ok"] == false })
            .await;
    let list = srv.workflows().await;
    assert!(
        refused.is_some(),
        "removing a status with an order in it was not refused within 5 s: {list}\n--- log ---\n{}",
        srv.tail()
    );
    let report = &list["last_reload"];
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`b`") && message.contains("1 order"),
        "the message does not name `b` and 1 order: {list}"
    );
    assert!(message.contains("hold@1"), "the message does not say hold@1 still serves: {list}");
    let finding = &report["findings"][0];
    assert_eq!(finding["code"], "stranded-orders", "{list}");
    assert_eq!(finding["status"], "b", "{list}");
    assert_eq!(finding["orders"], 1, "{list}");
    assert_eq!(srv.version("hold").await, 1, "the refused version became active: {list}");

    // The order still answers, under the version that still runs.
    let r = srv.get(&format!("/v1/orders/{number}")).await;
    let v = srv.expect(&r, 200);
    srv.check(
        v["status"]["code"] == "b" && v["status"]["label"] == "B",
        &r,
        "the order is still in b, with its label",
    );
    srv.check(strings(&v["allowed_events"]) == ["advance"], &r, "b still accepts advance");

    // An admin asking again gets the same refusal, as a 422.
    let r = srv.post("/v1/workflows/reload", &json!({})).await;
    let v = srv.expect(&r, 422);
    srv.check(v["error"] == "reload_failed", &r, "error is reload_failed");
    srv.check(v["message"].as_str().is_some_and(|m| m.contains("`b`")), &r, "the refusal names the status");

    // Moving the order on is still possible under the running version.
    let r = srv.event(&number, "advance", json!({})).await;
    let v = srv.expect(&r, 200);
    srv.check(v["order"]["status"]["code"] == "c", &r, "advance moves b to c");
}

// ------------------------------------------------------------------ 4. tokens

const TOKENS_TOML: &str = r#"
[[tokens]]
name = "reader"
secret = "reader-secret-0123456789"
scopes = ["orders:read", "workflows:read"]

[[tokens]]
name = "payments"
secret = "payments-secret-0123456789"
scopes = ["events:write"]
events = ["payment_received"]

[[tokens]]
name = "admin"
secret = "admin-secret-0123456789"
scopes = ["admin"]
"#;

const READER: &str = "reader-secret-0123456789";
const PAYMENTS: &str = "payments-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_and_scoped() {
    let ws = workspace();
    fs::write(ws.path().join("orderly.toml"), TOKENS_TOML).expect("write orderly.toml");
    let srv = Service::start(ws.path(), &[]).await;
    let log = srv.log_text();
    assert!(!log.contains("no tokens configured"), "tokens are configured but the log says none are:\n{log}");
    assert!(!log.contains("secret-0123456789"), "a secret appears in the log:\n{log}");

    // No token, a bad token, a malformed header: 401 with WWW-Authenticate.
    let order = website_check_order("tokens@example.com");
    let r = srv.post("/v1/orders", &order).await;
    let v = srv.expect(&r, 401);
    srv.check(v["error"] == "unauthorized", &r, "error is unauthorized");
    srv.check(
        r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")),
        &r,
        "WWW-Authenticate: Bearer",
    );
    let r = srv.send(reqwest::Method::GET, "/v1/orders", None, None).await;
    srv.expect(&r, 401);
    let r = srv.send(reqwest::Method::GET, "/v1/orders", Some("not-a-real-secret-at-all"), None).await;
    let v = srv.expect(&r, 401);
    srv.check(v["error"] == "unauthorized", &r, "a bad token is unauthorized");
    let r = srv.send(reqwest::Method::GET, "/v1/workflows", Some(&format!("{READER}x")), None).await;
    srv.expect(&r, 401);

    // Open routes stay open.
    let r = srv.get("/healthz").await;
    srv.expect(&r, 200);

    // A reader reads but does not write.
    let r = srv.send(reqwest::Method::GET, "/v1/orders", Some(READER), None).await;
    srv.expect(&r, 200);
    let r = srv.post_as(Some(READER), "/v1/orders", &order).await;
    let v = srv.expect(&r, 403);
    srv.check(
        v["error"] == "forbidden" && v["required_scope"] == "orders:write",
        &r,
        "403 names the missing scope",
    );
    let r = srv.post_as(Some(READER), "/v1/workflows/reload", &json!({})).await;
    srv.expect(&r, 403);

    // The admin creates; the order records who did.
    let r = srv.post_as(Some(ADMIN), "/v1/orders", &order).await;
    let v = srv.expect(&r, 201);
    let number = v["number"].as_str().expect("number").to_string();
    srv.check(
        v["history"].as_array().is_some_and(|h| h.iter().any(|row| row["actor"] == "admin")),
        &r,
        "the token's name is the actor when the request names none",
    );

    // The payments token posts payments and nothing else.
    let events = format!("/v1/orders/{number}/events");
    let r = srv.post_as(Some(PAYMENTS), &events, &json!({"event": "void"})).await;
    let v = srv.expect(&r, 403);
    srv.check(v["error"] == "forbidden", &r, "void is forbidden to the payments token");
    srv.check(
        strings(&v["allowed"]) == ["payment_received"],
        &r,
        "the 403 lists the events the token may post",
    );
    let r = srv.post_as(Some(READER), &events, &json!({"event": "payment_received"})).await;
    srv.expect(&r, 403);
    let r = srv
        .post_as(
            Some(PAYMENTS),
            &events,
            &json!({"event": "payment_received", "data": {"method": "check", "outcome": "approved", "amount": "499.00"}}),
        )
        .await;
    let v = srv.expect(&r, 200);
    srv.check(v["order"]["status"]["code"] == "ready_to_process", &r, "the payment applies");
    let r = srv.send(reqwest::Method::GET, &format!("/v1/orders/{number}"), Some(PAYMENTS), None).await;
    srv.expect(&r, 403);

    // The admin may reload.
    let r = srv.post_as(Some(ADMIN), "/v1/workflows/reload", &json!({})).await;
    let v = srv.expect(&r, 200);
    srv.check(v["ok"] == true && v["trigger"] == "api", &r, "the reload worked, triggered by the API");
}

// ------------------------------------------------------------------ 5. exposure

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_bind_needs_tokens() {
    let ws = workspace();
    let port = free_port();
    let bind = format!("0.0.0.0:{port}");
    let log = ws.path().join("refused.log");
    let mut cmd = serve_command(ws.path(), &log);
    cmd.env("ORDERLY_BIND", &bind);
    let (code, out) = run_to_exit(cmd, &log);
    assert_eq!(code, Some(1), "a 0.0.0.0 bind without tokens did not exit 1:\n{out}");
    assert!(
        out.contains(&format!("refusing to listen on `{bind}` without tokens")) && out.contains("[[tokens]]"),
        "the refusal does not say why and what to do:\n{out}"
    );
    assert!(!ws.path().join("orderly.db").exists(), "a refused start still created orderly.db");

    // With a token it starts, and answers (on loopback too).
    let tokens = r#"[{"name": "ops", "secret": "ops-secret-0123456789", "scopes": ["admin"]}]"#;
    let srv =
        Service::start_on(ws.path(), port, &[("ORDERLY_BIND", &bind), ("ORDERLY_TOKENS", tokens)]).await;
    let r = srv.send(reqwest::Method::GET, "/v1/workflows", Some("ops-secret-0123456789"), None).await;
    srv.expect(&r, 200);
    let r = srv.get("/v1/workflows").await;
    srv.expect(&r, 401);
}

// ------------------------------------------------------------------ 6. configuration errors

#[test]
fn an_unknown_key_in_orderly_toml_stops_the_start_with_its_place_and_a_suggestion() {
    let ws = workspace();
    fs::write(ws.path().join("orderly.toml"), "bnd = \"127.0.0.1:1\"\n").expect("write orderly.toml");
    let log = ws.path().join("config.log");
    let (code, out) = run_to_exit(serve_command(ws.path(), &log), &log);
    assert_eq!(code, Some(1), "an unknown key did not exit 1:\n{out}");
    assert!(out.contains("orderly.toml:1:1"), "no `orderly.toml:1:1` location:\n{out}");
    assert!(out.contains("unknown key `bnd`"), "the key is not named:\n{out}");
    assert!(out.contains("did you mean `bind`"), "no suggestion:\n{out}");
    assert_eq!(out.trim().lines().count(), 1, "a configuration mistake should be one line:\n{out}");
    assert!(!ws.path().join("orderly.db").exists(), "a bad configuration still created orderly.db");

    // The same for a bad environment value.
    let log = ws.path().join("env.log");
    fs::remove_file(ws.path().join("orderly.toml")).expect("remove orderly.toml");
    let mut cmd = serve_command(ws.path(), &log);
    cmd.env("ORDERLY_BIND", "localhost:8080");
    let (code, out) = run_to_exit(cmd, &log);
    assert_eq!(code, Some(1), "a bad ORDERLY_BIND did not exit 1:\n{out}");
    assert!(out.contains("ORDERLY_BIND=localhost:8080"), "the variable is not named:\n{out}");
}

/// A database nobody listens on stops the start within the pool's acquire timeout (5 s, not
/// sqlx's 30 s), saying the database is unavailable (issue 11, item 5). A running service whose
/// database goes away answers `503 database_unavailable` (tests/api.rs).
#[test]
fn a_database_nobody_listens_on_stops_the_start_within_seconds() {
    let ws = workspace();
    let log = ws.path().join("db.log");
    let mut cmd = serve_command(ws.path(), &log);
    cmd.args(["--database", &format!("postgres://orderly@127.0.0.1:{}/orderly", free_port())]);
    let started = Instant::now();
    let (code, out) = run_to_exit(cmd, &log);
    assert_eq!(code, Some(1), "the start did not fail:\n{out}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}:\n{out}", started.elapsed());
    assert!(out.contains("the database is unavailable"), "the cause is not said:\n{out}");
}

// ------------------------------------------------------------------ 7. tracking page

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracking_page_shows_the_customer_only_their_view_and_is_rate_limited() {
    let ws = workspace();
    let srv = Service::start(ws.path(), &[("ORDERLY_TRACK_PER_MINUTE", "3")]).await;
    let number = place_check_order(&srv, "a@example.com").await;

    // 1: the right number, the email in another case.
    let r = srv.get(&format!("/v1/track/{number}?email=A@example.com")).await;
    let v = srv.expect(&r, 200);
    let mut keys: Vec<&str> = v.as_object().map_or(Vec::new(), |o| o.keys().map(String::as_str).collect());
    keys.sort_unstable();
    srv.check(
        keys == ["fulfillment_actions", "lines", "number", "placed_at", "shipments", "status"],
        &r,
        &format!("the tracking view has exactly the customer's fields, not {keys:?}"),
    );
    srv.check(v["status"] == "Waiting for your payment", &r, "the status is the customer label");
    srv.check(v["number"] == number.as_str(), &r, "the number");
    let line = &v["lines"][0];
    let mut line_keys: Vec<&str> =
        line.as_object().map_or(Vec::new(), |o| o.keys().map(String::as_str).collect());
    line_keys.sort_unstable();
    srv.check(
        line_keys == ["description", "qty", "shipped_qty", "sku"],
        &r,
        "a line shows no price or vendor",
    );

    // 2 and 3: a wrong email and a wrong number cannot be told apart.
    let wrong_email = srv.get(&format!("/v1/track/{number}?email=b@example.com")).await;
    srv.expect(&wrong_email, 404);
    let wrong_number = srv.get("/v1/track/NO-SUCH-ORDER?email=a@example.com").await;
    srv.expect(&wrong_number, 404);
    assert_eq!(
        wrong_email.text,
        wrong_number.text,
        "a wrong email and a wrong number answer differently{}",
        srv.why(&wrong_number)
    );
    assert_eq!(wrong_email.header("content-type"), wrong_number.header("content-type"));

    // 4: over the limit.
    let r = srv.get(&format!("/v1/track/{number}?email=a@example.com")).await;
    let v = srv.expect(&r, 429);
    srv.check(v["error"] == "rate_limited", &r, "error is rate_limited");
    let retry = r.header("retry-after").and_then(|s| s.parse::<u64>().ok());
    srv.check(retry.is_some_and(|s| (1..=60).contains(&s)), &r, "Retry-After is a number of seconds");
}

// ------------------------------------------------------------------ 8. bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_and_the_service_goes_on() {
    let ws = workspace();
    let srv = Service::start(ws.path(), &[("ORDERLY_BODY_LIMIT", "2048")]).await;

    let r = srv
        .send(
            reqwest::Method::POST,
            "/v1/orders",
            None,
            Some((b"{\"channel\": \"website\",".to_vec(), "application/json")),
        )
        .await;
    let v = srv.expect(&r, 400);
    srv.check(v["error"] == "bad_json", &r, "error is bad_json");
    srv.check(
        r.header("content-type").is_some_and(|c| c.starts_with("application/json")),
        &r,
        "a JSON answer",
    );

    let mut big = website_check_order("big@example.com");
    big["attributes"] = json!({"note": "x".repeat(4096)});
    let r = srv
        .send(
            reqwest::Method::POST,
            "/v1/orders",
            None,
            Some((serde_json::to_vec(&big).expect("json"), "application/json")),
        )
        .await;
    let v = srv.expect(&r, 413);
    srv.check(v["error"] == "body_too_large", &r, "error is body_too_large");
    srv.check(
        r.header("content-type").is_some_and(|c| c.starts_with("application/json")),
        &r,
        "a JSON answer",
    );

    let r = srv.get("/v1/no/such/route").await;
    let v = srv.expect(&r, 404);
    srv.check(v["error"] == "no_route", &r, "error is no_route");

    let r = srv
        .send(
            reqwest::Method::POST,
            "/v1/orders",
            None,
            Some((b"channel=website".to_vec(), "application/x-www-form-urlencoded")),
        )
        .await;
    let v = srv.expect(&r, 415);
    srv.check(v["error"] == "unsupported_media_type", &r, "error is unsupported_media_type");

    let r = srv.post("/v1/orders", &json!({"channel": "website", "lines": "many"})).await;
    let v = srv.expect(&r, 422);
    srv.check(v["error"] == "invalid_body", &r, "error is invalid_body");

    let r = srv.get("/v1/orders/NO-SUCH-ORDER").await;
    let v = srv.expect(&r, 404);
    srv.check(v["error"] == "not_found", &r, "error is not_found");

    let r = srv.get("/healthz").await;
    let v = srv.expect(&r, 200);
    srv.check(v["status"] == "ok" && v["database"] == "ok", &r, "still healthy");
    let number = place_check_order(&srv, "after-bad-input@example.com").await;
    assert!(!number.is_empty());
}

/// What one raw request over a fresh connection is answered: the status line, the headers
/// (lowercase) and the body.
fn raw_answer(port: u16, request: &[u8]) -> (String, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // A client may still be sending when the service answers and closes: that is fine.
    let _ = s.write_all(request);
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let length = head.lines().find_map(|l| {
                l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if got.len() >= end + 4 + length.unwrap_or(usize::MAX) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_lowercase(), body.to_string())
}

/// What hyper answers by itself before any route (a head too large, a URI too long, a request
/// that is not HTTP) is JSON in the API's error shape like every other answer (issue 11,
/// item 14), and the service goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_before_any_route_are_json_errors_too() {
    let ws = workspace();
    let srv = Service::start(ws.path(), &[("ORDERLY_MAX_HEADER_SIZE", "96KiB")]).await;
    let port = srv.port;
    let big_header = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(100 * 1024));
    let long_uri = format!("GET /v1/orders/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..120).map(|i| format!("X-H{i}: 1\r\n")).collect::<String>()
    );
    for (request, status, code) in [
        (big_header.as_bytes(), "431", "headers_too_large"),
        (many_headers.as_bytes(), "431", "headers_too_large"),
        (long_uri.as_bytes(), "414", "uri_too_long"),
        (&b"GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n"[..], "400", "bad_request"),
        (&b"HELLO\r\n\r\n"[..], "400", "bad_request"),
    ] {
        let (line, headers, body) = raw_answer(port, request);
        assert!(line.starts_with(&format!("HTTP/1.1 {status} ")), "{code}: {line}\n{headers}\n{body}");
        assert!(headers.contains("content-type: application/json"), "{code}: {headers}");
        let json: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{code}: not JSON ({e}): {body}"));
        assert_eq!(json["error"], code, "{json}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
        if code == "headers_too_large" {
            assert!(
                json["message"].as_str().unwrap_or_default().contains("98304"),
                "names the limit: {json}"
            );
        }
    }
    // Headers under the limit pass.
    let fits = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Fits: {}\r\n\r\n",
        "a".repeat(2048)
    );
    let (line, _, body) = raw_answer(port, fits.as_bytes());
    assert!(line.starts_with("HTTP/1.1 200 "), "{line} {body}");
    let r = srv.get("/healthz").await;
    assert_eq!(r.status, 200, "{}", srv.why(&r));
}

/// Every answer is `{"error", "message"}` JSON: a known path with a method it does not take too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_on_a_known_route_gets_a_json_error() {
    let ws = workspace();
    let srv = Service::start(ws.path(), &[]).await;
    let r = srv.send(reqwest::Method::DELETE, "/v1/workflows", None, None).await;
    srv.check(r.status == 405, &r, "a method the route does not take is 405");
    let v = r.json();
    srv.check(
        v["error"].is_string() && v["message"].is_string(),
        &r,
        "the 405 should be an `{\"error\", \"message\"}` JSON body like every other error (design.md section 6)",
    );
}

// ------------------------------------------------------------------ 9. timers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_in_the_running_service_without_any_request() {
    let ws = workspace();
    fs::write(ws.path().join("workflows/wait.flow"), TIMER_FLOW).expect("write wait.flow");
    let srv = Service::start(ws.path(), &[("ORDERLY_TIMER_INTERVAL_MS", "50")]).await;

    let r = srv.post("/v1/orders", &kiosk_order("wait")).await;
    let v = srv.expect(&r, 201);
    srv.check(v["status"]["code"] == "b", &r, "a kiosk order starts in b");
    let number = v["number"].as_str().expect("number").to_string();

    // No request for a while: only the service's own timer loop can move the order.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let path = format!("/v1/orders/{number}");
    let s = &srv;
    let path_ref = path.as_str();
    let moved =
        wait_for(
            Duration::from_secs(5),
            || async move { s.get(path_ref).await.json()["status"]["code"] == "c" },
        )
        .await;
    let r = srv.get(&path).await;
    assert!(moved.is_some(), "the order did not move from b to c within a few seconds{}", srv.why(&r));
    let v = srv.expect(&r, 200);
    let history = v["history"].as_array().cloned().unwrap_or_default();
    let at = |row: Option<&Value>| {
        row.and_then(|h| h["at"].as_str()).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let created_at = at(history.first());
    let moved_at = at(history.iter().find(|h| h["to_status"] == "c"));
    let (Some(created_at), Some(moved_at)) = (created_at, moved_at) else {
        panic!("the history does not show the creation and the move to c{}", srv.why(&r));
    };
    let waited = moved_at - created_at;
    srv.check(
        waited >= chrono::Duration::milliseconds(1000) && waited < chrono::Duration::seconds(4),
        &r,
        &format!("the timer fired {waited} after creation, not about a second"),
    );
}

// ------------------------------------------------------------------ slow and idle clients (issue 11)

/// Open files of the running service (Linux: `/proc/PID/fd`).
fn open_files(srv: &Service) -> usize {
    fs::read_dir(format!("/proc/{}/fd", srv.child.id())).map_or(0, |d| d.count())
}

/// Slowloris: 300 connections that send half a header and stall. With `max_connections = 64`
/// and a 500 ms header timeout, the service keeps its open files bounded, drops the stalled
/// clients, and still answers a healthy client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_dropped_and_healthy_ones_are_still_served() {
    let ws = workspace();
    let srv = Service::start(
        ws.path(),
        &[("ORDERLY_MAX_CONNECTIONS", "64"), ("ORDERLY_HEADER_READ_TIMEOUT_MS", "500")],
    )
    .await;
    let before = open_files(&srv);
    let port = srv.port;
    let mut stalled = Vec::new();
    for _ in 0..300 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            stalled.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = open_files(&srv);
    assert!(
        during <= before + 64 + 8,
        "{during} open files with 300 stalled clients (cap 64, {before} before); log:\n{}",
        srv.tail()
    );
    // A client from another address is not held up by them: one address holds at most a
    // quarter of the slots (16 of 64), the rest are closed at once.
    let started = Instant::now();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.2:0".parse().unwrap()).expect("bind 127.0.0.2");
    let mut other = socket.connect(([127, 0, 0, 1], port).into()).await.expect("connect from 127.0.0.2");
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        other
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut answer = Vec::new();
        other.read_to_end(&mut answer).await.expect("answer");
        assert!(
            String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(started.elapsed() < Duration::from_secs(1), "another address waited {:?}", started.elapsed());
    // A healthy client from the same address gets in as stalled ones time out: until then its
    // connections may be closed at once (its address holds its quarter), so it tries again.
    let started = Instant::now();
    let status = loop {
        match srv.http.get(format!("{}/healthz", srv.base)).send().await {
            Ok(r) => break r.status().as_u16(),
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("GET /healthz: no answer in 20 s: {e}\n{}", srv.tail()),
        }
    };
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(20), "healthy client waited {:?}", started.elapsed());
    // The stalled clients were disconnected (or refused at once), not kept.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut closed = 0;
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    assert!(closed >= 200, "only {closed} of 300 stalled clients were disconnected");
    assert!(open_files(&srv) <= before + 8, "open files stay up: {}", open_files(&srv));
}

/// A kept-alive connection that sits idle is closed after the header timeout; a body that
/// never finishes is cut off after the body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_stalled_bodies_time_out() {
    let ws = workspace();
    let srv = Service::start(
        ws.path(),
        &[("ORDERLY_HEADER_READ_TIMEOUT_MS", "400"), ("ORDERLY_BODY_READ_TIMEOUT_MS", "400")],
    )
    .await;
    let mut idle = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
    idle.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut got = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match idle.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the idle connection was not closed within 5 s: {e}"),
        }
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());

    let mut stalled = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    stalled
        .write_all(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"chan")
        .expect("head and part of the body");
    stalled.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let started = Instant::now();
    let mut answer = Vec::new();
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("a stalled body was not cut off within 5 s: {e}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3), "cut off after {:?}", started.elapsed());
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer}");
    // A body trickled a byte at a time, each byte well within the timeout, is cut off too: the
    // timeout counts from the request's start.
    let mut trickle = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    trickle
        .write_all(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        .expect("head");
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(50));
        if trickle.write_all(b" ").is_err() {
            cut = true;
            break;
        }
    }
    if !cut {
        trickle.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let mut buf = [0u8; 256];
        cut = trickle.read(&mut buf).is_ok();
    }
    assert!(cut, "a trickled body was still being read after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(4), "cut off after {:?}", started.elapsed());
    // The service goes on.
    let r = srv.get("/healthz").await;
    assert_eq!(r.status, 200, "{}", srv.why(&r));
}

/// Past `shutdown_grace_seconds` the service stops waiting: a request still in flight is
/// cancelled and the process exits within the grace and a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_when_a_request_never_finishes() {
    let ws = workspace();
    let mut srv = Service::start(ws.path(), &[("ORDERLY_SHUTDOWN_GRACE_SECONDS", "1")]).await;
    let mut stalled = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    stalled
        .write_all(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"chan")
        .expect("head and part of the body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    srv.terminate();
    let exited = tokio::task::block_in_place(|| srv.wait_exit(Duration::from_secs(10)));
    assert_eq!(exited, Some(Some(0)), "no clean exit; log:\n{}", srv.tail());
    assert!(started.elapsed() < Duration::from_millis(2500), "exited after {:?}", started.elapsed());
    assert!(srv.log_text().contains("cancelling them"), "{}", srv.tail());
}
