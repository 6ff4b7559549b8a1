//! Linking an order to an existing customer (staff's Find Cust, or a merge of two customers):
//! the order's customer becomes that one, the built-in flag `possible_duplicate` is cleared
//! (the doubt is settled), and automatic transitions that waited on it run, like after any
//! other input. Refused while another holder has the order's lock.

use super::run::{as_of, locked, Run};
use super::{Decision, Hooks, Problem, Rejection, RejectionCode};
use crate::limits::{text_problem, MAX_NAME};
use crate::model::{Action, Workflow};
use crate::order::{Customer, Order, Time};
use serde_json::json;
use std::sync::Arc;

/// The built-in flag the engine sets when a new order's customer match is near but not exact.
pub const POSSIBLE_DUPLICATE: &str = "possible_duplicate";

/// Links `order` to `customer` (an existing one: its `id` is the store's) on behalf of `actor`.
/// The history gets a `customer_linked` row (`{"customer_id", "previous"}`: the customer the
/// order had before), and a `flag` row when `possible_duplicate` was set. Linking the customer
/// the order has already still clears the flag.
pub fn link_customer(
    w: &Workflow,
    order: &Order,
    customer: &Customer,
    now: Time,
    actor: Option<&str>,
    hooks: &dyn Hooks,
) -> Result<Decision, Rejection> {
    if let Some(problem) = actor.and_then(|a| text_problem(a, MAX_NAME)) {
        let mut r =
            Rejection::new(RejectionCode::InvalidData, "the actor's name is longer than the service keeps");
        r.problems.push(Problem { field: "actor".into(), problem });
        return Err(r);
    }
    locked(order, actor, now)?;
    let mut run = Run::new(w, hooks, order.clone(), now, actor.map(str::to_string));
    run.order.customer = Arc::new(Customer { is_new: false, ..customer.clone() });
    run.record("customer_linked", None, json!({"customer_id": customer.id, "previous": order.customer.id}));
    let linked =
        run.run_action(&Action::ClearFlag(POSSIBLE_DUPLICATE.into()), None).and_then(|()| run.settle());
    match linked {
        Ok(()) => Ok(run.into_decision()),
        Err(r) => Err(as_of(w, order, r)),
    }
}
