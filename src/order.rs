//! The order as the engine sees it: a snapshot read from the store, changed only by the engine
//! core into a new snapshot. Plain data: money is `Decimal`, times are UTC.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use crate::model::Outcome;

/// A moment in time, always UTC.
pub type Time = chrono::DateTime<chrono::Utc>;

/// The store's id of an order.
pub type OrderId = i64;

/// One order, with everything guards, hooks and views read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The store's id (0 before the order is stored).
    pub id: OrderId,
    /// The order number customers and staff use.
    pub number: String,
    /// The workflow it runs under.
    pub workflow: String,
    /// The workflow version of its last transition.
    pub workflow_version: i64,
    /// The channel it came from.
    pub channel: String,
    /// The channel's mode (`carry`, `phone`, ...).
    pub mode: Option<String>,
    /// The id the channel gave it.
    pub external_id: Option<String>,
    /// The status code.
    pub status: String,
    /// The phase of that status, as the engine last saw it in the workflow (derived, not
    /// stored: `None` on an order just read from the store).
    #[serde(skip)]
    pub phase: Option<String>,
    /// When it entered that status.
    pub status_since: Time,
    /// When it was created.
    pub created_at: Time,
    /// The customer (shared: it does not change once the order exists, so copies are cheap).
    pub customer: Arc<Customer>,
    /// Where it ships.
    pub shipping: Arc<Address>,
    /// Who pays.
    pub billing: Arc<Address>,
    /// The payment, when there is one.
    pub payment: Option<Payment>,
    /// Sum of approved payments.
    pub amount_paid: Decimal,
    /// Shipping charged so far (from shipments).
    pub shipping_amount: Decimal,
    /// Order lines, in order.
    pub lines: Vec<Line>,
    /// Flags set on the order.
    pub flags: BTreeSet<String>,
    /// Attribute values (decimals are JSON strings, times RFC 3339 strings).
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The staff queue it waits in.
    pub queue: Option<String>,
    /// The person it is assigned to.
    pub assignee: Option<String>,
    /// Whether it was invoiced.
    pub invoiced: bool,
    /// The order this one replaces or is replaced by.
    pub related_order: Option<OrderId>,
    /// Shipments recorded.
    pub shipments: Vec<Shipment>,
    /// Fulfillment actions recorded.
    pub fulfillment_actions: Vec<FulfillmentAction>,
    /// The lock, when one is held.
    pub lock: Option<Lock>,
    /// Bumped on every change; the store's optimistic concurrency check.
    pub version: i64,
}

impl Order {
    /// Subtotal: the sum of line totals.
    pub fn subtotal(&self) -> Decimal {
        self.lines.iter().map(Line::total).sum()
    }

    /// Total: subtotal plus shipping.
    pub fn total(&self) -> Decimal {
        self.subtotal() + self.shipping_amount
    }

    /// What is left to pay.
    pub fn balance_due(&self) -> Decimal {
        self.total() - self.amount_paid
    }

    /// Whether every line is fully shipped (false for an order without lines).
    pub fn all_shipped(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(Line::is_shipped)
    }

    /// Whether some unit of some line is shipped.
    pub fn any_shipped(&self) -> bool {
        self.lines.iter().any(|l| l.shipped_qty > Decimal::ZERO)
    }

    /// Whether every line is in stock.
    pub fn all_in_stock(&self) -> bool {
        self.lines.iter().all(Line::in_stock)
    }

    /// Whether every line is picked.
    pub fn all_picked(&self) -> bool {
        self.lines.iter().all(Line::is_picked)
    }

    /// The lock, if it is still held at `now`.
    pub fn lock_at(&self, now: Time) -> Option<&Lock> {
        self.lock.as_ref().filter(|l| l.expires_at > now)
    }
}

/// A customer record, as linked to the order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    /// The store's id.
    pub id: Option<i64>,
    /// Email as given.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company.
    pub company: String,
    /// Phone.
    pub phone: String,
    /// Checked out as a guest.
    pub is_guest: bool,
    /// Created with this order.
    pub is_new: bool,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company.
    pub company: String,
    /// Street address.
    pub address: String,
    /// Second address line.
    pub address2: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub zip: String,
    /// Country.
    pub country: String,
    /// Phone.
    pub phone: String,
    /// Email for this address.
    pub email: String,
}

/// A payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    /// The method code (`credit_card`, `check`, ...).
    pub method: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The amount.
    pub amount: Decimal,
    /// The gateway's reference.
    pub reference: String,
}

/// How a line is sourced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fulfillment {
    /// From the warehouse.
    Stock,
    /// Shipped by a vendor.
    Dropship,
    /// Bought just in time.
    Jit,
}

impl Fulfillment {
    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Fulfillment::Stock => "stock",
            Fulfillment::Dropship => "dropship",
            Fulfillment::Jit => "jit",
        }
    }

    /// The method with this code.
    pub fn from_code(code: &str) -> Option<Fulfillment> {
        Some(match code {
            "stock" => Fulfillment::Stock,
            "dropship" => Fulfillment::Dropship,
            "jit" => Fulfillment::Jit,
            _ => return None,
        })
    }
}

/// An order line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Line {
    /// Position in the order, from 1.
    pub n: u32,
    /// Stock keeping unit.
    pub sku: String,
    /// Description.
    pub description: String,
    /// Vendor (for drop-ship and just-in-time lines).
    pub vendor: String,
    /// Quantity ordered.
    pub qty: Decimal,
    /// Price per unit.
    pub unit_price: Decimal,
    /// How it is sourced.
    pub fulfillment: Fulfillment,
    /// Units in stock for this line.
    pub in_stock_qty: Decimal,
    /// Units picked.
    pub picked_qty: Decimal,
    /// Units shipped.
    pub shipped_qty: Decimal,
    /// Units invoiced.
    pub invoiced_qty: Decimal,
}

impl Line {
    /// qty × unit price.
    pub fn total(&self) -> Decimal {
        self.qty * self.unit_price
    }

    /// Whether every unit is in stock.
    pub fn in_stock(&self) -> bool {
        self.in_stock_qty >= self.qty
    }

    /// Whether every unit is picked.
    pub fn is_picked(&self) -> bool {
        self.picked_qty >= self.qty
    }

    /// Whether every unit is shipped.
    pub fn is_shipped(&self) -> bool {
        self.shipped_qty >= self.qty
    }
}

/// A shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shipment {
    /// Carrier (UPS, FedEx, ...).
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Shipping amount charged.
    pub amount: Decimal,
    /// (line number, units) shipped: `[[1, "2"], ...]`.
    #[schema(value_type = Vec<ShippedLine>)]
    pub lines: Vec<(u32, Decimal)>,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
}

/// A shipped line as a shipment lists it, `[line number, units as a decimal string]`: the
/// OpenAPI schema of the `(u32, Decimal)` pairs in [`Shipment::lines`].
#[derive(Debug)]
pub struct ShippedLine;

impl utoipa::PartialSchema for ShippedLine {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, ObjectBuilder, SchemaType, Type};
        ArrayBuilder::new()
            .prefix_items([
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .minimum(Some(0))
                    .description(Some("The line's number")),
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .description(Some("Units shipped, a decimal string")),
            ])
            .items(ArrayItems::False)
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some("`[line number, units]`"))
            .into()
    }
}

impl utoipa::ToSchema for ShippedLine {}

/// A fulfillment action recorded on an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FulfillmentAction {
    /// Its number on the order, from 1.
    pub n: u32,
    /// The action's name, from the workflow's list.
    pub name: String,
    /// Complete (true) or partial.
    pub complete: bool,
    /// The person notified.
    pub notify: String,
    /// A note.
    pub note: String,
    /// Email or phone of the person contacted.
    pub contact: String,
    /// Whether the customer sees it.
    pub visible: bool,
    /// When it was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
    /// When it was last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Time,
}

/// A lease on an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lock {
    /// Who holds it.
    pub holder: String,
    /// When it runs out.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Time,
}
