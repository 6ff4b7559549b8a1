//! Emails: every template the shipped workflows name exists and renders, and a message reaches
//! a local SMTP listener (a minimal SMTP server in this file) with its subject, recipient and
//! body.

use crate::support;

use orderly::config::{DeliverySettings, EmailSettings};
use orderly::delivery::{email, template};
use orderly::engine::OutboxMessage;
use orderly::store::StoredOutbox;
use serde_json::{json, Value};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn sample_payload() -> Value {
    json!({
        "event": "shipment",
        "data": {"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "message": "Your strings are on back order."},
        "order": {
            "id": 7, "number": "ORD000007", "workflow": "retail", "status": "shipped", "channel": "website",
            "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "company": "", "phone": ""},
            "shipping": {"first_name": "Ann", "last_name": "Lee", "address": "12 Elm St", "address2": "", "city": "Albany", "state": "NY", "zip": "12207", "country": "US"},
            "billing": {"first_name": "Ann", "last_name": "Lee", "address": "12 Elm St", "city": "Albany", "state": "NY", "zip": "12207"},
            "payment": {"method": "check", "outcome": "approved", "amount": "499.00", "reference": ""},
            "lines": [{"n": 1, "sku": "GTR-1", "description": "Acoustic guitar", "vendor": "Acme", "qty": "1", "unit_price": "499.00", "shipped_qty": "1"}],
            "total": "499.00", "amount_paid": "499.00", "balance_due": "0",
            "attributes": {"quote_amount": "120.00"}, "flags": [],
            "shipments": [{"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "amount": "9.50", "lines": [{"n": 1, "qty": "1"}], "at": "2026-11-23T10:00:00Z"}],
            "fulfillment_actions": [{"n": 1, "name": "Drop-Ship Email Sent", "complete": true, "note": "sent", "visible": true}]
        }
    })
}

/// Every `template "NAME"` written in a shipped workflow.
fn templates_named() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("workflows").expect("workflows") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "flow") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for part in text.split("template \"").skip(1) {
            if let Some(name) = part.split('"').next() {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_template_the_workflows_name_exists_and_renders() {
    let names = templates_named();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let r = template::render(
            Path::new("workflows/templates"),
            &name,
            Some("About {{ order.number }}"),
            &sample_payload(),
        )
        .unwrap_or_else(|e| panic!("template `{name}`: {e}"));
        assert!(r.text.contains("ORD000007"), "template `{name}` should name the order: {}", r.text);
        assert!(
            !r.text.contains("{{") && !r.text.contains("{%"),
            "template `{name}` left markup: {}",
            r.text
        );
    }
}

/// A minimal SMTP server: accepts one message and returns what it received (envelope and data).
async fn smtp_listener() -> (u16, tokio::task::JoinHandle<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("a client");
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut envelope = Vec::new();
        let mut data = String::new();
        write.write_all(b"220 test ESMTP\r\n").await.expect("greet");
        while let Some(line) = lines.next_line().await.expect("read") {
            let upper = line.to_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                write.write_all(b"250-test\r\n250 8BITMIME\r\n").await.expect("ehlo");
            } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
                envelope.push(line.clone());
                write.write_all(b"250 OK\r\n").await.expect("ok");
            } else if upper == "DATA" {
                write.write_all(b"354 go on\r\n").await.expect("354");
                while let Some(l) = lines.next_line().await.expect("data") {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                write.write_all(b"250 queued\r\n").await.expect("queued");
            } else if upper == "QUIT" {
                write.write_all(b"221 bye\r\n").await.expect("bye");
                break;
            } else {
                write.write_all(b"250 OK\r\n").await.expect("ok");
            }
        }
        (envelope, data)
    });
    (port, handle)
}

fn message(template: &str, to: &str) -> StoredOutbox {
    StoredOutbox {
        id: 41,
        order_id: 7,
        state: "pending".into(),
        attempts: 0,
        created_at: chrono::Utc::now(),
        next_attempt_at: chrono::Utc::now(),
        last_error: None,
        last_status: None,
        sent_at: None,
        sent: None,
        message: OutboxMessage {
            kind: orderly::engine::MessageKind::Email,
            target: to.into(),
            template: Some(template.into()),
            subject: Some("Your order {{ order.number }} has shipped".into()),
            hook: None,
            event: None,
            payload: sample_payload(),
        },
    }
}

fn settings(port: u16) -> EmailSettings {
    EmailSettings {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        from: "Orders <orders@shop.example>".into(),
        username: None,
        password: None,
        tls: false,
        templates: None,
    }
}

#[tokio::test]
async fn an_email_reaches_a_local_smtp_listener() {
    let (port, received) = smtp_listener().await;
    let order = dummy_order();
    email::send(
        &settings(port),
        Path::new("workflows/templates"),
        &message("order_shipped", "ann@example.com"),
        &order,
    )
    .await
    .expect("sent");
    let (envelope, data) = received.await.expect("the listener finishes");
    assert!(envelope.iter().any(|l| l.contains("<orders@shop.example>")), "{envelope:?}");
    assert!(envelope.iter().any(|l| l.contains("<ann@example.com>")), "{envelope:?}");
    assert!(data.contains("Subject: Your order ORD000007 has shipped"), "{data}");
    assert!(data.contains("To: ann@example.com"), "{data}");
    assert!(data.contains("1Z999AA10123456784"), "the tracking number is in the body: {data}");
    assert!(data.contains("Message-ID: <orderly-41@shop.example>"), "{data}");
}

#[tokio::test]
async fn a_bad_recipient_or_an_unreachable_server_is_an_error_that_says_so() {
    let order = dummy_order();
    let e = email::send(
        &settings(1),
        Path::new("workflows/templates"),
        &message("order_shipped", "not an address"),
        &order,
    )
    .await
    .expect_err("refused");
    assert!(e.contains("not an address"), "{e}");
    // Nothing listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
    let e = email::send(
        &settings(closed),
        Path::new("workflows/templates"),
        &message("order_shipped", "ann@example.com"),
        &order,
    )
    .await
    .expect_err("no server");
    assert!(e.contains(&format!("127.0.0.1:{closed}")), "{e}");
}

fn dummy_order() -> orderly::order::Order {
    let now = chrono::Utc::now();
    orderly::order::Order {
        id: 7,
        number: "ORD000007".into(),
        workflow: "retail".into(),
        workflow_version: 1,
        channel: "website".into(),
        mode: None,
        external_id: None,
        status: "shipped".into(),
        phase: None,
        status_since: now,
        created_at: now,
        customer: Default::default(),
        shipping: Default::default(),
        billing: Default::default(),
        payment: None,
        amount_paid: Default::default(),
        shipping_amount: Default::default(),
        lines: Vec::new(),
        flags: Default::default(),
        attributes: Default::default(),
        queue: None,
        assignee: None,
        invoiced: false,
        related_order: None,
        shipments: Vec::new(),
        fulfillment_actions: Vec::new(),
        lock: None,
        version: 1,
    }
}

/// Through the whole path: an event queues the email in its transaction, the delivery worker
/// renders it and hands it to the SMTP server, the outbox says `sent`, the order's history has
/// the attempt.
#[tokio::test]
async fn a_voided_order_emails_its_customer_through_the_worker() {
    support::on_both("a_voided_order_emails_its_customer_through_the_worker", |store| async move {
        let registry =
            orderly::registry::Registry::load(Path::new("workflows"), &store).await.expect("workflows");
        let service = std::sync::Arc::new(orderly::service::Service::serving(
            store,
            registry,
            std::sync::Arc::new(orderly::service::SystemClock),
        ));
        let order: orderly::engine::NewOrder = serde_json::from_value(json!({
            "channel": "website",
            "customer": {"email": "vera@example.com", "first_name": "Vera", "last_name": "Void"},
            "payment": {"method": "check", "outcome": "pending"},
            "lines": [{"sku": "GTR-1", "qty": 1, "unit_price": "499.00"}]
        }))
        .expect("order");
        let created = service.create_order(&order).await.expect("created").order;
        let void = orderly::engine::EventInput { name: "void".into(), ..Default::default() };
        service.apply_event(&created.number, &void, None).await.expect("voided");
        let queued = service.store().outbox(Some(created.id)).await.expect("outbox");
        let email = queued
            .iter()
            .find(|m| m.message.kind == orderly::engine::MessageKind::Email)
            .expect("an email is queued");
        assert_eq!(email.state, "pending");

        let (port, received) = smtp_listener().await;
        let worker = orderly::delivery::Worker::with(
            service.clone(),
            Default::default(),
            DeliverySettings::default(),
            Some((settings(port), Path::new("workflows/templates").to_path_buf())),
            None,
        );
        assert!(worker.run_once().await.expect("a round") >= 1);
        let (envelope, data) = received.await.expect("the listener finishes");
        assert!(envelope.iter().any(|l| l.contains("<vera@example.com>")), "{envelope:?}");
        assert!(data.contains("Subject: Your order was cancelled"), "{data}");
        assert!(data.contains(&created.number), "{data}");
        let after = service.store().outbox(Some(created.id)).await.expect("outbox");
        let sent = after.iter().find(|m| m.id == email.id).expect("the message");
        assert_eq!(sent.state, "sent", "{sent:?}");
        let history = service.store().history(created.id).await.expect("history");
        assert!(history.iter().any(|h| h.entry.kind == "delivery"), "{history:?}");
    })
    .await;
}
