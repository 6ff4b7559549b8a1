//! Orderly as a library: load the shipped workflows, create a website order paid by check in an
//! embedded SQLite database, record the payment, and print where the order went.
//!
//! `cargo run --example embed`

use orderly::engine::{EventInput, NewOrder};
use orderly::hooks::HookEngine;
use orderly::registry::Registry;
use orderly::service::{Service, SystemClock};
use orderly::store::Store;
use std::path::Path;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::connect("sqlite::memory:").await?;
    let registry = Registry::load(Path::new("workflows"), &store).await?;
    let hooks =
        HookEngine::load(Path::new("workflows/hooks")).map_err(|d| format!("{} hook error(s)", d.len()))?;
    let service = Service::new(store, registry, Arc::new(SystemClock), Arc::new(hooks));

    let order: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "website",
        "workflow": "retail",
        "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{"sku": "GTR-1", "qty": 1, "unit_price": "499.00", "in_stock": true}]
    }))?;
    let created = service.create_order(&order).await?;
    println!("order {} is `{}`", created.order.number, created.order.status);

    let paid = EventInput {
        name: "payment_received".into(),
        data: serde_json::json!({"amount": "499.00", "outcome": "approved", "method": "check"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        actor: Some("clerk".into()),
    };
    let after = service.apply_event(&created.order.number, &paid, Some("check-1001")).await?;
    for step in &after.steps {
        println!("  {} -> {} (event {:?})", step.from, step.to, step.event);
    }
    println!("order {} is now `{}`", after.order.number, after.order.status);
    Ok(())
}
