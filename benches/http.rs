//! The HTTP service under load, end to end: the real `orderly serve` binary as a child process
//! on loopback, driven by this program (reqwest, one connection per worker).
//!
//! For each backend (SQLite always, a file in a temporary folder; PostgreSQL when
//! `ORDERLY_BENCH_POSTGRES_URL` names a database, e.g.
//! `postgres://postgres@127.0.0.1:5432/orderly_bench`, which is dropped and created again):
//!
//! 1. `orderly serve` (RSS when idle), 10,000 orders through `POST /v1/orders` (website, paid by
//!    credit card, declined: status `credit_card_declined`);
//! 2. **load**: rounds (3), each on 10,000 fresh orders per side, of 10 s each: 64 tasks calling
//!    `Service::apply_event` in this process on a database of its own (the store-only rate; the
//!    first round also measures it sequentially); the same plus the answer the HTTP handler
//!    builds (history read, order view, JSON); 64 HTTP connections posting the same event
//!    (`card_declined` with `{"outcome": "declined"}`, which stays in `credit_card_declined`
//!    with a note) on random orders. Requests/s, p50/p90/p99/max, CPU per process, the ratio
//!    HTTP / store-only per round and for the median round; then events on 1,000 older orders,
//!    and `GET /healthz`, `GET /v1/workflows` and `GET /v1/orders/{id}` under the same load;
//! 3. **hooks**: normal traffic alone, then beside ten clients whose events run a hook to the
//!    end of its 50 ms budget: the normal traffic's p99 both times, the server's peak RSS
//!    (`http/hooks.rs`);
//! 4. **reload**: 20 edits of a comment in `retail.flow`, each timed from the write to
//!    `GET /v1/workflows` showing the new retail version, and 20 `POST /v1/workflows/reload`
//!    (the pipeline without the watcher); again with `ORDERLY_RELOAD_DEBOUNCE_MS=20`;
//! 5. **writer** (`http/writer.rs`): events from 64 connections and from one alone against the
//!    bare order-event transaction through rusqlite and sqlx (SQLite, `synchronous` FULL and
//!    NORMAL) and from 8 clients on PostgreSQL, with the ratios issue 15 sets as targets;
//! 6. **memory**: the child's RSS idle, after the loads, and after 100,000 orders in all (on a
//!    restarted server when the reload part ran), then events on all of them, then reads of
//!    them (`GET /v1/orders/{id}`); the peak RSS against the 60 MB target (issue 15).
//!
//! `cargo bench --bench http` runs everything; words after `--` pick parts: `sqlite`,
//! `postgres` (backends), `writer`, `load`, `hooks`, `reload`, `memory` (parts). Environment: BENCH_SECONDS (10),
//! BENCH_CONNECTIONS (64), BENCH_ROUNDS (3), BENCH_ORDERS (10000), BENCH_TOTAL_ORDERS (100000),
//! BENCH_EDITS (20), BENCH_PERF (a path prefix: record a `perf` profile of the server during
//! each event load), BENCH_LOG (the server's log level, its log kept in the temp folder),
//! BENCH_KEEP (keep the PostgreSQL database), BENCH_SERVER_BIN (the `orderly` binary to run
//! instead of this build's: another build, for a side-by-side in one session).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]

#[path = "http/hooks.rs"]
mod hooks;
#[path = "http/writer.rs"]
mod writer;

use hdrhistogram::Histogram;
use orderly::engine::{EventInput, NewOrder};
use orderly::registry::Registry;
use orderly::service::{Service, SystemClock};
use orderly::store::Store;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The event every load request posts: a payment event whose transition stays in
/// `credit_card_declined` and writes a note.
const EVENT_BODY: &str = r#"{"event":"card_declined","data":{"outcome":"declined"}}"#;
const STATUS: &str = "credit_card_declined";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

// ------------------------------------------------------------------ the child process

/// `orderly serve`, killed when dropped (also when the bench panics).
struct Server {
    child: Child,
    base: String,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `orderly serve` in `work` (which holds `workflows/`) on `url`, waits for
    /// `GET /healthz`.
    async fn start(work: &Path, url: &str, debounce_ms: Option<u64>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // BENCH_LOG=DIRECTIVE: the server logs at that level (say
        // `warn,orderly::service::writer=debug` for the writer's timings per batch), into
        // /tmp/orderly-bench-serve-PORT.log, kept after the run.
        let level = std::env::var("BENCH_LOG").ok();
        let log = match level {
            Some(_) => std::env::temp_dir().join(format!("orderly-bench-serve-{port}.log")),
            None => work.join(format!("serve-{port}.log")),
        };
        let bin = std::env::var("BENCH_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_orderly").into());
        let mut cmd = Command::new(bin);
        cmd.arg("serve").current_dir(work);
        for (key, _) in std::env::vars() {
            if key.starts_with("ORDERLY_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("ORDERLY_DATABASE_URL", url)
            .env("ORDERLY_BIND", format!("127.0.0.1:{port}"))
            .env("ORDERLY_WORKFLOWS", work.join("workflows"))
            .env("ORDERLY_LOG_LEVEL", level.as_deref().unwrap_or("warn"))
            .env("ORDERLY_WATCH", "true");
        if let Some(ms) = debounce_ms {
            cmd.env("ORDERLY_RELOAD_DEBOUNCE_MS", ms.to_string());
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).expect("log file"));
        let child = cmd.spawn().expect("spawn orderly serve");
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}"), port, log };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("child status") {
                panic!("orderly serve exited with {status}:\n{}", server.log_tail());
            }
            let ok = client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                panic!("orderly serve did not answer /healthz in 120 s:\n{}", server.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "  orderly serve (pid {}) up in {:.2} s on {}",
            server.pid(),
            started.elapsed().as_secs_f64(),
            server.base
        );
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The child's resident set, in MiB.
    fn rss_mib(&self) -> f64 {
        status_mib(self.pid(), "VmRSS")
    }

    /// `25.8 MiB (anonymous 17.1, file 8.7; peak 26.5; 14 threads)`.
    fn memory(&self) -> String {
        let pid = self.pid();
        let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_string()))
            .unwrap_or_default();
        format!(
            "{:.1} MiB (anonymous {:.1}, file {:.1}; peak {:.1}; {threads} threads)",
            status_mib(pid, "VmRSS"),
            status_mib(pid, "RssAnon"),
            status_mib(pid, "RssFile") + status_mib(pid, "RssShmem"),
            status_mib(pid, "VmHWM")
        )
    }
}

/// A `kB` field of `/proc/PID/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Copies the shipped workflows and their hooks (not the scenario tests) into `to`.
fn copy_workflows(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("workflows") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "tests" {
                copy_workflows(&path, &to.join(&name));
            }
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

// ------------------------------------------------------------------ CPU accounting

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in ticks.
fn process_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// (busy, total) ticks of the whole machine.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let v: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// utime + stime of every `postgres` process, by pid (the local database's server processes).
fn postgres_ticks() -> std::collections::HashMap<u32, u64> {
    let mut all = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            all.insert(pid, process_ticks(&pid.to_string()));
        }
    }
    all
}

/// CPU used during a run: by the server, by this program, by PostgreSQL, by the machine in all
/// (in cores).
struct Cpu {
    server: u64,
    bench: u64,
    postgres: std::collections::HashMap<u32, u64>,
    machine: (u64, u64),
    at: Instant,
    server_pid: Option<u32>,
}

impl Cpu {
    fn start(server_pid: Option<u32>) -> Cpu {
        Cpu {
            server: server_pid.map_or(0, |p| process_ticks(&p.to_string())),
            bench: process_ticks("self"),
            postgres: postgres_ticks(),
            machine: machine_ticks(),
            at: Instant::now(),
            server_pid,
        }
    }

    /// `server 1.10 cores, load generator 0.60, whole machine 1.95 of 2`.
    fn report(&self) -> String {
        let secs = self.at.elapsed().as_secs_f64();
        let hz = clock_ticks();
        let cores = |ticks: u64| ticks as f64 / hz / secs;
        let (busy, total) = machine_ticks();
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let machine = ncpu * (busy - self.machine.0) as f64 / (total - self.machine.1).max(1) as f64;
        let bench = cores(process_ticks("self") - self.bench);
        // Backends that lived through the run (the pools' connections).
        let postgres: u64 = postgres_ticks()
            .iter()
            .filter_map(|(pid, t)| self.postgres.get(pid).map(|before| t.saturating_sub(*before)))
            .sum();
        let postgres = cores(postgres);
        match self.server_pid {
            Some(pid) => {
                let server = cores(process_ticks(&pid.to_string()).saturating_sub(self.server));
                format!(
                    "CPU: server {server:.2} cores, load generator {bench:.2}, PostgreSQL {postgres:.2}, \
                     other jobs {:.2}; busy {machine:.2} of {ncpu}",
                    (machine - server - bench - postgres).max(0.0)
                )
            }
            None => format!(
                "CPU: this process {bench:.2} cores, PostgreSQL {postgres:.2}, other jobs {:.2}; busy \
                 {machine:.2} of {ncpu}",
                (machine - bench - postgres).max(0.0)
            ),
        }
    }
}

/// Established TCP connections whose local port is `port` (the server's side).
fn established(port: u16) -> usize {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port =
                f.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && f.get(3) == Some(&"01") {
                n += 1;
            }
        }
    }
    n
}

// ------------------------------------------------------------------ requests

/// A small xorshift generator: random orders without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn new_order(i: usize) -> Value {
    let c = i % 1000;
    json!({
        "channel": "website",
        "workflow": "retail",
        "customer": {"email": format!("c{c}@example.com"), "first_name": "Bench", "last_name": format!("Customer{c}")},
        "payment": {"method": "credit_card", "outcome": "declined"},
        "lines": [
            {"sku": "GTR-2", "description": "Guitar", "qty": 1, "unit_price": "799.00", "in_stock": true},
            {"sku": "STR-10", "description": "Strings", "qty": 2, "unit_price": "9.50", "in_stock": true}
        ]
    })
}

/// Sends `request` and reads the whole answer: its status and body.
async fn fetch(
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, axum::body::Bytes), reqwest::Error> {
    let resp = request.send().await?;
    let status = resp.status();
    Ok((status, resp.bytes().await?))
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram")
}

/// Creates orders `from..to` through `POST /v1/orders`, `concurrency` at a time; their ids.
async fn create_orders(base: &str, from: usize, to: usize, concurrency: usize, pid: u32) -> Vec<i64> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let next = Arc::new(AtomicUsize::new(from));
    let ids = Arc::new(Mutex::new(Vec::with_capacity(to - from)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, ids, base) = (client.clone(), next.clone(), ids.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return;
                }
                let resp = client
                    .post(format!("{base}/v1/orders"))
                    .json(&new_order(i))
                    .send()
                    .await
                    .expect("POST /v1/orders");
                let status = resp.status();
                let body: Value = resp.json().await.expect("order JSON");
                assert_eq!(status.as_u16(), 201, "order {i}: {body}");
                let code = body["status"]["code"].as_str().unwrap_or_default();
                assert_eq!(code, STATUS, "order {i} starts in `{code}`: {body}");
                ids.lock().expect("ids").push(body["id"].as_i64().expect("id"));
                let done = i + 1 - from;
                if done % 10_000 == 0 {
                    eprintln!(
                        "  {} orders created ({:.0}/s), server RSS {:.1} MiB",
                        i + 1,
                        done as f64 / started.elapsed().as_secs_f64(),
                        status_mib(pid, "VmRSS")
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("creator");
    }
    let ids = Arc::try_unwrap(ids).expect("ids").into_inner().expect("ids");
    eprintln!(
        "  created {} orders in {:.1} s ({:.0} orders/s, {concurrency} at a time)",
        ids.len(),
        started.elapsed().as_secs_f64(),
        ids.len() as f64 / started.elapsed().as_secs_f64()
    );
    ids
}

#[derive(Clone, Copy, PartialEq)]
enum Req {
    Event,
    Healthz,
    Workflows,
    GetOrder,
}

impl Req {
    fn label(self) -> &'static str {
        match self {
            Req::Event => "POST /v1/orders/{id}/events",
            Req::Healthz => "GET /healthz",
            Req::Workflows => "GET /v1/workflows",
            Req::GetOrder => "GET /v1/orders/{id}",
        }
    }
}

struct Outcome {
    ok: u64,
    failed: u64,
    errors: Vec<String>,
    hist: Histogram<u64>,
    secs: f64,
    history_rows: u64,
    sampled: u64,
    bytes: u64,
}

impl Outcome {
    fn new(secs: f64) -> Outcome {
        Outcome {
            ok: 0,
            failed: 0,
            errors: Vec::new(),
            hist: histogram(),
            secs,
            history_rows: 0,
            sampled: 0,
            bytes: 0,
        }
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    fn line(&self) -> String {
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "{:.0} req/s ({} ok, {} not 2xx), p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {:.0} bytes/answer",
            self.rate(),
            self.ok,
            self.failed,
            ms(0.5),
            ms(0.9),
            ms(0.99),
            self.hist.max() as f64 / 1000.0,
            self.bytes as f64 / self.ok.max(1) as f64
        )
    }
}

/// `connections` workers, each with a client of its own (one connection), send `req` on random
/// orders for `secs`.
async fn load(server: &Server, ids: &[i64], req: Req, connections: usize, secs: f64) -> Outcome {
    let ids = Arc::new(ids.to_vec());
    let barrier = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (ids, barrier, base) = (ids.clone(), barrier.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .build()
                .expect("client");
            // Open the connection before the clock starts.
            client.get(format!("{base}/healthz")).send().await.expect("warm-up").bytes().await.ok();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x2545_F491_4F6C_DD1D));
            let mut out = Outcome::new(secs);
            barrier.wait().await;
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            let mut checked = false;
            while Instant::now() < deadline {
                let id = rng.pick(&ids);
                let request = match req {
                    Req::Event => client
                        .post(format!("{base}/v1/orders/id:{id}/events"))
                        .header("content-type", "application/json")
                        .body(EVENT_BODY),
                    Req::Healthz => client.get(format!("{base}/healthz")),
                    Req::Workflows => client.get(format!("{base}/v1/workflows")),
                    Req::GetOrder => client.get(format!("{base}/v1/orders/id:{id}")),
                };
                let t = Instant::now();
                let result = fetch(request).await;
                let micros = t.elapsed().as_micros() as u64;
                match result {
                    Ok((status, body)) if status.is_success() => {
                        out.ok += 1;
                        out.bytes += body.len() as u64;
                        out.hist.record(micros.max(1)).ok();
                        if !checked && matches!(req, Req::Event | Req::GetOrder) {
                            checked = true;
                            let v: Value = serde_json::from_slice(&body).expect("JSON answer");
                            let order = if req == Req::Event { &v["order"] } else { &v };
                            let code = order["status"]["code"].as_str().unwrap_or_default();
                            assert_eq!(code, STATUS, "the order left its status: {v}");
                            if req == Req::Event {
                                assert_eq!(v["replayed"], json!(false), "{v}");
                            }
                        }
                        if req == Req::Event && out.ok % 8 == 1 {
                            // A sample of how long the history in the answer is.
                            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                            out.history_rows += v["history"].as_array().map_or(0, Vec::len) as u64;
                            out.sampled += 1;
                        }
                    }
                    Ok((status, body)) => {
                        out.failed += 1;
                        if out.errors.len() < 3 {
                            out.errors.push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                        }
                    }
                    Err(e) => {
                        out.failed += 1;
                        if out.errors.len() < 3 {
                            out.errors.push(format!("transport error: {e}"));
                        }
                    }
                }
            }
            out
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let cpu = Cpu::start(Some(server.child.id()));
    // BENCH_PERF=PREFIX: profile the server during each event load
    // (`perf report -i PREFIX-PID-CONNECTIONS.data`).
    let perf = match std::env::var("BENCH_PERF") {
        Ok(prefix) if req == Req::Event => {
            let file = format!("{prefix}-{}-{connections}.data", server.pid());
            Command::new("perf")
                .args(["record", "-F", "499", "-g", "-o", &file, "-p", &server.pid().to_string(), "--"])
                .args(["sleep", &format!("{}", secs.floor().max(1.0))])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map(|child| (child, file))
                .ok()
        }
        _ => None,
    };
    // How many connections the server really holds, half-way.
    let port = server.port;
    let probe = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs_f64(secs / 2.0)).await;
        established(port)
    });
    let mut all = Outcome::new(0.0);
    for t in tasks {
        let o = t.await.expect("worker");
        all.ok += o.ok;
        all.failed += o.failed;
        all.history_rows += o.history_rows;
        all.sampled += o.sampled;
        all.bytes += o.bytes;
        all.hist.add(&o.hist).expect("merge");
        all.errors.extend(o.errors);
    }
    all.secs = started.elapsed().as_secs_f64();
    let cpu = cpu.report();
    let conns = probe.await.unwrap_or(0);
    if let Some((mut child, file)) = perf {
        let _ = child.wait();
        println!("    perf profile of the server: {file}");
    }
    println!("  {} x{connections} for {secs:.0} s: {}", req.label(), all.line());
    println!("    {cpu}; server-side established connections mid-run: {conns}");
    if req == Req::Event && all.sampled > 0 {
        println!(
            "    history rows in an event answer: {:.1} on average ({} sampled)",
            all.history_rows as f64 / all.sampled as f64,
            all.sampled
        );
    }
    for e in all.errors.iter().take(5) {
        println!("    NOT 2xx: {e}");
    }
    all
}

// ------------------------------------------------------------------ store-only

/// The body `POST /v1/orders/{id}/events` answers with, built as its handler builds it: from
/// what the event wrote, nothing read back.
async fn answer(service: &Service, applied: orderly::service::Applied) -> Vec<u8> {
    use orderly::http::view::{EventResult, OrderView};
    let registry = service.registry();
    let workflow = registry.get(&applied.order.workflow).map(|a| &*a.workflow);
    let mut order = OrderView::new(applied.order, workflow, applied.history, service.now());
    let history = order.history.take().unwrap_or_default();
    serde_json::to_vec(&EventResult { order, history, transitions: applied.steps, replayed: false })
        .expect("JSON")
}

/// The library side: a service of its own on a database of its own, holding the same orders.
struct StoreSide {
    store: Store,
    service: Arc<Service>,
    event: EventInput,
    created: usize,
}

impl StoreSide {
    /// Connects to `url` (an empty database) and loads the shipped workflows.
    async fn setup(url: &str) -> StoreSide {
        let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        let store = Store::connect(url).await.expect("store");
        let registry = Registry::load(&workflows, &store).await.expect("workflows");
        let service = Arc::new(Service::serving(store.clone(), registry, Arc::new(SystemClock)));
        let event = EventInput {
            name: "card_declined".into(),
            data: json!({"outcome": "declined"}).as_object().cloned().unwrap_or_default(),
            actor: None,
        };
        StoreSide { store, service, event, created: 0 }
    }

    /// Creates `n` more orders through `Service::create_order`, 16 at a time; their ids.
    async fn create(&mut self, n: usize) -> Vec<i64> {
        let (from, to) = (self.created, self.created + n);
        self.created = to;
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(from));
        let ids = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (service, next, ids) = (self.service.clone(), next.clone(), ids.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= to {
                        return;
                    }
                    let input: NewOrder = serde_json::from_value(new_order(i)).expect("order");
                    let created = service.create_order(&input).await.expect("create");
                    assert_eq!(created.order.status, STATUS);
                    ids.lock().expect("ids").push(created.order.id);
                }
            }));
        }
        for t in tasks {
            t.await.expect("creator");
        }
        let ids = std::mem::take(&mut *ids.lock().expect("ids"));
        eprintln!(
            "  store-only: created {} orders through Service::create_order in {:.1} s",
            ids.len(),
            started.elapsed().as_secs_f64()
        );
        ids
    }

    /// One event after the other for `secs`: events/s.
    async fn sequential(&self, ids: &[i64], secs: f64) -> f64 {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let cpu = Cpu::start(None);
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed().as_secs_f64() < secs {
            let id = rng.pick(ids);
            let applied = self.service.apply_event(id, &self.event, None).await.expect("applied");
            assert_eq!(applied.order.status, STATUS);
            n += 1;
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        println!("  store-only, sequential: {rate:.0} events/s ({n} in {secs:.0} s); {}", cpu.report());
        rate
    }

    /// `tasks` tasks applying events on random orders for `secs`; `with_view`: each also
    /// builds the answer the HTTP handler sends (history read, order view, JSON).
    async fn concurrent(&self, ids: &[i64], tasks: usize, secs: f64, with_view: bool) -> Outcome {
        let ids = Arc::new(ids.to_vec());
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
        let mut handles = Vec::new();
        for w in 0..tasks {
            let (service, ids, barrier, event) =
                (self.service.clone(), ids.clone(), barrier.clone(), self.event.clone());
            handles.push(tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 7) * 0x2545_F491_4F6C_DD1D));
                let mut out = Outcome::new(secs);
                barrier.wait().await;
                let deadline = Instant::now() + Duration::from_secs_f64(secs);
                while Instant::now() < deadline {
                    let id = rng.pick(&ids);
                    let t = Instant::now();
                    match service.apply_event(id, &event, None).await {
                        Ok(applied) => {
                            if with_view {
                                // What the HTTP handler adds: the history, the view, the JSON.
                                let body = answer(&service, applied).await;
                                out.bytes += body.len() as u64;
                            }
                            out.ok += 1;
                            out.hist.record((t.elapsed().as_micros() as u64).max(1)).ok();
                        }
                        Err(e) => {
                            out.failed += 1;
                            if out.errors.len() < 3 {
                                out.errors.push(e.to_string());
                            }
                        }
                    }
                }
                out
            }));
        }
        barrier.wait().await;
        let cpu = Cpu::start(None);
        let started = Instant::now();
        let mut all = Outcome::new(0.0);
        for t in handles {
            let o = t.await.expect("task");
            all.ok += o.ok;
            all.failed += o.failed;
            all.hist.add(&o.hist).expect("merge");
            all.errors.extend(o.errors);
            all.bytes += o.bytes;
        }
        all.secs = started.elapsed().as_secs_f64();
        all.bytes = all.bytes.max(1); // one line format for both
        let what = if with_view { "store + answer (history, view, JSON)" } else { "store-only" };
        println!(
            "  {what}, {tasks} tasks for {secs:.0} s: {}",
            all.line().replace("req/s", "events/s").replace(", 0 bytes/answer", "")
        );
        println!("    {}", cpu.report());
        for e in all.errors.iter().take(5) {
            println!("    FAILED: {e}");
        }
        all
    }

    async fn close(self) {
        drop(self.service);
        self.store.close().await;
    }
}

// ------------------------------------------------------------------ reload

async fn retail_version(client: &reqwest::Client, base: &str) -> (i64, Value) {
    let v: Value = client
        .get(format!("{base}/v1/workflows"))
        .send()
        .await
        .expect("GET /v1/workflows")
        .json()
        .await
        .expect("workflows JSON");
    let version = v["workflows"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["name"] == "retail"))
        .and_then(|w| w["version"].as_i64())
        .expect("retail version");
    (version, v["last_reload"].clone())
}

fn summary(mut ms: Vec<f64>) -> String {
    if ms.is_empty() {
        return "no sample".into();
    }
    ms.sort_by(f64::total_cmp);
    let p50 = ms[(ms.len() - 1) / 2];
    format!("p50 {p50:.0} ms, min {:.0} ms, max {:.0} ms (n = {})", ms[0], ms[ms.len() - 1], ms.len())
}

/// Edits a comment at the end of `retail.flow` `edits` times; each time, the time from the
/// write to `GET /v1/workflows` showing a new retail version. Then `edits` API reloads.
async fn reload(server: &Server, work: &Path, edits: usize, label: &str) {
    let client = reqwest::Client::new();
    let file = work.join("workflows/retail.flow");
    let original = std::fs::read_to_string(&file).expect("retail.flow");
    let (mut version, _) = retail_version(&client, &server.base).await;
    let mut times = Vec::new();
    for i in 0..edits {
        let text = format!("{original}\n# bench edit {i} at {:?}\n", Instant::now());
        let t = Instant::now();
        std::fs::write(&file, text).expect("write retail.flow");
        loop {
            let (now, last) = retail_version(&client, &server.base).await;
            if now != version {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(last["ok"], json!(true), "the reload failed: {last}");
                version = now;
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                println!("    edit {i}: no new version after 10 s; last reload: {last}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Let the watcher go quiet, so that edits are not one burst.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("  reload {label}: file write -> new version serving: {}", summary(times));
    api_reloads(server, edits, label).await;
    std::fs::write(&file, original).expect("restore retail.flow");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// `n` times `POST /v1/workflows/reload` with nothing changed: the pipeline without the watcher
/// (check, pause inputs, count orders per status, number, swap).
async fn api_reloads(server: &Server, n: usize, label: &str) {
    let client = reqwest::Client::new();
    let mut api = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let resp = client.post(format!("{}/v1/workflows/reload", server.base)).send().await.expect("reload");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST /v1/workflows/reload: {status} {body}");
        api.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "  reload {label}: POST /v1/workflows/reload (nothing changed, the whole pipeline): {}",
        summary(api)
    );
}

// ------------------------------------------------------------------ one backend

struct Parts {
    writer: bool,
    load: bool,
    hooks: bool,
    reload: bool,
    memory: bool,
}

/// `http_url` for the service; `store_url` a second, empty database for the store-only rate.
async fn run(label: &str, http_url: &str, store_url: &str, work: &Path, parts: &Parts) {
    let seconds = env_num("BENCH_SECONDS", 10) as f64;
    let connections = env_num("BENCH_CONNECTIONS", 64) as usize;
    let orders = env_num("BENCH_ORDERS", 10_000) as usize;
    let total = env_num("BENCH_TOTAL_ORDERS", 100_000) as usize;
    let edits = env_num("BENCH_EDITS", 20) as usize;
    println!("== {label}");

    let mut store = if parts.load { Some(StoreSide::setup(store_url).await) } else { None };

    copy_workflows(&Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows"), &work.join("workflows"));
    if parts.hooks {
        hooks::write_spin_workflow(&work.join("workflows"));
    }
    let server = Server::start(work, http_url, None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.rss_mib();
    println!("  RSS idle: {}", server.memory());
    let mut ids = create_orders(&server.base, 0, orders, 16, server.pid()).await;
    println!("  RSS after {} orders: {}", ids.len(), server.memory());
    if parts.writer {
        let bare_postgres = store_url.starts_with("postgres").then_some(store_url);
        writer::compare(&server, &ids, work, bare_postgres, connections, seconds).await;
    }

    if let Some(store) = &mut store {
        // Store-only and HTTP alternate, so that both see the same machine (it is shared), and
        // each round runs on orders of its own, fresh (an event's answer carries the order's
        // history: older orders make longer answers).
        let rounds = env_num("BENCH_ROUNDS", 3).max(1) as usize;
        let mut results = Vec::new();
        let mut sequential = 0.0;
        let mut http_ids = ids.clone();
        for round in 1..=rounds {
            println!("  round {round} of {rounds}:");
            if round > 1 {
                http_ids = create_orders(&server.base, ids.len(), ids.len() + orders, 16, server.pid()).await;
                ids.extend(&http_ids);
            }
            let lib_ids = store.create(orders).await;
            if round == 1 {
                sequential = store.sequential(&lib_ids, (seconds / 2.0).max(1.0)).await;
            }
            let lib = store.concurrent(&lib_ids, connections, seconds, false).await;
            let view_ids = store.create(orders).await;
            let viewed = store.concurrent(&view_ids, connections, seconds, true).await;
            let http = load(&server, &http_ids, Req::Event, connections, seconds).await;
            println!(
                "    ratio HTTP/store-only: {:.2} ({:.0} / {:.0}); {:.2} against sequential; store + answer / \
                 store-only {:.2}; HTTP / store + answer {:.2}",
                http.rate() / lib.rate(),
                http.rate(),
                lib.rate(),
                http.rate() / sequential,
                viewed.rate() / lib.rate(),
                http.rate() / viewed.rate()
            );
            results.push((http, lib));
        }
        // Older orders: 1,000 of the first round's, which then get about 15 events each.
        println!("  events on 1,000 orders for {seconds:.0} s (their history grows):");
        load(&server, &ids[..1000.min(ids.len())], Req::Event, connections, seconds).await;
        println!("  RSS after the event load: {}", server.memory());
        let floor_secs = (seconds / 2.0).max(1.0);
        load(&server, &ids, Req::Healthz, connections, floor_secs).await;
        load(&server, &ids, Req::Workflows, connections, floor_secs).await;
        load(&server, &ids, Req::GetOrder, connections, floor_secs).await;
        println!("  RSS after the GET loads: {}", server.memory());
        // The round with the median ratio.
        results.sort_by(|a, b| (a.0.rate() / a.1.rate()).total_cmp(&(b.0.rate() / b.1.rate())));
        let ratios: Vec<String> =
            results.iter().map(|(h, l)| format!("{:.2}", h.rate() / l.rate())).collect();
        let (http, lib) = &results[(results.len() - 1) / 2];
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "  RESULT {label}, median round: HTTP {:.0} req/s (p50 {:.2} ms, p99 {:.2} ms, {} not 2xx); store-only {:.0} events/s from {connections} tasks (p50 {:.2} ms, p99 {:.2} ms), {sequential:.0} sequential; ratio HTTP/store {:.2} (rounds: {}); {:.2} against sequential",
            http.rate(),
            ms(&http.hist, 0.5),
            ms(&http.hist, 0.99),
            results.iter().map(|(h, _)| h.failed).sum::<u64>(),
            lib.rate(),
            ms(&lib.hist, 0.5),
            ms(&lib.hist, 0.99),
            http.rate() / lib.rate(),
            ratios.join(", "),
            http.rate() / sequential
        );
    }

    if let Some(store) = store {
        store.close().await;
    }
    if parts.hooks {
        hooks::run(&server, seconds).await;
        println!("  RSS after the hooks part: {}", server.memory());
    }
    let mut server = server;
    if parts.reload {
        let n = ids.len();
        reload(&server, work, edits, &format!("(debounce 100 ms, the default; {n} orders)")).await;
        println!("  RSS after {} reloads: {}", 2 * edits, server.memory());
        drop(server);
        let fast = Server::start(work, http_url, Some(20)).await;
        reload(&fast, work, edits, &format!("(ORDERLY_RELOAD_DEBOUNCE_MS=20; {n} orders)")).await;
        drop(fast);
        server = Server::start(work, http_url, None).await;
    }

    if parts.memory {
        if ids.len() < total {
            let more = create_orders(&server.base, ids.len(), total, 32, server.pid()).await;
            ids.extend(more);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("  RSS after {} orders: {}", ids.len(), server.memory());
        load(&server, &ids, Req::Event, connections, (seconds / 2.0).max(1.0)).await;
        println!("  RSS after events on {} orders: {}; idle was {idle:.1} MiB", ids.len(), server.memory());
        // Reads of whole orders (history included) fill the connections' page caches.
        load(&server, &ids, Req::GetOrder, connections, (seconds / 2.0).max(1.0)).await;
        let peak = status_mib(server.pid(), "VmHWM");
        println!("  RSS after order reads on {} orders: {}", ids.len(), server.memory());
        println!(
            "  RESULT memory, {} orders: peak RSS {peak:.1} MiB [< 60: {}]",
            ids.len(),
            if peak < 60.0 { "met" } else { "NOT MET" }
        );
        if parts.reload {
            api_reloads(&server, edits, &format!("({} orders)", ids.len())).await;
        }
    }
}

/// Drops and creates database `name` through the admin database of `base`.
async fn fresh_database(base: &str, name: &str) {
    let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.expect("postgres admin");
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("drop database");
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
}

async fn drop_database(base: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
        conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok();
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and `cargo bench -- --list`: nothing to list
    }
    let has = |w: &str| args.iter().any(|a| a == w);
    let any_part = has("writer") || has("load") || has("hooks") || has("reload") || has("memory");
    let parts = Parts {
        writer: !any_part || has("writer"),
        load: !any_part || has("load"),
        hooks: !any_part || has("hooks"),
        reload: !any_part || has("reload"),
        memory: !any_part || has("memory"),
    };
    let any_backend = has("sqlite") || has("postgres");

    if !any_backend || has("sqlite") {
        let dir = tempfile::tempdir().expect("dir");
        let http = format!("sqlite://{}", dir.path().join("orderly.db").display());
        let store = format!("sqlite://{}", dir.path().join("store-only.db").display());
        run("SQLite (WAL, synchronous=FULL, file on ext4)", &http, &store, dir.path(), &parts).await;
    }

    if !any_backend || has("postgres") {
        match std::env::var("ORDERLY_BENCH_POSTGRES_URL") {
            Ok(url) => {
                let (base, name) = url.rsplit_once('/').expect("a URL ending in /DATABASE");
                let name = name.split('?').next().unwrap_or(name).to_string();
                assert!(
                    name != "postgres" && !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "ORDERLY_BENCH_POSTGRES_URL must name a database of its own (it is dropped), not `{name}`"
                );
                let store_name = format!("{name}_store");
                fresh_database(base, &name).await;
                fresh_database(base, &store_name).await;
                let dir = tempfile::tempdir().expect("dir");
                run("PostgreSQL (local, fsync on)", &url, &format!("{base}/{store_name}"), dir.path(), &parts).await;
                drop_database(base, &store_name).await;
                if std::env::var_os("BENCH_KEEP").is_none() {
                    drop_database(base, &name).await;
                }
            }
            Err(_) if has("postgres") => panic!("set ORDERLY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/orderly_bench"),
            Err(_) => eprintln!(
                "PostgreSQL skipped: set ORDERLY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/orderly_bench"
            ),
        }
    }
}
