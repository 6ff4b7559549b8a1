//! orderly as a library, with the engine and the store alone (no service, no HTTP, no async
//! runtime of the engine's own): compile the shipped retail workflow, create a website order
//! paid by check in an embedded SQLite database, record the payment, and print where the order
//! went. Each input is one transaction: read, let the engine decide, write, commit. (The
//! `orderly` crate's service adds retries on conflict, idempotency keys and a hook thread
//! pool around exactly this.)
//!
//! `cargo run -p orderly-store --example embed` (from the repository's root).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "an example program, not library code: a failure should stop it loudly"
)]

use orderly_engine::engine::{self, EventInput, NewOrder};
use orderly_engine::hooks::HookEngine;
use orderly_engine::lang::check;
use orderly_store::{CustomerMatch, Store};
use std::path::Path;

const RETAIL: &str = include_str!("../../../workflows/retail.flow");
const HOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../workflows/hooks");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let compiled = check::compile(RETAIL, &check::Context::default());
    let workflow = compiled.workflow.ok_or("workflows/retail.flow has errors: run `orderly check`")?;
    let hooks = HookEngine::load(Path::new(HOOKS)).map_err(|d| format!("{} hook error(s)", d.len()))?;
    let store = Store::connect("sqlite::memory:").await?;
    // The store numbers each workflow's content; history rows carry the version they ran on.
    let version = store.workflow_version(&workflow.name, "embed-example", RETAIL).await?;

    // A new order: match or create its customer, decide, write, in one transaction.
    let order: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "website",
        "workflow": "retail",
        "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{"sku": "GTR-1", "qty": 1, "unit_price": "499.00", "in_stock": true}]
    }))?;
    let now = chrono::Utc::now();
    let mut tx = store.begin().await?;
    let matched = tx.match_customer(&CustomerMatch::of(&order), now).await?;
    let created =
        engine::create(&workflow, &order, matched.customer, matched.possible_duplicate, now, &hooks)?;
    let id = tx.insert_order(&created, version, now).await?;
    tx.commit().await?;
    println!("order id:{id} is `{}`", created.order.status);

    // The check arrives: read the order under the transaction, apply the event, write.
    let paid = EventInput {
        name: "payment_received".into(),
        data: serde_json::json!({"amount": "499.00", "outcome": "approved", "method": "check"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        actor: Some("clerk".into()),
    };
    let now = chrono::Utc::now();
    let mut tx = store.begin().await?;
    let before = tx.order_for_update(id).await?.ok_or("the order is gone")?;
    let after = engine::apply(&workflow, &before, &paid, now, &hooks)?;
    tx.update_order_from(&before, &after, version, now).await?;
    tx.commit().await?;
    for step in &after.steps {
        println!("  {} -> {} (event {:?})", step.from, step.to, step.event);
    }
    println!("order {} is now `{}`", before.number, after.order.status);
    Ok(())
}
