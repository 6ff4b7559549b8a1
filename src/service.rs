//! The unit of work: read the order, let the engine decide, write everything the decision says
//! in one transaction, commit, and retry on a conflicting concurrent update (re-evaluating on the
//! new state). What the command line, the HTTP service and the timer scheduler call. Hooks never
//! run while a write transaction is open, nor on an async worker; answers are built from what
//! was written, never read back after the commit.
//!
//! Every input runs on one snapshot of the workflows and the hooks, taken when it starts: a
//! reload swaps both together ([`Service::swap_registry`], [`PausedInputs::swap`]) and an input
//! already running finishes on the snapshot it took.
//!
//! Changes to existing orders and new orders are decided outside any write and written by the
//! writer (`writer`), many per transaction; new orders are made in `creation`. Customers by hand
//! (search, view, create, link to an order, merge) are in `customers`; a link is an input of its
//! order like the others.

use crate::engine::{
    self, AssignInput, Decision, EmailInput, EventInput, FulfillmentActionInput, Hooks, NewOrder, Rejection,
    RejectionCode, Step,
};
use crate::order::{Lock, Order, OrderId, Time};
use crate::registry::{Active, Registry};
use crate::store::{OrderKey, Store, StoreError, StoredHistory, StoredOutbox, Tx};
use orderly_engine::replay::{Input, Outcome};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, RwLock};

mod customers;
mod writer;

pub use writer::WriteStats;

pub use customers::{
    query_problem, Merged, NewCustomer, DEFAULT_SEARCH_LIMIT, MAX_CUSTOMER_ORDERS, MAX_QUERY,
    MAX_SEARCH_LIMIT,
};

/// Where the time comes from: the system clock, or a clock tests move by hand.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Time;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        chrono::Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Time>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Time) -> Self {
        ManualClock(Mutex::new(start))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Past the last representable time the clock stops there rather than panic.
        *t = t.checked_add_signed(by).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a request did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The engine refused it; nothing changed.
    #[error("{0}")]
    Rejected(Rejection),
    /// No order has this key.
    #[error("no order `{0}`")]
    NotFound(OrderKey),
    /// No customer has this id.
    #[error("no customer has id {0}")]
    CustomerNotFound(i64),
    /// The order names a workflow that is not active, or the input names none that fits.
    #[error("{0}")]
    Workflow(String),
    /// The store failed before anything was committed (a [`StoreError::Unavailable`] database
    /// is worth retrying later; nothing was applied).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The order kept changing under us.
    #[error("order `{0}` is too busy: it changed {1} times while this request was applied")]
    Busy(String, u32),
    /// The commit was sent and the database did not confirm it (the connection dropped, the
    /// disk filled): the change may or may not be stored. Retrying with the same idempotency
    /// key is safe: a stored change is answered as it was, a lost one is applied.
    #[error("the database did not confirm the commit ({0}): the change may or may not have been stored")]
    OutcomeUnknown(String),
}

/// The result of creating an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    /// The order as stored.
    pub order: Order,
    /// False when the channel's `external_id` was seen before and the first order came back.
    pub created: bool,
    /// Statuses it went through.
    pub steps: Vec<Step>,
    /// Its history as written (empty when `created` is false: then read it with the order).
    pub history: Vec<StoredHistory>,
}

/// The result of applying an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// The order as stored after the event.
    pub order: Order,
    /// Transitions taken.
    pub steps: Vec<Step>,
    /// The history rows this change wrote, as stored (for a fulfillment action, the order's
    /// whole history, read in the same transaction). Never read back after the commit.
    #[serde(default)]
    pub history: Vec<StoredHistory>,
    /// When it was applied (what a replay's view is computed at).
    #[serde(default)]
    pub at: Option<Time>,
    /// True when an earlier request with the same idempotency key answered this.
    #[serde(default)]
    pub replayed: bool,
    /// The request this answers (the event's name and data), kept with an idempotency key so
    /// that the same key with another request is refused instead of answered with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
}

/// An idempotency key and the request it stands for.
#[derive(Debug, Clone, Copy)]
struct Idempotency<'a> {
    key: &'a str,
    request: &'a serde_json::Value,
}

/// How many times an input is tried when other writers change its order meanwhile.
const RETRIES: u32 = 10;

/// What one try of an input came to.
enum Round<T> {
    /// It is done: committed, or answered without a write.
    Done(T),
    /// Another writer changed what it read: try again from the start, in a new transaction.
    Again,
}

/// The one retry loop of every write: runs `$round`, an async block answering [`Round`] (it may
/// use `?`), until it is done, at most [`RETRIES`] times; past that the order is
/// [`ServiceError::Busy`], named by `$key`. A macro rather than a function taking an async
/// closure: the server spawns these futures, which must be `Send`, and rustc cannot yet prove
/// that of an async closure's.
macro_rules! retrying {
    ($key:expr, $round:expr) => {{
        let mut done = None;
        for _ in 0..RETRIES {
            if let Round::Done(d) = as_round($round).await? {
                done = Some(d);
                break;
            }
        }
        match done {
            Some(d) => Ok(d),
            None => Err(ServiceError::Busy($key.to_string(), RETRIES)),
        }
    }};
}

// After `retrying!`, which it uses.
mod creation;

/// Gives a round's async block its type, so `?` in it converts to [`ServiceError`].
fn as_round<T>(
    round: impl std::future::Future<Output = Result<Round<T>, ServiceError>>,
) -> impl std::future::Future<Output = Result<Round<T>, ServiceError>> {
    round
}

/// The order as the store holds it once a decision about `before` is written.
fn stored(mut after: Order, before: &Order, active: &Active) -> Order {
    after.version = before.version + 1;
    after.workflow_version = active.version;
    after
}

/// What one input runs on: the workflows and the hooks, swapped as one.
struct Current {
    registry: Arc<Registry>,
    hooks: Arc<dyn Hooks + Send>,
}

/// Orders: created, moved by events and timers, locked, with fulfillment actions.
pub struct Service {
    store: Store,
    /// The snapshot new inputs take; replaced whole by a swap.
    current: RwLock<Arc<Current>>,
    clock: Arc<dyn Clock>,
    /// Hooks given to [`Service::new`], kept across swaps; `None` for [`Service::serving`],
    /// whose hooks are the registry's own.
    fixed_hooks: Option<Arc<dyn Hooks + Send>>,
    /// Every input holds it shared while it runs (a change until the writer has written it);
    /// [`Service::pause_inputs`] holds it alone.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Where changes to existing orders are written, many per transaction.
    writer: writer::Writer,
    /// How many hook calls run at once (one per core, at least two, so that one slow hook
    /// never holds up every other): the hooks of every snapshot take a slot for each call
    /// ([`Gated`]), so hooks queue among themselves, not ahead of inputs that run none.
    hook_gate: Arc<HookGate>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store)
            .field("workflows", &self.registry().versions())
            .field("fixed_hooks", &self.fixed_hooks.is_some())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over a store and a set of workflows, running `hooks` whatever the registry
    /// carries, also after a swap (tests, `orderly test`, embedding with hooks of one's own).
    pub fn new(
        store: Store,
        registry: Registry,
        clock: Arc<dyn Clock>,
        hooks: Arc<dyn Hooks + Send>,
    ) -> Self {
        Self::with(store, registry, clock, Some(hooks))
    }

    /// The running service: its hooks are the ones compiled with the registry
    /// ([`Registry::hooks`]), and a swap replaces workflows and hooks together.
    pub fn serving(store: Store, registry: Registry, clock: Arc<dyn Clock>) -> Self {
        Self::with(store, registry, clock, None)
    }

    fn with(
        store: Store,
        registry: Registry,
        clock: Arc<dyn Clock>,
        fixed_hooks: Option<Arc<dyn Hooks + Send>>,
    ) -> Self {
        let hook_gate = Arc::new(HookGate::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).max(2),
        ));
        let current = Self::snapshot(&fixed_hooks, &hook_gate, registry);
        Service {
            writer: writer::Writer::new(store.clone()),
            store,
            current: RwLock::new(Arc::new(current)),
            clock,
            fixed_hooks,
            gate: Arc::new(tokio::sync::RwLock::new(())),
            hook_gate,
        }
    }

    fn snapshot(
        fixed_hooks: &Option<Arc<dyn Hooks + Send>>,
        gate: &Arc<HookGate>,
        registry: Registry,
    ) -> Current {
        let inner = match fixed_hooks {
            Some(h) => h.clone(),
            None => registry.hooks() as Arc<dyn Hooks + Send>,
        };
        Current { registry: Arc::new(registry), hooks: Arc::new(Gated { inner, gate: gate.clone() }) }
    }

    /// The snapshot an input runs on from start to end.
    fn current(&self) -> Arc<Current> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the writer has done since the service started: batches, the changes they carried,
    /// the largest, and those split after a failed write.
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// The active workflows (a snapshot: a reload does not change it under the caller).
    pub fn registry(&self) -> Arc<Registry> {
        self.current().registry.clone()
    }

    /// The hooks inputs started now run with (swapped with the workflows on a reload): what the
    /// delivery worker builds webhook payloads with.
    pub(crate) fn hooks(&self) -> Arc<dyn Hooks + Send> {
        self.current().hooks.clone()
    }

    /// Makes a new set of workflows active, with its hooks (or the hooks given to
    /// [`Service::new`]), in one step: an input sees the old pair or the new pair, never a mix.
    /// Inputs running keep the pair they started with. Does not wait for them; a reload uses
    /// [`Service::pause_inputs`], which does.
    pub(crate) fn swap_registry(&self, registry: Registry) {
        let next = Arc::new(Self::snapshot(&self.fixed_hooks, &self.hook_gate, registry));
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = next;
    }

    /// Waits for the inputs running to finish (on the workflows they started with) and holds
    /// new ones back until the returned guard is swapped or dropped: what a reload does while
    /// it counts orders per status, moves renamed statuses and swaps, so that no order moves
    /// into a status the new version drops in between. Inputs wait, they are not refused.
    pub async fn pause_inputs(&self) -> PausedInputs<'_> {
        PausedInputs { service: self, _gate: self.gate.write().await }
    }

    /// The time now, to the microsecond (what the store keeps), so that what an answer shows is
    /// what a later read shows.
    pub fn now(&self) -> Time {
        use chrono::{DurationRound, TimeDelta};
        let now = self.clock.now();
        now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
    }

    fn workflow_for(&self, registry: &Registry, input: &NewOrder) -> Result<Active, ServiceError> {
        if let Some(name) = &input.workflow {
            return registry
                .get(name)
                .cloned()
                .ok_or_else(|| ServiceError::Workflow(format!("no active workflow `{name}`")));
        }
        let candidates = registry.with_channel(&input.channel);
        if let [_, _, ..] = candidates.as_slice() {
            if let Some(default) = candidates.iter().find(|a| a.workflow.settings.default_for_channels) {
                return Ok((*default).clone());
            }
        }
        match candidates.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ServiceError::Rejected(Rejection::new(
                RejectionCode::UnknownChannel,
                format!(
                    "no active workflow has channel `{}`",
                    crate::limits::shown(&input.channel, crate::limits::MAX_SHOWN)
                ),
            ))),
            many => {
                let names =
                    many.iter().map(|a| format!("`{}`", a.workflow.name)).collect::<Vec<_>>().join(", ");
                let mut r = Rejection::new(
                    RejectionCode::InvalidOrder,
                    format!("channel `{}` is in workflows {names}: say which with `workflow`", input.channel),
                );
                r.problems.push(engine::Problem {
                    field: "workflow".into(),
                    problem: format!("required: channel `{}` is in workflows {names}", input.channel),
                });
                Err(ServiceError::Rejected(r))
            }
        }
    }

    /// What creating `input` would do, written nowhere: the workflow it goes to and the
    /// engine's decision (the status it would start in and the steps to it), or the refusal.
    /// The customer is taken as given (matching happens when the order is created), so a
    /// `possible_duplicate` flag is not predicted.
    pub fn preview_order(&self, input: &NewOrder) -> Result<(String, Decision), ServiceError> {
        let current = self.current();
        let active = self.workflow_for(&current.registry, input)?;
        let customer = input.customer.as_given(true);
        let now = self.now();
        let decided = off_async_workers(|| {
            engine::create(&active.workflow, input, customer, false, now, &*current.hooks)
        });
        decided.map(|d| (active.workflow.name.clone(), d)).map_err(ServiceError::Rejected)
    }

    /// Creates an order; the same channel and `external_id` again gives the first order back.
    ///
    /// When the workflow uses hooks, the decision is made with no transaction open and off the
    /// async workers ([`off_async_workers`]): on the customer the order would be linked to
    /// and an id set aside for it. The write then links the customer for real; if that gives
    /// another customer (one was created or changed meanwhile), it decides again.
    pub async fn create_order(&self, input: &NewOrder) -> Result<Created, ServiceError> {
        self.noted(self.create_order_unnoted(input).await)
    }

    /// Tells the store about a write that failed with the database unavailable, so that
    /// `/healthz` says so for a while ([`Store::check_writable`]): the store sees failures at
    /// begin and at commit, not those of the statements in between.
    fn noted<T>(&self, result: Result<T, ServiceError>) -> Result<T, ServiceError> {
        if let Err(ServiceError::Store(e)) = &result {
            self.store.note_write_failure(e);
        }
        result
    }

    /// Loads the order `key` names: a number (a string) or an id (an [`OrderId`]).
    pub async fn order(&self, key: impl Into<OrderKey>) -> Result<Order, ServiceError> {
        let key = key.into();
        self.store.find_order(&key).await?.ok_or(ServiceError::NotFound(key))
    }

    /// The workflow an order runs under.
    pub(crate) fn workflow_of(&self, order: &Order) -> Result<Active, ServiceError> {
        active_of(&self.registry(), order)
    }

    /// Decides a change of the order `key` names and has the writer write it: `decide` runs on
    /// a snapshot read outside any write (off the async workers when the order's workflow uses
    /// hooks), and the writer writes the decision with others in one transaction, deciding it
    /// again there if the order moved meanwhile (without hooks), or sending it back to be read
    /// and decided again here (with hooks), at most [`RETRIES`] times. `whole_history`: answer
    /// with the order's whole history rather than the rows this change wrote.
    async fn change(
        &self,
        key: &OrderKey,
        idempotency: Option<Idempotency<'_>>,
        whole_history: bool,
        input: &Input,
        decide: writer::Decide,
    ) -> Result<Applied, ServiceError> {
        self.change_at(key, idempotency, whole_history, input, None, decide).await
    }

    /// [`Service::change`] decided at `at` (every try) rather than at the time of each try:
    /// for an input whose record holds a time computed from it (a lock's expiry).
    async fn change_at(
        &self,
        key: &OrderKey,
        idempotency: Option<Idempotency<'_>>,
        whole_history: bool,
        input: &Input,
        at: Option<Time>,
        decide: writer::Decide,
    ) -> Result<Applied, ServiceError> {
        self.noted(self.change_unnoted(key, idempotency, whole_history, input, at, decide).await)
    }

    async fn change_unnoted(
        &self,
        key: &OrderKey,
        idempotency: Option<Idempotency<'_>>,
        whole_history: bool,
        input: &Input,
        at: Option<Time>,
        decide: writer::Decide,
    ) -> Result<Applied, ServiceError> {
        retrying!(key, async {
            let gate = self.gate.clone().read_owned().await;
            let current = self.current();
            let now = at.unwrap_or_else(|| self.now());
            let order =
                self.store.order_snapshot(key).await?.ok_or_else(|| ServiceError::NotFound(key.clone()))?;
            if let Some(i) = idempotency {
                if let Some(first) = self.store.idempotent_result(order.id, i.key).await? {
                    return replayed(first, i.key, i.request).map(Round::Done);
                }
            }
            let active = active_of(&current.registry, &order)?;
            // Tried first without hooks (on this worker, microseconds): most decisions need
            // none. One that asks for a hook is made again with them, off the async workers.
            let probe = writer::Probe::default();
            let tried = decide(&active, &order, now, &probe);
            let (decision, related, redecide) = if !probe.asked() {
                (tried.map_err(ServiceError::Rejected)?, Vec::new(), Some(decide.clone()))
            } else {
                let mut decision = off_async_workers(|| decide(&active, &order, now, &*current.hooks))
                    .map_err(ServiceError::Rejected)?;
                let related = self.prepare_related(&order, &mut decision, &active, &current, now).await?;
                (decision, related, None)
            };
            let change = writer::Change {
                before: order,
                decision,
                active,
                now,
                related,
                redecide,
                idempotency: idempotency.map(|i| (i.key.to_string(), i.request.clone())),
                whole_history,
                input: input.clone(),
                _gate: gate,
            };
            match self.writer.submit(writer::Work::Change(Box::new(change))).await {
                writer::Written::Done(applied) => Ok(Round::Done(*applied)),
                writer::Written::Again => Ok(Round::Again),
                writer::Written::Failed(e) => Err(e),
                writer::Written::Created(_) | writer::Written::NeedsHooks | writer::Written::Duplicate => {
                    Err(ServiceError::Store(StoreError::Corrupt(
                        "the writer answered a change as a creation".into(),
                    )))
                }
            }
        })
    }

    /// Sets aside ids for the orders a hook asked for and decides their creation, for the
    /// same customer, outside any transaction (their hooks run off the async workers).
    async fn prepare_related(
        &self,
        order: &Order,
        decision: &mut Decision,
        active: &Active,
        current: &Current,
        now: Time,
    ) -> Result<Vec<(Decision, i64, NewOrder)>, ServiceError> {
        let mut prepared = Vec::new();
        for new in std::mem::take(&mut decision.related) {
            let target = match &new.workflow {
                Some(name) if name != &active.workflow.name => current
                    .registry
                    .get(name)
                    .cloned()
                    .ok_or_else(|| ServiceError::Workflow(format!("no active workflow `{name}`")))?,
                _ => active.clone(),
            };
            let customer = crate::order::Customer { is_new: false, ..(*order.customer).clone() };
            let id = self.store.reserve_order_id().await?;
            let new = numbered(&new, id);
            let mut created = off_async_workers(|| {
                engine::create(&target.workflow, &new, customer, false, now, &*current.hooks)
            })
            .map_err(|r| {
                let mut r = r;
                r.message = format!("the related order a hook asked for cannot be created: {}", r.message);
                ServiceError::Rejected(r)
            })?;
            created.order.related_order = Some(order.id);
            created.order.id = id;
            prepared.push((created, target.version, new));
        }
        Ok(prepared)
    }

    /// Applies an event to the order `key` names (a number, or an [`OrderId`]).
    pub async fn apply_event(
        &self,
        key: impl Into<OrderKey>,
        input: &EventInput,
        idempotency_key: Option<&str>,
    ) -> Result<Applied, ServiceError> {
        let request = serde_json::json!({"event": input.name, "data": input.data});
        let idempotency = idempotency_key.map(|key| Idempotency { key, request: &request });
        let recorded = Input::Event { event: input.clone() };
        let event = input.clone();
        self.change(
            &key.into(),
            idempotency,
            false,
            &recorded,
            Arc::new(move |a, o, now, hooks| engine::apply(&a.workflow, o, &event, now, hooks)),
        )
        .await
    }

    /// Adds a fulfillment action.
    pub async fn add_fulfillment_action(
        &self,
        key: impl Into<OrderKey>,
        input: &FulfillmentActionInput,
    ) -> Result<Applied, ServiceError> {
        let recorded = Input::AddAction { action: input.clone() };
        let action = input.clone();
        self.change(
            &key.into(),
            None,
            true,
            &recorded,
            Arc::new(move |a, o, now, _| engine::add_fulfillment_action(&a.workflow, o, &action, now)),
        )
        .await
    }

    /// Changes fulfillment action `n`.
    pub async fn edit_fulfillment_action(
        &self,
        key: impl Into<OrderKey>,
        n: u32,
        input: &FulfillmentActionInput,
    ) -> Result<Applied, ServiceError> {
        let recorded = Input::EditAction { n, action: input.clone() };
        let action = input.clone();
        self.change(
            &key.into(),
            None,
            true,
            &recorded,
            Arc::new(move |a, o, now, _| engine::edit_fulfillment_action(&a.workflow, o, n, &action, now)),
        )
        .await
    }

    /// Puts an order in a staff queue and/or assigns it to someone (`input.actor` did it).
    pub async fn assign(
        &self,
        key: impl Into<OrderKey>,
        input: &AssignInput,
    ) -> Result<Applied, ServiceError> {
        let recorded = Input::Assign { assign: input.clone() };
        let assign = input.clone();
        self.change(
            &key.into(),
            None,
            false,
            &recorded,
            Arc::new(move |a, o, now, _| engine::assign(&a.workflow, o, &assign, now)),
        )
        .await
    }

    /// Queues a free-form email about an order (the outbox sends it) and records it.
    pub async fn email(&self, key: impl Into<OrderKey>, input: &EmailInput) -> Result<Applied, ServiceError> {
        let recorded = Input::Email { email: input.clone() };
        let email = input.clone();
        self.change(
            &key.into(),
            None,
            false,
            &recorded,
            Arc::new(move |a, o, now, _| engine::email(&a.workflow, o, &email, now)),
        )
        .await
    }

    /// Takes (or renews) the lock on an order for `ttl`; refused while another holder has it.
    pub async fn lock(
        &self,
        key: impl Into<OrderKey>,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<Applied, ServiceError> {
        self.set_lock(&key.into(), holder, Some(ttl), false).await
    }

    /// Releases the lock; refused while another holder has it.
    pub async fn unlock(&self, key: impl Into<OrderKey>, holder: &str) -> Result<Applied, ServiceError> {
        self.set_lock(&key.into(), holder, None, false).await
    }

    /// Releases the lock whoever holds it (an administrator's "break lock"): the history row
    /// (`lock_broken`) names the holder whose lock it was and `by`, who broke it.
    pub(crate) async fn break_lock(
        &self,
        key: impl Into<OrderKey>,
        by: &str,
    ) -> Result<Applied, ServiceError> {
        self.set_lock(&key.into(), by, None, true).await
    }

    async fn set_lock(
        &self,
        key: &OrderKey,
        holder: &str,
        ttl: Option<chrono::Duration>,
        force: bool,
    ) -> Result<Applied, ServiceError> {
        self.noted(self.set_lock_unnoted(key, holder, ttl, force).await)
    }

    async fn set_lock_unnoted(
        &self,
        key: &OrderKey,
        holder: &str,
        ttl: Option<chrono::Duration>,
        force: bool,
    ) -> Result<Applied, ServiceError> {
        // Nothing to release: nothing is written, and the answer says so by the order's
        // version, unchanged.
        if ttl.is_none() {
            let now = self.now();
            let order =
                self.store.order_snapshot(key).await?.ok_or_else(|| ServiceError::NotFound(key.clone()))?;
            if order.lock_at(now).is_none() {
                let history = self.store.history(order.id).await?;
                return Ok(Applied {
                    order,
                    steps: Vec::new(),
                    history,
                    at: Some(now),
                    replayed: false,
                    request: None,
                });
            }
        }
        // Through the writer like every change: a lock is decided again there on the order as
        // an earlier change of the batch left it, so of two clerks taking it at once the second
        // is refused. Its expiry comes from the time it was decided.
        let now = self.now();
        let recorded = Input::Lock { holder: holder.to_string(), expires_at: ttl.map(|t| now + t), force };
        let holder = holder.to_string();
        self.change_at(
            key,
            None,
            true,
            &recorded,
            Some(now),
            Arc::new(move |_, order, now, _| lock_decision(order, &holder, ttl, force, now)),
        )
        .await
    }

    /// Fires every timer due now, each in its own transaction; returns how many fired. With
    /// several processes on one PostgreSQL each timer is taken by one of them.
    pub async fn fire_due_timers(&self) -> Result<usize, ServiceError> {
        let mut fired = 0;
        self.fire_due_timers_with(&mut |_| fired += 1).await?;
        Ok(fired)
    }

    /// [`Service::fire_due_timers`], telling `on_fired` how late each timer fired (for the
    /// timer-lag metric).
    pub(crate) async fn fire_due_timers_with(
        &self,
        on_fired: &mut (dyn FnMut(chrono::Duration) + Send),
    ) -> Result<(), ServiceError> {
        self.noted(self.fire_due_timers_unnoted(on_fired).await)
    }

    async fn fire_due_timers_unnoted(
        &self,
        on_fired: &mut (dyn FnMut(chrono::Duration) + Send),
    ) -> Result<(), ServiceError> {
        // Each timer is one input, tried like every other: after RETRIES conflicts in a row the
        // loop stops (the timer loop tries again at its next tick).
        let mut busy = String::new();
        loop {
            let round = retrying!(busy, async {
                // Each timer is one input: it runs on the snapshot it starts with.
                let _input = self.gate.read().await;
                let current = self.current();
                let now = self.now();
                let mut tx = self.store.begin().await?;
                let Some(timer) = tx.due_timers(now, 1).await?.into_iter().next() else {
                    return Ok(Round::Done(Timer::NoneDue));
                };
                busy = format!("{}{}", crate::order::ID_PREFIX, timer.order_id);
                let Some(order) = tx.order_for_update(timer.order_id).await? else {
                    tx.delete_timer(timer.id).await?;
                    tx.commit().await?;
                    return Ok(Round::Done(Timer::Handled));
                };
                let active = match active_of(&current.registry, &order) {
                    Ok(a) => a,
                    Err(e) => {
                        // Its workflow is not active here: try again later rather than hold up
                        // every timer behind this one.
                        tracing::warn!(
                            order = %crate::logging::clean(&order.number),
                            timer = %timer.name,
                            error = %crate::logging::clean(&e.to_string()),
                            "timer postponed by a minute"
                        );
                        tx.postpone_timer(timer.id, now + chrono::Duration::minutes(1)).await?;
                        tx.commit().await?;
                        return Ok(Round::Done(Timer::Handled));
                    }
                };
                // The decision, and the code of the refusal a failed timer records instead.
                let fire = |order: &Order| match engine::fire_timer(
                    &active.workflow,
                    order,
                    &timer.name,
                    now,
                    &*current.hooks,
                ) {
                    Ok(d) => (d, None),
                    Err(rejection) => {
                        (engine::failed_timer(order, &timer.name, &rejection, now), Some(rejection.code))
                    }
                };
                let (mut tx, decision, refused, related) = if uses_hooks(&active) {
                    // No transaction is held while hooks run: the timer and the order's version
                    // are checked again when the decision is written.
                    drop(tx);
                    let (mut decision, mut refused) = off_async_workers(|| fire(&order));
                    let related =
                        match self.prepare_related(&order, &mut decision, &active, &current, now).await {
                            Ok(related) => related,
                            Err(ServiceError::Rejected(r)) => {
                                decision = engine::failed_timer(&order, &timer.name, &r, now);
                                refused = Some(r.code);
                                Vec::new()
                            }
                            Err(other) => return Err(other),
                        };
                    (self.store.begin().await?, decision, refused, related)
                } else {
                    let (decision, refused) = fire(&order);
                    (tx, decision, refused, Vec::new())
                };
                let mut decision = decision;
                if !tx.delete_timer(timer.id).await? {
                    return Ok(Round::Done(Timer::Handled)); // another process fired it
                }
                let related = match insert_related(&mut tx, &mut decision, related, now).await {
                    Err(ServiceError::Store(StoreError::Conflict)) => return Ok(Round::Again),
                    other => other?,
                };
                match tx.update_order_from(&order, &decision, active.version, now).await {
                    Err(StoreError::Conflict) => return Ok(Round::Again),
                    other => other?,
                }
                let input = Input::Timer { timer: timer.name.clone() };
                let recorded = Recorded { input: &input, related: &related, refused };
                match record(&mut tx, order.id, &decision, now, active.version, recorded).await {
                    Err(StoreError::Conflict) => return Ok(Round::Again),
                    other => other?,
                }
                Ok(match commit(tx).await? {
                    false => Round::Again,
                    true => Round::Done(Timer::Fired(now - timer.due_at)),
                })
            });
            match round? {
                Timer::NoneDue => return Ok(()),
                Timer::Handled => {}
                Timer::Fired(lag) => on_fired(lag),
            }
        }
    }
}

/// What one round of the timer loop did.
enum Timer {
    /// No timer is due.
    NoneDue,
    /// A timer was taken care of without firing: its order is gone, its workflow is not active
    /// here (postponed a minute), or another process fired it.
    Handled,
    /// A timer fired, this late.
    Fired(chrono::Duration),
}

impl Service {
    /// Takes up to `limit` due messages of the kinds this process delivers, each leased for
    /// `lease` (the delivery worker's claim; see [`Store::claim_outbox`]).
    pub(crate) async fn claim_outbox(
        &self,
        what: &crate::store::Deliverable,
        now: Time,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<StoredOutbox>, ServiceError> {
        self.noted(self.store.claim_outbox(what, now, lease, limit).await.map_err(ServiceError::from))
    }

    /// Records a delivered message (`status`: the receiver's HTTP status; `sent`: what was sent).
    /// False when the message was no longer leased to this attempt (nothing changes then).
    pub(crate) async fn outbox_sent(
        &self,
        message: &StoredOutbox,
        status: Option<i64>,
        sent: Option<&serde_json::Value>,
        now: Time,
    ) -> Result<bool, ServiceError> {
        self.noted(self.store.outbox_sent(message, status, sent, now).await.map_err(ServiceError::from))
    }

    /// Records a failed attempt and when to try again. False when the message was no longer
    /// leased to this attempt.
    pub(crate) async fn outbox_retry(
        &self,
        message: &StoredOutbox,
        status: Option<i64>,
        error: &str,
        sent: Option<&serde_json::Value>,
        next: Time,
        now: Time,
    ) -> Result<bool, ServiceError> {
        self.noted(
            self.store
                .outbox_retry(message, status, error, sent, next, now)
                .await
                .map_err(ServiceError::from),
        )
    }

    /// An admin's retry of an outbox message: a `dead` or `pending` message becomes due now
    /// with its attempts reset, noted in its order's history (one write, through the service
    /// like every other: reloads wait for it and `/healthz` hears of its failure). `None` for
    /// an unknown message; a message already `sent` comes back unchanged.
    pub(crate) async fn outbox_requeue(
        &self,
        id: i64,
        actor: Option<&str>,
    ) -> Result<Option<StoredOutbox>, ServiceError> {
        let _input = self.gate.read().await;
        let now = self.now();
        self.noted(self.store.outbox_requeue(id, actor, now).await.map_err(ServiceError::from))
    }

    /// Gives up on an outbox message: in one transaction the message becomes `dead` (with a
    /// `delivery` row in its order's history) and the order gets the built-in flag
    /// `integration_failed`, a history row naming the message and why, and its automatic
    /// transitions (one input, like an event; locks do not stop it). False when the message was
    /// no longer pending (nothing changes then).
    pub(crate) async fn outbox_dead(
        &self,
        message: &StoredOutbox,
        status: Option<i64>,
        error: &str,
        sent: Option<&serde_json::Value>,
    ) -> Result<bool, ServiceError> {
        self.noted(self.outbox_dead_unnoted(message, status, error, sent).await)
    }

    async fn outbox_dead_unnoted(
        &self,
        message: &StoredOutbox,
        status: Option<i64>,
        error: &str,
        sent: Option<&serde_json::Value>,
    ) -> Result<bool, ServiceError> {
        let _input = self.gate.read().await;
        let current = self.current();
        let detail = serde_json::json!({
            "message_id": message.id,
            "kind": message.message.kind,
            "target": message.message.target,
            "attempts": message.attempts,
            "status": status,
            "error": error,
        });
        retrying!(message.order_id, async {
            let now = self.now();
            // Decided on the order as read, with no transaction open (hooks may run); the
            // write checks the order is still that version.
            let order = self.store.order(message.order_id).await?;
            let mut prepared = None;
            if let Some(order) = &order {
                let (mut decision, mut refused, active) = match active_of(&current.registry, order) {
                    Ok(active) => {
                        let d = off_async_workers(|| {
                            engine::integration_failed(
                                &active.workflow,
                                order,
                                detail.clone(),
                                now,
                                &*current.hooks,
                            )
                        });
                        match d {
                            Ok(d) => (d, None, Some(active)),
                            Err(r) => {
                                let plain = engine::integration_failed_plain(order, detail.clone(), &r, now);
                                (plain, Some(r.code), Some(active))
                            }
                        }
                    }
                    Err(e) => {
                        let why = Rejection::new(RejectionCode::WorkflowUnavailable, e.to_string());
                        (
                            engine::integration_failed_plain(order, detail.clone(), &why, now),
                            Some(why.code),
                            None,
                        )
                    }
                };
                let mut related = Vec::new();
                if let Some(active) = &active {
                    match self.prepare_related(order, &mut decision, active, &current, now).await {
                        Ok(r) => related = r,
                        Err(ServiceError::Rejected(r)) => {
                            decision = engine::integration_failed_plain(order, detail.clone(), &r, now);
                            refused = Some(r.code);
                        }
                        Err(other) => return Err(other),
                    }
                }
                let version = active.as_ref().map_or(order.workflow_version, |a| a.version);
                prepared = Some((decision, refused, related, version));
            }
            let mut tx = self.store.begin().await?;
            match tx.outbox_dead(message, status, error, sent, now).await {
                Err(StoreError::Conflict) => return Ok(Round::Again),
                Ok(false) => return Ok(Round::Done(false)),
                Ok(true) => {}
                Err(e) => return Err(e.into()),
            }
            if let (Some(order), Some((mut decision, refused, related, version))) = (&order, prepared) {
                let related = match insert_related(&mut tx, &mut decision, related, now).await {
                    Err(ServiceError::Store(StoreError::Conflict)) => return Ok(Round::Again),
                    other => other?,
                };
                match tx.update_order_from(order, &decision, version, now).await {
                    Err(StoreError::Conflict) => return Ok(Round::Again),
                    other => other?,
                }
                let input = Input::IntegrationFailed { detail: detail.clone() };
                let recorded = Recorded { input: &input, related: &related, refused };
                match record(&mut tx, order.id, &decision, now, version, recorded).await {
                    Err(StoreError::Conflict) => return Ok(Round::Again),
                    other => other?,
                }
            }
            Ok(match commit(tx).await? {
                false => Round::Again,
                true => Round::Done(true),
            })
        })
    }
}

/// An input to record with the decision it came to (see [`record`]).
#[derive(Clone, Copy)]
struct Recorded<'a> {
    /// The input.
    input: &'a Input,
    /// The ids of the related orders written with it.
    related: &'a [OrderId],
    /// For a timer or a failed delivery the workflow refused: the code of the refusal the
    /// decision records instead.
    refused: Option<RejectionCode>,
}

/// Records an input applied to `order` and what its decision came to, in the input's
/// transaction, so that replay can apply it again.
async fn record(
    tx: &mut Tx,
    order: OrderId,
    decision: &Decision,
    now: Time,
    workflow_version: i64,
    recorded: Recorded<'_>,
) -> Result<(), StoreError> {
    let mut outcome = Outcome::of(decision);
    outcome.related = recorded.related.to_vec();
    outcome.refused = recorded.refused;
    tx.record_input(order, now, recorded.input, &outcome, workflow_version).await
}

/// A lock taken (`ttl`), released (`None`) or broken (`force`) by `holder` on `order`: the
/// order with its lock changed and one history row (`locked`, `unlocked`, `lock_broken`).
/// Refused while another holder's lock is current, unless `force`.
fn lock_decision(
    order: &Order,
    holder: &str,
    ttl: Option<chrono::Duration>,
    force: bool,
    now: Time,
) -> Result<Decision, Rejection> {
    let other = order.lock_at(now).filter(|l| l.holder != holder);
    if let (Some(l), false) = (other, force) {
        return Err(engine::locked_rejection(order, l));
    }
    let lock = ttl.map(|t| Lock { holder: holder.to_string(), expires_at: now + t });
    let (kind, detail) = match (other, &lock) {
        (Some(broken), _) => (
            "lock_broken",
            serde_json::json!({"holder": broken.holder, "by": holder, "expires_at": broken.expires_at.to_rfc3339()}),
        ),
        (None, Some(l)) => ("locked", serde_json::json!({"expires_at": l.expires_at.to_rfc3339()})),
        (None, None) => ("unlocked", serde_json::json!({"expires_at": null})),
    };
    let entry = engine::HistoryEntry {
        at: now,
        kind: kind.into(),
        event: None,
        from_status: None,
        to_status: None,
        actor: Some(holder.to_string()),
        detail,
    };
    let mut after = order.clone();
    after.lock = lock;
    Ok(Decision {
        order: after,
        steps: Vec::new(),
        history: vec![entry],
        timer_starts: Vec::new(),
        timer_cancels: Vec::new(),
        outbox: Vec::new(),
        related: Vec::new(),
    })
}

/// The first answer saved under an idempotency key, given again: marked `replayed`; refused
/// when the key was used for another request.
fn replayed(
    first: serde_json::Value,
    key: &str,
    request: &serde_json::Value,
) -> Result<Applied, ServiceError> {
    let mut first: Applied = serde_json::from_value(first).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if first.request.as_ref().is_some_and(|r| r != request) {
        let was = first.request.as_ref().and_then(|r| r["event"].as_str()).unwrap_or("?");
        return Err(ServiceError::Rejected(Rejection::new(
            RejectionCode::IdempotencyConflict,
            format!(
                "idempotency key `{key}` was used before for another request (event `{was}`): \
                 use a new key for a new request"
            ),
        )));
    }
    first.replayed = true;
    first.request = None;
    Ok(first)
}

/// Whether deciding for an order of this workflow may run hooks.
fn uses_hooks(active: &Active) -> bool {
    !active.workflow.hook_refs.is_empty()
}

/// Runs `f` off the async workers where it can: on a multi-threaded runtime the worker hands
/// its other tasks to another thread while `f` blocks this one; elsewhere (a current-thread
/// runtime, no runtime) it simply runs. For hooks, which may take their whole time budget.
pub(crate) fn off_async_workers<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// At most `slots` hook calls at once; the others wait on their own (blocking) thread. A
/// counter under a mutex: the wait is short and never on an async worker.
#[derive(Debug)]
struct HookGate {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl HookGate {
    fn new(slots: usize) -> Self {
        HookGate { free: std::sync::Mutex::new(slots.max(1)), freed: std::sync::Condvar::new() }
    }

    /// Waits for a slot; it is given back when the returned guard drops.
    fn enter(&self) -> HookSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        HookSlot(self)
    }
}

/// A slot of a [`HookGate`], held for one hook call.
struct HookSlot<'a>(&'a HookGate);

impl Drop for HookSlot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

/// Hooks whose every call holds a slot of the service's gate: a hook's time budget starts once
/// it has its slot, and inputs that call no hook never wait for one.
struct Gated {
    inner: Arc<dyn Hooks + Send>,
    gate: Arc<HookGate>,
}

impl Hooks for Gated {
    fn guard(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<bool, String> {
        let _slot = self.gate.enter();
        self.inner.guard(hook, order, event, now)
    }

    fn run(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<Vec<engine::Effect>, String> {
        let _slot = self.gate.enter();
        self.inner.run(hook, order, event, now)
    }

    fn payload(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<serde_json::Value, String> {
        let _slot = self.gate.enter();
        self.inner.payload(hook, order, event, now)
    }
}

/// The new order with the number the store gives it from `id`, unless it brought its own.
fn numbered(input: &NewOrder, id: OrderId) -> NewOrder {
    let mut input = input.clone();
    // An empty number is no number.
    if input.number.as_deref().is_none_or(str::is_empty) {
        input.number = None;
        input.assigned_number = Some(crate::store::generated_number(id));
    }
    input
}

/// The refusal of a new order whose number another order has (409 `duplicate`).
fn duplicate_number(number: &str) -> Rejection {
    let mut r = Rejection::new(
        RejectionCode::Duplicate,
        format!("an order numbered `{number}` exists already: order numbers are unique"),
    );
    r.problems.push(engine::Problem { field: "number".into(), problem: format!("`{number}` is taken") });
    r
}

/// Commits; `false` when a concurrent change won (decide again). Any other failure of the
/// commit itself leaves its outcome unknown.
async fn commit(tx: Tx) -> Result<bool, ServiceError> {
    match tx.commit().await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(ServiceError::OutcomeUnknown(e.to_string())),
    }
}

/// Writes the related orders [`Service::prepare_related`] decided, linked both ways, each with
/// its creation recorded as its first input; returns their ids.
async fn insert_related(
    tx: &mut Tx,
    decision: &mut Decision,
    related: Vec<(Decision, i64, NewOrder)>,
    now: Time,
) -> Result<Vec<OrderId>, ServiceError> {
    let mut ids = Vec::with_capacity(related.len());
    for (created, version, new) in related {
        let id = match tx.insert_order(&created, version, now).await {
            Err(StoreError::Duplicate(_)) => {
                let mut r = duplicate_number(&created.order.number);
                r.message = format!("the related order a hook asked for cannot be created: {}", r.message);
                return Err(ServiceError::Rejected(r));
            }
            other => other?,
        };
        let recorded = Input::Create {
            number: created.order.number.clone(),
            customer: (*created.order.customer).clone(),
            possible_duplicate: false,
            related_to: created.order.related_order,
            order: Box::new(new),
        };
        tx.record_input(id, now, &recorded, &Outcome::of(&created), version).await?;
        ids.push(id);
        decision.order.related_order = Some(id);
        decision.history.push(engine::HistoryEntry {
            at: now,
            kind: "related_order".into(),
            event: None,
            from_status: None,
            to_status: None,
            actor: None,
            detail: serde_json::json!({"order_id": id, "workflow": created.order.workflow}),
        });
    }
    Ok(ids)
}

/// The workflow an order runs under, in this registry.
fn active_of(registry: &Registry, order: &Order) -> Result<Active, ServiceError> {
    registry.get(&order.workflow).cloned().ok_or_else(|| {
        ServiceError::Workflow(format!(
            "order {} runs under workflow `{}`, which is not active",
            order.number, order.workflow
        ))
    })
}

/// Inputs held back by [`Service::pause_inputs`]: none is running, new ones wait until this is
/// swapped or dropped.
pub struct PausedInputs<'a> {
    service: &'a Service,
    _gate: tokio::sync::RwLockWriteGuard<'a, ()>,
}

impl std::fmt::Debug for PausedInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PausedInputs").finish_non_exhaustive()
    }
}

impl PausedInputs<'_> {
    /// The workflows active now (nothing can change them while inputs are paused, but a swap).
    pub(crate) fn registry(&self) -> Arc<Registry> {
        self.service.registry()
    }

    /// Makes `registry` (and its hooks) active, then lets inputs resume: they all run on it.
    pub fn swap(self, registry: Registry) {
        self.service.swap_registry(registry);
    }
}
