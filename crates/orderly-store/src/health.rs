//! Whether the store can write, and connections it cannot trust.
//!
//! - [`Store::check_writable`] (what `GET /healthz` asks): a short write transaction that needs
//!   pages of its own, so a full SQLite file fails it, and the memory of the last write that
//!   failed with the database unavailable. A small probe can fit where an order does not, so for
//!   [`WRITE_FAILURE_MEMORY`] after such a failure, or until a write commits, the store says it
//!   cannot write.
//! - [`reusable`], the pool's `after_release` check: a connection whose transaction state is
//!   unknown is closed, never reused. SQLite rolls a transaction back by itself on some errors
//!   (`SQLITE_FULL`, I/O errors); the `ROLLBACK` sqlx sends when the transaction is dropped then
//!   fails, sqlx still counts one open transaction on the connection, and every later `BEGIN`
//!   on it would fail for as long as the process runs. The pool opens a fresh connection instead.

use super::encode::{self, get_i64};
use super::{Backend, Store, StoreError};
use crate::order::Time;
use sqlx::{AnyConnection, Connection};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a write that failed with the database unavailable keeps
/// [`Store::check_writable`] failing, unless a write commits first.
pub const WRITE_FAILURE_MEMORY: Duration = Duration::from_secs(30);

/// How long a probe that committed answers for: health checks within it share its result (one
/// probe at a time, the others wait for it), so a flood of `/healthz` makes at most one probe
/// write a second. A write failure remembered since is reported at once all the same.
pub const PROBE_FRESH: Duration = Duration::from_secs(1);

/// Bytes the probe writes: more than a page (SQLite's are 4 KiB), so it needs pages of its own.
const PROBE_PAD: usize = 16 * 1024;

/// The last write that failed with the database unavailable, while none has committed since.
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    failed: Mutex<Option<(Instant, String)>>,
    /// When the last probe committed; held while a probe runs.
    probed: tokio::sync::Mutex<Option<Instant>>,
}

impl WriteHealth {
    /// Remembers `e` if it says the database is unavailable.
    pub(super) fn failed(&self, e: &StoreError) {
        if e.is_unavailable() {
            *self.slot() = Some((Instant::now(), e.to_string()));
        }
    }

    /// A write committed: writes work.
    pub(super) fn committed(&self) {
        *self.slot() = None;
    }

    /// The failure remembered, if within [`WRITE_FAILURE_MEMORY`]: how long ago, and what.
    fn recent(&self) -> Option<(Duration, String)> {
        let slot = self.slot();
        let (at, cause) = slot.as_ref()?;
        let ago = at.elapsed();
        (ago < WRITE_FAILURE_MEMORY).then(|| (ago, cause.clone()))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store {
    /// Checks that the database takes writes now: no write has failed with the database
    /// unavailable in the last [`WRITE_FAILURE_MEMORY`] without one committing since, and a
    /// probe commits (in one short transaction, a row of 16 KiB is added to `health_probe` and
    /// the older rows deleted; one that committed less than [`PROBE_FRESH`] ago answers for
    /// it). Errors are [`StoreError::is_unavailable`] when the database is
    /// the cause.
    pub async fn check_writable(&self, now: Time) -> Result<(), StoreError> {
        if let Some((ago, cause)) = self.health.recent() {
            return Err(StoreError::WritesFailing { seconds: ago.as_secs(), cause });
        }
        let mut probed = self.health.probed.lock().await;
        if probed.is_some_and(|at| at.elapsed() < PROBE_FRESH) {
            return Ok(());
        }
        self.probe(now).await?;
        *probed = Some(Instant::now());
        Ok(())
    }

    /// One probe: a short write transaction that needs pages of its own.
    async fn probe(&self, now: Time) -> Result<(), StoreError> {
        let _turn = self.write_turn().await?;
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let row = sqlx::query("INSERT INTO health_probe (at, pad) VALUES ($1, $2) RETURNING id")
            .bind(encode::time(now))
            .bind("x".repeat(PROBE_PAD))
            .fetch_one(&mut *tx)
            .await?;
        let id = get_i64(&row, "id")?;
        sqlx::query("DELETE FROM health_probe WHERE id <> $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remembers a write that failed (a failure that says the database is unavailable makes
    /// [`Store::check_writable`] fail for a while): for errors inside a [`super::Tx`], which
    /// the store itself does not see. Failures at `begin` and at commit are remembered already.
    pub fn note_write_failure(&self, e: &StoreError) {
        self.health.failed(e);
    }
}

/// Whether a connection coming back to the pool may be reused: no transaction is open on it.
/// A SQLite transaction that was dropped has queued its `ROLLBACK` to the connection's worker
/// thread, which lowers the count once it has run: a round trip to the worker (a ping, which
/// queues behind it) makes the count final before it is read again. (Without it, a connection
/// whose rollback is merely pending would be closed, and with it an in-memory database.)
/// PostgreSQL lowers its count when the `ROLLBACK` is queued; its failure shows in the pool's
/// own ping. An error closes the connection too.
pub(super) async fn reusable(conn: &mut AnyConnection, backend: Backend) -> Result<bool, sqlx::Error> {
    if backend == Backend::Sqlite && conn.is_in_transaction() {
        conn.ping().await?;
    }
    let open = conn.is_in_transaction();
    if open {
        tracing::warn!("a database connection came back with its transaction state unknown; it is closed");
    }
    Ok(!open)
}
