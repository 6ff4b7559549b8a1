//! The store's error type, and the one place where database errors are sorted into the cases a
//! caller acts on: retry ([`StoreError::Conflict`]), report a duplicate
//! ([`StoreError::Duplicate`]), or give up.

use sqlx::error::{DatabaseError, ErrorKind};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (connection lost, bad SQL, pool timeout, ...).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
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
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if is_conflict(db.as_ref()) => StoreError::Conflict,
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
