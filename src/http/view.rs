//! What the API shows: the order view (status with label and phase, `allowed_events`,
//! history), the customer's tracking view, and the workflow views. Built from the stored order
//! and the workflow it runs under; nothing here is stored.

use crate::engine::Step;
use crate::model::Workflow;
use crate::order::{
    Address, Customer, FulfillmentAction, Line, Lock, Order, OrderId, Payment, Shipment, Time,
};
use crate::store::StoredHistory;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A status as shown: its code, the staff label and the phase it is in.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusView {
    /// The status code (`awaiting_payment`).
    pub code: String,
    /// The label staff see (`Awaiting Payment`).
    pub label: String,
    /// The phase code, when the status is in one.
    pub phase: Option<String>,
}

impl StatusView {
    /// The view of `code` in `workflow` (just the code when the workflow no longer has it).
    pub(crate) fn of(workflow: Option<&Workflow>, code: &str) -> Self {
        let found = workflow.and_then(|w| w.status(code).map(|s| (w, s)));
        match found {
            Some((w, s)) => StatusView {
                code: s.code.clone(),
                label: s.label.clone(),
                phase: w.phase_of(s).map(|p| p.code.clone()),
            },
            None => StatusView { code: code.to_string(), label: code.to_string(), phase: None },
        }
    }
}

/// An order as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    /// The store's id.
    #[schema(value_type = i64)]
    pub id: OrderId,
    /// The order number.
    pub number: String,
    /// The workflow it runs under.
    pub workflow: String,
    /// The workflow version of its last change.
    pub workflow_version: i64,
    /// The channel it came from.
    pub channel: String,
    /// The channel's mode.
    pub mode: Option<String>,
    /// The channel's id for it.
    pub external_id: Option<String>,
    /// Where it is.
    pub status: StatusView,
    /// Since when.
    #[schema(value_type = String, format = DateTime)]
    pub status_since: Time,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Time,
    /// The customer.
    pub customer: Customer,
    /// Where it ships.
    pub shipping_address: Address,
    /// Who pays.
    pub billing_address: Address,
    /// The payment.
    pub payment: Option<Payment>,
    /// The lines.
    pub lines: Vec<Line>,
    /// Sum of the lines.
    #[schema(value_type = String)]
    pub subtotal: Decimal,
    /// Shipping charged.
    #[schema(value_type = String)]
    pub shipping_amount: Decimal,
    /// Subtotal plus shipping.
    #[schema(value_type = String)]
    pub total: Decimal,
    /// Approved payments.
    #[schema(value_type = String)]
    pub amount_paid: Decimal,
    /// Total minus paid.
    #[schema(value_type = String)]
    pub balance_due: Decimal,
    /// Flags set.
    pub flags: Vec<String>,
    /// Attribute values.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The staff queue.
    pub queue: Option<String>,
    /// Who it is assigned to.
    pub assignee: Option<String>,
    /// Whether it was invoiced.
    pub invoiced: bool,
    /// The order this one replaces or is replaced by.
    #[schema(value_type = Option<i64>)]
    pub related_order: Option<OrderId>,
    /// Shipments.
    pub shipments: Vec<Shipment>,
    /// Fulfillment actions.
    pub fulfillment_actions: Vec<FulfillmentAction>,
    /// The lock, while it is held.
    pub lock: Option<Lock>,
    /// The events the order accepts in its status (guards not evaluated).
    pub allowed_events: Vec<String>,
    /// What happened to it, oldest first (each row names its workflow version). Not in an
    /// event's answer, which gives the rows the event added beside the order instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub history: Option<Vec<StoredHistory>>,
    /// Bumped on every change.
    pub version: i64,
}

/// The events `workflow` accepts in `status`.
pub(crate) fn allowed_events(workflow: Option<&Workflow>, status: &str) -> Vec<String> {
    let Some(w) = workflow else { return Vec::new() };
    w.status_id(status)
        .map(|s| {
            let accepted = w.events_accepted_in(s).into_iter().filter_map(|e| w.events.get(e));
            accepted.map(|e| e.name.clone()).collect()
        })
        .unwrap_or_default()
}

impl OrderView {
    /// The view of `order` at `now`, under `workflow` (when it is active), with its history.
    pub fn new(order: Order, workflow: Option<&Workflow>, history: Vec<StoredHistory>, now: Time) -> Self {
        let lock = order.lock_at(now).cloned();
        OrderView {
            status: StatusView::of(workflow, &order.status),
            allowed_events: allowed_events(workflow, &order.status),
            subtotal: order.subtotal(),
            total: order.total(),
            balance_due: order.balance_due(),
            id: order.id,
            number: order.number,
            workflow: order.workflow,
            workflow_version: order.workflow_version,
            channel: order.channel,
            mode: order.mode,
            external_id: order.external_id,
            status_since: order.status_since,
            created_at: order.created_at,
            customer: (*order.customer).clone(),
            shipping_address: (*order.shipping).clone(),
            billing_address: (*order.billing).clone(),
            payment: order.payment,
            lines: order.lines,
            shipping_amount: order.shipping_amount,
            amount_paid: order.amount_paid,
            flags: order.flags.into_iter().collect(),
            attributes: order.attributes,
            queue: order.queue,
            assignee: order.assignee,
            invoiced: order.invoiced,
            related_order: order.related_order,
            shipments: order.shipments,
            fulfillment_actions: order.fulfillment_actions,
            lock,
            history: Some(history),
            version: order.version,
        }
    }
}

/// The answer to an event: the order after it, the history rows it added and the transitions
/// it took. Built from what the event's transaction wrote (so its size does not grow with the
/// order's age); the whole history is on `GET /v1/orders/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventResult {
    /// The order after the event (without its history).
    pub order: OrderView,
    /// The history rows this event added, oldest first.
    pub history: Vec<StoredHistory>,
    /// Transitions taken, in order (automatic ones included).
    pub transitions: Vec<Step>,
    /// True when an earlier request with the same idempotency key gave this answer.
    pub replayed: bool,
}

/// One line as the customer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TrackedLine {
    /// Stock keeping unit.
    pub sku: String,
    /// Description.
    pub description: String,
    /// Ordered.
    #[schema(value_type = String)]
    pub qty: Decimal,
    /// Shipped so far.
    #[schema(value_type = String)]
    pub shipped_qty: Decimal,
}

/// A shipment as the customer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TrackedShipment {
    /// The carrier.
    pub carrier: String,
    /// The tracking number.
    pub tracking_number: String,
    /// When it shipped.
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
}

/// A fulfillment action the customer may see.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TrackedAction {
    /// The action (`Drop-Ship Email Sent`).
    pub name: String,
    /// Complete or partial.
    pub complete: bool,
    /// The note written for it.
    pub note: String,
    /// When it was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
}

/// What a customer sees of their order: no prices of others, no staff notes, no flags.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TrackingView {
    /// The order number.
    pub number: String,
    /// The status as customers see it (the status's customer label).
    pub status: String,
    /// When it was placed.
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: Time,
    /// The lines.
    pub lines: Vec<TrackedLine>,
    /// Shipments with their tracking numbers.
    pub shipments: Vec<TrackedShipment>,
    /// Fulfillment actions marked visible.
    pub fulfillment_actions: Vec<TrackedAction>,
}

impl TrackingView {
    /// The customer's view of `order`.
    pub(crate) fn new(order: &Order, workflow: Option<&Workflow>) -> Self {
        let status = workflow
            .and_then(|w| w.status(&order.status).map(|s| s.customer_label.clone()))
            .unwrap_or_else(|| order.status.replace('_', " "));
        TrackingView {
            number: order.number.clone(),
            status,
            placed_at: order.created_at,
            lines: order
                .lines
                .iter()
                .map(|l| TrackedLine {
                    sku: l.sku.clone(),
                    description: l.description.clone(),
                    qty: l.qty,
                    shipped_qty: l.shipped_qty,
                })
                .collect(),
            shipments: order
                .shipments
                .iter()
                .map(|s| TrackedShipment {
                    carrier: s.carrier.clone(),
                    tracking_number: s.tracking_number.clone(),
                    at: s.at,
                })
                .collect(),
            fulfillment_actions: order
                .fulfillment_actions
                .iter()
                .filter(|a| a.visible)
                .map(|a| TrackedAction {
                    name: a.name.clone(),
                    complete: a.complete,
                    note: a.note.clone(),
                    at: a.at,
                })
                .collect(),
        }
    }
}
