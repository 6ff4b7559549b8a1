//! Readers held between reads (SQLite): a few of the pool's connections kept in hand for the
//! hottest read, the order an input is decided on ([`Store::order_snapshot`]), so that they do
//! not go back to the pool after each read. sqlx pings every connection on its way back to the
//! pool (one more round trip to the connection's thread, per read); a held reader skips it.
//!
//! At most [`HELD`] connections are held, under a fair (first come, first served) semaphore, so
//! the rest of the pool stays for every other read and write. A reader whose read failed goes
//! back to the pool (through its checks) instead of the hand. Closing the store drops the held
//! ones first, so the pool's close does not wait for them. PostgreSQL reads through the pool
//! (its check before use finds a connection the server cut), and so does an in-memory SQLite
//! database (its pool is its one connection).

use super::{Backend, Store, StoreError};
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
}

impl Default for Held {
    fn default() -> Self {
        Held { turns: std::sync::Arc::new(Semaphore::new(HELD)), free: Mutex::new(Vec::new()) }
    }
}

impl Held {
    fn free(&self) -> std::sync::MutexGuard<'_, Vec<PoolConnection<Any>>> {
        self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops every held connection (back to the pool, which closes them when it is closed).
    pub(crate) fn release_all(&self) {
        let held: Vec<_> = self.free().drain(..).collect();
        drop(held);
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

    /// The read failed: the connection goes back to the pool, through its checks.
    pub(crate) fn failed(mut self) {
        drop(self.conn.take());
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
    /// A held reader on SQLite (waiting its turn among [`HELD`]); `None` on PostgreSQL, whose
    /// reads go through the pool, and from a pool no larger than the hand (in memory: one
    /// connection, which a held reader would keep from everyone else).
    pub(crate) async fn reader(&self) -> Result<Option<Reader<'_>>, StoreError> {
        // Only from a pool larger than the hand (an in-memory database has one connection).
        if self.backend != Backend::Sqlite || self.pool.options().get_max_connections() <= HELD as u32 {
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
}
