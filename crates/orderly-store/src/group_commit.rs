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
//! Checkpoints are off the writer's path too ([`Checkpointer`]). SQLite copies the WAL into the
//! database file (a checkpoint: the copy, then an `fsync` of the database file) in the commit
//! that finds the WAL 1,000 pages long, which made one commit in a hundred 5-9 ms slower and
//! every caller of that batch wait. The writer's connection does not checkpoint
//! (`wal_autocheckpoint = 0`); a task of its own does, on a connection of its own, after every
//! [`CHECKPOINT_AFTER`] changes and at most every [`CHECKPOINT_EVERY`], without waiting for
//! anyone (`PASSIVE`). A busy writer never lets the WAL start over (SQLite restarts it only
//! when a write begins with all of it copied), so once it has grown past [`WAL_FRAMES_BOUND`]
//! pages the task chases a writer of batches: it syncs the database file and checkpoints again
//! at once, each time copying only what was written during the last, until that is a few pages;
//! the writer then checkpoints that little itself before its next batch
//! ([`Checkpointer::bound`]), and the WAL starts over with that batch. The writer stops for a
//! copy and a sync of a few pages, not of everything copied since the WAL last started over
//! (`Checkpointer::sync_database` says why the sync). A writer of single changes is not chased:
//! it copies all that is left itself, one stop of its one caller.
//!
//! Only on Unix (where a directory can be synced); elsewhere the writer commits with `FULL`.

use super::{open_pool, Backend, Store, StoreError, Synchronous};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the [`Checkpointer`] checkpoints, at most, while the writer commits.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How many changes the writer commits between two checkpoints, at least: about 7,000 WAL pages
/// at 64 callers (an event writes three or four; SQLite by itself would checkpoint every
/// 1,000). Fewer checkpoints, fewer of a lone change's syncs that meet one writing the database
/// file, and less copying of pages that change again (measured: a lone input's p99 2.0-2.1 ms
/// after every 256 changes, 1.2-1.5 ms after 1,024; after 2,048 rather than 1,024, 8 % more
/// events a second at 64 connections, p99 17.4-18.1 ms against 18.7-22.9 ms, the lone input's
/// p99 1.3-1.8 ms against 1.5-3.9 ms, four runs each).
pub const CHECKPOINT_AFTER: u64 = 2048;

/// The WAL's length, in pages, past which the WAL is made to start over (32 MiB with 4 KiB
/// pages): the bound on the WAL of a writer that never pauses.
pub const WAL_FRAMES_BOUND: i64 = 8_000;

/// How many checkpoints in a row the task makes, at most, chasing a writer past the bound,
/// before the writer checkpoints whatever is left (a writer faster than the copy). The chase
/// stops too when the WAL has grown to twice the bound.
const CHASES: u32 = 4;

/// How many pages a checkpoint chasing the writer may find new for the chase to stop and the
/// writer to copy the rest itself: a 32nd of the bound (250 pages, 1 MiB, for 8,000).
fn restart_within(bound: i64) -> i64 {
    bound / 32
}

/// What the writer committed since the [`Checkpointer`]'s task last looked.
#[derive(Debug, Default)]
struct Load {
    batches: AtomicU64,
    changes: AtomicU64,
}

impl Load {
    /// Whether the writer's batches held two changes or more on average since the last look
    /// (many callers at once), and starts counting again.
    fn batched(&self) -> bool {
        let (batches, changes) =
            (self.batches.swap(0, Ordering::Relaxed), self.changes.swap(0, Ordering::Relaxed));
        changes >= 2 * batches.max(1)
    }
}

/// A descriptor of a database file, never closed ([`DATABASE_FILES`]).
type HeldFile = Arc<std::mem::ManuallyDrop<std::fs::File>>;

/// The database files this process has opened to sync them, by (device, inode): opened once
/// and never closed. Closing any descriptor of a file drops every POSIX lock the process holds
/// on it (SQLite's documented hazard, "How To Corrupt An SQLite Database File", 2.2): SQLite's
/// own connections would lose their locks on the database file, and a connection of another
/// process (an `orderly` command beside the service) could then believe itself the last one and
/// delete the WAL. One descriptor per database file for the process's life is the price.
static DATABASE_FILES: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<(u64, u64), HeldFile>>,
> = std::sync::LazyLock::new(Default::default);

/// The database file at `path`, to sync ([`DATABASE_FILES`]). Every descriptor opened here is
/// kept from closing (`ManuallyDrop`), the one of a file already held as well.
fn database_file(path: &std::path::Path) -> std::io::Result<HeldFile> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        let mut files = DATABASE_FILES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(file) = files.get(&(meta.dev(), meta.ino())) {
            return Ok(Arc::clone(file));
        }
        let file = std::mem::ManuallyDrop::new(std::fs::File::open(path)?);
        let meta = file.metadata()?;
        Ok(Arc::clone(files.entry((meta.dev(), meta.ino())).or_insert_with(|| Arc::new(file))))
    }
    #[cfg(not(unix))]
    {
        Err(std::io::Error::other(format!("{}: no sync of the database file here", path.display())))
    }
}

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
    /// A pool of its own of `connections` connections ([`Store::with_own_pool`]) for a writer,
    /// keeping its connection between transactions ([`Store::keeping_connection`]), that
    /// makes its commits durable itself: on a SQLite file whose commits are synced
    /// ([`Synchronous::Full`]), on Unix, its connections commit with `synchronous = NORMAL` and
    /// without checkpointing; the [`GroupCommit`] returned holds the [`WalSync`] that must be
    /// synced after a commit before it is acknowledged, and the [`Checkpointer`] that
    /// checkpoints instead (started on the caller's runtime). Anywhere else, the pool of
    /// [`Store::with_own_pool`] and no `GroupCommit`: each commit is durable when it returns.
    pub async fn syncing_pool(&self, connections: u32) -> Result<(Store, Option<GroupCommit>), StoreError> {
        let Some(source) = &self.source else { return Ok((self.clone(), None)) };
        let (url, settings) = &**source;
        if self.backend != Backend::Sqlite || settings.synchronous != Synchronous::Full || !cfg!(unix) {
            return Ok((self.with_own_pool(connections).await?.keeping_connection(), None));
        }
        let mut settings = super::ConnectOptions { synchronous: Synchronous::Normal, ..settings.clone() };
        settings.sqlite_pragmas.push("PRAGMA wal_autocheckpoint = 0".into());
        settings.sqlite_pragmas.push(super::WRITER_CACHE.into());
        let pool = open_pool(self.backend, url, false, connections.max(1), &settings).await?;
        let store = self.sharing_all_but(pool).keeping_connection();
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&store.pool)
            .await?;
        if file.is_empty() {
            // No file (a temporary database): nothing survives a crash anyway.
            return Ok((store, None));
        }
        let checkpoints =
            Checkpointer::start(self.with_own_pool(1).await?, &file, WAL_FRAMES_BOUND, CHECKPOINT_AFTER);
        Ok((store, Some(GroupCommit { sync: WalSync::of_database(&file), checkpoints })))
    }

    /// A passive checkpoint on SQLite: copies what it can of the WAL into the database file
    /// (and syncs it) without waiting for anyone. `None` on PostgreSQL, and on SQLite without a
    /// WAL (an in-memory database).
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let query = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)");
        // A writer's store: through the connection it keeps, if it does (its pool may have no
        // other); a failed one goes back to the pool, through its checks.
        let mut slot = if self.keeps { Some(self.held.writer.clone().lock_owned().await) } else { None };
        let (busy, frames, copied): (i64, i64, i64) = match slot.as_mut().and_then(|s| s.take()) {
            Some(mut conn) => {
                let row = query.fetch_one(&mut *conn).await?;
                if let Some(slot) = slot.as_mut().filter(|_| !self.pool.is_closed()) {
                    **slot = Some(conn);
                }
                row
            }
            None => query.fetch_one(&self.pool).await?,
        };
        // -1 pages: no WAL, or (busy) another connection was checkpointing and nothing was done.
        Ok((frames >= 0 || busy != 0).then_some(Checkpoint { busy: busy != 0, frames, copied }))
    }
}

/// What the writer's pool on a SQLite file comes with ([`Store::syncing_pool`]).
#[derive(Debug)]
pub struct GroupCommit {
    /// Makes the writer's commits durable.
    pub sync: WalSync,
    /// Checkpoints the WAL the writer writes (its own connection does not).
    pub checkpoints: Checkpointer,
}

/// What a checkpoint found and did (`PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Whether it could not finish (SQLite's `busy`): another connection was checkpointing, or
    /// a reader still needed pages that were not copied.
    pub busy: bool,
    /// Pages in the WAL; -1 when another connection was checkpointing (nothing was done).
    pub frames: i64,
    /// Pages of the WAL copied into the database file (by this checkpoint and earlier ones).
    pub copied: i64,
}

/// Checkpoints a writer's WAL on a connection and task of its own (see the module's doc): the
/// writer calls [`Checkpointer::committed`] after each commit and [`Checkpointer::bound`] before
/// each batch. Its task ends when it is dropped.
#[derive(Debug)]
pub struct Checkpointer {
    store: Store,
    wanted: Arc<tokio::sync::Notify>,
    /// Set by the task when the WAL is past its bound and little of it is left to copy: the
    /// writer copies that before its next batch, which starts the WAL over.
    restart: Arc<AtomicBool>,
    made: Arc<AtomicU64>,
    /// Batches and changes the writer committed since the task last looked ([`Load`]).
    load: Arc<Load>,
    /// Changes committed since the last checkpoint was asked for, and how many ask for one.
    since: AtomicU64,
    every: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    /// Starts the task (on the caller's runtime), checkpointing through `store` the WAL of the
    /// database file at `database`; the WAL is made to start over past `bound` pages.
    fn start(store: Store, database: &str, bound: i64, every: u64) -> Checkpointer {
        let (wanted, restart, made) = (Arc::new(tokio::sync::Notify::new()), Arc::default(), Arc::default());
        let load = Arc::new(Load::default());
        let task = tokio::spawn(Self::run(
            store.clone(),
            PathBuf::from(database),
            wanted.clone(),
            Arc::clone(&restart),
            Arc::clone(&made),
            Arc::clone(&load),
            bound,
        ));
        Checkpointer { store, wanted, restart, made, load, since: AtomicU64::new(0), every, task }
    }

    async fn run(
        store: Store,
        database: PathBuf,
        wanted: Arc<tokio::sync::Notify>,
        restart: Arc<AtomicBool>,
        made: Arc<AtomicU64>,
        load: Arc<Load>,
        bound: i64,
    ) {
        // The WAL's length at the last checkpoint, and the checkpoints made in a row chasing
        // the writer (0: not chasing).
        let (mut last, mut chases) = (0_i64, 0_u32);
        loop {
            if chases == 0 {
                wanted.notified().await;
            }
            let started = std::time::Instant::now();
            match store.checkpoint().await {
                Ok(Some(c)) if c.frames >= 0 => {
                    tracing::debug!(
                        us = started.elapsed().as_micros() as u64,
                        frames = c.frames,
                        copied = c.copied,
                        chases,
                        "a checkpoint beside the writer"
                    );
                    made.fetch_add(1, Ordering::Relaxed);
                    // A writer of single inputs (one connection) is better stopped once for all
                    // of the copy: a sync beside it would slow each of its own (measured: the
                    // lone input's p99 over 2 ms); with many inputs per batch, chase.
                    let chase = chases > 0 || load.batched();
                    // What this one copied beyond the last: all of it when the WAL started over
                    // in between.
                    let fresh = if c.frames >= last { c.frames - last } else { c.frames };
                    last = c.frames;
                    if c.frames > bound {
                        // Past the bound: sync the database file and copy what the writer wrote
                        // meanwhile, at once, until it is little (or a reader holds pages back,
                        // or the writer outpaces the copy: 4 tries, or the WAL at twice its
                        // bound, which stays a bound); then the writer copies the rest and
                        // starts the WAL over, while the last sync flushes what it can.
                        let all_copied = !c.busy && c.copied == c.frames;
                        let gaining = chases < CHASES && c.frames < 2 * bound;
                        let again = chase && fresh > restart_within(bound) && all_copied && gaining;
                        if !again {
                            restart.store(true, Ordering::Relaxed);
                        }
                        if chase && c.copied > 0 {
                            Self::sync_database(&database).await;
                        }
                        if again {
                            chases += 1;
                            continue;
                        }
                    }
                }
                Ok(_) => {}
                // The next commit asks again; meanwhile the writer's bound still holds.
                Err(e) => tracing::warn!(error = %e, "a checkpoint of the writer's WAL failed"),
            }
            chases = 0;
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    }

    /// Flushes the database file's pages to the disk, once the WAL is past its bound and is to
    /// start over. SQLite syncs the database file only at the end of a checkpoint that found
    /// nothing written after what it copied, which a busy writer's never are; so every page
    /// copied since the last sync (thousands, scattered) would be flushed by the sync of the
    /// writer's own checkpoint, with the writer and every caller waiting (measured: 17-20 ms at
    /// the median). Flushed here, off the writer's path, while the task chases the writer, that
    /// sync finds only the writer's last few pages. A failure is logged: SQLite's own sync
    /// before the WAL starts over still guards the data.
    async fn sync_database(database: &std::path::Path) {
        let file = database.to_owned();
        let synced = tokio::task::spawn_blocking(move || database_file(&file)?.sync_data()).await;
        match synced {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the database file could not be synced"),
            Err(e) => tracing::warn!(error = %e, "the database file's sync did not finish"),
        }
    }

    /// The writer committed `changes`: once [`CHECKPOINT_AFTER`] have been since the last, a
    /// checkpoint is wanted (made at once, or when the last is [`CHECKPOINT_EVERY`] old).
    pub fn committed(&self, changes: u64) {
        self.load.batches.fetch_add(1, Ordering::Relaxed);
        self.load.changes.fetch_add(changes, Ordering::Relaxed);
        if self.since.fetch_add(changes, Ordering::Relaxed) + changes < self.every {
            return;
        }
        self.since.store(0, Ordering::Relaxed);
        self.wanted.notify_one();
    }

    /// Before the writer's next batch: when the task found the WAL past its bound and copied
    /// all but a little of it, checkpoints that little through the writer's own connection
    /// (`writer`), so that the batch starts the WAL over. Whether it did (not when the task was
    /// checkpointing at that moment: then it tries again before the next batch).
    pub async fn bound(&self, writer: &Store) -> bool {
        if !self.restart.load(Ordering::Relaxed) {
            return false;
        }
        let started = std::time::Instant::now();
        match writer.checkpoint().await {
            // The task was checkpointing: nothing was done; again before the next batch.
            Ok(Some(c)) if c.frames < 0 => return false,
            Ok(c) => tracing::debug!(
                us = started.elapsed().as_micros() as u64,
                frames = c.map_or(0, |c| c.frames),
                copied = c.map_or(0, |c| c.copied),
                "the writer checkpointed its WAL, grown past its bound"
            ),
            Err(e) => tracing::warn!(error = %e, "the writer could not checkpoint its WAL"),
        }
        // All copied, the batch starts the WAL over; else (a reader still needs some of it) the
        // task measures it again.
        self.restart.store(false, Ordering::Relaxed);
        true
    }

    /// Checkpoints the task has made.
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }

    /// Stops the task and closes its connection.
    pub async fn close(self) {
        self.task.abort();
        self.store.close_own_pool().await;
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnectOptions;

    async fn synchronous(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap()
    }

    async fn autocheckpoint(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(&store.pool).await.unwrap()
    }

    /// A writer that never pauses, on a connection that does not checkpoint: the checkpointer's
    /// task copies its WAL into the database file, and the bound makes the WAL start over, so
    /// the WAL file stays a fraction of what was written; everything is in the database after.
    /// Both ways past the bound: a writer of single changes copies what is left itself; one
    /// of batches is chased (the database file synced, checkpoints at once) first.
    #[tokio::test]
    async fn the_checkpointer_copies_a_busy_writers_wal_and_keeps_it_bounded() {
        busy_writer_within_bound("single", 1).await;
        busy_writer_within_bound("batches", 8).await;
    }

    async fn busy_writer_within_bound(name: &str, changes_per_commit: u64) {
        let dir = std::env::temp_dir().join(format!("orderly-checkpoints-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k.db");
        let store = Store::connect(&format!("sqlite://{}", file.display())).await.unwrap();
        let (writer, group) = store.syncing_pool(1).await.unwrap();
        let group = group.expect("a SQLite file");
        let db = file.display().to_string();
        let bounded = Checkpointer::start(store.with_own_pool(1).await.unwrap(), &db, 50, 1);
        sqlx::query("CREATE TABLE t (x BLOB)").execute(&writer.pool).await.unwrap();
        let (mut commits, mut bounds) = (0_i64, 0);
        // At least 1.5 s of writing, and on until the checkpointer has made 5 checkpoints and the
        // WAL has passed its bound once (a machine busy with the rest of the suite can be slow
        // to give the checkpointer its turns: 4 in the first 1.5 s, seen once); a checkpointer
        // that never gets there fails at the deadline.
        let began = std::time::Instant::now();
        while began.elapsed() < Duration::from_millis(1500) || bounded.made() < 5 || bounds < 1 {
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "{name}: {} checkpoints and {bounds} passes of the bound in 30 s",
                bounded.made()
            );
            bounds += i32::from(bounded.bound(&writer).await);
            sqlx::query("INSERT INTO t (x) VALUES (randomblob(3000))").execute(&writer.pool).await.unwrap();
            bounded.committed(changes_per_commit);
            commits += 1;
        }
        let page = 4096;
        let wal_pages = std::fs::metadata(dir.join("k.db-wal")).unwrap().len() as i64 / page;
        // Each commit writes about 3 pages: unbounded, the WAL holds them all (measured: 17,715
        // pages for 5,748 commits); bounded, it starts over, and holds what the writer wrote
        // between two restarts, which the checkpointer's pace (at most every 100 ms) sets. On a
        // writer of 17,000 commits a second, beside the rest of the suite: 8,500-29,500 pages
        // for 23,000-27,500 commits, so under two thirds of all written is the line.
        assert!(wal_pages < 2 * commits, "{name}: the WAL grew to {wal_pages} pages for {commits} commits");
        #[cfg(unix)]
        {
            // Chased, and only then: the database file was synced through the descriptor kept
            // for it.
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&file).unwrap();
            let synced = DATABASE_FILES.lock().unwrap().contains_key(&(meta.dev(), meta.ino()));
            assert_eq!(synced, changes_per_commit > 1, "{name}: the database file synced beside the writer");
        }
        bounded.close().await;
        group.checkpoints.close().await;
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&store.pool).await.unwrap();
        assert_eq!(rows, commits);
        let copied = store.checkpoint().await.unwrap().expect("a WAL");
        assert!(!copied.busy && copied.copied == copied.frames, "{name}: {copied:?}");
        writer.close_own_pool().await;
        store.close().await;
        let db_pages = std::fs::metadata(&file).unwrap().len() as i64 / page;
        assert!(
            db_pages >= commits,
            "{name}: {db_pages} pages in the database file for {commits} rows of 3,000 bytes"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The descriptors of this process open on `file` (Linux: `/proc/self/fd`).
    #[cfg(target_os = "linux")]
    fn descriptors_of(file: &std::path::Path) -> usize {
        let file = file.canonicalize().unwrap();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| *target == file)
            .count()
    }

    /// The database file is synced through one descriptor per file, opened at the first sync
    /// and never closed: closing one would drop the POSIX locks SQLite's connections hold on
    /// the file. Syncing again uses the same descriptor; a file put in its place gets its own.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_database_file_is_synced_through_one_descriptor_never_closed() {
        let dir = std::env::temp_dir().join(format!("orderly-database-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("d.db");
        let store = Store::connect(&format!("sqlite://{}", file.display())).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&store.pool).await.unwrap();
        let sqlite_own = descriptors_of(&file);
        assert!(sqlite_own >= 1, "SQLite's connection holds the file open");
        Checkpointer::sync_database(&file).await;
        assert_eq!(descriptors_of(&file), sqlite_own + 1, "one descriptor opened to sync");
        let first = database_file(&file).unwrap();
        for _ in 0..3 {
            Checkpointer::sync_database(&file).await;
        }
        assert!(Arc::ptr_eq(&first, &database_file(&file).unwrap()), "the same descriptor again");
        drop(first);
        assert_eq!(descriptors_of(&file), sqlite_own + 1, "and it stays open");
        store.close().await;

        // Another file at the same path (the old one deleted): a descriptor of its own.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&file, b"").unwrap();
        let other = database_file(&file).unwrap();
        assert_eq!(descriptors_of(&file), 1, "the new file's own descriptor");
        assert_eq!(other.metadata().unwrap().len(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// PostgreSQL has no WAL of SQLite's to checkpoint; an in-memory SQLite database neither.
    #[tokio::test]
    async fn a_database_without_a_wal_has_nothing_to_checkpoint() {
        let memory = Store::connect("sqlite::memory:").await.unwrap();
        assert_eq!(memory.checkpoint().await.unwrap(), None);
        if let Ok(url) = std::env::var("ORDERLY_TEST_POSTGRES_URL") {
            let pg = Store::connect(&url).await.unwrap();
            assert_eq!(pg.checkpoint().await.unwrap(), None);
            pg.close().await;
        }
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
        let (writer, group) = store.syncing_pool(1).await.unwrap();
        let GroupCommit { sync, checkpoints } = group.expect("a SQLite file with FULL gets a sync");
        assert_eq!((synchronous(&store).await, synchronous(&writer).await), (2, 1));
        assert_eq!((autocheckpoint(&store).await, autocheckpoint(&writer).await), (1000, 0));
        assert!(sync.wal.ends_with("g.db-wal"), "{:?}", sync.wal);
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&writer.pool).await.unwrap();
        assert!(sync.wal.exists(), "the commit went to the WAL");
        sync.sync().unwrap();
        assert!(
            sync.last.lock().unwrap().is_some(),
            "the first sync noted the file (and synced its directory)"
        );
        checkpoints.close().await;
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

    /// Closing the store closes the pools of their own opened from it (the writer's, with the
    /// connection it keeps between transactions), even from another thread's runtime: once
    /// `close` returns, the last connection has checkpointed and removed the WAL, and nothing
    /// more touches the file.
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
                let (writer, _group) = base.syncing_pool(1).await.unwrap();
                let mut tx = writer.begin().await.unwrap();
                sqlx::query("CREATE TABLE t (x INTEGER)").execute(tx.conn()).await.unwrap();
                tx.commit().await.unwrap();
                assert!(writer.held.writer.lock().await.is_some(), "the writer keeps its connection");
                opened.0.send(writer.clone()).unwrap();
                let _ = tokio::task::spawn_blocking(move || writer_done.1.recv()).await;
            });
        });
        let writer = opened.1.recv().unwrap();
        assert!(dir.join("c.db-wal").exists());
        tokio::time::timeout(Duration::from_secs(10), store.close())
            .await
            .expect("the close waited for ever for the connection the writer keeps");
        assert!(writer.is_closed(), "the writer's pool was closed with the store");
        assert_eq!(writer.pool_stats().0, 0, "its kept connection too");
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
