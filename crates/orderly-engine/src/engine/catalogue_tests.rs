//! The field catalogue read three ways on a fully filled order: every field guards can read
//! is non-empty to a guard, every field is non-`()` to a hook, and every field is in a
//! payload (and non-null). A field added to the catalogue and forgotten by a reader fails here.

use super::eval::order_field;
use super::{EventInput, Hooks};
use crate::hooks::{HookEngine, HookLimits};
use crate::model::{FieldRef, Type};
use crate::schema::{self, AddressField, CustomerField, LineField, OrderField, PaymentField, Shape, Table};

use crate::order::test_support::{filled, t};

#[test]
fn every_field_a_guard_can_read_is_set_on_a_filled_order() {
    let o = filled();
    let now = t(14);
    let refs: Vec<FieldRef> = OrderField::ALL
        .iter()
        .map(|f| FieldRef::Order(*f))
        .chain(CustomerField::ALL.iter().map(|f| FieldRef::Customer(*f)))
        .chain(AddressField::ALL.iter().map(|f| FieldRef::Shipping(*f)))
        .chain(AddressField::ALL.iter().map(|f| FieldRef::Billing(*f)))
        .chain(PaymentField::ALL.iter().map(|f| FieldRef::Payment(*f)))
        .collect();
    let mut checked = 0;
    for r in refs {
        let path = r.path();
        let (root, name) = path.split_once('.').expect("a path");
        let Some((resolved, ty)) = schema::guard_field(root, name) else { continue };
        assert_eq!(resolved, r, "{path} resolves to itself");
        assert_ne!(order_field(&o, &r, ty, now), super::Value::Null, "a guard reads {path} as empty");
        checked += 1;
    }
    for f in LineField::ALL {
        if let Some(ty) = f.shape().guard_type() {
            let v = super::eval::evaluate_line_field(&o.lines[0], *f, ty);
            assert_ne!(v, super::Value::Null, "a guard reads line.{} as empty", f.name());
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} fields are readable by guards");
    // Records and lists are not guard values: the checker never offers them.
    assert!(schema::guard_field("order", "customer").is_none());
    assert!(schema::guard_field("order", "lines").is_none());
    assert_eq!(schema::guard_field("order", "total").map(|(_, t)| t), Some(Type::Money));
}

/// Every path a hook can read from `order`, down through records and the first item of lists.
fn hook_paths(table: Table, prefix: &str, out: &mut Vec<String>) {
    for name in table.names() {
        let path = format!("{prefix}.{name}");
        match table.shape(name) {
            Some(Shape::Record(t)) => hook_paths(t, &path, out),
            Some(Shape::List(t)) => hook_paths(t, &format!("{path}[0]"), out),
            _ => {}
        }
        out.push(path);
    }
}

#[test]
fn every_field_a_hook_can_read_is_set_on_a_filled_order() {
    let mut paths = Vec::new();
    hook_paths(Table::Order, "order", &mut paths);
    assert!(paths.len() > 90, "{paths:?}");
    let script: String = paths
        .iter()
        .map(|p| format!("if {p} == () {{ throw \"{p} is ()\"; }}\n"))
        .chain(std::iter::once("true\n".to_string()))
        .collect();
    let limits = HookLimits { max_operations: 1_000_000, ..HookLimits::default() };
    let hooks =
        HookEngine::from_sources([("all.rhai", script)], limits).expect("every path compiles and checks");
    let event = EventInput { name: "shipment".into(), data: Default::default(), actor: None };
    assert_eq!(hooks.guard("all.rhai", &filled(), Some(&event), t(14)), Ok(true));
    // A property the catalogue lacks is an error naming it, never a silent `()`.
    let typo = HookEngine::from_sources([("typo.rhai", "let k = \"totl\"; order[k] == ()")], limits)
        .expect("compiles: the name is only known when it runs");
    let err = typo.guard("typo.rhai", &filled(), None, t(14)).expect_err("no such property");
    assert!(err.contains("order has no property `totl`; did you mean `total`?"), "{err}");
}

#[test]
fn a_payload_holds_every_field_of_the_order() {
    fn no_null(v: &serde_json::Value, at: &str) {
        match v {
            serde_json::Value::Null => panic!("{at} is null in the payload"),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| no_null(v, &format!("{at}.{k}"))),
            serde_json::Value::Array(a) => {
                assert!(!a.is_empty(), "{at} is empty");
                a.iter().enumerate().for_each(|(i, v)| no_null(v, &format!("{at}[{i}]")));
            }
            _ => {}
        }
    }
    let json = filled().to_catalogue_json(t(14));
    let mut paths = Vec::new();
    hook_paths(Table::Order, "order", &mut paths);
    for p in &paths {
        let mut at = &json;
        for part in p.trim_start_matches("order.").split('.') {
            let (key, index) = match part.strip_suffix("[0]") {
                Some(k) => (k, true),
                None => (part, false),
            };
            at = &at[key];
            if index {
                at = &at[0];
            }
        }
        assert!(!at.is_null(), "{p} is missing from the payload");
    }
    no_null(&json, "order");
}
