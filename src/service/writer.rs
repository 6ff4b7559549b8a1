//! The writer: changes to orders are decided outside, on a snapshot read without a write lock,
//! and written here, many at once; new orders are made here too, first in the batch, each under
//! a savepoint of its own ([`Creation`], `creation::make_in_batch`), so that one refused or
//! failing creation rolls back alone.
//!
//! One task per [`Service`](super::Service) takes whatever changes are queued (up to
//! [`MAX_BATCH`], never waiting for more to come), and in one transaction: locks their orders'
//! versions (PostgreSQL: `FOR UPDATE`, in id order), settles each change in arrival order
//! ([`settle`]: kept as decided when its order is still the version it was decided on, decided
//! again in place when it is not, chained when an earlier change of the batch moved the same
//! order), writes them all with a few set-based statements per table
//! ([`Tx::write_batch`](crate::store::Tx::write_batch)), commits once and answers each only
//! when the commit is on the disk: on a SQLite file, after a sync of the WAL made by its group
//! commit ([`Synced`], `crates/orderly-store/src/group_commit.rs`), which overlaps the next
//! batch. On SQLite that one task is the database's only writer of changes in this process (it
//! takes the store's write turn like every other writer), so the batch never waits in SQLite's
//! busy handler; one `fsync` serves every batch committed since the last.
//!
//! One change's refusal or failure never fails the others: a refusal is settled before the
//! writes, and a batch whose writes fail (a constraint, a corrupt row) is rolled back and its
//! changes written again one at a time, so only the faulty one fails. A change decided with
//! hooks is never decided again here (hooks do not run in the writer): if its order moved, its
//! caller reads the order again and decides again ([`Written::Again`]). Which decisions need
//! hooks is found by trying them with a [`Probe`], which runs none.

use super::creation::{self, Made};
use super::{replayed, stored, Applied, Created, ServiceError};
use crate::engine::{Decision, Effect, EventInput, Hooks, NewOrder, Rejection};
use crate::order::{Order, OrderId, Time};
use crate::registry::Active;
use crate::store::{CustomerMatch, InputWrite, OrderKey, OrderWrite, Store, StoreError, StoredHistory};
use orderly_engine::replay::{Input, Outcome};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// What the writer has done since the service started: for the metrics and for tests that
/// check that changes were written together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions the writer tried (batches).
    pub batches: u64,
    /// Changes they carried.
    pub changes: u64,
    /// The most changes one batch carried.
    pub largest: u64,
    /// Batches whose writes failed and whose changes were then written one at a time.
    pub split: u64,
    /// Syncs of SQLite's WAL by the writer's group commit (each made every batch committed
    /// before it durable); 0 where each commit syncs itself (PostgreSQL, `synchronous = normal`).
    pub syncs: u64,
    /// Checkpoints of SQLite's WAL made beside the writer (its connection makes none); 0 on
    /// PostgreSQL and with `synchronous = normal`.
    pub checkpoints: u64,
    /// Checkpoints the writer made itself before a batch, its WAL having grown past its bound.
    pub bounded: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    changes: AtomicU64,
    largest: AtomicU64,
    split: AtomicU64,
    syncs: AtomicU64,
    checkpoints: AtomicU64,
    bounded: AtomicU64,
}

impl Counters {
    fn batch(&self, size: usize) {
        let size = size as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.changes.fetch_add(size, Ordering::Relaxed);
        self.largest.fetch_max(size, Ordering::Relaxed);
    }

    fn read(&self) -> WriteStats {
        WriteStats {
            batches: self.batches.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            largest: self.largest.load(Ordering::Relaxed),
            split: self.split.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
            bounded: self.bounded.load(Ordering::Relaxed),
        }
    }
}

/// The most changes one transaction carries.
pub(crate) const MAX_BATCH: usize = 128;

/// The writer's own connections: one, for one transaction at a time. (With two, a batch could
/// begin while the last one's connection was still on its way back to the pool, open the
/// second, and from then on the two take turns: on SQLite each then finds its page cache
/// stale, the other having written since, and reads every page again.)
const WRITER_CONNECTIONS: u32 = 1;

/// Changes waiting for the writer, at most (senders wait beyond it).
const QUEUE: usize = 4096;

/// How a change is decided: run again by the writer when its order moved since.
pub(crate) type Decide =
    Arc<dyn Fn(&Active, &Order, Time, &dyn Hooks) -> Result<Decision, Rejection> + Send + Sync>;

/// One decided change to an existing order, on its way to the writer.
pub(crate) struct Change {
    /// The order it was decided on, as read.
    pub before: Order,
    /// The decision.
    pub decision: Decision,
    /// The workflow it was decided under.
    pub active: Active,
    /// When it was decided.
    pub now: Time,
    /// Related orders a hook asked for, decided (written with it, never decided again).
    pub related: Vec<(Decision, i64, NewOrder)>,
    /// How to decide again when the order moved: `None` when deciding ran hooks.
    pub redecide: Option<Decide>,
    /// Its idempotency key and the request it stands for.
    pub idempotency: Option<(String, serde_json::Value)>,
    /// Whether its answer shows the order's whole history (else the rows it wrote).
    pub whole_history: bool,
    /// The input as recorded for replay.
    pub input: Input,
    /// The service's input gate, held until the change is written, so that a reload waits for
    /// it even when its caller has gone.
    pub _gate: tokio::sync::OwnedRwLockReadGuard<()>,
}

/// A new order on its way to the writer: matched to its customer, decided and written in the
/// writer's transaction ([`creation::make_in_batch`]).
pub(crate) struct Creation {
    /// The order as asked for.
    pub input: Arc<NewOrder>,
    /// Its customer, as matching compares customers.
    pub wanted: Arc<CustomerMatch>,
    /// The workflow it starts in.
    pub active: Active,
    /// When it is created.
    pub now: Time,
    /// An earlier try found its number or external id taken ([`Written::Duplicate`]).
    pub duplicate_seen: bool,
    /// The service's input gate, held until it is written.
    pub _gate: tokio::sync::OwnedRwLockReadGuard<()>,
}

/// What the writer is given: a change to an existing order, or a new order.
pub(crate) enum Work {
    Change(Box<Change>),
    Create(Box<Creation>),
}

/// What the writer did with a change or a creation.
#[derive(Debug)]
pub(crate) enum Written {
    /// Committed (or answered without a write: an idempotency key's first answer).
    Done(Box<Applied>),
    /// A creation committed (or the order its external id names already).
    Created(Box<Created>),
    /// A creation whose decision asks for a hook: made outside the writer.
    NeedsHooks,
    /// A creation whose number or external id another order has: once more, knowing it.
    Duplicate,
    /// Its order moved and it cannot be decided again here, or the database refused the batch
    /// for now: read again, decide again, send again.
    Again,
    /// Refused or failed; nothing of it was written.
    Failed(ServiceError),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Written>,
}

/// The queue to the writer, started on first use (and again if it has gone).
pub(crate) struct Writer {
    store: Store,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn new(store: Store) -> Self {
        Writer { store, queue: Mutex::new(None), counters: Arc::default() }
    }

    /// What the writer has done so far.
    pub(crate) fn stats(&self) -> WriteStats {
        self.counters.read()
    }

    /// Queues a change or a creation and waits for the writer's answer: after the commit that
    /// carried it.
    pub(crate) async fn submit(&self, work: Work) -> Written {
        let (reply, answer) = oneshot::channel();
        let mut job = Job { work, reply };
        // A queue whose task has gone (its runtime ended) is replaced once.
        for _ in 0..2 {
            match self.sender().send(job).await {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Written::Failed(ServiceError::OutcomeUnknown("the writer stopped".into()))
                    })
                }
                Err(mpsc::error::SendError(back)) => {
                    job = back;
                    *self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                }
            }
        }
        Written::Failed(ServiceError::Store(unavailable("the writer cannot be started")))
    }

    fn sender(&self) -> mpsc::Sender<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = queue.as_ref().filter(|s| !s.is_closed()) {
            return s.clone();
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        let (store, counters) = (self.store.clone(), self.counters.clone());
        // A thread of its own, with a runtime and connections of its own: each of a batch's
        // statements wakes the writer at once instead of behind the requests queued on the
        // service's workers (what made a batch's few statements take milliseconds), and it never
        // waits for a connection behind the readers. It ends when the queue's last sender (the
        // service) is gone.
        let spawned = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|runtime| {
                std::thread::Builder::new()
                    .name("orderly-writer".into())
                    .spawn(move || runtime.block_on(run(store, receiver, counters)))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = spawned {
            // Without a thread, a task on the caller's runtime does the same work.
            tracing::warn!(error = %e, "the writer's thread could not start: it runs as a task");
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.store.clone(), receiver, self.counters.clone()));
            *queue = Some(sender.clone());
            return sender;
        }
        *queue = Some(sender.clone());
        sender
    }
}

/// The writer's own pool, and on SQLite what makes its commits durable.
struct Own {
    store: Store,
    /// `Some` when the pool commits without waiting for the disk: every answer then waits for
    /// a sync of the WAL after its commit ([`Synced`]).
    synced: Option<Synced>,
    /// With `synced`: what checkpoints the WAL, which the writer's connection does not.
    checkpoints: Option<crate::store::Checkpointer>,
}

impl Own {
    /// Closes the checkpointer's connection and the writer's pool.
    async fn close(self) {
        if let Some(checkpoints) = self.checkpoints {
            checkpoints.close().await;
        }
        self.store.close_own_pool().await;
    }
}

/// The writer: a batch of whatever is queued, written, answered; until every sender is gone.
/// It writes through a pool of its own ([`Store::syncing_pool`], opened in its runtime at the
/// first batch, and again at the next if the database could not be reached).
async fn run(base: Store, mut queue: mpsc::Receiver<Job>, counters: Arc<Counters>) {
    let mut own: Option<Own> = None;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = std::mem::take(&mut jobs);
        let (changes, replies): (Vec<Work>, Vec<_>) = batch.into_iter().map(|j| (j.work, j.reply)).unzip();
        if base.is_closed() {
            // The service's store was closed: so is the writer's pool, and nothing is written.
            if let Some(own) = own.take() {
                own.close().await;
            }
        }
        if own.is_none() && !base.is_closed() {
            own = match base.syncing_pool(WRITER_CONNECTIONS).await {
                Ok((store, None)) => Some(Own { store, synced: None, checkpoints: None }),
                Ok((store, Some(group))) => Some(Own {
                    store,
                    synced: Some(Synced::start(group.sync, counters.clone())),
                    checkpoints: Some(group.checkpoints),
                }),
                Err(e) => {
                    answer_all(replies, e);
                    continue;
                }
            };
        }
        let Some(Own { store, synced, checkpoints }) = &own else {
            answer_all(replies, StoreError::from(sqlx::Error::PoolClosed));
            continue;
        };
        if let Some(checkpoints) = checkpoints {
            if checkpoints.bound(store).await {
                counters.bounded.fetch_add(1, Ordering::Relaxed);
            }
        }
        counters.batch(changes.len());
        let answers = write(store, &changes, &counters).await;
        if let Some(checkpoints) = checkpoints {
            checkpoints.committed(changes.len() as u64);
            counters.checkpoints.store(checkpoints.made(), Ordering::Relaxed);
        }
        let answered: Answers = replies.into_iter().zip(answers).collect();
        match synced {
            // Nothing else waiting: no next batch to overlap the sync with, so the writer syncs
            // (one hand-over fewer for a lone change).
            Some(synced) if queue.is_empty() => sync_and_answer(&synced.sync, &counters, answered),
            Some(synced) => synced.answer_after_sync(answered),
            None => answer(answered),
        }
    }
    if let Some(own) = own {
        own.close().await;
    }
}

/// Answers on their way to their callers.
type Answers = Vec<(oneshot::Sender<Written>, Written)>;

fn answer(answers: Answers) {
    for (reply, answer) in answers {
        // A caller that has gone no longer needs its answer; the change stands.
        let _ = reply.send(answer);
    }
}

/// Every caller of a batch that could not be tried: `e`.
fn answer_all(replies: Vec<oneshot::Sender<Written>>, e: StoreError) {
    let e = ServiceError::Store(e);
    answer(replies.into_iter().map(|r| (r, Written::Failed(ServiceError::Store(share(&e))))).collect());
}

/// The writer's group commit on SQLite ([`crate::store::WalSync`]): when more work is queued, a
/// thread of its own syncs the WAL for whatever batches have committed since its last sync, then
/// answers them, while the writer goes on with the next batch (when nothing is queued, the
/// writer syncs itself). An answer is never sent before a sync that began after its batch's
/// commit.
struct Synced {
    /// To the sync thread; `None` when it could not start (then the writer syncs, and waits).
    queue: Option<std::sync::mpsc::Sender<Answers>>,
    sync: Arc<crate::store::WalSync>,
    counters: Arc<Counters>,
}

impl Synced {
    fn start(sync: crate::store::WalSync, counters: Arc<Counters>) -> Synced {
        let sync = Arc::new(sync);
        let (queue, waiting) = std::sync::mpsc::channel::<Answers>();
        let (on_thread, counted) = (sync.clone(), counters.clone());
        let started = std::thread::Builder::new().name("orderly-sync".into()).spawn(move || {
            // Ends when the writer's pool is dropped, after answering what it was given.
            while let Ok(first) = waiting.recv() {
                let mut batches = vec![first];
                batches.extend(waiting.try_iter());
                sync_and_answer(&on_thread, &counted, batches.into_iter().flatten().collect());
            }
        });
        if let Err(e) = &started {
            tracing::warn!(error = %e, "the writer's sync thread could not start: the writer syncs");
        }
        Synced { queue: started.ok().map(|_| queue), sync, counters }
    }

    fn answer_after_sync(&self, answers: Answers) {
        let answers = match &self.queue {
            Some(queue) => match queue.send(answers) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(back)) => back,
            },
            None => answers,
        };
        sync_and_answer(&self.sync, &self.counters, answers);
    }
}

/// One sync of the WAL, then the answers. When the disk does not confirm it, what was
/// committed may or may not survive a power loss: those callers are told the outcome is
/// unknown (what they sent is safe to send again: an idempotency key, or an event the order
/// refuses once applied).
fn sync_and_answer(sync: &crate::store::WalSync, counters: &Counters, answers: Answers) {
    let started = std::time::Instant::now();
    let synced = sync.sync();
    tracing::debug!(us = started.elapsed().as_micros() as u64, answers = answers.len(), "a sync of the WAL");
    counters.syncs.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = &synced {
        tracing::error!(error = %e, "the disk did not confirm the writer's commits (fdatasync of the WAL failed)");
    }
    answer(
        answers
            .into_iter()
            .map(|(reply, answer)| match (&synced, answer) {
                (Err(e), Written::Done(a)) if !a.replayed => (reply, unconfirmed(e)),
                (Err(e), Written::Created(c)) if c.created => (reply, unconfirmed(e)),
                (_, answer) => (reply, answer),
            })
            .collect(),
    );
}

fn unconfirmed(e: &std::io::Error) -> Written {
    Written::Failed(ServiceError::OutcomeUnknown(format!(
        "written, but the disk did not confirm it ({e}): send it again to learn its outcome"
    )))
}

/// Writes a batch; one answer per change or creation, in order.
async fn write(store: &Store, changes: &[Work], counters: &Counters) -> Vec<Written> {
    match attempt(store, changes).await {
        Ok(answers) => answers,
        Err(e) => match e {
            ServiceError::Store(StoreError::Conflict) => changes.iter().map(|_| Written::Again).collect(),
            ServiceError::Store(StoreError::Unavailable(_)) => {
                changes.iter().map(|_| Written::Failed(ServiceError::Store(share(&e)))).collect()
            }
            // Something in one change failed the batch: each alone, so only it fails.
            e if changes.len() > 1 => {
                tracing::debug!(
                    error = %crate::logging::clean(&e.to_string()),
                    changes = changes.len(),
                    "a batch failed: writing its changes one at a time"
                );
                counters.split.fetch_add(1, Ordering::Relaxed);
                let mut answers = Vec::with_capacity(changes.len());
                for c in changes {
                    answers.push(match attempt(store, std::slice::from_ref(c)).await {
                        Ok(mut a) => a.pop().unwrap_or(Written::Again),
                        Err(ServiceError::Store(StoreError::Conflict)) => Written::Again,
                        Err(e) => Written::Failed(e),
                    });
                }
                answers
            }
            e => vec![Written::Failed(e)],
        },
    }
}

/// A copy of a store error for every change of a failed batch.
fn share(e: &ServiceError) -> StoreError {
    match e {
        ServiceError::Store(StoreError::Conflict) => StoreError::Conflict,
        other => unavailable(&other.to_string()),
    }
}

fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(why.to_string())))
}

/// What [`settle`] makes of a change on the order as it stands.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per change and matched at once: a box would cost an allocation per change"
)]
pub(crate) enum Settled<'a> {
    /// Write this decision: the change's own (borrowed), or the one made again.
    Apply(Cow<'a, Decision>),
    /// The order moved and the change cannot be decided again here.
    Again,
    /// Decided again, and refused now.
    Refused(Rejection),
}

/// The pure step of the batch: the decision to write for `change` on the order as it stands
/// now (`on`: as read, as an earlier change of the batch left it, or as read again in the
/// writer's transaction). Kept when `on` is the version it was decided on; decided again when
/// it can be; else sent back.
pub(crate) fn settle<'a>(change: &'a Change, on: &Order) -> Settled<'a> {
    if on.version == change.before.version {
        return Settled::Apply(Cow::Borrowed(&change.decision));
    }
    let Some(decide) = &change.redecide else { return Settled::Again };
    let probe = Probe::default();
    let decided = decide(&change.active, on, change.now, &probe);
    match decided {
        // On this version the decision reaches a hook: its caller runs it, off the writer.
        _ if probe.asked() => Settled::Again,
        Ok(d) => Settled::Apply(Cow::Owned(d)),
        Err(r) => Settled::Refused(r),
    }
}

/// Hooks that run nothing: a decision made with them is one that needs no hook when
/// [`Probe::asked`] stays false (most events of most workflows, also in workflows that use
/// hooks elsewhere), so it may be made on an async worker and made again by the writer. When a
/// hook is asked for, the decision is thrown away and made with the real hooks, off the async
/// workers.
#[derive(Debug, Default)]
pub(crate) struct Probe(AtomicBool);

impl Probe {
    /// Whether a hook was asked for.
    pub(crate) fn asked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn refuse(&self, hook: &str) -> String {
        self.0.store(true, Ordering::Relaxed);
        format!("hook `{hook}` is not run here")
    }
}

impl Hooks for Probe {
    fn guard(&self, hook: &str, _: &Order, _: Option<&EventInput>, _: Time) -> Result<bool, String> {
        Err(self.refuse(hook))
    }

    fn run(&self, hook: &str, _: &Order, _: Option<&EventInput>, _: Time) -> Result<Vec<Effect>, String> {
        Err(self.refuse(hook))
    }

    fn payload(
        &self,
        hook: &str,
        _: &Order,
        _: Option<&EventInput>,
        _: Time,
    ) -> Result<serde_json::Value, String> {
        Err(self.refuse(hook))
    }
}

/// An order the batch writes: as it stood when the batch began (the read it was decided on,
/// borrowed, when its version is still the one locked) and as the batch's changes so far left it.
struct OrderState<'a> {
    base: Cow<'a, Order>,
    current: Cow<'a, Order>,
    workflow_version: i64,
    at: Time,
    changed: bool,
}

/// A change the batch writes.
struct Applying<'a> {
    change: &'a Change,
    /// Where its answer goes.
    slot: usize,
    decision: Cow<'a, Decision>,
    outcome: Outcome,
    after: Order,
}

/// One try at a batch, in one transaction. `Err`: nothing is written (the transaction is
/// dropped); the caller decides whether to try the changes one at a time.
async fn attempt(store: &Store, works: &[Work]) -> Result<Vec<Written>, ServiceError> {
    let t0 = std::time::Instant::now();
    let mut tx = store.begin().await?;
    let t1 = t0.elapsed();
    let mut answers: Vec<Option<Written>> = works.iter().map(|_| None).collect();
    let made = make_creations(&mut tx, works, &mut answers).await?;
    let changes: Vec<(usize, &Change)> = works
        .iter()
        .enumerate()
        .filter_map(|(slot, w)| match w {
            Work::Change(c) => Some((slot, &**c)),
            Work::Create(_) => None,
        })
        .collect();
    let ids: Vec<OrderId> = changes.iter().map(|(_, c)| c.before.id).collect();
    let versions = if ids.is_empty() { HashMap::new() } else { tx.lock_versions(&ids).await? };
    let t2 = t0.elapsed();
    let keys: Vec<(OrderId, &str)> = changes
        .iter()
        .filter_map(|(_, c)| c.idempotency.as_ref().map(|(k, _)| (c.before.id, k.as_str())))
        .collect();
    let saved = if keys.is_empty() { HashMap::new() } else { tx.idempotent_results(&keys).await? };

    let mut states: HashMap<OrderId, OrderState> = HashMap::new();
    let mut order_ids: Vec<OrderId> = Vec::new();
    let mut keys_seen: HashSet<(OrderId, &str)> = HashSet::new();
    let mut applying: Vec<Applying<'_>> = Vec::new();
    for &(slot, c) in &changes {
        let Some(answer) = answers.get_mut(slot) else { continue };
        let id = c.before.id;
        if let Some((key, request)) = &c.idempotency {
            if let Some(first) = saved.get(&(id, key.clone())) {
                *answer = Some(match replayed(first.clone(), key, request) {
                    Ok(a) => Written::Done(Box::new(a)),
                    Err(e) => Written::Failed(e),
                });
                continue;
            }
            // The same key twice in one batch: the second waits for the first's answer.
            if !keys_seen.insert((id, key.as_str())) {
                *answer = Some(Written::Again);
                continue;
            }
        }
        let Some(&version) = versions.get(&id) else {
            *answer = Some(Written::Failed(ServiceError::NotFound(OrderKey::Id(id))));
            continue;
        };
        let state = match states.entry(id) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let base = if version == c.before.version {
                    Cow::Borrowed(&c.before)
                } else {
                    match tx.order_for_update(id).await? {
                        Some(o) => Cow::Owned(o),
                        None => {
                            *answer = Some(Written::Failed(ServiceError::NotFound(OrderKey::Id(id))));
                            continue;
                        }
                    }
                };
                order_ids.push(id);
                v.insert(OrderState {
                    current: base.clone(),
                    base,
                    workflow_version: c.active.version,
                    at: c.now,
                    changed: false,
                })
            }
        };
        let mut decision = match settle(c, &state.current) {
            Settled::Apply(d) => d,
            Settled::Again => {
                *answer = Some(Written::Again);
                continue;
            }
            Settled::Refused(r) => {
                *answer = Some(Written::Failed(ServiceError::Rejected(r)));
                continue;
            }
        };
        let related = if c.related.is_empty() {
            Vec::new()
        } else {
            super::insert_related(&mut tx, decision.to_mut(), c.related.clone(), c.now).await?
        };
        let after = stored(decision.order.clone(), &state.current, &c.active);
        let mut outcome = Outcome::of(&decision);
        outcome.related = related;
        state.current = Cow::Owned(after.clone());
        state.workflow_version = c.active.version;
        state.at = c.now;
        state.changed = true;
        applying.push(Applying { change: c, slot, decision, outcome, after });
    }

    let order_writes: Vec<OrderWrite<'_>> = order_ids
        .iter()
        .filter_map(|id| states.get(id))
        .filter(|s| s.changed)
        .map(|s| OrderWrite {
            before: &s.base,
            after: &s.current,
            version: s.current.version,
            workflow_version: s.workflow_version,
            at: s.at,
        })
        .collect();
    let input_writes: Vec<InputWrite<'_>> = applying
        .iter()
        .map(|a| {
            let c = a.change;
            InputWrite {
                order: c.before.id,
                at: c.now,
                workflow_version: c.active.version,
                history: &a.decision.history,
                timer_cancels: &a.decision.timer_cancels,
                timer_starts: &a.decision.timer_starts,
                outbox: &a.decision.outbox,
                input: &c.input,
                outcome: &a.outcome,
            }
        })
        .collect();
    let t3 = t0.elapsed();
    let written = if input_writes.is_empty() {
        Vec::new()
    } else {
        tx.write_batch(&order_writes, &input_writes).await?
    };

    let mut saves: Vec<(OrderId, &str, serde_json::Value, Time)> = Vec::new();
    let applied_any = !applying.is_empty();
    for (a, rows) in applying.into_iter().zip(written) {
        let c = a.change;
        let history = if c.whole_history { whole_history(&mut tx, c.before.id, &rows).await? } else { rows };
        let mut applied = Applied {
            order: a.after,
            steps: a.decision.steps.clone(),
            history,
            at: Some(c.now),
            replayed: false,
            request: None,
        };
        if let Some((key, request)) = &c.idempotency {
            applied.request = Some(request.clone());
            let json = serde_json::to_value(&applied).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            saves.push((c.before.id, key.as_str(), json, c.now));
            applied.request = None;
        }
        if let Some(slot) = answers.get_mut(a.slot) {
            *slot = Some(Written::Done(Box::new(applied)));
        }
    }
    if !saves.is_empty() {
        tx.save_idempotent_results(&saves).await?;
    }
    let t4 = t0.elapsed();
    let committed = if !applied_any && made == 0 {
        drop(tx);
        Ok(())
    } else {
        tx.commit().await
    };
    tracing::debug!(
        changes = works.len(),
        created = made,
        begun_us = t1.as_micros() as u64,
        locked_us = t2.as_micros() as u64,
        settled_us = t3.as_micros() as u64,
        written_us = t4.as_micros() as u64,
        committed_us = t0.elapsed().as_micros() as u64,
        "a batch, with the time from its start to each step"
    );
    Ok(answers
        .into_iter()
        .map(|a| match (a, &committed) {
            (Some(Written::Done(applied)), Ok(())) => Written::Done(applied),
            (Some(Written::Done(applied)), Err(_)) if applied.replayed => Written::Done(applied),
            (Some(Written::Done(_)), Err(StoreError::Conflict)) => Written::Again,
            (Some(Written::Done(_)), Err(e)) => Written::Failed(ServiceError::OutcomeUnknown(e.to_string())),
            (Some(Written::Created(c)), Ok(())) => Written::Created(c),
            // The order its external id names already: true whatever the commit did.
            (Some(Written::Created(c)), Err(_)) if !c.created => Written::Created(c),
            (Some(Written::Created(_)), Err(StoreError::Conflict)) => Written::Again,
            (Some(Written::Created(_)), Err(e)) => {
                Written::Failed(ServiceError::OutcomeUnknown(e.to_string()))
            }
            (Some(other), _) => other,
            (None, _) => Written::Again,
        })
        .collect())
}

/// The batch's creations, first, each under a savepoint of its own: kept when it wrote an
/// order, rolled back otherwise (refused, sent back, or failed alone), the transaction going
/// on either way. Returns how many orders were written. `Err` (the database unavailable, or a
/// savepoint that cannot be rolled back to) fails the batch.
async fn make_creations(
    tx: &mut crate::store::Tx,
    works: &[Work],
    answers: &mut [Option<Written>],
) -> Result<usize, ServiceError> {
    let mut made = 0;
    for (w, answer) in works.iter().zip(answers.iter_mut()) {
        let Work::Create(c) = w else { continue };
        let mark = tx.savepoint().await?;
        let result = creation::make_in_batch(tx, c).await;
        if matches!(&result, Ok(Made::Created(m)) if m.created) {
            tx.release(mark).await?;
            made += 1;
        } else {
            tx.roll_back_to(mark).await?;
        }
        *answer = Some(match result {
            Ok(Made::Created(m)) => Written::Created(m),
            Ok(Made::Again) | Err(ServiceError::Store(StoreError::Conflict)) => Written::Again,
            Ok(Made::NeedsHooks) => Written::NeedsHooks,
            Ok(Made::Duplicate) => Written::Duplicate,
            Err(e @ ServiceError::Store(StoreError::Unavailable(_))) => return Err(e),
            Err(e) => Written::Failed(e),
        });
    }
    Ok(made)
}

/// The order's whole history as the transaction sees it, up to the last row this change wrote
/// (a later change of the same batch is not part of its answer).
async fn whole_history(
    tx: &mut crate::store::Tx,
    order: OrderId,
    mine: &[StoredHistory],
) -> Result<Vec<StoredHistory>, StoreError> {
    let mut all = tx.history(order).await?;
    if let Some(last) = mine.last().map(|h| h.id) {
        all.retain(|h| h.id <= last);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    //! The batch's pure step: a change decided on the version it meets is kept; one that meets
    //! a newer version (another process's write, or an earlier change of the same batch) is
    //! decided again on it, or sent back when deciding runs hooks.

    use super::*;
    use crate::check::{compile, Context};
    use crate::engine::{self, NoHooks};

    const FLOW: &str = r#"
workflow w
status open "Open"
status closed "Closed" final
event close
event remark
channel web { start in open }
on close from open go to closed
on remark from open stay { note "remarked" }
"#;

    fn open_order() -> (Active, Order) {
        let out = compile(FLOW, &Context::default());
        let workflow = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
        let active =
            Active { workflow: Arc::new(workflow), version: 1, hash: String::new(), path: "w.flow".into() };
        let input: engine::NewOrder = serde_json::from_value(serde_json::json!({
            "channel": "web",
            "customer": {"email": "a@b.c"},
            "lines": [{"sku": "A", "qty": 1, "unit_price": "10.00"}],
        }))
        .unwrap();
        let now = chrono::Utc::now();
        let mut order =
            engine::create(&active.workflow, &input, Default::default(), false, now, &NoHooks).unwrap().order;
        order.id = 1;
        order.version = 1;
        (active, order)
    }

    fn change(active: &Active, order: &Order, event: &str) -> Change {
        let input = EventInput { name: event.into(), ..Default::default() };
        let recorded = Input::Event { event: input.clone() };
        let now = chrono::Utc::now();
        let decision = engine::apply(&active.workflow, order, &input, now, &NoHooks).unwrap();
        let decide: Decide = Arc::new(move |a: &Active, o: &Order, now, hooks: &dyn Hooks| {
            engine::apply(&a.workflow, o, &input, now, hooks)
        });
        Change {
            before: order.clone(),
            decision,
            active: active.clone(),
            now,
            related: Vec::new(),
            redecide: Some(decide),
            idempotency: None,
            whole_history: false,
            input: recorded,
            _gate: Arc::new(tokio::sync::RwLock::new(())).try_read_owned().unwrap(),
        }
    }

    #[test]
    fn a_change_on_the_version_it_was_decided_on_is_kept() {
        let (active, order) = open_order();
        let c = change(&active, &order, "remark");
        match settle(&c, &order) {
            // The change's own decision, not a copy of it.
            Settled::Apply(Cow::Borrowed(d)) => assert!(std::ptr::eq(d, &c.decision)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_changes_of_one_order_chain() {
        let (active, order) = open_order();
        // Both decided on version 1; the second meets the order as the first left it.
        let first = change(&active, &order, "close");
        let second = change(&active, &order, "close");
        let Settled::Apply(d) = settle(&first, &order) else { panic!("the first applies") };
        let after = stored(d.into_owned().order, &order, &active);
        assert_eq!(after.version, 2);
        assert_eq!(after.status, "closed");
        let mut moved = order.clone();
        moved.version = 2;
        assert!(
            matches!(settle(&second, &moved), Settled::Apply(Cow::Owned(_))),
            "decided again on the order as it moved"
        );
        match settle(&second, &after) {
            Settled::Refused(r) => assert!(r.message.contains("close"), "{}", r.message),
            other => panic!("the second is decided again on the cancelled order: {other:?}"),
        }
    }

    #[test]
    fn a_change_decided_with_hooks_is_sent_back_when_its_order_moved() {
        let (active, order) = open_order();
        let mut c = change(&active, &order, "remark");
        c.redecide = None;
        let mut moved = order.clone();
        moved.version = 2;
        assert!(matches!(settle(&c, &moved), Settled::Again));
        assert!(matches!(settle(&c, &order), Settled::Apply(_)));
    }

    /// When the disk does not confirm the sync, a caller whose change was committed is told the
    /// outcome is unknown (never "applied"); an answer that wrote nothing (a refusal, a replayed
    /// idempotency key) is sent as it was. With the sync confirmed, every answer goes as it was.
    #[test]
    fn answers_wait_for_the_sync_and_an_unconfirmed_sync_is_an_unknown_outcome() {
        let (_, order) = open_order();
        let applied = |replayed| {
            Written::Done(Box::new(Applied {
                order: order.clone(),
                steps: Vec::new(),
                history: Vec::new(),
                at: None,
                replayed,
                request: None,
            }))
        };
        let dir = std::env::temp_dir().join(format!("orderly-writer-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let broken = crate::store::WalSync::of_database(&file.join("db").display().to_string());
        let fine = crate::store::WalSync::of_database(&dir.join("db").display().to_string());
        for (sync, confirmed) in [(broken, false), (fine, true)] {
            let counters = Counters::default();
            let mut receivers = Vec::new();
            let mut answers = Vec::new();
            for written in [applied(false), applied(true), Written::Again] {
                let (reply, receiver) = oneshot::channel();
                receivers.push(receiver);
                answers.push((reply, written));
            }
            sync_and_answer(&sync, &counters, answers);
            assert_eq!(counters.read().syncs, 1);
            let got: Vec<Written> = receivers.into_iter().map(|mut r| r.try_recv().unwrap()).collect();
            match (confirmed, &got[..]) {
                (
                    false,
                    [Written::Failed(ServiceError::OutcomeUnknown(why)), Written::Done(a), Written::Again],
                ) => {
                    assert!(why.contains("disk did not confirm"), "{why}");
                    assert!(a.replayed);
                }
                (true, [Written::Done(a), Written::Done(b), Written::Again]) => {
                    assert!(!a.replayed && b.replayed)
                }
                other => panic!("{other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
