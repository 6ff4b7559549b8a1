//! The store's error type, and the one place where database errors are sorted into the cases a
//! caller acts on: retry ([`StoreError::Conflict`]), report a duplicate
//! ([`StoreError::Duplicate`]), wait for the database to come back
//! ([`StoreError::Unavailable`]), or give up.

use sqlx::error::{DatabaseError, ErrorKind};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed in a way waiting will not fix (bad SQL, a protocol error, ...).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The database cannot be reached or cannot take the work now: no connection within the
    /// pool's acquire timeout, the pool closed, I/O to the database failed, the server is
    /// shutting down, out of connections, memory or disk, read-only, or the database is gone
    /// (SQLite: full, I/O error, cannot open, read-only, out of memory). Nothing the failed
    /// statement did is applied; try again later. (A commit that fails this way has an unknown
    /// outcome: the service says so.)
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A write failed with the database unavailable a short while ago and none has committed
    /// since: what [`Store::check_writable`](super::Store::check_writable) says even when its
    /// own small write fits (an order may still not).
    #[error(
        "a write failed {seconds} s ago with the database unavailable, and none has committed since: {cause}"
    )]
    WritesFailing {
        /// How long ago.
        seconds: u64,
        /// What failed.
        cause: String,
    },
    /// The schema migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The order changed since it was read (its version moved on), or the database refused the
    /// write for now (SQLite busy or locked, PostgreSQL serialization failure or deadlock). Drop
    /// the transaction, read again and retry.
    #[error("the order changed concurrently; read it again and retry")]
    Conflict,
    /// A unique constraint refused the write: an order with this number, or this channel and
    /// external id, exists already. The text names the constraint as the database reported it.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// A row that does not decode (a bad time, decimal, JSON body, enum code, ...).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A connection URL this store cannot use.
    #[error("bad database URL: {0}")]
    BadUrl(String),
    /// The database's schema is not one this store can read without changing it (a store
    /// opened read-only does not migrate): not an orderly database, or one to migrate first.
    #[error("{0}")]
    Schema(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if is_conflict(db.as_ref()) => StoreError::Conflict,
            _ if is_unavailable(&error) => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::Duplicate(db.message().to_string())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(error.to_string())
            }
            _ => StoreError::Database(error),
        }
    }
}

/// SQLite: `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) with any extended code. PostgreSQL:
/// `serialization_failure`, `deadlock_detected`, `lock_not_available`.
fn is_conflict(db: &dyn DatabaseError) -> bool {
    let Some(code) = db.code() else { return false };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse::<i64>().map(|c| matches!(c & 0xff, 5 | 6)).unwrap_or(false);
    }
    if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        return matches!(&*code, "40001" | "40P01" | "55P03");
    }
    false
}

impl StoreError {
    /// Whether this is [`StoreError::Unavailable`] (or [`StoreError::WritesFailing`]): the
    /// database is down, unreachable or out of room, and the same work may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::WritesFailing { .. })
    }
}

/// Errors that say the database is down, unreachable or out of resources, not that the request
/// was wrong: pool timeouts and closure, I/O (refused, reset, broken pipe), TLS, a crashed
/// SQLite worker; PostgreSQL `08xxx` (connection exception), `57P01`-`57P03` (shutdown, crash,
/// cannot connect now), `53xxx` (disk full, out of memory, too many connections), `58030`
/// (I/O error), `25006` (read-only: a standby), `3D000` (the database does not exist); SQLite
/// `SQLITE_NOMEM` (7), `SQLITE_READONLY` (8), `SQLITE_IOERR` (10), `SQLITE_FULL` (13),
/// `SQLITE_CANTOPEN` (14), with any extended code.
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                return code
                    .parse::<i64>()
                    .map(|c| matches!(c & 0xff, 7 | 8 | 10 | 13 | 14))
                    .unwrap_or(false);
            }
            if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                return code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(&*code, "57P01" | "57P02" | "57P03" | "58030" | "25006" | "3D000");
            }
            false
        }
        _ => false,
    }
}

/// Whether `error` says the connection itself is gone, so that the same read may succeed on
/// another one (a narrower question than [`is_unavailable`]): I/O, TLS or protocol errors, and
/// PostgreSQL `08xxx` (connection exception) and `57Pxx` (the server shutting down, or ending
/// the session: terminated, idle too long).
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some()
                && db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, sqlx::Error::Io(refused)] {
            assert!(StoreError::from(e).is_unavailable());
        }
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::Protocol("odd".into())).is_unavailable());
    }

    /// A lost connection is one whose error came from the wire, not from the request.
    #[test]
    fn a_lost_connection_is_told_from_a_failed_request() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(connection_lost(&sqlx::Error::Io(reset)));
        assert!(connection_lost(&sqlx::Error::Protocol("unexpected end".into())));
        assert!(!connection_lost(&sqlx::Error::RowNotFound));
        assert!(!connection_lost(&sqlx::Error::PoolTimedOut));
    }
}
