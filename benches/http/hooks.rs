//! The `hooks` part of the HTTP bench (issue 11, item 16): does a slow hook slow anyone else?
//!
//! Normal traffic (`BENCH_NORMAL` connections, 8 by default, each pausing 10 ms between
//! requests: creating a retail website order, posting `card_declined` to one, `GET /healthz`, in
//! turn) runs twice for `BENCH_SECONDS`: alone, then beside ten connections that post, back to
//! back, an event whose hook (`spin.rhai`, written into the bench's workflows) scans a long
//! string until its 50 ms time budget ends and the event is refused `hook_failed`. The report:
//! the normal traffic's p50 / p99 / max both times and their ratio, how long the hooks' calls
//! took, and the server's peak resident set while they ran (sampled every 20 ms, and the
//! kernel's high-water mark).

use super::{histogram, status_mib, Rng, Server};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many clients run budget-exhausting hooks at once.
const SPINNERS: usize = 10;

/// The workflow and hook the spinning clients use, written into `workflows`.
pub(super) fn write_spin_workflow(workflows: &Path) {
    std::fs::create_dir_all(workflows.join("hooks")).expect("mkdir hooks");
    std::fs::write(
        workflows.join("spin.flow"),
        r#"# Bench only: an event whose hook runs until its time budget ends.
workflow spin "Hooks that use their whole budget"
status open "Open"
status done "Done" final
event spin "runs a hook to the end of its budget"
channel spin "Spin" { start in open }
on spin from open go to done { run hook "spin.rhai" }
"#,
    )
    .expect("spin.flow");
    std::fs::write(
        workflows.join("hooks/spin.rhai"),
        r#"// Each step scans a long string: the call ends at its time budget, not its operation limit.
let s = "a";
for i in 0..16 { s += s; }
let n = 0;
loop {
    n += s.index_of("b");
}
"#,
    )
    .expect("spin.rhai");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(1).tcp_nodelay(true).build().expect("client")
}

/// Creates an order from `body`; its number.
async fn create(client: &reqwest::Client, base: &str, body: &Value) -> String {
    let resp = client.post(format!("{base}/v1/orders")).json(body).send().await.expect("POST /v1/orders");
    let status = resp.status();
    let v: Value = resp.json().await.expect("order JSON");
    assert_eq!(status.as_u16(), 201, "{v}");
    v["number"].as_str().expect("number").to_string()
}

fn retail_order(i: usize) -> Value {
    json!({
        "channel": "website",
        "workflow": "retail",
        "customer": {"email": format!("n{}@example.com", i % 100), "first_name": "Normal", "last_name": "Traffic"},
        "payment": {"method": "credit_card", "outcome": "declined"},
        "lines": [{"sku": "GTR-2", "description": "Guitar", "qty": 1, "unit_price": "799.00", "in_stock": true}]
    })
}

/// What the normal traffic saw.
struct Normal {
    hist: Histogram<u64>,
    failed: u64,
    errors: Vec<String>,
}

/// `connections` clients of normal traffic for `secs`, on `numbers` (retail orders waiting in
/// Credit Card Declined).
async fn normal_traffic(base: &str, numbers: &[String], connections: usize, secs: f64) -> Normal {
    let numbers = Arc::new(numbers.to_vec());
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (base, numbers) = (base.to_string(), numbers.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            client.get(format!("{base}/healthz")).send().await.expect("warm-up").bytes().await.ok();
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((w as u64 + 1) * 0x9E37_79B9_7F4A_7C15));
            let mut out = Normal { hist: histogram(), failed: 0, errors: Vec::new() };
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            let mut i = w;
            while Instant::now() < deadline {
                let request = match i % 3 {
                    0 => client.post(format!("{base}/v1/orders")).json(&retail_order(i)),
                    1 => client
                        .post(format!(
                            "{base}/v1/orders/{}/events",
                            numbers[(rng.next() % numbers.len() as u64) as usize]
                        ))
                        .header("content-type", "application/json")
                        .body(super::EVENT_BODY),
                    _ => client.get(format!("{base}/healthz")),
                };
                i += 1;
                let t = Instant::now();
                let result = super::fetch(request).await;
                out.hist.record((t.elapsed().as_micros() as u64).max(1)).ok();
                match result {
                    Ok((status, _)) if status.is_success() => {}
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
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            out
        }));
    }
    let mut all = Normal { hist: histogram(), failed: 0, errors: Vec::new() };
    for t in tasks {
        let o = t.await.expect("normal worker");
        all.hist.add(&o.hist).expect("merge");
        all.failed += o.failed;
        all.errors.extend(o.errors);
    }
    all
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn line(n: &Normal, secs: f64) -> String {
    format!(
        "{} requests ({:.0}/s, {} failed), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        n.hist.len(),
        n.hist.len() as f64 / secs,
        n.failed,
        ms(&n.hist, 0.5),
        ms(&n.hist, 0.99),
        n.hist.max() as f64 / 1000.0
    )
}

/// The part: normal traffic alone, then beside ten budget-exhausting hooks.
pub(super) async fn run(server: &Server, secs: f64) {
    let connections = super::env_num("BENCH_NORMAL", 8) as usize;
    println!("  hooks: normal traffic ({connections} connections, 10 ms between requests) alone, then beside {SPINNERS} budget-exhausting hooks, {secs:.0} s each");
    let setup = client();
    let mut numbers = Vec::new();
    for i in 0..200 {
        numbers.push(create(&setup, &server.base, &retail_order(i)).await);
    }

    let alone = normal_traffic(&server.base, &numbers, connections, secs).await;
    println!("    alone:             {}", line(&alone, secs));

    // The spinners: each creates spin orders and posts `spin` to them, back to back.
    let stop = Arc::new(AtomicBool::new(false));
    let mut spinners = Vec::new();
    for _ in 0..SPINNERS {
        let (base, stop) = (server.base.clone(), stop.clone());
        spinners.push(tokio::spawn(async move {
            let client = client();
            let mut hist = histogram();
            let mut refused = 0u64;
            let spin_order =
                json!({"channel": "spin", "lines": [{"sku": "X", "qty": 1, "unit_price": "1.00"}]});
            while !stop.load(Ordering::Relaxed) {
                let number = create(&client, &base, &spin_order).await;
                let t = Instant::now();
                let resp = client
                    .post(format!("{base}/v1/orders/{number}/events"))
                    .json(&json!({"event": "spin"}))
                    .send()
                    .await
                    .expect("spin event");
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or_default();
                hist.record((t.elapsed().as_micros() as u64).max(1)).ok();
                assert_eq!(status.as_u16(), 422, "the spinning hook must end at its budget: {body}");
                assert_eq!(body["error"], json!("hook_failed"), "{body}");
                let message = body["message"].as_str().unwrap_or_default();
                assert!(message.contains("time budget"), "the hook must end at its time budget: {body}");
                refused += 1;
            }
            (hist, refused)
        }));
    }
    // The server's resident set, sampled while the hooks spin.
    let pid = server.pid();
    let sampling = stop.clone();
    let sampler = tokio::spawn(async move {
        let mut peak = 0.0f64;
        while !sampling.load(Ordering::Relaxed) {
            peak = peak.max(status_mib(pid, "VmRSS"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak
    });
    tokio::time::sleep(Duration::from_millis(500)).await; // the spinners are under way
    let beside = normal_traffic(&server.base, &numbers, connections, secs).await;
    stop.store(true, Ordering::Relaxed);
    let mut spun = histogram();
    let mut refused = 0;
    for s in spinners {
        let (h, r) = s.await.expect("spinner");
        spun.add(&h).expect("merge");
        refused += r;
    }
    let peak = sampler.await.expect("sampler");
    println!("    beside the hooks:  {}", line(&beside, secs));
    println!(
        "    the hooks: {refused} spin events refused `hook_failed` at the budget, {:.0}/s; each answered in p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        refused as f64 / (secs + 0.5),
        ms(&spun, 0.5),
        ms(&spun, 0.99),
        spun.max() as f64 / 1000.0
    );
    for e in alone.errors.iter().chain(&beside.errors).take(5) {
        println!("    NOT 2xx: {e}");
    }
    println!(
        "  RESULT hooks: normal traffic p99 {:.2} ms beside {SPINNERS} spinning hooks (target < 50 ms), {:.2} ms alone (x{:.2}); peak RSS while they ran {peak:.1} MiB (high-water mark {:.1} MiB; target < 200 MB)",
        ms(&beside.hist, 0.99),
        ms(&alone.hist, 0.99),
        ms(&beside.hist, 0.99) / ms(&alone.hist, 0.99).max(0.001),
        status_mib(pid, "VmHWM")
    );
}
