//! The console's speed targets (issue 14), as server time: the board at `/` with 100,000 orders
//! answers its counts and first page in under 100 ms, and the order page `/orders/{key}` in
//! under 20 ms.
//!
//! The orders are seeded through the store, not HTTP: 25,000 customers
//! (`Tx::match_customer`), then each order lived through the engine as the service would live it
//! (`engine::create`, the events of one of the shipped scenarios in `workflows/tests`, due timers
//! fired with `engine::fire_timer`, some orders assigned to staff with `engine::assign`), with
//! the real hooks, and written with `Tx::insert_order`, 1,000 to a transaction. Orders are
//! created over 120 days up to the bench's clock; most older ones run their scenario to its
//! end, the rest stop part-way, so every workflow's statuses are populated. The board has stuck
//! orders to put first: timers that fired flagged orders `overdue` or `integration_failed`, a
//! few are `possible_duplicate`, and about one in 200 keeps a timer past due (the timer worker
//! behind); the report says how many.
//!
//! Then the real router (`orderly::http::app`, an open configuration: the pages answer as the
//! local user) is called with `tower::ServiceExt::oneshot`, no socket, so what is timed is the
//! server's work, body included: `GET /` (counts, stuck orders first, the first 100),
//! `GET /?view=queue` (In queue), `GET /?q=...` (a search by a customer's email) and
//! `GET /orders/id:N` (orders spread over the table). Each is timed against the bare store reads
//! it makes, in the same run and interleaved with it: `status_counts` + `grid` with the page's
//! own query, and `find_order` + `history` for the order page. The ratio is what holds on a
//! noisy machine; the PASS/FAIL lines compare the page's median with the target. The bench is a
//! report: it exits 0 either way.
//!
//! SQLite on a fresh file in a temporary folder always; PostgreSQL when
//! `ORDERLY_TEST_POSTGRES_URL` (or `ORDERLY_BENCH_POSTGRES_URL`) names an admin URL: a fresh
//! database is made, vacuumed and analyzed after seeding (what autovacuum does after a bulk
//! load), and dropped after.
//!
//! `ORDERLY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench console`
//! (`-- sqlite` or `-- postgres` for one backend). Env: `BENCH_ORDERS` (default 100000),
//! `BENCH_REQUESTS` (timed requests per page, default 50, after 5 to warm up), `BENCH_KEEP=1`
//! (keep the databases: the SQLite file in `target/console-bench/`, the PostgreSQL database).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::TimeZone;
use orderly::config::Config;
use orderly::engine::{self, AssignInput, CustomerInput, Decision, EventInput, Hooks, NewOrder, TimerCancel};
use orderly::http::{app, AppState};
use orderly::metrics::Metrics;
use orderly::model::Workflow;
use orderly::order::{Customer, Time};
use orderly::registry::Registry;
use orderly::service::{ManualClock, Service};
use orderly::store::{CustomerMatch, GridQuery, OrderKey, Store};
use sqlx::{Connection, Executor};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// The targets (issue 14).
const BOARD_TARGET_MS: f64 = 100.0;
const ORDER_TARGET_MS: f64 = 20.0;
/// The orders a board page shows (`pages::board`).
const PAGE: u32 = 100;
/// The flags that make an order stuck (the store's `STUCK_FLAGS`).
const STUCK_FLAGS: [&str; 3] = ["integration_failed", "overdue", "possible_duplicate"];
/// Who orders are assigned to: the open service's local user first ("My open").
const STAFF: [&str; 4] = ["local", "ana", "carl", "cora"];
const FIRST: [&str; 16] = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Mia", "Lucas", "Amelia", "Mateo",
    "Harper", "Levi", "Ella", "Ezra",
];
const LAST: [&str; 16] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
];
const COMPANIES: [&str; 6] =
    ["Acme Music", "Bayside Guitars", "Northwind Audio", "Crescendo Ltd", "Fretworks", "Tonewood Co"];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `BENCH_KEEP=1`: keep the databases for a look afterwards (EXPLAIN): the SQLite file in
/// `target/console-bench/`, the PostgreSQL database undropped (both named on stderr).
fn keep() -> bool {
    std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1")
}

/// The bench's clock: orders are created over the 120 days before it.
fn now() -> Time {
    chrono::Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).single().expect("time")
}

/// A TOML value as the JSON an event carries (as the scenario runner converts it).
fn json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.iter().map(json).collect(),
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), json(v))).collect(),
    }
}

/// What happens to an order after its creation, in a scenario.
enum Move {
    Event(EventInput),
    Wait(chrono::Duration),
}

/// A life an order can have: a shipped scenario's order and its events and waits.
struct Plan {
    workflow: String,
    order: NewOrder,
    moves: Vec<Move>,
}

/// Every scenario in `workflows/tests/<workflow>/` (their other steps, locks and fulfillment
/// actions, are left out).
fn plans() -> Vec<Plan> {
    let mut files: Vec<_> = std::fs::read_dir("workflows/tests")
        .expect("workflows/tests")
        .flat_map(|d| std::fs::read_dir(d.expect("entry").path()).expect("a folder"))
        .map(|f| f.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("scenario");
            let s = orderly::scenario::format::parse(&text)
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            let folder = path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or_default();
            let moves = s
                .steps
                .iter()
                .filter_map(|step| {
                    let step = step.get_ref();
                    if let Some(name) = &step.event {
                        let data =
                            step.data.as_ref().map(|t| t.iter().map(|(k, v)| (k.clone(), json(v))).collect());
                        Some(Move::Event(EventInput {
                            name: name.clone(),
                            data: data.unwrap_or_default(),
                            actor: step.actor.clone(),
                        }))
                    } else {
                        step.advance.as_ref().map(|w| Move::Wait(w.duration))
                    }
                })
                .collect();
            Plan { workflow: s.workflow.unwrap_or_else(|| folder.to_string()), order: s.order, moves }
        })
        .collect()
}

/// An order's life folded into one decision to insert: its history so far, its timers still to
/// come, its order as it is now.
struct Life<'a> {
    w: &'a Workflow,
    hooks: &'a dyn Hooks,
    d: Decision,
    at: Time,
}

impl Life<'_> {
    fn fold(&mut self, d: Decision, at: Time) {
        let timers = &mut self.d.timer_starts;
        for c in &d.timer_cancels {
            match c {
                TimerCancel::Status(s) => timers.retain(|t| t.status != *s),
                TimerCancel::Name(n) => timers.retain(|t| t.name != *n),
            }
        }
        timers.extend(d.timer_starts);
        self.d.history.extend(d.history);
        self.d.order = d.order;
        self.at = at;
    }

    /// Fires the timers due by `until`, earliest first, as the timer worker does.
    fn fire_until(&mut self, until: Time) {
        for _ in 0..20 {
            let Some(i) = (0..self.d.timer_starts.len())
                .filter(|&i| self.d.timer_starts[i].due_at <= until)
                .min_by_key(|&i| self.d.timer_starts[i].due_at)
            else {
                return;
            };
            let t = self.d.timer_starts.remove(i);
            if let Ok(d) = engine::fire_timer(self.w, &self.d.order, &t.name, t.due_at, self.hooks) {
                self.fold(d, t.due_at);
            }
        }
    }
}

/// What the seeding made, for the report.
#[derive(Default)]
struct Seeded {
    orders: usize,
    stuck: usize,
    in_queue: usize,
    by_workflow: std::collections::BTreeMap<String, usize>,
    statuses: usize,
    /// A customer's email as staff would search for it (without `.com`).
    search: String,
    ids: Vec<i64>,
}

async fn seed(store: &Store, orders: usize) -> Seeded {
    let started = Instant::now();
    let registry = Registry::load(Path::new("workflows"), store).await.expect("workflows");
    let hooks = registry.hooks();
    let now = now();

    // The customers.
    let count = orders.div_ceil(4).max(1);
    let mut customers: Vec<Customer> = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(1000) {
        let mut tx = store.begin().await.expect("begin");
        for i in chunk * 1000..count.min(chunk * 1000 + 1000) {
            let (first, last) = (FIRST[i % 16], LAST[(i / 16) % 16]);
            let wanted = CustomerMatch {
                email: format!("{}.{}.{i}@example.com", first.to_lowercase(), last.to_lowercase()),
                first_name: first.into(),
                last_name: last.into(),
                company: if i % 5 == 0 { COMPANIES[i % 6].into() } else { String::new() },
                phone: format!("555-{:04}", i % 10_000),
                is_guest: i % 7 == 0,
                zip: format!("{:05}", 10_000 + i % 80_000),
            };
            let at = now - chrono::Duration::days(130);
            customers.push(tx.match_customer(&wanted, at).await.expect("customer").customer);
        }
        tx.commit().await.expect("commit");
    }

    let plans = plans();
    let mut rng = fastrand::Rng::with_seed(14);
    let mut seeded = Seeded { orders, ..Seeded::default() };
    let mut statuses = std::collections::BTreeSet::new();
    let span = chrono::Duration::days(120).num_seconds();
    for chunk in 0..orders.div_ceil(1000) {
        let mut tx = store.begin().await.expect("begin");
        for k in chunk * 1000..orders.min(chunk * 1000 + 1000) {
            let created = now - chrono::Duration::seconds(span * (orders - k) as i64 / orders as i64)
                + chrono::Duration::seconds(rng.i64(0..60));
            let customer = &customers[rng.usize(0..customers.len())];
            let d = loop {
                let plan = &plans[rng.usize(0..plans.len())];
                if let Some(d) = live(&registry, &*hooks, plan, k, customer, created, &mut rng) {
                    break d;
                }
            };
            let w = registry.get(&d.d.order.workflow).expect("the order's workflow");
            let o = &d.d.order;
            let stuck = o.flags.iter().any(|f| STUCK_FLAGS.contains(&f.as_str()))
                || d.d.timer_starts.iter().any(|t| t.due_at < now);
            seeded.stuck += usize::from(stuck);
            seeded.in_queue += usize::from(o.queue.is_some() && o.assignee.is_none());
            *seeded.by_workflow.entry(o.workflow.clone()).or_default() += 1;
            statuses.insert((o.workflow.clone(), o.status.clone()));
            let id = tx.insert_order(&d.d, w.version, d.at).await.expect("insert");
            seeded.ids.push(id);
            if k == orders / 2 {
                // The search: this order's customer's email, without `.com`, as staff type it.
                seeded.search = o.customer.email.trim_end_matches(".com").to_string();
            }
        }
        tx.commit().await.expect("commit");
    }
    seeded.statuses = statuses.len();
    eprintln!(
        "  seeded {} customers and {orders} orders in {:.1} s",
        customers.len(),
        started.elapsed().as_secs_f64()
    );
    seeded
}

/// Order `k`'s life along `plan` (None when the plan's order cannot be created).
fn live<'a>(
    registry: &'a Registry,
    hooks: &'a dyn Hooks,
    plan: &Plan,
    k: usize,
    customer: &Customer,
    created: Time,
    rng: &mut fastrand::Rng,
) -> Option<Life<'a>> {
    let now = now();
    let w = &*registry.get(&plan.workflow)?.workflow;
    let mut input = plan.order.clone();
    let prefix = match w.name.as_str() {
        "retail" => "R",
        "fulfillment" => "F",
        "repair_store" => "A",
        _ => "S",
    };
    input.number = Some(format!("{prefix}{:07}", k + 1));
    input.external_id = None;
    input.customer = CustomerInput {
        email: customer.email.clone(),
        first_name: customer.first_name.clone(),
        last_name: customer.last_name.clone(),
        company: customer.company.clone(),
        phone: customer.phone.clone(),
        guest: customer.is_guest,
    };
    let possible_duplicate = rng.u32(0..150) == 0;
    let d = engine::create(w, &input, customer.clone(), possible_duplicate, created, hooks).ok()?;
    let mut life = Life { w, hooks, d, at: created };
    // Most orders older than two weeks have run their course; the rest stop part-way.
    let old = now - created > chrono::Duration::days(14);
    let depth = if old && rng.u32(0..100) < 95 { plan.moves.len() } else { rng.usize(0..=plan.moves.len()) };
    let mut at = created;
    for m in plan.moves.iter().take(depth) {
        match m {
            Move::Wait(by) => at += *by,
            Move::Event(e) => {
                at += chrono::Duration::minutes(1);
                if at > now {
                    break;
                }
                life.fire_until(at);
                match engine::apply(w, &life.d.order, e, at, hooks) {
                    Ok(d) => life.fold(d, at),
                    Err(_) => break,
                }
            }
        }
    }
    // The timer worker has fired what was due, but for about one order in 200.
    if rng.u32(0..200) != 0 {
        life.fire_until(now);
    }
    // Staff took some orders from their queue, or put one in a queue.
    let last = life.at.max(now - chrono::Duration::hours(1));
    let is_final = w.statuses.iter().any(|s| s.code == life.d.order.status && s.is_final);
    let assign = if life.d.order.queue.is_some() && rng.u32(0..3) == 0 {
        Some(AssignInput {
            queue: None,
            assignee: Some(STAFF[rng.usize(0..STAFF.len())].into()),
            actor: None,
        })
    } else if !is_final && rng.u32(0..50) == 0 {
        Some(AssignInput { queue: Some("csr".into()), assignee: None, actor: Some("ana".into()) })
    } else {
        None
    };
    if let Some(a) = assign {
        if let Ok(d) = engine::assign(w, &life.d.order, &a, last) {
            life.fold(d, last);
        }
    }
    life.d.outbox.clear();
    life.d.related.clear();
    Some(life)
}

/// Times of one kind of request, in ms.
struct Times(Vec<f64>);

impl Times {
    fn median(&self) -> f64 {
        self.at(0.5)
    }

    fn p95(&self) -> f64 {
        self.at(0.95)
    }

    fn at(&self, q: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `GET uri` through the router: the time to the last byte of the body, and the body's length.
async fn get(router: &Router, uri: &str) -> (f64, usize) {
    let started = Instant::now();
    let res = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 64 << 20).await.unwrap();
    let took = ms(started.elapsed());
    assert_eq!(status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&body));
    (took, body.len())
}

async fn timed<F: Future>(f: F) -> f64 {
    let started = Instant::now();
    f.await;
    ms(started.elapsed())
}

/// One page against its bare reads, interleaved: (page, bare, page size in bytes).
async fn compare<B, BF>(router: &Router, uris: &[String], bare: B) -> (Times, Times, usize)
where
    B: Fn(usize) -> BF,
    BF: Future<Output = ()>,
{
    let requests = env("BENCH_REQUESTS", 50);
    for i in 0..5 {
        get(router, &uris[i % uris.len()]).await;
        bare(i).await;
    }
    let (mut page, mut base, mut bytes) = (Vec::new(), Vec::new(), 0);
    for i in 0..requests {
        // Alternate which goes first, so neither always meets a cache the other warmed.
        if i % 2 == 0 {
            base.push(timed(bare(i)).await);
        }
        let (took, len) = get(router, &uris[i % uris.len()]).await;
        page.push(took);
        bytes = bytes.max(len);
        if i % 2 == 1 {
            base.push(timed(bare(i)).await);
        }
    }
    (Times(page), Times(base), bytes)
}

fn line(what: &str, page: &Times, bare: &Times, bytes: usize, target: f64) -> bool {
    let pass = page.median() < target;
    println!(
        "  {what:<28} page {:>6.1} / {:>6.1} ms   bare reads {:>6.1} / {:>6.1} ms   ratio {:>4.2}   {:>4} KB   \
         target {target:.0} ms: {}",
        page.median(),
        page.p95(),
        bare.median(),
        bare.p95(),
        page.median() / bare.median(),
        bytes / 1024,
        if pass { "PASS" } else { "FAIL" }
    );
    pass
}

async fn run(label: &str, store: Store, after_seed: impl Future<Output = ()>) {
    let orders = env("BENCH_ORDERS", 100_000);
    eprintln!("{label}:");
    let seeded = seed(&store, orders).await;
    after_seed.await;
    let registry = Registry::load(Path::new("workflows"), &store).await.expect("workflows");
    let service = Arc::new(Service::serving(store.clone(), registry, Arc::new(ManualClock::new(now()))));
    let config = Config { workflows: "workflows".into(), ..Config::default() };
    assert!(config.open(), "an open configuration: the pages answer as the local user");
    let router = app(AppState::new(service, config, Arc::new(Metrics::new()), None));
    let at = now();

    let board = GridQuery { stuck_first: true, limit: PAGE, ..GridQuery::default() };
    let queue = GridQuery { unassigned_in_queue: true, ..board.clone() };
    let search = GridQuery { search: Some(seeded.search.clone()), ..board.clone() };
    let found = store.grid(&search, at).await.expect("search").rows.len();
    assert!(found > 0, "the search finds the customer's orders");
    let bare_board = |q: &GridQuery| {
        let (store, q) = (store.clone(), q.clone());
        move |_: usize| {
            let (store, q) = (store.clone(), q.clone());
            async move {
                store.status_counts().await.expect("counts");
                store.grid(&q, at).await.expect("grid");
            }
        }
    };
    // The order page's sample: 50 orders spread over the table.
    let sample: Vec<i64> = (0..50).map(|i| seeded.ids[i * seeded.ids.len() / 50]).collect();
    let order_uris: Vec<String> = sample.iter().map(|id| format!("/orders/id:{id}")).collect();

    println!(
        "{label}: {} orders in {} statuses of {} workflows ({}), {} stuck, {} in a queue unassigned; \
         median / p95 of {} requests each (load average before: {})",
        seeded.orders,
        seeded.statuses,
        seeded.by_workflow.len(),
        seeded.by_workflow.iter().map(|(w, n)| format!("{w} {n}")).collect::<Vec<_>>().join(", "),
        seeded.stuck,
        seeded.in_queue,
        env("BENCH_REQUESTS", 50),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut pass = true;
    let (p, b, n) = compare(&router, &["/".into()], bare_board(&board)).await;
    pass &= line("GET / (the board)", &p, &b, n, BOARD_TARGET_MS);
    let (p, b, n) = compare(&router, &["/?view=queue".into()], bare_board(&queue)).await;
    pass &= line("GET /?view=queue", &p, &b, n, BOARD_TARGET_MS);
    let q = format!("/?q={}", seeded.search.replace('@', "%40"));
    let (p, b, n) = compare(&router, &[q], bare_board(&search)).await;
    pass &= line(&format!("GET /?q= ({found} found)"), &p, &b, n, BOARD_TARGET_MS);
    let bare_order = |i: usize| {
        let (store, id) = (store.clone(), sample[i % sample.len()]);
        async move {
            let order = store.find_order(&OrderKey::Id(id)).await.expect("read").expect("the order");
            store.history(order.id).await.expect("history");
        }
    };
    let (p, b, n) = compare(&router, &order_uris, bare_order).await;
    pass &= line("GET /orders/id:N", &p, &b, n, ORDER_TARGET_MS);

    // The bare reads one by one, for where the board's time goes.
    let mut parts = Vec::new();
    let plain = GridQuery { limit: PAGE, ..GridQuery::default() };
    for (what, q) in
        [("grid, stuck first", Some(&board)), ("grid, newest first", Some(&plain)), ("status_counts", None)]
    {
        let mut v = Vec::new();
        for _ in 0..env("BENCH_REQUESTS", 50) {
            v.push(
                timed(async {
                    match q {
                        Some(q) => {
                            store.grid(q, at).await.expect("grid");
                        }
                        None => {
                            store.status_counts().await.expect("counts");
                        }
                    }
                })
                .await,
            );
        }
        parts.push(format!("{what} {:.1} ms", Times(v).median()));
    }
    println!("  bare reads alone (medians): {}", parts.join(", "));
    println!(
        "{label}: {} (board under {BOARD_TARGET_MS:.0} ms, order page under {ORDER_TARGET_MS:.0} ms, medians)",
        if pass { "PASS" } else { "FAIL" }
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and `cargo bench -- --list`: nothing to list
    }
    let words: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |w: &str| words.is_empty() || words.iter().any(|a| a == w);
    if wants("sqlite") {
        let dir = tempfile::tempdir().expect("dir");
        let file = if keep() {
            std::fs::create_dir_all("target/console-bench").expect("target/console-bench");
            Path::new("target/console-bench/console.db").to_path_buf()
        } else {
            dir.path().join("console.db")
        };
        for end in ["", "-wal", "-shm"] {
            std::fs::remove_file(format!("{}{end}", file.display())).ok();
        }
        let url = format!("sqlite://{}", file.display());
        let store = Store::connect(&url).await.expect("sqlite");
        run("SQLite", store.clone(), async {}).await;
        store.close().await;
        if keep() {
            eprintln!("kept: {url}");
        }
    }
    if !wants("postgres") {
        return;
    }
    let admin = ["ORDERLY_TEST_POSTGRES_URL", "ORDERLY_BENCH_POSTGRES_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()));
    let Some(admin) = admin else {
        eprintln!(
            "PostgreSQL skipped: set ORDERLY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
        );
        return;
    };
    let name = format!("orderly_console_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("postgres admin");
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
    let url = format!("{}/{name}", admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base));
    let store = Store::connect(&url).await.expect("postgres");
    let vacuum = async {
        let mut c = sqlx::PgConnection::connect(&url).await.expect("postgres");
        c.execute("VACUUM ANALYZE").await.expect("vacuum");
    };
    run("PostgreSQL", store.clone(), vacuum).await;
    store.close().await;
    if keep() {
        eprintln!("kept: {url}");
    } else {
        conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.ok();
    }
}
