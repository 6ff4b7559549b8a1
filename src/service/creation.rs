//! Creating an order. A creation goes to the writer like a change ([`writer::Creation`]): in
//! the writer's batch, under a savepoint of its own, the channel's external id is looked up,
//! the customer matched (or made), an id set aside, the order decided (with a
//! [`writer::Probe`]: no hook runs in the writer) and written with its input record; the
//! batch's one commit carries it. A creation whose decision asks for a hook is sent back, and
//! made here instead in a transaction of its own: decided with the hooks outside it, off the
//! async workers, then written if the customer it was decided for is still the one it links.

use super::writer::{self, Probe};
use super::{
    as_round, commit, duplicate_number, numbered, off_async_workers, Created, Round, Service, ServiceError,
    RETRIES,
};
use crate::engine::{self, Decision, Hooks, NewOrder, Rejection, RejectionCode};
use crate::order::{Order, OrderId, Time};
use crate::registry::Active;
use crate::store::{CustomerMatch, MatchedCustomer, StoreError, Tx};
use orderly_engine::replay::{Input, Outcome};
use std::sync::Arc;

impl Service {
    pub(super) async fn create_order_unnoted(&self, input: &NewOrder) -> Result<Created, ServiceError> {
        let input = Arc::new(input.clone());
        let wanted = Arc::new(CustomerMatch::of(&input));
        let mut duplicate_seen = false;
        retrying!(input.external_id.clone().unwrap_or_default(), async {
            let gate = self.gate.clone().read_owned().await;
            let current = self.current();
            let active = self.workflow_for(&current.registry, &input)?;
            let creation = writer::Creation {
                input: input.clone(),
                wanted: wanted.clone(),
                active,
                now: self.now(),
                duplicate_seen,
                _gate: gate,
            };
            match self.writer.submit(writer::Work::Create(Box::new(creation))).await {
                writer::Written::Created(created) => Ok(Round::Done(*created)),
                writer::Written::Again => Ok(Round::Again),
                writer::Written::Duplicate => {
                    duplicate_seen = true;
                    Ok(Round::Again)
                }
                writer::Written::NeedsHooks => self.create_with_hooks(&input, &wanted).await.map(Round::Done),
                writer::Written::Failed(e) => Err(e),
                writer::Written::Done(_) => Err(ServiceError::Store(StoreError::Corrupt(
                    "the writer answered a creation with a change".into(),
                ))),
            }
        })
    }

    /// A creation whose decision runs hooks: decided outside any transaction (the hooks off
    /// the async workers) for the customer a rolled-back transaction matched, then written in
    /// a transaction of its own if that customer is still the one the order links; decided
    /// again otherwise.
    async fn create_with_hooks(
        &self,
        input: &NewOrder,
        wanted: &CustomerMatch,
    ) -> Result<Created, ServiceError> {
        let _input = self.gate.read().await;
        let current = self.current();
        let active = self.workflow_for(&current.registry, input)?;
        let mut duplicate_seen = false;
        // The customer the last decision was made for, its id and the decision.
        let mut made: Option<(MatchedCustomer, OrderId, Decision)> = None;
        retrying!(input.external_id.clone().unwrap_or_default(), async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let matched = match before_deciding(&mut tx, input, wanted, now).await? {
                Before::Existing(order) => return Ok(Round::Done(existing(*order))),
                Before::Again => return Ok(Round::Again),
                Before::Customer(matched) => matched,
            };
            let possible_duplicate = matched.possible_duplicate;
            let (id, decision) = match made.take() {
                Some((was, id, mut decision)) if same_customer(&was, &matched) => {
                    decision.order.customer = Arc::new(matched.customer);
                    (id, decision)
                }
                _ => {
                    // Decide with the transaction rolled back (the customer it may have
                    // created is gone with it), then write in a new one.
                    drop(tx);
                    let id = self.store.reserve_order_id().await?;
                    let input = numbered(input, id);
                    let decided = off_async_workers(|| {
                        engine::create(
                            &active.workflow,
                            &input,
                            matched.customer.clone(),
                            matched.possible_duplicate,
                            now,
                            &*current.hooks,
                        )
                    })
                    .map_err(ServiceError::Rejected)?;
                    made = Some((matched, id, decided));
                    return Ok(Round::Again);
                }
            };
            let written =
                write_created(&mut tx, input, decision, id, &active, now, possible_duplicate).await?;
            let created = match written {
                Wrote::Created(created) => created,
                Wrote::Again => return Ok(Round::Again),
                Wrote::Duplicate(_) if !duplicate_seen => {
                    duplicate_seen = true;
                    return Ok(Round::Again);
                }
                Wrote::Duplicate(number) => return Err(ServiceError::Rejected(duplicate_number(&number))),
            };
            if !commit(tx).await? {
                return Ok(Round::Again);
            }
            Ok(Round::Done(*created))
        })
    }
}

/// What the writer made of a creation in its transaction.
pub(crate) enum Made {
    /// Written (not yet committed), or the order the external id names already.
    Created(Box<Created>),
    /// Try again from the start (another transaction made this email's first customer, or
    /// took this external id, meanwhile).
    Again,
    /// Deciding it asks for a hook: made outside the writer.
    NeedsHooks,
    /// Its number or its external id is another order's, the first time: if it is the
    /// external id (another request won the race), the next round finds that order.
    Duplicate,
}

/// A creation, in the writer's transaction (under a savepoint the writer rolls back unless the
/// answer is [`Made::Created`] with `created` true).
pub(crate) async fn make_in_batch(tx: &mut Tx, c: &writer::Creation) -> Result<Made, ServiceError> {
    let now = c.now;
    let matched = match before_deciding(tx, &c.input, &c.wanted, now).await? {
        Before::Existing(order) => return Ok(Made::Created(Box::new(existing(*order)))),
        Before::Again => return Ok(Made::Again),
        Before::Customer(matched) => matched,
    };
    let possible_duplicate = matched.possible_duplicate;
    // The id and number are set aside first, so that messages at creation see them.
    let id = tx.reserve_order_id().await?;
    let input = numbered(&c.input, id);
    let probe = Probe::default();
    let decided = engine::create(
        &c.active.workflow,
        &input,
        matched.customer,
        possible_duplicate,
        now,
        &probe as &dyn Hooks,
    );
    if probe.asked() {
        return Ok(Made::NeedsHooks);
    }
    let decision = decided.map_err(ServiceError::Rejected)?;
    Ok(match write_created(tx, &c.input, decision, id, &c.active, now, possible_duplicate).await? {
        Wrote::Created(created) => Made::Created(created),
        Wrote::Again => Made::Again,
        Wrote::Duplicate(_) if !c.duplicate_seen => Made::Duplicate,
        // Taken again, and no order has the external id: the clash is the number.
        Wrote::Duplicate(number) => return Err(ServiceError::Rejected(duplicate_number(&number))),
    })
}

/// What a creation's transaction finds before deciding.
enum Before {
    /// The channel's external id names this order already.
    Existing(Box<Order>),
    /// The customer the new order links (matched or made in the transaction).
    Customer(MatchedCustomer),
    /// Another transaction made this email's first customer meanwhile: the next round links it.
    Again,
}

async fn before_deciding(
    tx: &mut Tx,
    input: &NewOrder,
    wanted: &CustomerMatch,
    now: Time,
) -> Result<Before, ServiceError> {
    if let Some(ext) = input.external_id.as_deref().filter(|e| !e.is_empty()) {
        if let Some(order) = tx.order_by_external_id(&input.channel, ext).await? {
            return Ok(Before::Existing(Box::new(order)));
        }
    }
    Ok(match tx.match_customer(wanted, now).await {
        Err(StoreError::Conflict) => Before::Again,
        other => Before::Customer(other?),
    })
}

/// What writing a decided creation came to.
enum Wrote {
    Created(Box<Created>),
    /// A concurrent transaction conflicted: decide again.
    Again,
    /// The order has an external id and the insert clashed: with another order's external id
    /// (a race with another request: the next round finds its order) or number (this one).
    Duplicate(String),
}

/// Writes a decided creation (id `id`) and its input record, in `tx`; the answer is what was
/// written, nothing is read back.
async fn write_created(
    tx: &mut Tx,
    input: &NewOrder,
    mut decision: Decision,
    id: OrderId,
    active: &Active,
    now: Time,
    possible_duplicate: bool,
) -> Result<Wrote, ServiceError> {
    if !decision.related.is_empty() {
        return Err(ServiceError::Rejected(Rejection::new(
            RejectionCode::HookFailed,
            "a hook asked for a related order while this order was being created: related orders are \
             created from events, once the order exists",
        )));
    }
    decision.order.id = id;
    let id = match tx.insert_order(&decision, active.version, now).await {
        Err(StoreError::Conflict) => return Ok(Wrote::Again),
        Err(StoreError::Duplicate(_)) if input.external_id.as_deref().is_some_and(|e| !e.is_empty()) => {
            return Ok(Wrote::Duplicate(decision.order.number));
        }
        Err(StoreError::Duplicate(what)) => {
            // Said in our words (the database's text names its tables and stays in the log).
            tracing::debug!(constraint = %what, "a new order's number is taken");
            return Err(ServiceError::Rejected(duplicate_number(&decision.order.number)));
        }
        other => other?,
    };
    // The input as it came, and the customer it was linked to: what replay needs.
    let recorded = Input::Create {
        order: Box::new(input.clone()),
        number: decision.order.number.clone(),
        customer: (*decision.order.customer).clone(),
        possible_duplicate,
        related_to: None,
    };
    match tx.record_input(id, now, &recorded, &Outcome::of(&decision), active.version).await {
        Err(StoreError::Conflict) => return Ok(Wrote::Again),
        other => other?,
    }
    let history = tx.written_history(id);
    let mut order = decision.order;
    order.id = id;
    order.version = 1;
    order.workflow_version = active.version;
    Ok(Wrote::Created(Box::new(Created { order, created: true, steps: decision.steps, history })))
}

/// The answer for an order the channel's external id names already.
fn existing(order: Order) -> Created {
    Created { order, created: false, steps: Vec::new(), history: Vec::new() }
}

/// Whether a decision made for customer `was` holds for `now` (the customer the write links).
fn same_customer(was: &MatchedCustomer, now: &MatchedCustomer) -> bool {
    let (a, b) = (&was.customer, &now.customer);
    was.possible_duplicate == now.possible_duplicate
        && a.is_new == b.is_new
        && (a.is_new || a.id == b.id)
        && (&a.email, &a.first_name, &a.last_name, &a.company, &a.phone, a.is_guest)
            == (&b.email, &b.first_name, &b.last_name, &b.company, &b.phone, b.is_guest)
}
