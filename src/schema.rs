//! The fields an order exposes to guards, channel requirements and hooks, with their types.
//!
//! One table for the checker (which resolves and types paths) and the engine (which reads the
//! values): `order.total`, `payment.method`, `customer.email`, `shipping.zip`, `line.qty`, ...
//! Attributes, flags and event data are declared by each workflow instead.

use crate::model::{Codes, Type};

/// The roots a field path can start with, in the order they are suggested.
pub const ROOTS: &[&str] =
    &["order", "payment", "customer", "shipping", "billing", "attributes", "flags", "event", "line"];

/// Fields of `order.*`.
pub const ORDER: &[(&str, Type)] = &[
    ("number", Type::Text),
    ("external_id", Type::Text),
    ("channel", Type::Code(Codes::Channels)),
    ("mode", Type::Code(Codes::Modes)),
    ("status", Type::Code(Codes::Statuses)),
    ("phase", Type::Code(Codes::Phases)),
    ("total", Type::Money),
    ("subtotal", Type::Money),
    ("shipping_amount", Type::Money),
    ("amount_paid", Type::Money),
    ("balance_due", Type::Money),
    ("created_at", Type::Time),
    ("time_in_status", Type::Duration),
    ("age", Type::Duration),
    ("invoiced", Type::Bool),
    ("all_in_stock", Type::Bool),
    ("all_picked", Type::Bool),
    ("all_shipped", Type::Bool),
    ("any_shipped", Type::Bool),
    ("queue", Type::Text),
    ("assignee", Type::Text),
    ("is_related", Type::Bool),
];

/// Fields of `payment.*`.
pub const PAYMENT: &[(&str, Type)] = &[
    ("method", Type::Code(Codes::Methods)),
    ("outcome", Type::Code(Codes::Outcomes)),
    ("amount", Type::Money),
    ("reference", Type::Text),
];

/// Fields of `customer.*`.
pub const CUSTOMER: &[(&str, Type)] = &[
    ("email", Type::Text),
    ("first_name", Type::Text),
    ("last_name", Type::Text),
    ("company", Type::Text),
    ("phone", Type::Text),
    ("is_guest", Type::Bool),
    ("is_new", Type::Bool),
];

/// Fields of `shipping.*` and `billing.*`.
pub const ADDRESS: &[(&str, Type)] = &[
    ("first_name", Type::Text),
    ("last_name", Type::Text),
    ("company", Type::Text),
    ("address", Type::Text),
    ("address2", Type::Text),
    ("city", Type::Text),
    ("state", Type::Text),
    ("zip", Type::Text),
    ("country", Type::Text),
    ("phone", Type::Text),
    ("email", Type::Text),
];

/// Fields of `line.*`, inside an aggregate over lines.
pub const LINE: &[(&str, Type)] = &[
    ("sku", Type::Text),
    ("description", Type::Text),
    ("vendor", Type::Text),
    ("qty", Type::Number),
    ("unit_price", Type::Money),
    ("total", Type::Money),
    ("fulfillment", Type::Code(Codes::Fulfillment)),
    ("in_stock", Type::Bool),
    ("in_stock_qty", Type::Number),
    ("picked_qty", Type::Number),
    ("shipped_qty", Type::Number),
    ("invoiced_qty", Type::Number),
    ("is_picked", Type::Bool),
    ("is_shipped", Type::Bool),
];

/// Fields every event carries, whatever its declaration.
pub const EVENT_BUILTIN: &[(&str, Type)] = &[("time", Type::Time)];

/// Line fulfillment methods.
pub const FULFILLMENT_METHODS: &[&str] = &["stock", "dropship", "jit"];

/// Payment methods the shipped workflows and clients use; a workflow may accept others.
pub const PAYMENT_METHODS: &[&str] = &[
    "credit_card",
    "gift_certificate",
    "customer_credit",
    "paypal",
    "check",
    "purchase_order",
    "cash",
    "cod",
];

/// Flags the engine itself sets, declared in every workflow.
pub const BUILTIN_FLAGS: &[(&str, &str)] = &[
    ("possible_duplicate", "the customer looks like an existing one with other details"),
    ("integration_failed", "delivering a message (webhook, email) to another system failed for good"),
];

/// The fields of a root that has a fixed table.
pub fn fields_of(root: &str) -> Option<&'static [(&'static str, Type)]> {
    Some(match root {
        "order" => ORDER,
        "payment" => PAYMENT,
        "customer" => CUSTOMER,
        "shipping" | "billing" => ADDRESS,
        "line" => LINE,
        _ => return None,
    })
}

/// Looks a field up in a table.
pub fn lookup(table: &[(&'static str, Type)], name: &str) -> Option<Type> {
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
