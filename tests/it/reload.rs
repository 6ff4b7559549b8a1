//! Hot reload, on SQLite and PostgreSQL: a changed workflow or hook takes effect, a broken one
//! keeps the running version, a version that would strand orders is refused unless `renamed`
//! moves them, the folder watcher reloads once per burst (also when editors save by rename), and
//! an input keeps the snapshot it started with.

use crate::support;
use crate::support::t0;

use orderly::engine::{EventInput, NewOrder, NoHooks};
use orderly::registry::Registry;
use orderly::reload::{Reloader, Trigger};
use orderly::service::{ManualClock, Service, ServiceError};
use orderly::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The service tests' small shop: `awaiting_payment` -> `paid` when the balance is paid.
const SHOP: &str = include_str!("../fixtures/shop/shop.flow");

/// The guard the first tests edit.
const PAID_IN_FULL: &str = "when order.balance_due <= 0 go to paid";

/// A shop whose `upgrade` event is guarded by a hook.
fn hooked_shop() -> String {
    format!("{SHOP}event upgrade\non upgrade from awaiting_payment when hook \"gate.rhai\" go to paid\n")
}

/// A workflows folder in a temporary directory, the service running it and its reloader.
struct Fixture {
    dir: tempfile::TempDir,
    service: Arc<Service>,
    reloader: Arc<Reloader>,
}

impl Fixture {
    /// Writes `files` (paths relative to the folder) and starts a service on them.
    async fn new(store: Store, files: &[(&str, &str)]) -> Fixture {
        Self::with(store, files, false).await
    }

    /// The same, with `Service::new` and hooks that refuse every call when `fixed_hooks`.
    async fn with(store: Store, files: &[(&str, &str)], fixed_hooks: bool) -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (name, text) in files {
            write(&dir.path().join(name), text);
        }
        let registry = Registry::load(dir.path(), &store).await.expect("the workflows load");
        let clock = Arc::new(ManualClock::new(t0()));
        let service = Arc::new(if fixed_hooks {
            Service::new(store, registry, clock, Arc::new(NoHooks))
        } else {
            Service::serving(store, registry, clock)
        });
        let reloader = Arc::new(Reloader::new(service.clone(), dir.path().to_path_buf()));
        Fixture { dir, service, reloader }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn version(&self, workflow: &str) -> i64 {
        self.service.registry().get(workflow).map_or(0, |a| a.version)
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("folder");
    }
    std::fs::write(path, text).expect("write");
}

fn order(method: &str, outcome: &str) -> NewOrder {
    serde_json::from_value(serde_json::json!({
        "channel": "web",
        "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        "payment": {"method": method, "outcome": outcome},
        "lines": [{"sku": "A", "qty": 4, "unit_price": "2.50", "in_stock": true}]
    }))
    .expect("valid order")
}

fn event(name: &str, data: serde_json::Value) -> EventInput {
    EventInput { name: name.into(), data: data.as_object().cloned().unwrap_or_default(), actor: None }
}

fn pay(amount: &str) -> EventInput {
    event("payment_received", serde_json::json!({"amount": amount, "outcome": "approved"}))
}

/// The workflow version of the order's last history row of this kind.
async fn last_version(s: &Service, number: &str, kind: &str) -> i64 {
    let o = s.order(number).await.expect("order");
    let h = s.store().history(o.id).await.expect("history");
    h.iter().rev().find(|r| r.entry.kind == kind).map_or(0, |r| r.workflow_version)
}

/// Waits (up to 5 s) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_edited_guard_takes_effect_and_history_names_each_version() {
    support::on_both("an_edited_guard_takes_effect_and_history_names_each_version", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let s = &f.service;
        let first = s.create_order(&order("check", "pending")).await.expect("created").order;
        let refused = s.apply_event(&first.number, &pay("1.00"), None).await.expect_err("too little");
        assert!(matches!(refused, ServiceError::Rejected(ref r) if r.code == "no_transition"), "{refused}");
        assert_eq!(f.version("shop"), 1);

        write(&f.path("shop.flow"), &SHOP.replace(PAID_IN_FULL, "when order.amount_paid > 0 go to paid"));
        let report = f.reloader.reload(Trigger::Api).await;
        assert!(report.ok, "{}\n{}", report.message, report.rendered);
        assert_eq!(report.changed, vec!["shop@2".to_string()]);
        assert_eq!(report.message, "reloaded: shop@2");
        assert_eq!(report.trigger, Trigger::Api);
        assert_eq!(f.version("shop"), 2, "the new version is higher");

        let paid = s.apply_event(&first.number, &pay("1.00"), None).await.expect("accepted now");
        assert_eq!(paid.order.status, "paid");
        assert_eq!(paid.order.workflow_version, 2);
        assert_eq!(last_version(s, &first.number, "created").await, 1, "earlier rows keep their version");
        assert_eq!(last_version(s, &first.number, "transition").await, 2, "later rows name the new one");
        assert_eq!(f.reloader.counts(), (1, 0));
        assert_eq!(f.reloader.last().message, report.message);
    })
    .await;
}

#[tokio::test]
async fn a_syntax_error_keeps_the_running_version() {
    support::on_both("a_syntax_error_keeps_the_running_version", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let line = SHOP.lines().position(|l| l.contains(PAID_IN_FULL)).expect("the guard's line") + 1;
        write(&f.path("shop.flow"), &SHOP.replace(PAID_IN_FULL, "when order.balance_due <= go to paid"));
        let report = f.reloader.reload(Trigger::Api).await;
        assert!(!report.ok);
        assert!(report.changed.is_empty());
        assert!(
            report.message.starts_with("reload failed: 1 error in shop.flow; still serving shop@1"),
            "{}",
            report.message
        );
        assert!(
            report.findings.iter().any(|d| d["file"].as_str().is_some_and(|p| p.ends_with("shop.flow"))
                && d["line"] == line
                && d["severity"] == "error"),
            "{:#?}",
            report.findings
        );
        assert!(report.rendered.contains(&format!("shop.flow:{line}:")), "{}", report.rendered);
        assert!(!report.rendered.contains('\u{1b}'), "no colour");
        assert_eq!(f.reloader.counts(), (0, 1));
        assert!(!f.reloader.last().ok);

        let s = &f.service;
        assert_eq!(f.version("shop"), 1);
        let o = s.create_order(&order("check", "pending")).await.expect("the old version serves").order;
        let paid = s.apply_event(&o.number, &pay("10.00"), None).await.expect("paid");
        assert_eq!(paid.order.status, "paid");
        assert_eq!(last_version(s, &o.number, "transition").await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_broken_hook_keeps_the_running_version_and_its_hooks() {
    support::on_both("a_broken_hook_keeps_the_running_version_and_its_hooks", |store| async move {
        let shop = hooked_shop();
        let f = Fixture::new(store, &[("shop.flow", &shop), ("hooks/gate.rhai", "order.total > 1\n")]).await;
        write(&f.path("hooks/gate.rhai"), "let limit = ;\norder.total > limit\n");
        let report = f.reloader.reload(Trigger::Signal).await;
        assert!(!report.ok);
        assert!(report.message.starts_with("reload failed: 1 error in gate.rhai;"), "{}", report.message);
        assert!(
            report.findings.iter().any(|d| d["file"].as_str().is_some_and(|p| p.ends_with("gate.rhai"))
                && d["line"] == 1
                && d["code"] == "hook-syntax"),
            "{:#?}",
            report.findings
        );
        assert!(report.rendered.contains("gate.rhai:1:"), "{}", report.rendered);

        // The running version still runs the hook it compiled.
        let s = &f.service;
        let o = s.create_order(&order("check", "pending")).await.expect("created").order;
        let up =
            s.apply_event(&o.number, &event("upgrade", serde_json::json!({})), None).await.expect("hook ran");
        assert_eq!(up.order.status, "paid");
    })
    .await;
}

#[tokio::test]
async fn hooks_reload_with_the_workflows_unless_the_service_was_given_its_own() {
    support::on_both(
        "hooks_reload_with_the_workflows_unless_the_service_was_given_its_own",
        |store| async move {
            let shop = hooked_shop();
            let files = [("shop.flow", shop.as_str()), ("hooks/gate.rhai", "order.total > 100\n")];
            let f = Fixture::new(store.clone(), &files).await;
            let s = &f.service;
            let o = s.create_order(&order("check", "pending")).await.expect("created").order;
            let upgrade = event("upgrade", serde_json::json!({}));
            let refused = s.apply_event(&o.number, &upgrade, None).await.expect_err("the hook says no");
            assert!(
                matches!(refused, ServiceError::Rejected(ref r) if r.code == "no_transition"),
                "{refused}"
            );

            write(&f.path("hooks/gate.rhai"), "order.total > 1\n");
            let report = f.reloader.reload(Trigger::Api).await;
            assert!(report.ok, "{}\n{}", report.message, report.rendered);
            assert_eq!(
                report.changed,
                vec!["shop@2".to_string()],
                "a hook the workflow names is part of its version"
            );
            let up = s.apply_event(&o.number, &upgrade, None).await.expect("the new hook says yes");
            assert_eq!(up.order.status, "paid");

            // A service given its own hooks keeps them across a swap.
            let g = Fixture::with(store, &files, true).await;
            let o = g.service.create_order(&order("check", "pending")).await.expect("created").order;
            write(&g.path("hooks/gate.rhai"), "order.total > 2\n");
            assert!(g.reloader.reload(Trigger::Api).await.ok);
            let err = g.service.apply_event(&o.number, &upgrade, None).await.expect_err("no hook engine");
            assert!(err.to_string().contains("gate.rhai"), "{err}");
        },
    )
    .await;
}

#[tokio::test]
async fn removing_a_status_with_orders_is_refused_unless_renamed() {
    support::on_both("removing_a_status_with_orders_is_refused_unless_renamed", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let s = &f.service;
        let mut waiting = Vec::new();
        for _ in 0..3 {
            waiting.push(s.create_order(&order("check", "pending")).await.expect("created").order);
        }
        s.create_order(&order("credit_card", "approved")).await.expect("created");
        let counts = s.store().status_counts().await.expect("counts");
        assert_eq!(counts, vec![("shop".into(), "awaiting_payment".into(), 3), ("shop".into(), "paid".into(), 1)]);

        let renamed = SHOP.replace("awaiting_payment", "awaiting_check");
        write(&f.path("shop.flow"), &renamed);
        let report = f.reloader.reload(Trigger::Api).await;
        assert!(!report.ok);
        assert_eq!(
            report.message,
            "reload refused: workflow `shop`: status `awaiting_payment` is removed but 3 orders are in it; add \
             `renamed awaiting_payment -> <new status>` or move them first; still serving shop@1"
        );
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0]["orders"], 3);
        assert_eq!(report.findings[0]["status"], "awaiting_payment");
        assert_eq!(f.version("shop"), 1);
        assert_eq!(s.store().status_counts().await.expect("counts"), counts, "nothing moved");

        write(&f.path("shop.flow"), &format!("{renamed}renamed awaiting_payment -> awaiting_check\n"));
        let report = f.reloader.reload(Trigger::Api).await;
        assert!(report.ok, "{}\n{}", report.message, report.rendered);
        let version = f.version("shop");
        assert_eq!(report.changed, vec![format!("shop@{version}")]);
        assert_eq!(
            s.store().status_counts().await.expect("counts"),
            vec![("shop".into(), "awaiting_check".into(), 3), ("shop".into(), "paid".into(), 1)]
        );
        for before in &waiting {
            let o = s.order(&before.number).await.expect("order");
            assert_eq!(o.status, "awaiting_check");
            assert_eq!(o.version, before.version + 1, "a rename is a change to the order");
            assert_eq!(o.workflow_version, version);
            assert_eq!(o.status_since, before.status_since, "it has been there all along");
            let h = s.store().history(o.id).await.expect("history");
            let row = h.iter().find(|r| r.entry.kind == "status_renamed").expect("a status_renamed row");
            assert_eq!(row.entry.from_status.as_deref(), Some("awaiting_payment"));
            assert_eq!(row.entry.to_status.as_deref(), Some("awaiting_check"));
            assert_eq!(row.workflow_version, version);
            let timers = s.store().timers(o.id).await.expect("timers");
            assert!(!timers.is_empty() && timers.iter().all(|t| t.status == "awaiting_check"), "{timers:?}");
        }
        let paid = s.apply_event(&waiting[0].number, &pay("10.00"), None).await.expect("the new status's event");
        assert_eq!(paid.order.status, "paid");
        assert!(s.store().timers(paid.order.id).await.expect("timers").is_empty(), "leaving cancels the moved timers");
    })
    .await;
}

#[tokio::test]
async fn deleting_a_workflow_with_orders_is_refused() {
    support::on_both("deleting_a_workflow_with_orders_is_refused", |store| async move {
        let other = SHOP.replace("workflow shop", "workflow other").replace("channel web", "channel phone");
        let f = Fixture::new(store, &[("shop.flow", SHOP), ("other.flow", &other)]).await;
        f.service.create_order(&order("check", "pending")).await.expect("created");

        std::fs::remove_file(f.path("shop.flow")).expect("removed");
        let report = f.reloader.reload(Trigger::Api).await;
        assert!(!report.ok);
        assert!(
            report.message.starts_with(
                "reload refused: workflow `shop` is removed (its file is gone) but 1 order is in it"
            ),
            "{}",
            report.message
        );
        assert!(f.service.registry().get("shop").is_some(), "still serving shop");

        write(&f.path("shop.flow"), SHOP);
        std::fs::remove_file(f.path("other.flow")).expect("removed");
        let report = f.reloader.reload(Trigger::Api).await;
        assert!(report.ok, "{}", report.message);
        assert_eq!(report.message, "reloaded: removed other");
        assert!(f.service.registry().get("other").is_none(), "a workflow without orders can go");
    })
    .await;
}

#[tokio::test]
async fn an_unchanged_folder_reloads_as_nothing_changed() {
    support::on_both("an_unchanged_folder_reloads_as_nothing_changed", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let first = f.reloader.last();
        assert!(first.ok && first.trigger == Trigger::Start);
        assert_eq!(first.changed, vec!["shop@1".to_string()]);
        assert_eq!(f.reloader.counts(), (0, 0), "the initial load is not counted");

        let (a, b) = tokio::join!(f.reloader.reload(Trigger::Api), f.reloader.reload(Trigger::Signal));
        for r in [&a, &b] {
            assert!(r.ok, "{}", r.message);
            assert!(r.changed.is_empty());
            assert_eq!(r.message, "reloaded: nothing changed; serving shop@1");
        }
        assert_eq!(f.version("shop"), 1);
        assert_eq!(f.reloader.counts(), (2, 0));
        let json = serde_json::to_value(f.reloader.last()).expect("json");
        assert!(json["trigger"] == "api" || json["trigger"] == "signal", "{json}");
        assert_eq!(json["ok"], true);
    })
    .await;
}

#[tokio::test]
async fn an_input_keeps_the_snapshot_it_started_with() {
    support::on_both("an_input_keeps_the_snapshot_it_started_with", |store| async move {
        let f = Fixture::new(store.clone(), &[("shop.flow", SHOP)]).await;
        let s = f.service.clone();
        let o = s.create_order(&order("check", "pending")).await.expect("created").order;
        let before = s.registry();
        write(&f.path("shop.flow"), &SHOP.replace(PAID_IN_FULL, "when order.amount_paid > 0 go to paid"));
        assert!(f.reloader.reload(Trigger::Api).await.ok);
        assert_eq!(before.get("shop").map(|a| a.version), Some(1), "a snapshot is never changed");
        assert_eq!(s.registry().get("shop").map(|a| a.version), Some(2));

        // While inputs are paused, an event waits; it then runs on the version swapped in.
        write(&f.path("shop.flow"), &SHOP.replace(PAID_IN_FULL, "when order.amount_paid > 5 go to paid"));
        let next = Registry::load(f.dir.path(), &store).await.expect("loads");
        let paused = s.pause_inputs().await;
        let number = o.number.clone();
        let service = s.clone();
        let event = tokio::spawn(async move { service.apply_event(&number, &pay("6.00"), None).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!event.is_finished(), "inputs wait while paused");
        paused.swap(next);
        let applied = event.await.expect("joined").expect("applied");
        assert_eq!(applied.order.status, "paid");
        assert_eq!(last_version(&s, &o.number, "transition").await, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reloads_on_a_write_and_on_a_rename() {
    support::on_both("the_watcher_reloads_on_a_write_and_on_a_rename", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let _watching = f.reloader.watch(Duration::from_millis(100)).expect("watching");

        write(&f.path("shop.flow"), &format!("{SHOP}# edited in place\n"));
        eventually("a direct write reloads", || f.version("shop") == 2).await;
        assert_eq!(f.reloader.last().trigger, Trigger::Watch);

        // How many editors save: write a temporary file, rename it over the original.
        let tmp = f.path(".shop.flow.tmp");
        write(&tmp, &format!("{SHOP}# saved by rename\n"));
        std::fs::rename(&tmp, f.path("shop.flow")).expect("renamed");
        eventually("a rename over the file reloads", || f.version("shop") == 3).await;

        write(&f.path("hooks/new.rhai"), "order.total > 1\n");
        eventually("a new hook file reloads", || f.reloader.counts().0 >= 3).await;
        assert!(f.reloader.last().changed.is_empty(), "no workflow names the new hook");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_writes_is_one_reload() {
    support::on_both("a_burst_of_writes_is_one_reload", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let _watching = f.reloader.watch(Duration::from_millis(150)).expect("watching");
        for i in 0..10 {
            write(&f.path("shop.flow"), &format!("{SHOP}# edit {i}\n"));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eventually("the burst reloads", || f.version("shop") != 1).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(f.reloader.counts(), (1, 0), "one reload for the burst: {}", f.reloader.last().message);
        assert_eq!(f.version("shop"), 2, "only the settled text became a version");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_stops_when_the_guard_is_dropped() {
    support::on_both("watching_stops_when_the_guard_is_dropped", |store| async move {
        let f = Fixture::new(store, &[("shop.flow", SHOP)]).await;
        let watching = f.reloader.watch(Duration::from_millis(50)).expect("watching");
        drop(watching);
        write(&f.path("shop.flow"), &format!("{SHOP}# unseen\n"));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(f.reloader.counts(), (0, 0));
        assert_eq!(f.version("shop"), 1);
    })
    .await;
}
