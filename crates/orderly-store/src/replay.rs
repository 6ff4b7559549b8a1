//! What `orderly replay` reads: each order with the inputs it received (`order_inputs`, written
//! by [`Tx::record_input`](super::Tx::record_input)), a page of orders at a time, each page in
//! one statement; and a store opened read-only, where the database allows it, so that a replay
//! cannot write.

use super::encode::{get_i64, get_opt_str, get_str, get_time};
use super::{parse_url, Backend, Store, StoreError};
use crate::order::{OrderId, Time};
use orderly_engine::replay::Recorded;
use sqlx::any::AnyPoolOptions;
use std::sync::Arc;

/// The first migration that keeps inputs (`0006_order_inputs.sql`).
const INPUTS_MIGRATION: i64 = 6;

/// Which orders to read.
#[derive(Debug, Clone, Default)]
pub struct RecordedQuery {
    /// Only orders of this workflow.
    pub workflow: Option<String>,
    /// Only orders created at or after this time.
    pub since: Option<Time>,
}

/// An order and the inputs it received, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedOrder {
    /// The order's id.
    pub id: OrderId,
    /// Its number.
    pub number: String,
    /// Its workflow.
    pub workflow: String,
    /// Its status now.
    pub status: String,
    /// Its version now: one per input it received, when every input was recorded.
    pub version: i64,
    /// When it was created.
    pub created_at: Time,
    /// The inputs, oldest first (empty for an order recorded before inputs were kept).
    pub inputs: Vec<Recorded>,
    /// Why some input could not be read, if one could not (the inputs are then incomplete).
    pub unreadable: Option<String>,
}

impl Store {
    /// Opens the database at `url` for reading only: SQLite opens the file read-only
    /// (`mode=ro`, and `query_only`); PostgreSQL sessions are read-only
    /// (`default_transaction_read_only`). Nothing is migrated: a database without the inputs
    /// table (migration 6) is [`StoreError::Schema`], naming `orderly migrate`.
    pub async fn connect_read_only(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, _, memory) = parse_url(url)?;
        let url = match backend {
            Backend::Sqlite if !memory && !url.contains("mode=") => {
                format!("{url}{}mode=ro", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyPoolOptions::new().max_connections(2).acquire_timeout(super::ACQUIRE_TIMEOUT);
        let options = match backend {
            Backend::Sqlite => options.after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in ["PRAGMA busy_timeout = 5000", "PRAGMA query_only = ON"] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }),
            Backend::Postgres => options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }),
        };
        let pool = options.connect(&url).await.map_err(|e| match e {
            sqlx::Error::Configuration(e) => StoreError::BadUrl(e.to_string()),
            e => StoreError::from(e),
        })?;
        let store = Store {
            pool,
            backend,
            health: Arc::default(),
            writer: Arc::default(),
            source: None,
            own_pool: false,
            own_pools: Arc::default(),
            held: Arc::default(),
            keeps: false,
        };
        store.check_inputs_kept().await?;
        Ok(store)
    }

    /// Fails unless the schema has the inputs table.
    async fn check_inputs_kept(&self) -> Result<(), StoreError> {
        let applied = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE version = $1")
            .bind(INPUTS_MIGRATION)
            .fetch_one(&self.pool)
            .await;
        match applied {
            Ok(row) if get_i64(&row, "n")? > 0 => Ok(()),
            Ok(_) => Err(StoreError::Schema(
                "the database's schema is older than this orderly's: it does not keep orders' inputs yet \
                 (migration 6); run `orderly migrate --database URL` (orders recorded before that cannot \
                 be replayed)"
                    .into(),
            )),
            Err(sqlx::Error::Database(e)) => Err(StoreError::Schema(format!(
                "this is not an orderly database (its migrations table cannot be read: {}); \
                 `orderly migrate --database URL` creates one",
                e.message()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `limit` orders with ids above `after` that `query` selects, by id, each with its
    /// inputs, read in one statement (one snapshot).
    pub async fn recorded_orders(
        &self,
        query: &RecordedQuery,
        after: OrderId,
        limit: i64,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        // One row per order, its inputs as one JSON array in the order written: rows are what a
        // read pays for (sqlx hands SQLite's over one at a time, from its own thread), and an
        // order has ten or a hundred inputs.
        let mut sql = String::from(
            "SELECT o.id, o.number, o.workflow, o.status, o.version, o.created_at, \
             COALESCE((SELECT '[' || string_agg('{\"at\":\"' || i.at || '\",\"input\":' || i.input || \
             ',\"outcome\":' || i.outcome || '}', ',' ORDER BY i.id) || ']' \
             FROM order_inputs i WHERE i.order_id = o.id), '[]') AS inputs \
             FROM orders o WHERE o.id > $1",
        );
        let mut n = 1;
        if query.workflow.is_some() {
            n += 1;
            sql.push_str(&format!(" AND o.workflow = ${n}"));
        }
        if query.since.is_some() {
            n += 1;
            sql.push_str(&format!(" AND o.created_at >= ${n}"));
        }
        sql.push_str(&format!(" ORDER BY o.id LIMIT ${}", n + 1));
        let mut q = sqlx::query(&sql).bind(after);
        if let Some(w) = &query.workflow {
            q = q.bind(w.as_str());
        }
        if let Some(t) = query.since {
            q = q.bind(super::encode::time(t));
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in &rows {
            let (inputs, unreadable) = match decode(row) {
                Ok(inputs) => (inputs, None),
                Err(e) => (Vec::new(), Some(format!("its recorded inputs cannot be read: {e}"))),
            };
            orders.push(RecordedOrder {
                id: get_i64(row, "id")?,
                number: get_opt_str(row, "number")?.unwrap_or_default(),
                workflow: get_str(row, "workflow")?,
                status: get_str(row, "status")?,
                version: get_i64(row, "version")?,
                created_at: get_time(row, "created_at")?,
                inputs,
                unreadable,
            });
        }
        Ok(orders)
    }
}

fn decode(row: &sqlx::any::AnyRow) -> Result<Vec<Recorded>, StoreError> {
    use sqlx::Row;
    // Borrowed from the row: the JSON is read where it lies.
    let text =
        row.try_get::<&str, _>("inputs").map_err(|e| StoreError::Corrupt(format!("column `inputs`: {e}")))?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}
