//! `orderly test`: every shipped scenario (workflows/tests/) passes, through the library on
//! in-memory SQLite and, when `ORDERLY_TEST_POSTGRES_URL` names a server, on PostgreSQL with a
//! fresh database per scenario; the binary reports failures, refusals and broken files usefully.

use orderly::scenario::{self, Options, StoreFuture, StoreSource};
use orderly::store::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const POSTGRES_ENV: &str = "ORDERLY_TEST_POSTGRES_URL";

fn orderly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderly")).args(args).env("NO_COLOR", "1").output().expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn last_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or_default()
}

#[tokio::test]
async fn every_shipped_scenario_passes_on_sqlite() {
    let summary =
        scenario::run_path(Path::new("workflows"), &Options::default()).await.expect("scenarios found");
    assert!(summary.ok(), "{}", summary.render());
    assert!(summary.results.len() >= 40, "only {} scenarios", summary.results.len());
    for folder in ["retail/", "special_orders/", "fulfillment/", "repair_store/"] {
        let n = summary.results.iter().filter(|r| r.name.starts_with(folder)).count();
        assert!(n >= 4, "{folder}: only {n} scenarios");
    }
}

/// Automatic `stay` rules run at creation and after events, once when their actions make the
/// guard false, and one whose guard always holds is refused at the step limit.
#[tokio::test]
async fn automatic_stay_rules_run_and_loops_are_refused() {
    let summary = scenario::run_path(Path::new("tests/fixtures/automatic"), &Options::default())
        .await
        .expect("scenarios found");
    assert_eq!(summary.results.len(), 2, "{}", summary.render());
    assert!(summary.ok(), "{}", summary.render());
}

#[tokio::test]
async fn shipped_scenarios_cite_their_seed() {
    for found in scenario::find(Path::new("workflows")).expect("scenarios found") {
        let text = std::fs::read_to_string(&found.path).expect("readable");
        let s = scenario::format::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", found.name));
        let cites =
            ["CORESense", "AIMsi", "SalesCart", "ATS"].iter().any(|seed| s.description.contains(seed));
        assert!(cites, "{}: the description names no seed", found.name);
    }
}

/// A database made on the PostgreSQL server for one scenario, dropped when the run is over.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[start..].find('/') {
        Some(slash) => &base[..start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

#[tokio::test]
async fn every_shipped_scenario_passes_on_postgres() {
    let admin = match std::env::var(POSTGRES_ENV) {
        Ok(a) if !a.trim().is_empty() => a,
        _ => {
            eprintln!(
                "\n*** SKIPPED PostgreSQL: set {POSTGRES_ENV} to run the shipped scenarios on PostgreSQL \
                 (e.g. {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/postgres) ***\n"
            );
            return;
        }
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let factory = {
        let admin = admin.clone();
        let created = created.clone();
        move |_scenario: &str| -> StoreFuture {
            // Only digits and `_`: safe to splice into the statement.
            let name =
                format!("orderly_s_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
            created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(name.clone());
            let admin = admin.clone();
            Box::pin(async move {
                let mut conn =
                    PgConnection::connect(&admin).await.map_err(|e| format!("{POSTGRES_ENV}: {e}"))?;
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.map_err(|e| e.to_string())?;
                conn.close().await.ok();
                Store::connect(&database_url(&admin, &name)).await.map_err(|e| e.to_string())
            })
        }
    };
    let options = Options { store: StoreSource::Factory(Arc::new(factory)) };
    let summary = scenario::run_path(Path::new("workflows"), &options).await.expect("scenarios found");
    let names = created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    if let Ok(mut conn) = PgConnection::connect(&admin).await {
        for name in &names {
            if let Err(e) =
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await
            {
                eprintln!("warning: cannot drop test database {name}: {e}");
            }
        }
        conn.close().await.ok();
    }
    assert_eq!(names.len(), summary.results.len(), "one database per scenario");
    assert!(summary.ok(), "on PostgreSQL:\n{}", summary.render());
}

#[test]
fn the_binary_runs_the_shipped_scenarios() {
    for args in [&["test", "workflows/"][..], &["test"][..]] {
        let out = orderly(args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{text}{}", stderr(&out));
        assert!(text.contains("ok   retail/channel-website-check.toml  (1 step)"), "{text}");
        let last = last_line(&text);
        let (passed, failed) = last.split_once(" passed, ").expect("a summary line");
        assert!(passed.parse::<usize>().expect("a count") >= 40, "{last}");
        assert_eq!(failed, "0 failed", "{text}");
    }
}

#[test]
fn a_wrong_expectation_names_the_step_the_expected_and_the_actual_status() {
    let out = orderly(&["test", "tests/scenarios/wrong.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("FAIL tests/scenarios/wrong.toml  (1 step)"), "{text}");
    assert!(text.contains("step 1 \"the check arrives\" (event payment_received), line 16"), "{text}");
    assert!(text.contains("status: expected `shipped`, got `ready_to_process`"), "{text}");
    assert_eq!(last_line(&text), "0 passed, 1 failed");
}

#[test]
fn an_unexpected_refusal_shows_its_message_and_the_failing_guard() {
    let out = orderly(&["test", "tests/scenarios/refused.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("the step was refused (no_transition), but no refusal was expected"), "{text}");
    assert!(text.contains("refused: no_transition: no transition for `payment_received`"), "{text}");
    // The line is the transition's in workflows/retail.flow, wherever it stands today.
    let flow = std::fs::read_to_string("workflows/retail.flow").expect("retail.flow");
    let line = flow
        .lines()
        .position(|l| l.starts_with("on payment_received from awaiting_payment, credit_card_declined"))
        .map(|i| i + 1)
        .expect("the guard is in retail.flow");
    assert!(text.contains(&format!("guard at line {line} `event.outcome == \"approved\"` failed")), "{text}");
    assert!(text.contains("event.outcome is \"pending\""), "{text}");
    assert!(text.contains("the order accepts: payment_received"), "{text}");
}

#[test]
fn invalid_toml_and_unknown_keys_are_reported_with_their_line() {
    let out = orderly(&["test", "tests/scenarios/broken.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL tests/scenarios/broken.toml  (cannot run)"), "{text}");
    assert!(text.contains("tests/scenarios/broken.toml:7:"), "{text}");

    let out = orderly(&["test", "tests/scenarios/typo.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("tests/scenarios/typo.toml:15:1: unknown key `staus`: did you mean `status`?"),
        "{text}"
    );
    assert_eq!(last_line(&text), "0 passed, 1 failed");
}

#[test]
fn a_folder_of_fixtures_runs_every_file_and_counts_the_failures() {
    let out = orderly(&["test", "tests/scenarios"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(last_line(&text), "0 passed, 5 failed");
    for name in ["broken.toml", "far_advance.toml", "refused.toml", "typo.toml", "wrong.toml"] {
        assert!(text.contains(&format!("FAIL {name}")), "{name}\n{text}");
    }
    assert!(
        text.contains("tests/scenarios/far_advance.toml:14:11: `100000000w` is longer than 100 years"),
        "{text}"
    );
}

#[test]
fn a_workflows_folder_of_ones_own_finds_its_tests_folder() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let flows = dir.path().join("shop");
    std::fs::create_dir_all(flows.join("tests/orders")).expect("folders");
    std::fs::copy("workflows/fulfillment.flow", flows.join("fulfillment.flow")).expect("copied");
    // The email templates it names come along (a workflow naming a missing one does not load).
    std::fs::create_dir_all(flows.join("templates")).expect("folder");
    for entry in std::fs::read_dir("workflows/templates").expect("templates") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), flows.join("templates").join(entry.file_name())).expect("copied");
    }
    let good = r#"
description = "SalesCart: a paid order is processed"
[order]
channel = "website"
payment = { method = "credit_card", outcome = "approved" }
customer = { email = "a@example.com" }
lines = [ { sku = "X", qty = 1, unit_price = "5.00" } ]
[expect]
status = "processing"
"#;
    std::fs::write(flows.join("tests/orders/paid.toml"), good).expect("written");
    let shop = flows.display().to_string();
    let out = orderly(&["test", &shop]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "ok   orders/paid.toml  (0 steps)\n1 passed, 0 failed\n");

    std::fs::write(flows.join("tests/orders/unpaid.toml"), good.replace("processing", "processed"))
        .expect("written");
    let out = orderly(&["test", &shop]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("`processed` is not a status of workflow `fulfillment`; did you mean `processing`?"),
        "{text}"
    );
    assert_eq!(last_line(&text), "1 passed, 1 failed");
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let out = orderly(&["test", "no/such/folder"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read `no/such/folder`"), "{}", stderr(&out));
    let out = orderly(&["test", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = orderly(&["test", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Examples:"), "{}", stdout(&out));
}

/// A shipped scenario sees what leaves: with the purchasing payload hook blind to the event and
/// a changed word in the voided email, the drop-ship and void scenarios fail, saying where the
/// body and the text differ.
#[tokio::test]
async fn scenarios_fail_readably_when_a_webhook_body_or_an_email_differs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for sub in ["hooks", "templates", "tests/retail"] {
        std::fs::create_dir_all(root.join(sub)).expect("folders");
    }
    std::fs::copy("workflows/retail.flow", root.join("retail.flow")).expect("workflow");
    for sub in ["hooks", "templates"] {
        for entry in std::fs::read_dir(Path::new("workflows").join(sub)).expect("shipped folder") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), root.join(sub).join(entry.file_name())).expect("copied");
        }
    }
    for name in ["dropship.toml", "void.toml"] {
        std::fs::copy(Path::new("workflows/tests/retail").join(name), root.join("tests/retail").join(name))
            .expect("scenario");
    }
    let edit = |file: &str, from: &str, to: &str| {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        std::fs::write(&path, text.replace(from, to)).expect("written");
    };
    edit(
        "hooks/purchase_orders.rhai",
        r#"if event == () { "sourcing" } else { event.name }"#,
        r#""sourcing""#,
    );
    edit("templates/order_voided.txt", "was cancelled", "was canceled");

    let summary = scenario::run_path(root, &Options::default()).await.expect("scenarios found");
    let report = summary.render();
    assert_eq!(summary.failed(), 2, "{report}");
    assert!(
        report.contains("webhooks[1] to `purchasing`: body.close_drop_ship: expected true, got false"),
        "{report}"
    );
    assert!(
        report.contains(r#"emails[1] `order_voided`: text: expected it to contain "Your order ORD000001 was cancelled", but it reads:"#),
        "{report}"
    );
    assert!(
        report.contains("Your order ORD000001 was canceled."),
        "the email as rendered is shown: {report}"
    );
}
