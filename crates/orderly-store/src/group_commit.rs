//! Group commit on SQLite: a writer whose commits are made durable afterwards, many with one
//! `fdatasync`, instead of each commit waiting for the disk.
//!
//! [`Store::syncing_pool`] opens the writer's own connection with `synchronous = NORMAL`: a
//! commit writes its frames to the WAL (the operating system's cache) and returns without
//! waiting for the disk. [`WalSync::sync`] then flushes the WAL file to the disk, which makes
//! every commit written to it before the call durable: the writer answers a batch only after a
//! sync that began after its commit, and meanwhile writes the next batch. The disk's time per
//! commit is shared by every commit that waited for it (PostgreSQL's group commit, done by hand).
//!
//! What it keeps, and why it is safe:
//! - An acknowledgement still means on the disk: the writer answers after the sync.
//! - SQLite stays consistent on power loss with `NORMAL` (documented): a WAL frame counts only
//!   up to the last commit frame whose checksum holds, and checkpoints sync the WAL before
//!   copying it into the database and the database after. What `NORMAL` alone risks is losing
//!   the last commits; the sync closes that window before anyone is told.
//! - A new WAL file (SQLite deletes it when the last connection closes) also needs its
//!   directory entry on the disk: a sync that finds another file than the last one it synced
//!   syncs the directory too.
//! - Another connection's commit (`FULL`) syncs the whole WAL file, the writer's frames
//!   included; so whatever acts outside on written data through a write of its own (the outbox's
//!   claim before a webhook, a timer's firing) acts only on durable data. A plain read can see a
//!   batch in the few milliseconds before its sync; the batch's callers have not been answered
//!   yet, and would send again after a power loss.
//!
//! Only on Unix (where a directory can be synced); elsewhere the writer commits with `FULL`.

use super::{open_pool, Backend, Store, StoreError, Synchronous};
use std::path::PathBuf;

/// Makes the commits written to one SQLite database's WAL durable ([`WalSync::sync`]).
#[derive(Debug)]
pub struct WalSync {
    wal: PathBuf,
    /// The WAL file last synced (device, inode), to notice a new one.
    last: std::sync::Mutex<Option<(u64, u64)>>,
}

impl WalSync {
    /// The sync of the WAL of the SQLite database file at `database` (its `-wal` beside it).
    pub fn of_database(database: &str) -> WalSync {
        WalSync { wal: PathBuf::from(format!("{database}-wal")), last: std::sync::Mutex::new(None) }
    }

    /// Flushes the WAL file to the disk (and its directory, the first time a file is seen):
    /// every commit written before this call is then durable. A missing WAL file means every
    /// commit was checkpointed into the database file (and synced there): nothing to do.
    pub fn sync(&self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let file = match std::fs::File::open(&self.wal) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            file.sync_data()?;
            let meta = file.metadata()?;
            let id = (meta.dev(), meta.ino());
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last != Some(id) {
                if let Some(dir) = self.wal.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                *last = Some(id);
            }
        }
        Ok(())
    }
}

impl Store {
    /// A pool of its own of `connections` connections ([`Store::with_own_pool`]) for a writer
    /// that makes its commits durable itself: on a SQLite file whose commits are synced
    /// ([`Synchronous::Full`]), on Unix, its connections commit with `synchronous = NORMAL` and
    /// the [`WalSync`] returned must be synced after a commit before it is acknowledged.
    /// Anywhere else, the pool of [`Store::with_own_pool`] and no `WalSync`: each commit is
    /// durable when it returns.
    pub async fn syncing_pool(&self, connections: u32) -> Result<(Store, Option<WalSync>), StoreError> {
        let Some(source) = &self.source else { return Ok((self.clone(), None)) };
        let (url, settings) = &**source;
        if self.backend != Backend::Sqlite || settings.synchronous != Synchronous::Full || !cfg!(unix) {
            return Ok((self.with_own_pool(connections).await?, None));
        }
        let settings = super::ConnectOptions { synchronous: Synchronous::Normal, ..settings.clone() };
        let pool = open_pool(self.backend, url, false, connections.max(1), &settings).await?;
        let store = self.sharing_all_but(pool);
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&store.pool)
            .await?;
        if file.is_empty() {
            // No file (a temporary database): nothing survives a crash anyway.
            return Ok((store, None));
        }
        Ok((store, Some(WalSync::of_database(&file))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnectOptions;

    async fn synchronous(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap()
    }

    /// On a SQLite file whose commits are synced, the writer's pool commits without waiting
    /// (NORMAL, 1) and comes with the WAL's sync; the store's own pool still syncs each commit
    /// (FULL, 2). Where commits are not synced, or there is no file, no sync is given.
    #[tokio::test]
    async fn a_syncing_pool_commits_without_waiting_and_syncs_the_wal_it_wrote() {
        let dir = std::env::temp_dir().join(format!("orderly-group-commit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("g.db").display());
        let store = Store::connect(&url).await.unwrap();
        let (writer, sync) = store.syncing_pool(1).await.unwrap();
        let sync = sync.expect("a SQLite file with FULL gets a sync");
        assert_eq!((synchronous(&store).await, synchronous(&writer).await), (2, 1));
        assert!(sync.wal.ends_with("g.db-wal"), "{:?}", sync.wal);
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&writer.pool).await.unwrap();
        assert!(sync.wal.exists(), "the commit went to the WAL");
        sync.sync().unwrap();
        assert!(
            sync.last.lock().unwrap().is_some(),
            "the first sync noted the file (and synced its directory)"
        );
        writer.close_own_pool().await;
        store.close().await;

        let normal = ConnectOptions { synchronous: Synchronous::Normal, ..Default::default() };
        let store =
            Store::connect_with(&format!("sqlite://{}", dir.join("n.db").display()), normal).await.unwrap();
        let (writer, sync) = store.syncing_pool(1).await.unwrap();
        assert!(sync.is_none(), "NORMAL was chosen: nothing syncs");
        assert_eq!(synchronous(&writer).await, 1);
        writer.close_own_pool().await;
        store.close().await;

        let memory = Store::connect("sqlite::memory:").await.unwrap();
        assert!(memory.syncing_pool(1).await.unwrap().1.is_none());
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Closing the store closes the pools of their own opened from it (the writer's), even
    /// from another thread's runtime: once `close` returns, the last connection has
    /// checkpointed and removed the WAL, and nothing more touches the file.
    #[tokio::test]
    async fn closing_the_store_closes_the_writers_pool_and_leaves_the_file_alone() {
        let dir = std::env::temp_dir().join(format!("orderly-group-commit-close-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("c.db").display());
        let store = Store::connect(&url).await.unwrap();
        let base = store.clone();
        // The writer opens its pool on a runtime of its own, and keeps it open.
        let (opened, writer_done) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let (writer, _sync) = base.syncing_pool(1).await.unwrap();
                sqlx::query("CREATE TABLE t (x INTEGER)").execute(&writer.pool).await.unwrap();
                opened.0.send(writer.clone()).unwrap();
                let _ = tokio::task::spawn_blocking(move || writer_done.1.recv()).await;
            });
        });
        let writer = opened.1.recv().unwrap();
        assert!(dir.join("c.db-wal").exists());
        store.close().await;
        assert!(writer.is_closed(), "the writer's pool was closed with the store");
        assert!(!dir.join("c.db-wal").exists(), "the last connection checkpointed and removed the WAL");
        writer_done.0.send(()).unwrap();
        thread.join().unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A WAL that is not there was checkpointed away: nothing to sync. One that cannot be
    /// opened is an error, never a silent success.
    #[test]
    fn a_missing_wal_needs_no_sync_and_an_unreachable_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("orderly-group-commit-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("none.db");
        WalSync::of_database(&missing.display().to_string()).sync().unwrap();
        let file = dir.join("a-file");
        std::fs::write(&file, b"x").unwrap();
        // A path through a file: ENOTDIR, not "not found".
        let through = file.join("db");
        assert!(WalSync::of_database(&through.display().to_string()).sync().is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
