//! Readers held between reads: a few of the pool's connections kept in hand for the hottest
//! read, the order an input is decided on ([`Store::order_snapshot`]), so that they do not go
//! through the pool for each read. On SQLite the pool checks every connection on its way back
//! (one more round trip to the connection's thread), on PostgreSQL before each use (a round
//! trip to the server, and a wake-up of its process, per read); a held reader skips both.
//!
//! At most [`HELD`] connections are held, under a fair (first come, first served) semaphore, so
//! the rest of the pool stays for every other read and write. A reader whose read failed goes
//! back to the pool (through its checks) instead of the hand, and one whose connection was lost
//! (the server restarted or cut it: [`connection_lost`]) is closed, the read tried once more
//! through the pool. Closing the store drops the held ones first, so the pool's close does not
//! wait for them. An in-memory SQLite database reads through the pool (its pool is its one
//! connection).

use super::error::connection_lost;
use super::{Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::Any;
use std::sync::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many of the pool's connections are held for deciding reads, at most.
pub(crate) const HELD: usize = 4;

/// The held readers of one pool (shared by the store's clones).
#[derive(Debug)]
pub(crate) struct Held {
    turns: std::sync::Arc<Semaphore>,
    free: Mutex<Vec<PoolConnection<Any>>>,
    /// The connection a writer keeps between its transactions (`tx.rs`), on a store that keeps
    /// one ([`Store::keeping_connection`]).
    pub(crate) writer: crate::tx::Slot,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            turns: std::sync::Arc::new(Semaphore::new(HELD)),
            free: Mutex::new(Vec::new()),
            writer: crate::tx::Slot::default(),
        }
    }
}

impl Held {
    fn free(&self) -> std::sync::MutexGuard<'_, Vec<PoolConnection<Any>>> {
        self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops every held connection, the writer's kept one too (back to the pool, which closes
    /// them when it is closed). A writer's connection in a transaction goes back when the
    /// transaction ends (it finds the pool closed).
    pub(crate) fn release_all(&self) {
        let held: Vec<_> = self.free().drain(..).collect();
        drop(held);
        match self.writer.clone().try_lock_owned() {
            Ok(mut kept) => drop(kept.take()),
            // A transaction that ended just before the pool was marked closed may be putting it
            // back: taken once it has.
            Err(_) => {
                let slot = self.writer.clone();
                tokio::spawn(async move { drop(slot.lock().await.take()) });
            }
        }
    }
}

/// A held reader, in use: back in hand when dropped, unless [`Reader::failed`].
pub(crate) struct Reader<'a> {
    conn: Option<PoolConnection<Any>>,
    store: &'a Store,
    _turn: OwnedSemaphorePermit,
}

impl Reader<'_> {
    /// The connection, to read through.
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        match &mut self.conn {
            Some(c) => c,
            // Only `failed` takes it, and consumes the reader.
            None => unreachable!("a reader's connection is there until it is dropped"),
        }
    }

    /// The read failed with `e`: the connection goes back to the pool, through its checks, or
    /// is closed when `e` says it was lost ([`connection_lost`]).
    pub(crate) fn failed(mut self, e: &sqlx::Error) {
        if let Some(mut conn) = self.conn.take() {
            if connection_lost(e) {
                conn.close_on_drop();
            }
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Checked under the lock: `Store::close` marks the pool closed, then empties the
            // hand under it, so a reader never comes back into a hand already emptied.
            let mut free = self.store.held.free();
            if self.store.pool.is_closed() {
                drop(free);
                drop(conn);
            } else {
                free.push(conn);
            }
        }
    }
}

impl Store {
    /// A held reader (waiting its turn among [`HELD`]); `None` from a pool no larger than the
    /// hand (in memory: one connection, which a held reader would keep from everyone else).
    pub(crate) async fn reader(&self) -> Result<Option<Reader<'_>>, StoreError> {
        if self.pool.options().get_max_connections() <= HELD as u32 {
            return Ok(None);
        }
        let turn = self.held.turns.clone().acquire_owned().await.map_err(|_| sqlx::Error::PoolClosed)?;
        let held = self.held.free().pop();
        let conn = match held {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(Some(Reader { conn: Some(conn), store: self, _turn: turn }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderKey;
    use std::time::Duration;

    /// Deciding reads hold at most `HELD` connections, however many run at once, and never
    /// starve the pool's other users; closing the store closes the held ones too, at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_readers_are_bounded_share_the_pool_and_close_with_the_store() {
        let dir = std::env::temp_dir().join(format!("orderly-readers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.join("r.db").display())).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let s = store.clone();
            tasks.spawn(async move {
                for _ in 0..20 {
                    if i % 2 == 0 {
                        assert_eq!(s.order_snapshot(&OrderKey::Id(1)).await.unwrap().map(|o| o.id), None);
                    } else {
                        s.ping().await.unwrap();
                    }
                }
            });
        }
        let all = async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(20), all).await.expect("no read waited for ever");
        let held = store.held.free().len();
        assert!((1..=HELD).contains(&held), "{held} readers held");
        // A connection back from a ping may still be on its way into the pool.
        let mut out = usize::MAX;
        for _ in 0..100 {
            let (open, idle) = store.pool_stats();
            out = open as usize - idle;
            if out == held {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(out, held, "only the held readers are out of the pool");
        tokio::time::timeout(Duration::from_secs(5), store.close())
            .await
            .expect("the close waited for nothing");
        assert!(store.held.free().is_empty());
        // (Not the WAL's removal: connections closing at the same moment may each find the
        // other still open, and leave it for the next opening to recover.)
        assert_eq!(store.pool_stats().0, 0, "every connection was closed");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// On PostgreSQL a held reader skips the pool's check before use; when the server cut its
    /// connection meanwhile, the read is tried again through the pool, the lost connection is
    /// closed and never held again.
    #[tokio::test]
    async fn a_held_reader_the_server_cut_is_replaced_and_the_read_succeeds() {
        let name = format!("orderly_held_readers_{}", std::process::id());
        let Some(url) = crate::test_postgres_url(&name) else { return };
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.order_snapshot(&OrderKey::Id(-1)).await.unwrap(), None);
        assert_eq!(store.held.free().len(), 1, "the reader is held");
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert!(!cut.is_empty() && cut.iter().all(|c| *c), "the held reader's connection was cut: {cut:?}");
        for _ in 0..3 {
            assert_eq!(
                store.order_snapshot(&OrderKey::Id(-1)).await.unwrap(),
                None,
                "read once more through the pool"
            );
        }
        assert_eq!(store.held.free().len(), 1, "a live connection is held in its place");
        store.close().await;
    }
}
