//! The hook engine (src/hooks): the shipped hooks on sample orders, the effect API, the sandbox's
//! limits and errors, and the load-time diagnostics. Fixtures: `tests/hooks/ok/` (scripts that
//! load and are run) and `tests/hooks/broken/` (one load-time finding per file).

use chrono::TimeZone;
use orderly::engine::{self, Effect, EventInput, FulfillmentActionInput, Hooks, NewOrder};
use orderly::hooks::{check_hooks, HookEngine, HookLimits};
use orderly::model::Workflow;
use orderly::order::{Customer, Order, Time};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn now() -> Time {
    chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).single().expect("a valid time")
}

fn workflow(file: &str) -> Workflow {
    let loaded =
        orderly::load::load(Path::new("workflows").join(file).as_path()).expect("the workflow loads");
    loaded[0].outcome.workflow.clone().expect("the workflow compiles")
}

/// An order as the engine creates it from a channel's input.
fn create(w: &Workflow, input: serde_json::Value) -> Order {
    let input: NewOrder = serde_json::from_value(input).expect("a valid NewOrder");
    let customer = input.customer.as_given(true);
    let mut order =
        engine::create(w, &input, customer, false, now(), shipped()).expect("the order is created").order;
    order.id = 41;
    order.number = "100041".into();
    order
}

fn event(name: &str, data: serde_json::Value) -> EventInput {
    let serde_json::Value::Object(data) = data else { panic!("event data is an object") };
    EventInput { name: name.into(), data, actor: None }
}

/// The shipped hooks, loaded once.
fn shipped() -> &'static HookEngine {
    static ENGINE: OnceLock<HookEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        HookEngine::load(Path::new("workflows/hooks")).unwrap_or_else(|d| {
            panic!(
                "the shipped hooks load: {}",
                d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            )
        })
    })
}

/// The fixtures that load, once.
fn fixtures() -> &'static HookEngine {
    static ENGINE: OnceLock<HookEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        HookEngine::load(Path::new("tests/hooks/ok")).unwrap_or_else(|d| {
            panic!("the fixtures load: {}", d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
        })
    })
}

/// A retail website order of `n` lines, every other one drop-shipped by `vendor`.
fn retail_order(n: usize, vendor: &str) -> Order {
    let lines: Vec<_> = (0..n)
        .map(|i| {
            let dropship = i % 2 == 1;
            json!({
                "sku": format!("SKU-{i}"),
                "description": format!("Item {i}"),
                "vendor": if dropship { vendor } else { "" },
                "qty": 1 + i % 3,
                "unit_price": "19.99",
                "fulfillment": if dropship { "dropship" } else { "stock" },
                "in_stock": !dropship,
            })
        })
        .collect();
    create(
        &workflow("retail.flow"),
        json!({
            "channel": "order_manager",
            "customer": {"email": "buyer@example.com", "first_name": "Bea", "last_name": "Buyer"},
            "shipping_address": {"first_name": "Bea", "last_name": "Buyer", "address": "1 Main St", "city": "Erie", "state": "PA", "zip": "16501"},
            "payment": {"method": "credit_card", "outcome": "approved"},
            "lines": lines,
        }),
    )
}

/// A repair store order (the seed's zero-dollar EVAL, or a product).
fn repair_order(sku: &str, price: &str, attributes: serde_json::Value) -> Order {
    create(
        &workflow("repair-store.flow"),
        json!({
            "channel": "website",
            "customer": {"email": "eval@lab.example", "first_name": "Eva", "last_name": "Luation", "company": "Test Lab", "phone": "555-0101"},
            "shipping_address": {"first_name": "Eva", "last_name": "Luation", "address": "3 Lab Way", "city": "Reading", "state": "PA", "zip": "19601"},
            "payment": {"method": "credit_card", "outcome": "approved", "reference": "AUTH-77"},
            "lines": [{"sku": sku, "description": "Drive", "qty": 1, "unit_price": price}],
            "attributes": attributes,
        }),
    )
}

// ------------------------------------------------------------------ the shipped hooks

#[test]
fn every_shipped_hook_loads_and_check_hooks_finds_nothing() {
    let files: Vec<_> = shipped().files().collect();
    assert_eq!(
        files,
        [
            "crm_payload.rhai",
            "dropship_vendor.rhai",
            "priced_order.rhai",
            "purchase_orders.rhai",
            "worldship_export.rhai"
        ]
    );
    assert!(check_hooks(Path::new("workflows/hooks")).is_empty());
    assert!(shipped().resolve("crm_payload.rhai").is_ok());
}

#[test]
fn dropship_vendor_routes_electronic_vendors_only() {
    let h = shipped();
    assert_eq!(h.guard("dropship_vendor.rhai", &retail_order(4, "Yamaha"), None, now()), Ok(true));
    assert_eq!(h.guard("dropship_vendor.rhai", &retail_order(4, "Small Vendor Co"), None, now()), Ok(false));
    // No drop-ship line: nothing stands in the way.
    assert_eq!(h.guard("dropship_vendor.rhai", &retail_order(1, "Small Vendor Co"), None, now()), Ok(true));
}

/// The repair store routes Salesforce's answer with text tests (no hook): a kind that says repair
/// or EVAL in any spelling, or, with the kind blank, a REPAIR product or a zero-dollar EVAL.
#[test]
fn the_repair_store_routes_repairs_and_evals_with_text_tests() {
    let w = workflow("repair-store.flow");
    let eval = repair_order("EVAL-DRIVE", "0.00", json!({}));
    let sensor = repair_order("ATS-SENSOR-2", "310.00", json!({}));
    let priced_eval = repair_order("eval-drive", "120.00", json!({}));
    let repair = repair_order("repair-pump", "310.00", json!({}));
    let answer = |kind: serde_json::Value| {
        event("crm_accepted", json!({"order_kind": kind, "opportunity_id": "006", "quote_id": "Q"}))
    };
    let routed = |order: &Order, e: &EventInput| {
        engine::apply(&w, order, e, now(), shipped()).expect("accepted").order.status
    };
    for kind in ["repair", "eval", "Repair - EVAL", "REPAIR"] {
        assert_eq!(routed(&sensor, &answer(json!(kind))), "awaiting_evaluation", "kind {kind:?}");
    }
    for kind in ["product", "order", ""] {
        assert_eq!(routed(&sensor, &answer(json!(kind))), "in_process", "kind {kind:?}");
    }
    // A blank kind: the products decide.
    assert_eq!(routed(&eval, &answer(json!(""))), "awaiting_evaluation");
    assert_eq!(routed(&repair, &answer(json!(""))), "awaiting_evaluation", "a REPAIR SKU, any case");
    assert_eq!(routed(&priced_eval, &answer(json!(""))), "in_process", "an EVAL SKU that costs something");
}

#[test]
fn crm_payload_describes_the_order_for_salesforce() {
    let eval = repair_order("EVAL-DRIVE", "0.00", json!({}));
    let p = shipped().payload("crm_payload.rhai", &eval, None, now()).expect("a payload");
    assert_eq!(p["ecommerce_order_number"], "100041");
    assert_eq!(p["kind"], "eval");
    assert_eq!(p["account"]["name"], "Test Lab");
    assert_eq!(p["contact"]["email"], "eval@lab.example");
    assert_eq!(p["ship_to"]["zip"], "19601");
    assert_eq!(p["payment"]["method"], "credit_card");
    assert_eq!(p["payment"]["purchase_order_number"], serde_json::Value::Null);
    assert_eq!(p["lines"][0]["needs_evaluation"], true);
    assert_eq!(p["lines"][0]["unit_price"], "0.00", "money is sent as exact text");
    let sensor = repair_order("ATS-SENSOR-2", "310.00", json!({}));
    let p = shipped().payload("crm_payload.rhai", &sensor, None, now()).expect("a payload");
    assert_eq!(p["kind"], "purchase");
    assert_eq!(p["total"], "310.00");
}

#[test]
fn priced_order_replaces_the_zero_dollar_eval_with_a_priced_one() {
    let w = workflow("repair-store.flow");
    let eval = repair_order(
        "EVAL-DRIVE",
        "0.00",
        json!({"repair_fee": "240.00", "opportunity_id": "006E1", "quote_id": "Q-E1"}),
    );
    let effects = shipped().run("priced_order.rhai", &eval, Some(&event("quote_approved", json!({}))), now());
    let effects = effects.expect("the hook runs");
    assert_eq!(effects.len(), 2);
    let Effect::CreateRelatedOrder { order } = &effects[0] else {
        panic!("first a related order: {effects:?}")
    };
    assert_eq!(order.channel, "website");
    assert_eq!(order.customer.email, "eval@lab.example");
    assert_eq!(order.customer.company, "Test Lab");
    assert_eq!(order.lines[0].sku, "EVAL-DRIVE");
    assert_eq!(order.lines[0].unit_price.to_string(), "240.00");
    assert_eq!(order.attributes["opportunity_id"], "006E1");
    assert_eq!(order.external_id, None, "a new order, not the channel's old one again");
    assert_eq!(effects[1], Effect::Note { text: "Replaced by a priced order: repair fee 240.00".into() });
    // The engine takes the new order as the website would send it.
    let priced = engine::create(&w, order, Customer::default(), false, now(), shipped())
        .expect("the priced order is valid");
    assert_eq!(priced.order.total().to_string(), "240.00");
    assert_eq!(priced.order.status, "order_placed");

    // Without a fee the hook fails, naming the line of its `throw`.
    let unquoted = repair_order("EVAL-DRIVE", "0.00", json!({}));
    let e = shipped().run("priced_order.rhai", &unquoted, None, now()).expect_err("no fee");
    assert!(e.starts_with("hook `priced_order.rhai` failed at line 14: the repair fee is not set"), "{e}");
}

#[test]
fn purchase_orders_groups_lines_by_vendor() {
    let w = workflow("retail.flow");
    let order = create(
        &w,
        json!({
            "channel": "order_manager",
            "customer": {"email": "b@example.com"},
            "shipping_address": {"address": "1 Main St", "city": "Erie", "zip": "16501"},
            "lines": [
                {"sku": "STRINGS", "qty": 5, "unit_price": "6.00", "vendor": "D'Addario", "in_stock_qty": 2},
                {"sku": "NECK", "qty": 1, "unit_price": "320.00", "vendor": "Warmoth", "fulfillment": "jit"},
                {"sku": "PIANO", "qty": 1, "unit_price": "1299.00", "vendor": "Yamaha", "fulfillment": "dropship"},
                {"sku": "PICKS", "qty": 1, "unit_price": "1.00", "in_stock": true},
            ],
        }),
    );
    let p = shipped().payload("purchase_orders.rhai", &order, None, now()).expect("a payload");
    assert_eq!(p["reason"], "sourcing");
    let pos = p["purchase_orders"].as_array().expect("purchase orders");
    assert_eq!(pos.len(), 3, "{p}");
    let po = |vendor: &str| {
        pos.iter().find(|po| po["vendor"] == vendor).unwrap_or_else(|| panic!("{vendor}: {p}"))
    };
    assert_eq!(po("D'Addario")["lines"][0]["qty"], "3", "only what the warehouse lacks");
    assert_eq!(po("Warmoth")["drop_ship"], false);
    assert_eq!(po("Yamaha")["drop_ship"], true);
    assert_eq!(po("Yamaha")["ship_to"]["city"], "Erie");
    let confirmed = event("dropship_confirmed", json!({"carrier": "FedEx", "tracking_number": "1Z"}));
    let p = shipped().payload("purchase_orders.rhai", &order, Some(&confirmed), now()).expect("a payload");
    assert_eq!(p["close_drop_ship"], true);
}

#[test]
fn worldship_export_sends_the_address_and_the_cod_amount() {
    let w = workflow("special-orders.flow");
    let order = create(
        &w,
        json!({
            "channel": "cart_import",
            "customer": {"email": "c@example.com", "first_name": "Cody", "last_name": "Dee"},
            "shipping_address": {"first_name": "Cody", "last_name": "Dee", "address": "5 Elm", "city": "Akron", "state": "OH", "zip": "44301"},
            "payment": {"method": "cod", "outcome": "pending"},
            "lines": [{"sku": "AMP", "description": "Amplifier", "qty": 1, "unit_price": "450.00"}],
        }),
    );
    let p = shipped().payload("worldship_export.rhai", &order, None, now()).expect("a payload");
    assert_eq!(p["reference"], "100041");
    assert_eq!(p["ship_to"]["name"], "Cody Dee");
    assert_eq!(p["ship_to"]["city"], "Akron");
    assert_eq!(p["cod_amount"], "450.00");
    assert_eq!(p["lines"][0]["sku"], "AMP");
}

// ------------------------------------------------------------------ guards, actions, payloads

#[test]
fn a_guard_reads_every_line_of_a_ten_line_order() {
    let order = retail_order(10, "Yamaha");
    assert_eq!(order.lines.len(), 10);
    assert_eq!(fixtures().guard("in_stock_total.rhai", &order, None, now()), Ok(true));
    let mut short = order.clone();
    short.lines[4].in_stock_qty = rust_decimal::Decimal::ZERO;
    assert_eq!(fixtures().guard("in_stock_total.rhai", &short, None, now()), Ok(false));
    assert_eq!(shipped().guard("dropship_vendor.rhai", &order, None, now()), Ok(true));
}

#[test]
fn an_action_returns_three_effects() {
    let order = retail_order(3, "Yamaha");
    let effects = fixtures().run("three_effects.rhai", &order, None, now()).expect("effects");
    assert_eq!(
        effects,
        vec![
            Effect::SetFlag { name: "vip".into() },
            Effect::Note { text: "Order 100041 flagged for the VIP desk".into() },
            Effect::Webhook {
                target: "crm".into(),
                payload: json!({"number": "100041", "total": "119.94", "lines": 3})
            },
        ]
    );
}

#[test]
fn every_effect_function_builds_its_effect() {
    let order = retail_order(1, "Yamaha");
    let effects = fixtures().run("functions.rhai::all_effects", &order, None, now()).expect("effects");
    let called = FulfillmentActionInput {
        name: Some("Called customer".into()),
        complete: Some(false),
        notify: Some("Sam".into()),
        note: Some("left a message".into()),
        contact: Some("555-0100".into()),
        visible: Some(false),
        actor: None,
    };
    assert_eq!(
        effects,
        vec![
            Effect::SetAttribute { name: "score".into(), value: json!("0.75") },
            Effect::SetFlag { name: "hold".into() },
            Effect::ClearFlag { name: "vip".into() },
            Effect::Note { text: "checked".into() },
            Effect::RecordAction { action: called },
            Effect::RecordAction {
                action: FulfillmentActionInput {
                    name: Some("Emailed customer".into()),
                    ..Default::default()
                }
            },
            Effect::Webhook { target: "crm".into(), payload: json!({"n": 1}) },
            Effect::Email { to: "a@example.com".into(), template: "welcome".into(), subject: None },
            Effect::Email {
                to: "a@example.com".into(),
                template: "welcome".into(),
                subject: Some("Hello".into())
            },
            Effect::Emit { event: "checked".into(), data: serde_json::Map::new() },
            Effect::AssignQueue { queue: "csr".into() },
            Effect::AssignPerson { person: "Sam".into() },
        ]
    );
}

#[test]
fn function_hooks_get_order_event_and_now_as_parameters() {
    let order = retail_order(2, "Yamaha");
    let h = fixtures();
    assert_eq!(h.guard("functions.rhai::big", &order, None, now()), Ok(false), "the top level does not run");
    let e = event("escalate", json!({"reason": "late"}));
    let effects = h.run("functions.rhai::escalate", &order, Some(&e), now()).expect("effects");
    assert_eq!(effects[0], Effect::AssignQueue { queue: "supervisors".into() });
    let Effect::Emit { event, data } = &effects[1] else { panic!("an emit: {effects:?}") };
    assert_eq!(event, "escalated");
    assert_eq!(data["reason"], "late");
    assert_eq!(data["total"], "59.97");
    let p = h.payload("bools.rhai", &order, None, now());
    assert_eq!(p, Err("hook `bools.rhai` returned an array, expected a map".into()));
    let when = h.guard("functions.rhai::when", &order, None, now());
    assert_eq!(when, Err("hook `functions.rhai::when` returned a string, expected true or false".into()));
}

#[test]
fn decimals_are_exact() {
    let order = retail_order(1, "Yamaha");
    let p = fixtures().payload("decimals.rhai", &order, None, now()).expect("a payload");
    assert_eq!(p, json!({"exact": true, "fee": true, "type": "decimal", "double": "2", "compare": true}));
}

// ------------------------------------------------------------------ errors and limits

#[test]
fn an_endless_loop_stops_within_the_budget_naming_file_and_line() {
    let order = retail_order(2, "Yamaha");
    let start = Instant::now();
    let e = fixtures().guard("endless.rhai", &order, None, now()).expect_err("stopped");
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    assert!(e.starts_with("hook `endless.rhai` failed at line "), "{e}");
    assert!(e.contains("operations"), "{e}");
}

#[test]
fn the_wall_clock_budget_stops_a_script_the_operations_limit_would_not() {
    let limits = HookLimits { max_operations: 0, budget: Duration::from_millis(20), ..HookLimits::default() };
    let h = HookEngine::load_with(Path::new("tests/hooks/ok"), limits).expect("fixtures load");
    let order = retail_order(2, "Yamaha");
    let start = Instant::now();
    let e = h.guard("endless.rhai", &order, None, now()).expect_err("stopped");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(20) && took < Duration::from_millis(500), "took {took:?}");
    assert!(e.starts_with("hook `endless.rhai` failed at line "), "{e}");
    assert!(e.ends_with("it ran past its time budget of 20 ms"), "{e}");
}

#[test]
fn huge_allocations_hit_the_size_limits() {
    let order = retail_order(2, "Yamaha");
    let e = fixtures().guard("grow_string.rhai", &order, None, now()).expect_err("limit");
    assert!(
        e.starts_with("hook `grow_string.rhai` failed at line 4: length of string is over the limit"),
        "{e}"
    );
    let e = fixtures().guard("grow_array.rhai", &order, None, now()).expect_err("limit");
    assert!(e.starts_with("hook `grow_array.rhai` failed at line 4: size of array"), "{e}");
}

#[test]
fn runtime_errors_name_file_and_line() {
    let order = retail_order(2, "Yamaha");
    let e = fixtures().guard("divide_by_zero.rhai", &order, None, now()).expect_err("division by zero");
    assert!(e.starts_with("hook `divide_by_zero.rhai` failed at line 4: "), "{e}");
    assert!(e.to_lowercase().contains("division by zero"), "{e}");
    let e = fixtures().guard("functions.rhai::broken", &order, None, now()).expect_err("out of bounds");
    assert_eq!(e, "hook `functions.rhai::broken` failed at line 18: array index 99 out of bounds: only 2 elements in array");
    let e = fixtures().guard("functions.rhai::nested", &order, None, now()).expect_err("out of bounds");
    assert!(
        e.starts_with(
            "hook `functions.rhai::nested` failed at line 18 (in function `broken`): array index 99"
        ),
        "{e}"
    );
}

#[test]
fn wrong_return_types_are_errors() {
    let order = retail_order(2, "Yamaha");
    let h = fixtures();
    assert_eq!(
        h.guard("wrong_type.rhai", &order, None, now()),
        Err("hook `wrong_type.rhai` returned a number, expected true or false".into())
    );
    assert_eq!(
        h.run("wrong_type.rhai", &order, None, now()),
        Err("hook `wrong_type.rhai` returned a number, expected an effect, an array of effects or ()".into())
    );
    assert_eq!(
        h.run("bools.rhai", &order, None, now()),
        Err("hook `bools.rhai` returned an array holding a bool, expected an effect, an array of effects or ()".into())
    );
    assert_eq!(
        h.payload("wrong_type.rhai", &order, None, now()),
        Err("hook `wrong_type.rhai` returned a number, expected a map".into())
    );
    assert_eq!(
        h.guard("three_effects.rhai", &order, None, now()),
        Err("hook `three_effects.rhai` returned an array, expected true or false".into())
    );
}

#[test]
fn effect_arguments_are_checked_at_the_call() {
    let order = retail_order(1, "Yamaha");
    let e = fixtures().run("bad_effect.rhai", &order, None, now()).expect_err("bad option");
    assert!(
        e.starts_with("hook `bad_effect.rhai` failed at line 4: record_action: unknown option `colour`"),
        "{e}"
    );
    let e = fixtures().run("bad_related_order.rhai", &order, None, now()).expect_err("bad field");
    assert!(
        e.starts_with(
            "hook `bad_related_order.rhai` failed at line 2: create_related_order: unknown field `colour`"
        ),
        "{e}"
    );
}

#[test]
fn unknown_hooks_and_functions_are_errors() {
    let order = retail_order(1, "Yamaha");
    let h = fixtures();
    assert_eq!(
        h.guard("endles.rhai", &order, None, now()),
        Err("hook `endles.rhai` failed: there is no hook file `endles.rhai`; did you mean `endless.rhai`?"
            .into())
    );
    assert_eq!(
        h.guard("functions.rhai::tiny", &order, None, now()),
        Err("hook `functions.rhai::tiny` failed: `functions.rhai` has no function `tiny`".into())
    );
    let e = h.guard("functions.rhai::too_many", &order, None, now()).expect_err("four parameters");
    assert!(e.contains("takes more than 3 parameters"), "{e}");
    assert!(h.resolve("functions.rhai::big").is_ok());
}

#[test]
fn the_engine_stays_healthy_after_a_failure() {
    let order = retail_order(10, "Yamaha");
    let h = fixtures();
    for hook in ["endless.rhai", "grow_string.rhai", "divide_by_zero.rhai", "sleepy.rhai"] {
        assert!(h.guard(hook, &order, None, now()).is_err(), "{hook} fails");
        assert_eq!(h.guard("in_stock_total.rhai", &order, None, now()), Ok(true), "after {hook}");
    }
}

#[test]
fn the_engine_is_shared_between_threads() {
    let h = Arc::new(HookEngine::load(Path::new("tests/hooks/ok")).expect("fixtures load"));
    let order = Arc::new(retail_order(10, "Yamaha"));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (h, order) = (h.clone(), order.clone());
            std::thread::spawn(move || {
                let hook = if i % 2 == 0 { "in_stock_total.rhai" } else { "endless.rhai" };
                (0..20).map(|_| h.guard(hook, &order, None, now()).is_ok()).all(|ok| ok == (i % 2 == 0))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().expect("no panic"));
    }
}

// ------------------------------------------------------------------ the sandbox

#[test]
fn print_goes_nowhere_and_sleep_cannot_run() {
    let order = retail_order(1, "Yamaha");
    assert_eq!(fixtures().guard("prints.rhai", &order, None, now()), Ok(true));
    let start = Instant::now();
    let e = fixtures().guard("sleepy.rhai", &order, None, now()).expect_err("no sleep");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(e.starts_with("hook `sleepy.rhai` failed at line 3: "), "{e}");
    assert!(e.contains("`sleep` is not available in hooks"), "{e}");
}

/// The diagnostics of `tests/hooks/broken`, by file name: (line, column, code, message).
fn broken() -> Vec<(String, usize, usize, &'static str, String)> {
    let found = HookEngine::load(Path::new("tests/hooks/broken")).expect_err("nothing loads");
    let mut out: Vec<_> = found
        .iter()
        .map(|d| {
            let file =
                Path::new(&d.file).file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
            (file, d.line, d.column, d.code.as_str(), d.message.clone())
        })
        .collect();
    out.sort();
    out
}

fn finding(file: &str) -> (usize, usize, &'static str, String) {
    let all = broken();
    let mine: Vec<_> = all.iter().filter(|d| d.0 == file).collect();
    assert_eq!(mine.len(), 1, "one finding in {file}: {all:?}");
    let (_, line, column, code, message) = mine[0].clone();
    (line, column, code, message)
}

#[test]
fn a_syntax_error_is_a_diagnostic_with_line_and_column() {
    let (line, column, code, message) = finding("syntax_error.rhai");
    assert_eq!((line, code), (3, "hook-syntax"), "{message}");
    assert!(column > 1, "{column}");
    let reports = check_hooks(Path::new("tests/hooks/broken"));
    let report = reports.iter().find(|r| r.path.ends_with("syntax_error.rhai")).expect("a report");
    let text = report.render(false);
    assert!(text.contains("syntax_error.rhai:3:"), "{text}");
    assert!(text.contains("if (total > 100 {"), "the source line: {text}");
    assert!(text.contains('^'), "a caret: {text}");
}

#[test]
fn an_unknown_function_is_a_diagnostic_with_a_suggestion() {
    let (line, column, code, message) = finding("unknown_function.rhai");
    assert_eq!((line, column, code), (2, 1, "hook-unknown-function"));
    assert_eq!(message, "`set_flg` is not a function of this script nor of the hook API");
    let found = HookEngine::load(Path::new("tests/hooks/broken")).expect_err("nothing loads");
    let d = found.iter().find(|d| d.file.ends_with("unknown_function.rhai")).expect("the finding");
    assert_eq!(d.help.as_deref(), Some("did you mean `set_flag`?"));
    assert_eq!(&d.source[d.span.start..d.span.end], "set_flg");
    let diagnostic: orderly::diagnostics::Diagnostic = d.into();
    assert_eq!(diagnostic.code, "hook-unknown-function");
    assert_eq!(diagnostic.help, ["did you mean `set_flag`?"]);
}

#[test]
fn scripts_cannot_read_files_load_modules_eval_or_sleep() {
    let (line, _, code, message) = finding("read_file.rhai");
    assert_eq!((line, code), (2, "hook-unknown-function"), "{message}");
    let (line, _, code, message) = finding("import.rhai");
    assert_eq!((line, code), (2, "hook-syntax"), "{message}");
    assert!(message.contains("`import` is not available"), "{message}");
    let (line, _, code, message) = finding("eval.rhai");
    assert_eq!((line, code, message.as_str()), (2, "hook-syntax", "`eval` is not available in hooks"));
    let (line, column, code, _) = finding("sleep.rhai");
    assert_eq!((line, column, code), (2, 1, "hook-unknown-function"));
}

#[test]
fn undefined_variables_and_wrong_argument_counts_are_found_at_load() {
    let (line, column, code, message) = finding("undefined_variable.rhai");
    assert_eq!((line, column, code), (2, 13, "hook-undefined-variable"), "{message}");
    assert!(message.starts_with("`ordr` is not defined"), "{message}");
    let (line, _, code, _) = finding("outer_variable.rhai");
    assert_eq!((line, code), (3, "hook-undefined-variable"));
    let (line, column, code, message) = finding("wrong_arguments.rhai");
    assert_eq!((line, column, code), (2, 1, "hook-wrong-arguments"));
    assert_eq!(message, "`email` takes 2 or 3 argument(s), not 1");
}

#[test]
fn check_hooks_gives_one_report_per_broken_file() {
    let reports = check_hooks(Path::new("tests/hooks/broken"));
    assert_eq!(reports.len(), broken().len());
    assert!(reports.iter().all(|r| r.error_count() == 1));
    assert!(check_hooks(Path::new("tests/hooks/no-such-folder")).is_empty());
}

// ------------------------------------------------------------------ through the engine

/// The bodies the webhooks a decision queued for `target` send, built as delivery builds them
/// (a payload hook runs then, on the order as it is, seeing the event that queued it).
fn webhooks(d: &engine::Decision, target: &str) -> Vec<serde_json::Value> {
    d.outbox
        .iter()
        .filter(|m| m.kind == orderly::engine::MessageKind::Webhook && m.target == target)
        .map(|m| orderly::delivery::webhook_body(shipped(), m, &d.order, now()).expect("the body builds"))
        .collect()
}

#[test]
fn the_repair_store_eval_flow_runs_its_hooks_through_the_engine() {
    let w = workflow("repair-store.flow");
    let h = shipped();
    let input: NewOrder = serde_json::from_value(json!({
        "channel": "website",
        "customer": {"email": "eval@lab.example", "first_name": "Eva", "last_name": "Luation", "company": "Test Lab"},
        "shipping_address": {"address": "3 Lab Way", "city": "Reading", "state": "PA", "zip": "19601"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "EVAL-DRIVE", "description": "Repair - EVAL (no charge)", "qty": 1, "unit_price": "0.00"}],
    }))
    .expect("an order");
    let created = engine::create(&w, &input, Customer::default(), false, now(), h).expect("created");
    assert_eq!(created.order.status, "order_placed");
    let crm = webhooks(&created, "crm");
    assert_eq!(crm.len(), 1);
    assert_eq!(crm[0]["kind"], "eval", "crm_payload.rhai built the payload: {}", crm[0]);

    // Salesforce leaves the kind blank: the hook routes the EVAL product.
    let blank =
        event("crm_accepted", json!({"order_kind": "", "opportunity_id": "006E1", "quote_id": "Q-E1"}));
    let d = engine::apply(&w, &created.order, &blank, now(), h).expect("routed");
    assert_eq!(d.order.status, "awaiting_evaluation");
    let fee = event("evaluation_complete", json!({"repair_fee": "240.00"}));
    let d = engine::apply(&w, &d.order, &fee, now(), h).expect("quoted");
    assert_eq!(d.order.status, "awaiting_customer_approval");
    let d = engine::apply(&w, &d.order, &event("quote_approved", json!({})), now(), h).expect("approved");
    assert_eq!(d.order.status, "canceled");
    assert!(d.order.flags.contains("replaced_by_priced_order"));
    assert_eq!(d.related.len(), 1, "priced_order.rhai asked for the priced order");
    assert_eq!(d.related[0].lines[0].unit_price.to_string(), "240.00");
    assert_eq!(d.related[0].attributes["quote_id"], "Q-E1");

    // A product order with an ordinary kind is not a repair.
    let product = repair_order("ATS-SENSOR-2", "310.00", json!({}));
    let answer =
        event("crm_accepted", json!({"order_kind": "product", "opportunity_id": "006", "quote_id": "Q"}));
    let d = engine::apply(&w, &product, &answer, now(), h).expect("routed");
    assert_eq!(d.order.status, "in_process");
}

#[test]
fn retail_drop_ship_sourcing_runs_its_hooks_through_the_engine() {
    let w = workflow("retail.flow");
    let h = shipped();
    let order = |vendor: &str| {
        create(
            &w,
            json!({
                "channel": "website",
                "customer": {"email": "dropship@example.com", "first_name": "Drop", "last_name": "Ship"},
                "shipping_address": {"address": "1 Main St", "city": "Erie", "state": "PA", "zip": "16501"},
                "payment": {"method": "credit_card", "outcome": "approved"},
                "lines": [{"sku": "PIANO-DG", "description": "Digital piano", "vendor": vendor, "qty": 1, "unit_price": "1299.00", "fulfillment": "dropship"}],
            }),
        )
    };
    let confirmed = event("payment_confirmed", json!({}));
    let d = engine::apply(&w, &order("Yamaha"), &confirmed, now(), h).expect("sourced");
    assert_eq!(d.order.status, "awaiting_dropship_confirmation");
    let purchasing = webhooks(&d, "purchasing");
    assert_eq!(purchasing.len(), 1);
    assert_eq!(purchasing[0]["purchase_orders"][0]["vendor"], "Yamaha", "{}", purchasing[0]);
    assert_eq!(purchasing[0]["purchase_orders"][0]["ship_to"]["city"], "Erie");
    let d = engine::apply(&w, &order("Small Vendor Co"), &confirmed, now(), h).expect("waits for a buyer");
    assert_eq!(d.order.status, "ready_to_source");
}

#[test]
fn special_orders_export_to_worldship_through_the_engine() {
    let w = workflow("special-orders.flow");
    let order = create(
        &w,
        json!({
            "channel": "cart_import",
            "customer": {"email": "cod@example.com", "first_name": "Cody", "last_name": "Delivery"},
            "shipping_address": {"first_name": "Cody", "last_name": "Delivery", "address": "5 Elm", "city": "Akron", "state": "OH", "zip": "44301"},
            "payment": {"method": "cod", "outcome": "pending"},
            "lines": [{"sku": "METRONOME", "qty": 1, "unit_price": "35.00", "in_stock": true}],
        }),
    );
    assert_eq!(order.status, "ready_to_import");
    let d =
        engine::apply(&w, &order, &event("cart_orders", json!({})), now(), shipped()).expect("in the grid");
    let d =
        engine::apply(&w, &d.order, &event("create_order", json!({})), now(), shipped()).expect("exported");
    assert!(d.steps.iter().any(|s| s.to == "special_order"), "{:?}", d.steps);
    let export = webhooks(&d, "shipping_software");
    assert_eq!(export.len(), 1);
    assert_eq!(export[0]["cod_amount"], "35.00", "{}", export[0]);
    assert_eq!(export[0]["ship_to"]["name"], "Cody Delivery");
}

/// Issue 11, item 15: a built-in cannot allocate past the string limit before rhai checks it.
/// `s.replace("a", s)` on a 45,000-character `s` would build 2 billion characters (21 s, 3.9 GB
/// before); it is refused before allocating, naming the limit, and the engine goes on.
#[test]
fn replace_cannot_build_a_string_past_the_limit() {
    let bomb = r#"
let s = "a";
for i in 0..15 { s += s; }
s = s.sub_string(0, 45000);
s.replace("a", s);
s.len()
"#;
    let by_char = r#"
let s = "a";
for i in 0..16 { s += s; }
s = s.sub_string(0, 60000);
s.replace('a', "bb");
s.len()
"#;
    let engine =
        HookEngine::from_sources([("bomb.rhai", bomb), ("by_char.rhai", by_char)], HookLimits::default())
            .expect("compiles");
    for hook in ["bomb.rhai", "by_char.rhai"] {
        let started = std::time::Instant::now();
        let err = engine.payload(hook, &retail_order(1, "Acme"), None, now()).expect_err("refused");
        assert!(
            err.contains("`replace` would make a string of") && err.contains("over the limit of 100000"),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{hook} took {:?}", started.elapsed());
    }
    // Within the limit, replace works as before.
    let fine = HookEngine::from_sources(
        [("fine.rhai", r#"let s = "a-b-c"; s.replace("-", "+"); #{ s: s }"#)],
        HookLimits::default(),
    )
    .expect("compiles");
    assert_eq!(fine.payload("fine.rhai", &retail_order(1, "Acme"), None, now()), Ok(json!({"s": "a+b+c"})));
}

/// Issue 11, item 15: a call's memory is bounded by the variables it can hold at once (100)
/// times the size limits of one value; `order`, `event` and `now` are three of them, so 97
/// `let`s fit and the 98th is refused, naming the limit.
#[test]
fn a_call_holds_at_most_a_hundred_variables() {
    let lets = |n: usize| (0..n).map(|i| format!("let v{i} = {i};\n")).collect::<String>() + "#{ n: v0 }";
    let (fits, over) = (lets(97), lets(98));
    let engine = HookEngine::from_sources(
        [("fits.rhai", fits.as_str()), ("over.rhai", over.as_str())],
        HookLimits::default(),
    )
    .expect("compiles");
    let order = retail_order(1, "Acme");
    assert_eq!(engine.payload("fits.rhai", &order, None, now()), Ok(json!({"n": 0})));
    let err = engine.payload("over.rhai", &order, None, now()).expect_err("refused");
    assert!(err.ends_with("more than 100 variables at once"), "{err}");
}
