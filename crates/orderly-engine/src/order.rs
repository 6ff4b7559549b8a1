//! The order as the engine sees it: a snapshot read from the store, changed only by the engine
//! core into a new snapshot. Plain data: money is `Decimal`, times are UTC.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use crate::model::PaymentOutcome;

/// A moment in time, always UTC.
pub type Time = chrono::DateTime<chrono::Utc>;

/// The store's id of an order.
pub type OrderId = i64;

/// How an order's id is written where an order is named (`id:42`; see
/// `OrderKey` in the store). No order number may start with it.
pub const ID_PREFIX: &str = "id:";

/// Why `number` may not be an order's number, if it may not: it starts with [`ID_PREFIX`] (in
/// any case), so that a number and an id can never be confused; or it has the form of the
/// numbers the store gives (`ORD` and digits only, in any case), so that a channel's number can
/// never take the number of an order not yet created.
pub(crate) fn number_problem(number: &str) -> Option<&'static str> {
    let starts = |prefix: &str| number.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    if starts(ID_PREFIX) {
        return Some(
            "may not start with `id:`: that is how an order's id is written where an order is named",
        );
    }
    let digits = number.get(3..).unwrap_or_default();
    if starts("ORD") && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            "may not be `ORD` followed by digits only: that is the form of the numbers the store gives",
        );
    }
    None
}

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
    /// Subtotal: the sum of line totals. The service keeps every order within
    /// [`crate::limits`], where this is exact; past them (a row written before the limits) it
    /// stops at the largest decimal rather than overflow.
    pub fn subtotal(&self) -> Decimal {
        self.lines.iter().fold(Decimal::ZERO, |sum, l| sum.saturating_add(l.total()))
    }

    /// Total: subtotal plus shipping (exact within [`crate::limits`], see [`Order::subtotal`]).
    pub fn total(&self) -> Decimal {
        self.subtotal().saturating_add(self.shipping_amount)
    }

    /// What is left to pay (exact within [`crate::limits`], see [`Order::subtotal`]).
    pub fn balance_due(&self) -> Decimal {
        self.total().saturating_sub(self.amount_paid)
    }

    /// Whether every line is fully shipped (false for an order without lines).
    pub(crate) fn all_shipped(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(Line::is_shipped)
    }

    /// Whether some unit of some line is shipped.
    pub(crate) fn any_shipped(&self) -> bool {
        self.lines.iter().any(|l| l.shipped_qty > Decimal::ZERO)
    }

    /// Whether every line is in stock.
    pub(crate) fn all_in_stock(&self) -> bool {
        self.lines.iter().all(Line::in_stock)
    }

    /// Whether every line is picked.
    pub(crate) fn all_picked(&self) -> bool {
        self.lines.iter().all(Line::is_picked)
    }

    /// Whether every unit can be invoiced: stock and just-in-time lines in stock and picked,
    /// drop-ship lines shipped (the vendor ships them; nothing is picked here). What
    /// `auto_invoice` waits for.
    pub(crate) fn ready_to_invoice(&self) -> bool {
        !self.lines.is_empty()
            && self.lines.iter().all(|l| match l.fulfillment {
                Fulfillment::Dropship => l.is_shipped(),
                Fulfillment::Stock | Fulfillment::Jit => l.in_stock() && l.is_picked(),
            })
    }

    /// The lock, if it is still held at `now`.
    pub fn lock_at(&self, now: Time) -> Option<&Lock> {
        self.lock.as_ref().filter(|l| l.expires_at > now)
    }
}

/// A customer record, as linked to the order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    /// First name.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub first_name: String,
    /// Last name.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub last_name: String,
    /// Company.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub company: String,
    /// Street address.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub address: String,
    /// Second address line.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub address2: String,
    /// City.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub city: String,
    /// State or region.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub state: String,
    /// Postal code.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub zip: String,
    /// Country.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub country: String,
    /// Phone.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub phone: String,
    /// Email for this address.
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: String,
}

/// A payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// The method code (`credit_card`, `check`, ...).
    pub method: String,
    /// The outcome.
    pub outcome: PaymentOutcome,
    /// The amount.
    pub amount: Decimal,
    /// The gateway's reference.
    pub reference: String,
}

/// How a line is sourced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// qty × unit price (exact within [`crate::limits`]; past them it stops at the largest
    /// decimal rather than overflow).
    pub(crate) fn total(&self) -> Decimal {
        self.qty.saturating_mul(self.unit_price)
    }

    /// Whether every unit is in stock.
    pub(crate) fn in_stock(&self) -> bool {
        self.in_stock_qty >= self.qty
    }

    /// Whether every unit is picked.
    pub(crate) fn is_picked(&self) -> bool {
        self.picked_qty >= self.qty
    }

    /// Whether every unit is shipped.
    pub(crate) fn is_shipped(&self) -> bool {
        self.shipped_qty >= self.qty
    }
}

/// A shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shipment {
    /// Carrier (UPS, FedEx, ...).
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Shipping amount charged.
    pub amount: Decimal,
    /// (line number, units) shipped: `[[1, "2"], ...]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ShippedLine>))]
    pub lines: Vec<(u32, Decimal)>,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Time,
}

/// A shipped line as a shipment lists it, `[line number, units as a decimal string]`: the
/// OpenAPI schema of the `(u32, Decimal)` pairs in [`Shipment::lines`].
#[cfg(feature = "openapi")]
#[derive(Debug)]
pub(crate) struct ShippedLine;

#[cfg(feature = "openapi")]
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

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ShippedLine {}

/// A fulfillment action recorded on an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Time,
    /// When it was last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Time,
}

/// A lease on an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lock {
    /// Who holds it.
    pub holder: String,
    /// When it runs out.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Time,
}

// ---------------------------------------------------------------- reading catalogued fields

use crate::schema::{
    ActionField, AddressField, CustomerField, LineField, OrderField, PaymentField, ShipmentField,
    ShipmentLineField,
};

/// A catalogued field's value as read from an order, before a guard, a hook, a payload or a
/// requirement check turns it into its own kind of value. Each table of `crate::schema` has
/// one reader here, matching its enum exhaustively.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Read<'a> {
    /// No value (no mode, no queue, no payment, ...).
    Null,
    Text(&'a str),
    /// A whole number.
    Int(i64),
    /// Money or a quantity.
    Decimal(Decimal),
    /// Yes or no.
    Bool(bool),
    /// A moment.
    Time(Time),
    /// A length of time.
    Duration(std::time::Duration),
    Customer(&'a Customer),
    Address(&'a Address),
    Payment(&'a Payment),
    Lines(&'a [Line]),
    Shipments(&'a [Shipment]),
    /// A shipment's lines: (line number, units).
    ShipmentLines(&'a [(u32, Decimal)]),
    /// The fulfillment actions.
    Actions(&'a [FulfillmentAction]),
    Flags(&'a BTreeSet<String>),
    Attributes(&'a BTreeMap<String, serde_json::Value>),
}

fn opt_text(s: Option<&str>) -> Read<'_> {
    s.map_or(Read::Null, Read::Text)
}

fn since(now: Time, then: Time) -> Read<'static> {
    Read::Duration((now - then).to_std().unwrap_or_default())
}

impl Order {
    /// Reads field `f`; `now` is for `age` and `time_in_status`.
    pub(crate) fn read(&self, f: OrderField, now: Time) -> Read<'_> {
        match f {
            OrderField::Id => Read::Int(self.id),
            OrderField::Number => Read::Text(&self.number),
            OrderField::Workflow => Read::Text(&self.workflow),
            OrderField::WorkflowVersion => Read::Int(self.workflow_version),
            OrderField::Status => Read::Text(&self.status),
            OrderField::Phase => opt_text(self.phase.as_deref()),
            OrderField::Channel => Read::Text(&self.channel),
            OrderField::Mode => opt_text(self.mode.as_deref()),
            OrderField::ExternalId => opt_text(self.external_id.as_deref()),
            OrderField::CreatedAt => Read::Time(self.created_at),
            OrderField::StatusSince => Read::Time(self.status_since),
            OrderField::TimeInStatus => since(now, self.status_since),
            OrderField::Age => since(now, self.created_at),
            OrderField::Customer => Read::Customer(&self.customer),
            OrderField::Shipping => Read::Address(&self.shipping),
            OrderField::Billing => Read::Address(&self.billing),
            OrderField::Payment => self.payment.as_ref().map_or(Read::Null, Read::Payment),
            OrderField::AmountPaid => Read::Decimal(self.amount_paid),
            OrderField::BalanceDue => Read::Decimal(self.balance_due()),
            OrderField::Total => Read::Decimal(self.total()),
            OrderField::Subtotal => Read::Decimal(self.subtotal()),
            OrderField::ShippingAmount => Read::Decimal(self.shipping_amount),
            OrderField::Lines => Read::Lines(&self.lines),
            OrderField::Flags => Read::Flags(&self.flags),
            OrderField::Attributes => Read::Attributes(&self.attributes),
            OrderField::Queue => opt_text(self.queue.as_deref()),
            OrderField::Assignee => opt_text(self.assignee.as_deref()),
            OrderField::Invoiced => Read::Bool(self.invoiced),
            OrderField::AllInStock => Read::Bool(self.all_in_stock()),
            OrderField::AllPicked => Read::Bool(self.all_picked()),
            OrderField::AllShipped => Read::Bool(self.all_shipped()),
            OrderField::AnyShipped => Read::Bool(self.any_shipped()),
            OrderField::IsRelated => Read::Bool(self.related_order.is_some()),
            OrderField::RelatedOrder => self.related_order.map_or(Read::Null, Read::Int),
            OrderField::Shipments => Read::Shipments(&self.shipments),
            OrderField::FulfillmentActions => Read::Actions(&self.fulfillment_actions),
        }
    }
}

impl Customer {
    /// Reads field `f`.
    pub(crate) fn read(&self, f: CustomerField) -> Read<'_> {
        match f {
            CustomerField::Id => self.id.map_or(Read::Null, Read::Int),
            CustomerField::Email => Read::Text(&self.email),
            CustomerField::FirstName => Read::Text(&self.first_name),
            CustomerField::LastName => Read::Text(&self.last_name),
            CustomerField::Company => Read::Text(&self.company),
            CustomerField::Phone => Read::Text(&self.phone),
            CustomerField::IsGuest => Read::Bool(self.is_guest),
            CustomerField::IsNew => Read::Bool(self.is_new),
        }
    }
}

impl Address {
    /// Reads field `f`.
    pub(crate) fn read(&self, f: AddressField) -> Read<'_> {
        Read::Text(match f {
            AddressField::FirstName => &self.first_name,
            AddressField::LastName => &self.last_name,
            AddressField::Company => &self.company,
            AddressField::Address => &self.address,
            AddressField::Address2 => &self.address2,
            AddressField::City => &self.city,
            AddressField::State => &self.state,
            AddressField::Zip => &self.zip,
            AddressField::Country => &self.country,
            AddressField::Phone => &self.phone,
            AddressField::Email => &self.email,
        })
    }
}

impl Payment {
    /// Reads field `f`.
    pub(crate) fn read(&self, f: PaymentField) -> Read<'_> {
        match f {
            PaymentField::Method => Read::Text(&self.method),
            PaymentField::Outcome => Read::Text(self.outcome.code()),
            PaymentField::Amount => Read::Decimal(self.amount),
            PaymentField::Reference => Read::Text(&self.reference),
        }
    }
}

impl Line {
    /// Reads field `f`.
    pub(crate) fn read(&self, f: LineField) -> Read<'_> {
        match f {
            LineField::N => Read::Int(self.n.into()),
            LineField::Sku => Read::Text(&self.sku),
            LineField::Description => Read::Text(&self.description),
            LineField::Vendor => Read::Text(&self.vendor),
            LineField::Qty => Read::Decimal(self.qty),
            LineField::UnitPrice => Read::Decimal(self.unit_price),
            LineField::Total => Read::Decimal(self.total()),
            LineField::Fulfillment => Read::Text(self.fulfillment.code()),
            LineField::InStock => Read::Bool(self.in_stock()),
            LineField::InStockQty => Read::Decimal(self.in_stock_qty),
            LineField::PickedQty => Read::Decimal(self.picked_qty),
            LineField::ShippedQty => Read::Decimal(self.shipped_qty),
            LineField::InvoicedQty => Read::Decimal(self.invoiced_qty),
            LineField::IsPicked => Read::Bool(self.is_picked()),
            LineField::IsShipped => Read::Bool(self.is_shipped()),
        }
    }
}

impl Shipment {
    /// Reads field `f`.
    pub(crate) fn read(&self, f: ShipmentField) -> Read<'_> {
        match f {
            ShipmentField::Carrier => Read::Text(&self.carrier),
            ShipmentField::TrackingNumber => Read::Text(&self.tracking_number),
            ShipmentField::Amount => Read::Decimal(self.amount),
            ShipmentField::Lines => Read::ShipmentLines(&self.lines),
            ShipmentField::At => Read::Time(self.at),
        }
    }
}

/// Reads field `f` of one of a shipment's lines (line number, units).
pub(crate) fn read_shipment_line(line: &(u32, Decimal), f: ShipmentLineField) -> Read<'static> {
    match f {
        ShipmentLineField::N => Read::Int(line.0.into()),
        ShipmentLineField::Qty => Read::Decimal(line.1),
    }
}

impl FulfillmentAction {
    /// Reads field `f`.
    pub(crate) fn read(&self, f: ActionField) -> Read<'_> {
        match f {
            ActionField::N => Read::Int(self.n.into()),
            ActionField::Name => Read::Text(&self.name),
            ActionField::Complete => Read::Bool(self.complete),
            ActionField::Notify => Read::Text(&self.notify),
            ActionField::Note => Read::Text(&self.note),
            ActionField::Contact => Read::Text(&self.contact),
            ActionField::Visible => Read::Bool(self.visible),
            ActionField::At => Read::Time(self.at),
            ActionField::UpdatedAt => Read::Time(self.updated_at),
        }
    }
}

/// A catalogued value as JSON, the shape payloads and email templates see (the same as hooks'
/// `order`): money and quantities exact text, times RFC 3339, durations `15m`, records objects
/// with every catalogued field.
pub(crate) fn read_to_json(r: Read<'_>) -> serde_json::Value {
    use serde_json::{json, Map, Value as J};
    fn object<F: Copy>(
        all: &[F],
        read: impl Fn(F) -> (&'static str, serde_json::Value),
    ) -> serde_json::Value {
        J::Object(all.iter().map(|f| read(*f)).map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())
    }
    match r {
        Read::Null => J::Null,
        Read::Text(t) => json!(t),
        Read::Int(i) => json!(i),
        Read::Decimal(d) => json!(d.to_string()),
        Read::Bool(b) => json!(b),
        Read::Time(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        Read::Duration(d) => json!(crate::check::format_duration(d)),
        Read::Customer(c) => object(CustomerField::ALL, |f| (f.name(), read_to_json(c.read(f)))),
        Read::Address(a) => object(AddressField::ALL, |f| (f.name(), read_to_json(a.read(f)))),
        Read::Payment(p) => object(PaymentField::ALL, |f| (f.name(), read_to_json(p.read(f)))),
        Read::Lines(lines) => J::Array(
            lines.iter().map(|l| object(LineField::ALL, |f| (f.name(), read_to_json(l.read(f))))).collect(),
        ),
        Read::Shipments(s) => J::Array(
            s.iter().map(|s| object(ShipmentField::ALL, |f| (f.name(), read_to_json(s.read(f))))).collect(),
        ),
        Read::ShipmentLines(lines) => J::Array(
            lines
                .iter()
                .map(|l| {
                    object(ShipmentLineField::ALL, |f| (f.name(), read_to_json(read_shipment_line(l, f))))
                })
                .collect(),
        ),
        Read::Actions(a) => J::Array(
            a.iter().map(|a| object(ActionField::ALL, |f| (f.name(), read_to_json(a.read(f))))).collect(),
        ),
        Read::Flags(flags) => J::Array(flags.iter().map(|f| json!(f)).collect()),
        Read::Attributes(a) => J::Object(a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
    }
}

impl Order {
    /// The order as JSON with every catalogued field: what payloads, email templates and
    /// hooks' `order` hold.
    pub(crate) fn to_catalogue_json(&self, now: Time) -> serde_json::Value {
        serde_json::Value::Object(
            OrderField::ALL
                .iter()
                .map(|f| (f.name().to_string(), read_to_json(self.read(*f, now))))
                .collect(),
        )
    }
}

/// A fully filled order, for tests across the crate.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn t(h: u32) -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).single().expect("valid")
    }

    fn address(city: &str) -> Address {
        Address {
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            company: "Lee Music".into(),
            address: "12 Elm St".into(),
            address2: "Suite 4".into(),
            city: city.into(),
            state: "NY".into(),
            zip: "12207".into(),
            country: "US".into(),
            phone: "555-0100".into(),
            email: "ann@example.com".into(),
        }
    }

    /// An order with every field set.
    pub(crate) fn filled() -> Order {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        Order {
            id: 42,
            number: "ORD000042".into(),
            workflow: "retail".into(),
            workflow_version: 3,
            channel: "website".into(),
            mode: Some("delivery".into()),
            external_id: Some("web-991".into()),
            status: "in_shipping".into(),
            phase: Some("fulfillment".into()),
            status_since: t(10),
            created_at: t(9),
            customer: Arc::new(Customer {
                id: Some(7),
                email: "ann@example.com".into(),
                first_name: "Ann".into(),
                last_name: "Lee".into(),
                company: "Lee Music".into(),
                phone: "555-0100".into(),
                is_guest: true,
                is_new: true,
            }),
            shipping: Arc::new(address("Albany")),
            billing: Arc::new(address("Troy")),
            payment: Some(Payment {
                method: "credit_card".into(),
                outcome: PaymentOutcome::Approved,
                amount: d("100.00"),
                reference: "auth-1".into(),
            }),
            amount_paid: d("100.00"),
            shipping_amount: d("9.50"),
            lines: vec![Line {
                n: 1,
                sku: "GTR-1".into(),
                description: "Guitar".into(),
                vendor: "Acme".into(),
                qty: d("2"),
                unit_price: d("50.00"),
                fulfillment: Fulfillment::Dropship,
                in_stock_qty: d("2"),
                picked_qty: d("2"),
                shipped_qty: d("1"),
                invoiced_qty: d("1"),
            }],
            flags: ["vip".to_string()].into_iter().collect(),
            attributes: [("gift_note".to_string(), serde_json::json!("Happy birthday"))]
                .into_iter()
                .collect(),
            queue: Some("csr".into()),
            assignee: Some("maria".into()),
            invoiced: true,
            related_order: Some(41),
            shipments: vec![Shipment {
                carrier: "UPS".into(),
                tracking_number: "1Z999".into(),
                amount: d("9.50"),
                lines: vec![(1, d("1"))],
                at: t(11),
            }],
            fulfillment_actions: vec![FulfillmentAction {
                n: 1,
                name: "Shipped".into(),
                complete: true,
                notify: "Warehouse".into(),
                note: "boxed".into(),
                contact: "ann@example.com".into(),
                visible: true,
                at: t(11),
                updated_at: t(12),
            }],
            lock: Some(Lock { holder: "maria".into(), expires_at: t(13) }),
            version: 5,
        }
    }
}
