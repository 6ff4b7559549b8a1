//! The field catalogue: every field an order exposes, once, with its name and shape.
//!
//! Guards (`order.total`, `payment.method`, `customer.email`, `shipping.zip`, `line.qty`),
//! channel requirements, hooks (`order.customer.is_new`, `line.sku`), email templates and
//! webhook payloads all read the fields listed here and no others. The checker resolves a path
//! to a typed reference ([`guard_field`]); the readers in the engine's `order.rs` match each table's enum
//! exhaustively; the hook view, the payloads and the hook checker derive their field lists
//! from the tables. Attributes, flags and event data are declared by each workflow instead.

use crate::model::{Codes, FieldRef, Type};

/// The roots a field path can start with, in the order they are suggested.
pub(crate) const ROOTS: &[&str] =
    &["order", "payment", "customer", "shipping", "billing", "attributes", "flags", "event", "line"];

/// What a catalogued field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A value guards compare (and hooks and payloads read).
    Value(Type),
    /// A whole number (an id, a line's number): hooks and payloads only.
    Int,
    /// A record of another table: `order.customer`, `order.shipping`.
    Record(Table),
    /// A list of records: `order.lines`, `order.shipments`.
    List(Table),
    /// The order's flags: a list of names.
    Flags,
    /// The order's attributes: a map of name to value.
    Attributes,
}

impl Shape {
    /// The type guards see, when guards can read the field.
    pub fn guard_type(self) -> Option<Type> {
        match self {
            Shape::Value(t) => Some(t),
            _ => None,
        }
    }
}

/// The catalogue's tables: one per kind of record an order holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `order`.
    Order,
    /// `order.customer` (`customer` in guards).
    Customer,
    /// `order.shipping`, `order.billing` (`shipping`, `billing` in guards).
    Address,
    /// `order.payment` (`payment` in guards).
    Payment,
    /// One of `order.lines` (`line` in guards, inside an aggregate).
    Line,
    /// One of `order.shipments`.
    Shipment,
    /// One of a shipment's `lines`.
    ShipmentLine,
    /// One of `order.fulfillment_actions`.
    Action,
}

impl Table {
    /// The names of the table's fields, in catalogue order.
    pub fn names(self) -> Vec<&'static str> {
        match self {
            Table::Order => OrderField::ALL.iter().map(|f| f.name()).collect(),
            Table::Customer => CustomerField::ALL.iter().map(|f| f.name()).collect(),
            Table::Address => AddressField::ALL.iter().map(|f| f.name()).collect(),
            Table::Payment => PaymentField::ALL.iter().map(|f| f.name()).collect(),
            Table::Line => LineField::ALL.iter().map(|f| f.name()).collect(),
            Table::Shipment => ShipmentField::ALL.iter().map(|f| f.name()).collect(),
            Table::ShipmentLine => ShipmentLineField::ALL.iter().map(|f| f.name()).collect(),
            Table::Action => ActionField::ALL.iter().map(|f| f.name()).collect(),
        }
    }

    /// The shape of field `name`, when the table has it.
    pub fn shape(self, name: &str) -> Option<Shape> {
        match self {
            Table::Order => OrderField::from_name(name).map(OrderField::shape),
            Table::Customer => CustomerField::from_name(name).map(CustomerField::shape),
            Table::Address => AddressField::from_name(name).map(AddressField::shape),
            Table::Payment => PaymentField::from_name(name).map(PaymentField::shape),
            Table::Line => LineField::from_name(name).map(LineField::shape),
            Table::Shipment => ShipmentField::from_name(name).map(ShipmentField::shape),
            Table::ShipmentLine => ShipmentLineField::from_name(name).map(ShipmentLineField::shape),
            Table::Action => ActionField::from_name(name).map(ActionField::shape),
        }
    }

    /// What a script calls a value of this table, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Table::Order => "an order",
            Table::Customer => "a customer",
            Table::Address => "an address",
            Table::Payment => "a payment",
            Table::Line => "an order line",
            Table::Shipment => "a shipment",
            Table::ShipmentLine => "a shipment's line",
            Table::Action => "a fulfillment action",
        }
    }
}

/// Declares one table of the catalogue: an enum of its fields with each one's name and shape.
/// The readers (`Order::read` and friends in `order.rs`) match on these enums exhaustively, so
/// a field added here and forgotten there does not compile.
macro_rules! table {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $text:literal : $shape:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[doc = $doc])* $variant,)*
        }

        impl $name {
            /// Every field, in catalogue order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The field's name, as guards, hooks, templates and payloads spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// What the field holds.
            pub fn shape(self) -> Shape {
                match self {
                    $($name::$variant => $shape,)*
                }
            }

            /// The field called `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

use Shape::{Attributes, Flags, Int, List, Record, Value};

table! {
    /// The fields of `order`.
    OrderField {
        /// The order's id in the store.
        Id = "id": Int,
        /// The order's number (the channel's, or `ORD000042`).
        Number = "number": Value(Type::Text),
        /// The workflow it runs under.
        Workflow = "workflow": Value(Type::Text),
        /// The version of that workflow.
        WorkflowVersion = "workflow_version": Int,
        /// Its status.
        Status = "status": Value(Type::Code(Codes::Statuses)),
        /// The phase of its status.
        Phase = "phase": Value(Type::Code(Codes::Phases)),
        /// The channel it came from.
        Channel = "channel": Value(Type::Code(Codes::Channels)),
        /// The channel's mode (POS carry, delivery, ...).
        Mode = "mode": Value(Type::Code(Codes::Modes)),
        /// The channel's own id for it.
        ExternalId = "external_id": Value(Type::Text),
        /// When it was created.
        CreatedAt = "created_at": Value(Type::Time),
        /// When it entered its status.
        StatusSince = "status_since": Value(Type::Time),
        /// How long it has been in its status.
        TimeInStatus = "time_in_status": Value(Type::Duration),
        /// How long since it was created.
        Age = "age": Value(Type::Duration),
        /// The customer.
        Customer = "customer": Record(Table::Customer),
        /// The shipping address.
        Shipping = "shipping": Record(Table::Address),
        /// The billing address.
        Billing = "billing": Record(Table::Address),
        /// How it was paid.
        Payment = "payment": Record(Table::Payment),
        /// What has been paid.
        AmountPaid = "amount_paid": Value(Type::Money),
        /// What is left to pay.
        BalanceDue = "balance_due": Value(Type::Money),
        /// Subtotal plus shipping.
        Total = "total": Value(Type::Money),
        /// The lines' totals.
        Subtotal = "subtotal": Value(Type::Money),
        /// Shipping charged.
        ShippingAmount = "shipping_amount": Value(Type::Money),
        /// The lines.
        Lines = "lines": List(Table::Line),
        /// The flags set.
        Flags = "flags": Flags,
        /// The attributes.
        Attributes = "attributes": Attributes,
        /// The staff queue it is in.
        Queue = "queue": Value(Type::Text),
        /// The person it is assigned to.
        Assignee = "assignee": Value(Type::Text),
        /// Whether every line is invoiced.
        Invoiced = "invoiced": Value(Type::Bool),
        /// Whether every line is in stock.
        AllInStock = "all_in_stock": Value(Type::Bool),
        /// Whether every line is picked.
        AllPicked = "all_picked": Value(Type::Bool),
        /// Whether every line is shipped.
        AllShipped = "all_shipped": Value(Type::Bool),
        /// Whether some line has shipped.
        AnyShipped = "any_shipped": Value(Type::Bool),
        /// Whether it is linked to another order.
        IsRelated = "is_related": Value(Type::Bool),
        /// The id of the order it is linked to.
        RelatedOrder = "related_order": Int,
        /// Its shipments.
        Shipments = "shipments": List(Table::Shipment),
        /// Its fulfillment actions.
        FulfillmentActions = "fulfillment_actions": List(Table::Action),
    }
}

table! {
    /// The fields of `customer` (`order.customer` in hooks).
    CustomerField {
        /// The customer's id in the store.
        Id = "id": Int,
        /// Email.
        Email = "email": Value(Type::Text),
        /// First name.
        FirstName = "first_name": Value(Type::Text),
        /// Last name.
        LastName = "last_name": Value(Type::Text),
        /// Company.
        Company = "company": Value(Type::Text),
        /// Phone.
        Phone = "phone": Value(Type::Text),
        /// Checked out as a guest.
        IsGuest = "is_guest": Value(Type::Bool),
        /// Created with this order.
        IsNew = "is_new": Value(Type::Bool),
    }
}

table! {
    /// The fields of `shipping` and `billing` (`order.shipping`, `order.billing` in hooks).
    AddressField {
        /// First name.
        FirstName = "first_name": Value(Type::Text),
        /// Last name.
        LastName = "last_name": Value(Type::Text),
        /// Company.
        Company = "company": Value(Type::Text),
        /// Street address.
        Address = "address": Value(Type::Text),
        /// Second address line.
        Address2 = "address2": Value(Type::Text),
        /// City.
        City = "city": Value(Type::Text),
        /// State or region.
        State = "state": Value(Type::Text),
        /// Postal code.
        Zip = "zip": Value(Type::Text),
        /// Country.
        Country = "country": Value(Type::Text),
        /// Phone.
        Phone = "phone": Value(Type::Text),
        /// Email.
        Email = "email": Value(Type::Text),
    }
}

table! {
    /// The fields of `payment` (`order.payment` in hooks).
    PaymentField {
        /// The payment method.
        Method = "method": Value(Type::Code(Codes::Methods)),
        /// The outcome (approved, pending, declined, invalid).
        Outcome = "outcome": Value(Type::Code(Codes::Outcomes)),
        /// The amount.
        Amount = "amount": Value(Type::Money),
        /// The processor's or the customer's reference (a PO number).
        Reference = "reference": Value(Type::Text),
    }
}

table! {
    /// The fields of `line` (inside an aggregate over lines; each of `order.lines` in hooks).
    LineField {
        /// The line's number on the order.
        N = "n": Int,
        /// SKU.
        Sku = "sku": Value(Type::Text),
        /// Description.
        Description = "description": Value(Type::Text),
        /// Vendor.
        Vendor = "vendor": Value(Type::Text),
        /// Quantity.
        Qty = "qty": Value(Type::Number),
        /// Price per unit.
        UnitPrice = "unit_price": Value(Type::Money),
        /// Quantity times price.
        Total = "total": Value(Type::Money),
        /// How it is sourced: stock, dropship or jit.
        Fulfillment = "fulfillment": Value(Type::Code(Codes::Fulfillment)),
        /// Whether all of it is in stock.
        InStock = "in_stock": Value(Type::Bool),
        /// Units in stock.
        InStockQty = "in_stock_qty": Value(Type::Number),
        /// Units picked.
        PickedQty = "picked_qty": Value(Type::Number),
        /// Units shipped.
        ShippedQty = "shipped_qty": Value(Type::Number),
        /// Units invoiced.
        InvoicedQty = "invoiced_qty": Value(Type::Number),
        /// Whether all of it is picked.
        IsPicked = "is_picked": Value(Type::Bool),
        /// Whether all of it is shipped.
        IsShipped = "is_shipped": Value(Type::Bool),
    }
}

table! {
    /// The fields of each of `order.shipments` (hooks and payloads).
    ShipmentField {
        /// The carrier.
        Carrier = "carrier": Value(Type::Text),
        /// The tracking number.
        TrackingNumber = "tracking_number": Value(Type::Text),
        /// Shipping charged for it.
        Amount = "amount": Value(Type::Money),
        /// The units of each line it carried.
        Lines = "lines": List(Table::ShipmentLine),
        /// When it left.
        At = "at": Value(Type::Time),
    }
}

table! {
    /// The fields of each of a shipment's `lines`.
    ShipmentLineField {
        /// The order line's number.
        N = "n": Int,
        /// Units shipped.
        Qty = "qty": Value(Type::Number),
    }
}

table! {
    /// The fields of each of `order.fulfillment_actions` (hooks and payloads).
    ActionField {
        /// Its number on the order.
        N = "n": Int,
        /// The action's name.
        Name = "name": Value(Type::Text),
        /// Complete (or partial).
        Complete = "complete": Value(Type::Bool),
        /// The person notified.
        Notify = "notify": Value(Type::Text),
        /// A note.
        Note = "note": Value(Type::Text),
        /// Email or phone of the person contacted.
        Contact = "contact": Value(Type::Text),
        /// Whether the customer sees it.
        Visible = "visible": Value(Type::Bool),
        /// When it was recorded.
        At = "at": Value(Type::Time),
        /// When it last changed.
        UpdatedAt = "updated_at": Value(Type::Time),
    }
}

/// The table a guard root reads (`order`, `payment`, `customer`, `shipping`, `billing`, `line`).
pub(crate) fn table_of(root: &str) -> Option<Table> {
    Some(match root {
        "order" => Table::Order,
        "payment" => Table::Payment,
        "customer" => Table::Customer,
        "shipping" | "billing" => Table::Address,
        "line" => Table::Line,
        _ => return None,
    })
}

/// The fields guards can read under a root, in catalogue order.
pub(crate) fn guard_fields(root: &str) -> Vec<&'static str> {
    let Some(table) = table_of(root) else { return Vec::new() };
    table.names().into_iter().filter(|n| table.shape(n).and_then(Shape::guard_type).is_some()).collect()
}

/// Resolves `root.name` in a guard (or a channel requirement) to its typed reference, when
/// guards can read it.
pub fn guard_field(root: &str, name: &str) -> Option<(FieldRef, Type)> {
    fn typed<F: Copy>(f: Option<F>, shape: impl Fn(F) -> Shape) -> Option<(F, Type)> {
        let f = f?;
        shape(f).guard_type().map(|t| (f, t))
    }
    Some(match root {
        "order" => {
            typed(OrderField::from_name(name), OrderField::shape).map(|(f, t)| (FieldRef::Order(f), t))?
        }
        "payment" => typed(PaymentField::from_name(name), PaymentField::shape)
            .map(|(f, t)| (FieldRef::Payment(f), t))?,
        "customer" => typed(CustomerField::from_name(name), CustomerField::shape)
            .map(|(f, t)| (FieldRef::Customer(f), t))?,
        "shipping" => typed(AddressField::from_name(name), AddressField::shape)
            .map(|(f, t)| (FieldRef::Shipping(f), t))?,
        "billing" => typed(AddressField::from_name(name), AddressField::shape)
            .map(|(f, t)| (FieldRef::Billing(f), t))?,
        "line" => typed(LineField::from_name(name), LineField::shape).map(|(f, t)| (FieldRef::Line(f), t))?,
        _ => return None,
    })
}

/// Fields every event carries, whatever its declaration.
pub(crate) const EVENT_BUILTIN: &[(&str, Type)] = &[("time", Type::Time)];

/// Line fulfillment methods.
pub(crate) const FULFILLMENT_METHODS: &[&str] = &["stock", "dropship", "jit"];

/// Payment methods the shipped workflows and clients use; a workflow may accept others.
pub(crate) const PAYMENT_METHODS: &[&str] = &[
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

/// Looks a field up in a name-and-type table (the built-in event fields).
pub(crate) fn lookup(table: &[(&'static str, Type)], name: &str) -> Option<Type> {
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
