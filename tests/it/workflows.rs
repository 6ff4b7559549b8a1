//! The shipped workflows: each checks clean, prints back to itself, and holds what its seed
//! document describes (every status, channel default and setting named there).

use orderly::check::{compile, Context};
use orderly::model::{PaymentOutcome, Workflow};
use orderly::syntax::{parse, print};
use std::path::Path;

fn load(file: &str) -> Workflow {
    let loaded = orderly::load::load(Path::new(file)).expect("readable");
    let one = &loaded[0];
    assert!(one.outcome.diagnostics.is_empty(), "{file}:\n{}", one.report().render(false));
    one.outcome.workflow.clone().expect("compiles")
}

fn status_codes(w: &Workflow) -> Vec<&str> {
    w.statuses.iter().map(|s| s.code.as_str()).collect()
}

/// The initial status a channel gives an order, by the channel's own rules.
fn initial(
    w: &Workflow,
    channel: &str,
    mode: Option<&str>,
    payment: Option<(&str, PaymentOutcome)>,
) -> Option<String> {
    let c = w.channel(channel).unwrap_or_else(|| panic!("no channel `{channel}`"));
    let (_, rule) = c.rule_for(mode, payment)?;
    rule.start.map(|s| w.statuses[s].code.clone())
}

/// Debug text of a workflow with every span and line number blanked, to compare two compiles
/// of the same rules written at different places.
fn without_positions(w: &Workflow) -> String {
    let text = format!("{w:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    loop {
        let span = rest.find("Span { start: ");
        let line = rest.find("line: ");
        let at = match (span, line) {
            (Some(s), Some(l)) => s.min(l),
            (Some(s), None) => s,
            (None, Some(l)) => l,
            (None, None) => break,
        };
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with("Span") {
            out.push_str("Span");
            rest = &rest[rest.find('}').map_or(rest.len(), |e| e + 1)..];
        } else {
            out.push_str("line: _");
            rest = rest["line: ".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn every_shipped_workflow_prints_back_to_the_same_rules() {
    for file in [
        "workflows/retail.flow",
        "workflows/special-orders.flow",
        "workflows/fulfillment.flow",
        "workflows/repair-store.flow",
    ] {
        let source = std::fs::read_to_string(file).expect("readable");
        let parsed = parse(&source);
        assert!(parsed.diagnostics.is_empty(), "{file}");
        let printed = print(&parsed.file);
        let reparsed = parse(&printed);
        assert!(reparsed.diagnostics.is_empty(), "{file} printed does not parse: {:?}", reparsed.diagnostics);
        assert_eq!(print(&reparsed.file), printed, "{file}: printing is not stable");
        let original = compile(&source, &Context::default()).workflow.expect("compiles");
        let again = compile(&printed, &Context::default()).workflow.expect("printed compiles");
        assert_eq!(
            without_positions(&original),
            without_positions(&again),
            "{file}: the printed rules differ"
        );
    }
}

#[test]
fn retail_has_every_coresense_phase_and_status() {
    let w = load("workflows/retail.flow");
    let phases: Vec<&str> = w.phases.iter().map(|p| p.label.as_str()).collect();
    for p in ["Order Capture and Staging", "Payment Processing", "Inventory Sourcing", "Pick, Pack and Ship"]
    {
        assert!(phases.contains(&p), "phase {p} missing: {phases:?}");
    }
    let codes = status_codes(&w);
    for s in [
        "auction_awaiting_checkout",
        "awaiting_checkout",
        "awaiting_payment",
        "credit_card_declined",
        "in_paypal_checkout",
        "paypal_checkout_issue",
        "ready_to_process",
        "ready_to_source",
        "in_shipping",
        "partially_shipped",
        "awaiting_inventory",
        "awaiting_dropship_confirmation",
        "shipped",
        "voided",
        "order_exception",
        "paypal_pending_clearance",
    ] {
        assert!(codes.contains(&s), "status {s} missing");
    }
    for s in ["shipped", "voided"] {
        assert!(w.statuses[w.status_id(s).expect("exists")].is_final, "{s} must be final");
    }
}

#[test]
fn retail_channel_table_row_by_row() {
    use PaymentOutcome::*;
    let w = load("workflows/retail.flow");
    /// Channel, mode, payment (method, outcome) or unpaid, and the seed's initial status.
    type Row<'a> = (&'a str, Option<&'a str>, Option<(&'a str, PaymentOutcome)>, &'a str);
    let cases: &[Row<'_>] = &[
        ("pos", Some("carry"), Some(("cash", Approved)), "shipped"),
        ("pos", Some("delivery"), Some(("credit_card", Approved)), "ready_to_process"),
        ("soi", Some("present"), Some(("credit_card", Approved)), "shipped"),
        ("soi", Some("phone"), Some(("credit_card", Approved)), "ready_to_process"),
        ("website", None, Some(("credit_card", Approved)), "ready_to_process"),
        ("website", None, Some(("gift_certificate", Approved)), "ready_to_process"),
        ("website", None, Some(("customer_credit", Approved)), "ready_to_process"),
        ("website", None, Some(("paypal", Approved)), "ready_to_process"),
        ("website", None, Some(("check", Pending)), "awaiting_payment"),
        ("website", None, Some(("credit_card", Declined)), "credit_card_declined"),
        ("website", None, Some(("paypal", Pending)), "in_paypal_checkout"),
        ("website", None, Some(("paypal", Invalid)), "paypal_checkout_issue"),
        ("ebay", None, None, "auction_awaiting_checkout"),
        ("ebay", None, Some(("paypal", Pending)), "paypal_pending_clearance"),
        ("ebay", None, Some(("paypal", Approved)), "ready_to_process"),
        ("order_manager", None, Some(("credit_card", Approved)), "ready_to_process"),
    ];
    for (channel, mode, payment, expected) in cases {
        assert_eq!(
            initial(&w, channel, *mode, *payment).as_deref(),
            Some(*expected),
            "{channel} {mode:?} {payment:?}"
        );
    }
    assert!(w.channel("ebay").expect("ebay").rules.iter().any(|r| r.start == w.status_id("order_exception")));
}

#[test]
fn retail_sources_by_fulfillment_method_and_ships_partially_then_completely() {
    let source = std::fs::read_to_string("workflows/retail.flow").expect("readable");
    for needle in [
        "line.fulfillment == stock",
        "line.fulfillment == dropship",
        "line.fulfillment == jit",
        "order.any_shipped",
        "order.all_shipped",
    ] {
        assert!(source.contains(needle), "retail.flow does not use `{needle}`");
    }
    let w = load("workflows/retail.flow");
    assert!(w.events.iter().any(|e| e.kind == orderly::model::EventKind::Shipment));
    let void = w.event_id("void").expect("void event");
    let voided = w.status_id("voided").expect("voided");
    for (id, s) in w.statuses.iter().enumerate() {
        if !s.is_final {
            assert!(
                w.transitions_on(id, void).any(|t| t.target == Some(voided)),
                "cannot void from {}",
                s.code
            );
        }
    }
}

#[test]
fn special_orders_has_aimsi_import_settings_and_shipping_software() {
    let w = load("workflows/special-orders.flow");
    assert!(w.settings.auto_pick, "auto-pick");
    assert!(w.settings.auto_invoice, "auto-invoice");
    assert!(w.channel("cart_import").is_some());
    assert!(!w.on_create.is_empty(), "the placement email");
    assert!(w.webhooks.iter().any(|h| h.contains("shipping")), "shipping software hand-off");
    let shipment = w.events.iter().find(|e| e.kind == orderly::model::EventKind::Shipment).expect("shipment");
    for f in ["amount", "tracking_number"] {
        assert!(shipment.fields.iter().any(|x| x.name == f), "shipment lacks {f}");
    }
    // The card is charged by the cart at checkout, or in the store.
    use PaymentOutcome::*;
    let charged = initial(&w, "cart_import", None, Some(("credit_card", Approved))).expect("covered");
    let to_charge = initial(&w, "cart_import", None, Some(("credit_card", Pending))).expect("covered");
    assert_ne!(charged, to_charge);
}

#[test]
fn fulfillment_has_salescart_actions_and_emails() {
    let w = load("workflows/fulfillment.flow");
    assert!(w.fulfillment_actions.len() >= 8, "{:?}", w.fulfillment_actions);
    let source = std::fs::read_to_string("workflows/fulfillment.flow").expect("readable");
    for needle in [
        "partial",
        "complete",
        "notify",
        "note",
        "contact",
        "hidden from customer",
        "send email to customer",
        "send email to attributes.",
    ] {
        assert!(source.contains(needle), "fulfillment.flow does not use `{needle}`");
    }
}

#[test]
fn repair_store_has_ats_statuses_guest_fields_crm_and_stuck_timer() {
    let w = load("workflows/repair-store.flow");
    let codes = status_codes(&w);
    for s in [
        "incomplete",
        "order_placed",
        "awaiting_evaluation",
        "awaiting_customer_approval",
        "awaiting_payment",
        "in_process",
        "completed",
        "canceled",
    ] {
        assert!(codes.contains(&s), "status {s} missing");
    }
    let website = w.channel("website").expect("website");
    let required: Vec<String> = website.required.iter().map(|f| f.field.path()).collect();
    for f in [
        "customer.first_name",
        "customer.last_name",
        "shipping.address",
        "shipping.city",
        "shipping.state",
        "shipping.zip",
        "customer.email",
    ] {
        assert!(required.contains(&f.to_string()), "guest checkout field {f} not required: {required:?}");
    }
    let placed = w.status_id("order_placed").expect("order_placed");
    assert!(
        w.on_enter[placed].iter().any(|a| matches!(a, orderly::model::Action::SendWebhook { .. })),
        "no CRM hand-off on entering order_placed"
    );
    let stuck = w.timers.iter().find(|t| t.statuses.contains(&placed)).expect("stuck-order timer");
    assert!(stuck.actions.contains(&orderly::model::Action::SetFlag("integration_failed".into())));
    let crm = w.event_id("crm_accepted").expect("crm_accepted");
    let targets: Vec<&str> =
        w.transitions_on(placed, crm).filter_map(|t| t.target).map(|s| w.statuses[s].code.as_str()).collect();
    for s in ["awaiting_evaluation", "awaiting_payment", "in_process"] {
        assert!(targets.contains(&s), "crm_accepted cannot route to {s}: {targets:?}");
    }
    assert!(w.hook_files.iter().any(|h| h.contains("priced_order")), "priced-order replacement");
}
