//! The order grid: one page of order summaries, newest first (or stuck orders first),
//! filtered by status, channel, flag, lock, queue, assignee, creation and change times, a search
//! text and (through the statuses it holds) phase, paged by a cursor (the last id seen), so a
//! page costs the same however deep it is.

use super::encode::{self, get_flags, get_i64, get_opt_str, get_opt_time, get_str, get_time};
use super::{Store, StoreError};
use crate::order::{OrderId, Time};
use serde::Serialize;
use sqlx::any::AnyRow;

/// What to list. Empty filters match every order.
#[derive(Debug, Clone, Default)]
pub struct GridQuery {
    /// Only orders in one of these statuses (any workflow).
    pub statuses: Vec<String>,
    /// Only orders in one of these (workflow, status) pairs: a phase, resolved by the caller.
    /// `Some(empty)` matches nothing.
    pub workflow_statuses: Option<Vec<(String, String)>>,
    /// Only orders from this channel.
    pub channel: Option<String>,
    /// Only orders with this flag.
    pub flag: Option<String>,
    /// Only orders whose lock is held (true) or free (false) at `now`.
    pub locked: Option<bool>,
    /// Only orders assigned to this person.
    pub assignee: Option<String>,
    /// Only orders in this staff queue.
    pub queue: Option<String>,
    /// Only orders in a queue that nobody is assigned (the CSR dashboard's "In queue").
    pub unassigned_in_queue: bool,
    /// Orders whose number starts with this, or whose customer's email, name or company
    /// contains it (any case).
    pub search: Option<String>,
    /// Only orders created at or after this.
    pub created_since: Option<Time>,
    /// Only orders changed at or after this.
    pub updated_since: Option<Time>,
    /// Stuck orders first (flagged `integration_failed`, `overdue` or `possible_duplicate`,
    /// or with a timer past due at `now`), then the newest. The cursor pages only the plain
    /// order: with this, ask for one page.
    pub stuck_first: bool,
    /// Only orders with an id below this (the cursor of the previous page).
    pub before: Option<OrderId>,
    /// At most this many (the store asks for one more to know whether a next page exists).
    pub limit: u32,
}

/// One row of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GridRow {
    /// The order's id.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: OrderId,
    /// Its number.
    pub number: String,
    /// Its workflow.
    pub workflow: String,
    /// The channel it came from.
    pub channel: String,
    /// The channel's mode.
    pub mode: Option<String>,
    /// Its status code.
    pub status: String,
    /// Since when.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub status_since: Time,
    /// Its flags.
    pub flags: Vec<String>,
    /// The queue it waits in.
    pub queue: Option<String>,
    /// Who it is assigned to.
    pub assignee: Option<String>,
    /// Who holds its lock (only while it is held).
    pub lock_holder: Option<String>,
    /// The customer's email.
    pub customer_email: String,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Time,
    /// Whether it is stuck (asked with `stuck_first`; otherwise false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub stuck: bool,
}

/// A page of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridPage {
    /// The rows, newest first.
    pub rows: Vec<GridRow>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next: Option<OrderId>,
}

/// `%`, `_` and `\` taken literally in a LIKE pattern (with `ESCAPE '\'`).
pub(crate) fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn decode(row: &AnyRow, now: Time) -> Result<GridRow, StoreError> {
    let expires = get_opt_time(row, "lock_expires_at")?;
    let holder = get_opt_str(row, "lock_holder")?;
    Ok(GridRow {
        id: get_i64(row, "id")?,
        number: get_str(row, "number")?,
        workflow: get_str(row, "workflow")?,
        channel: get_str(row, "channel")?,
        mode: get_opt_str(row, "mode")?,
        status: get_str(row, "status")?,
        status_since: get_time(row, "status_since")?,
        flags: get_flags(row, "flags")?.into_iter().collect(),
        queue: get_opt_str(row, "queue")?,
        assignee: get_opt_str(row, "assignee")?,
        lock_holder: holder.filter(|_| expires.is_some_and(|e| e > now)),
        customer_email: get_opt_str(row, "email")?.unwrap_or_default(),
        created_at: get_time(row, "created_at")?,
        stuck: get_i64(row, "stuck")? != 0,
    })
}

/// The columns of a grid row (`stuck` is added by each query).
const COLUMNS: &str = "o.id, o.number, o.workflow, o.channel, o.mode, o.status, o.status_since, o.flags, \
     o.queue, o.assignee, o.lock_holder, o.lock_expires_at, o.created_at, c.email";

/// Whether an order's `flags` hold one of the flags that make it stuck on the board
/// (`integration_failed`, `overdue`, `possible_duplicate`), written out with literals: the
/// predicate of the partial index `orders_stuck` (migration 9), which a query must repeat word
/// for word for either database to read the flagged orders from that small index instead of
/// the whole table. A unit test keeps the two together.
pub(crate) const STUCK_FLAGS_SQL: &str = "flags LIKE '% integration\\_failed %' ESCAPE '\\' \
     OR flags LIKE '% overdue %' ESCAPE '\\' OR flags LIKE '% possible\\_duplicate %' ESCAPE '\\'";

impl Store {
    /// One page of the order grid as of `now` (for the lock filter).
    ///
    /// Every filter narrows one statement; what keeps a page cheap on a large table is that no
    /// statement reads every order. Newest first walks the primary key backwards and stops at
    /// the page's end. Stuck first is two such walks in one statement, stuck orders (from the
    /// partial index `orders_stuck` and the timers' `due_at` index) and then the others, each
    /// limited to the page. A search first finds the orders it matches (numbers from the
    /// number index, customers from their table, their orders from `orders_customer`), then
    /// takes those.
    pub async fn grid(&self, q: &GridQuery, now: Time) -> Result<GridPage, StoreError> {
        if q.workflow_statuses.as_ref().is_some_and(Vec::is_empty) {
            return Ok(GridPage { rows: Vec::new(), next: None });
        }
        // Built from fixed fragments and numbered placeholders only; every value is bound.
        let mut binds: Vec<String> = Vec::new();
        let param = |binds: &mut Vec<String>, v: String| {
            binds.push(v);
            format!("${}", binds.len())
        };
        // Sets of order ids the statement starts from (common table expressions).
        let mut with: Vec<String> = Vec::new();
        let mut sql = String::new();
        if let Some(text) = q.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let prefix = param(&mut binds, format!("{}%", like_literal(text)));
            let inside = param(&mut binds, format!("%{}%", like_literal(&text.to_lowercase())));
            with.push(format!(
                "found_ids (id) AS (SELECT id FROM orders WHERE number LIKE {prefix} ESCAPE '\\' \
                 UNION SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers \
                 WHERE email_norm LIKE {inside} ESCAPE '\\' OR name_norm LIKE {inside} ESCAPE '\\' \
                 OR company_norm LIKE {inside} ESCAPE '\\'))"
            ));
            sql.push_str(" AND o.id IN (SELECT id FROM found_ids)");
        }
        if q.stuck_first {
            let due = param(&mut binds, encode::time(now));
            with.push(format!(
                "stuck_ids (id) AS (SELECT id FROM orders WHERE {STUCK_FLAGS_SQL} \
                 UNION SELECT order_id FROM timers WHERE due_at < {due})"
            ));
        }
        if !q.statuses.is_empty() {
            let list: Vec<String> = q.statuses.iter().map(|s| param(&mut binds, s.clone())).collect();
            sql.push_str(&format!(" AND o.status IN ({})", list.join(", ")));
        }
        if let Some(pairs) = &q.workflow_statuses {
            let ors: Vec<String> = pairs
                .iter()
                .map(|(w, s)| {
                    let w = param(&mut binds, w.clone());
                    let s = param(&mut binds, s.clone());
                    format!("(o.workflow = {w} AND o.status = {s})")
                })
                .collect();
            sql.push_str(&format!(" AND ({})", ors.join(" OR ")));
        }
        if let Some(c) = &q.channel {
            let p = param(&mut binds, c.clone());
            sql.push_str(&format!(" AND o.channel = {p}"));
        }
        if let Some(f) = &q.flag {
            let p = param(&mut binds, format!("% {} %", like_literal(f)));
            sql.push_str(&format!(" AND o.flags LIKE {p} ESCAPE '\\'"));
        }
        if let Some(a) = &q.assignee {
            let p = param(&mut binds, a.clone());
            sql.push_str(&format!(" AND o.assignee = {p}"));
        }
        if let Some(queue) = &q.queue {
            let p = param(&mut binds, queue.clone());
            sql.push_str(&format!(" AND o.queue = {p}"));
        }
        if q.unassigned_in_queue {
            sql.push_str(" AND o.queue IS NOT NULL AND o.assignee IS NULL");
        }
        if let Some(t) = q.created_since {
            let p = param(&mut binds, encode::time(t));
            sql.push_str(&format!(" AND o.created_at >= {p}"));
        }
        if let Some(t) = q.updated_since {
            let p = param(&mut binds, encode::time(t));
            sql.push_str(&format!(" AND o.updated_at >= {p}"));
        }
        if let Some(locked) = q.locked {
            let p = param(&mut binds, encode::time(now));
            if locked {
                sql.push_str(&format!(" AND o.lock_holder IS NOT NULL AND o.lock_expires_at > {p}"));
            } else {
                sql.push_str(&format!(" AND (o.lock_holder IS NULL OR o.lock_expires_at <= {p})"));
            }
        }
        if q.before.is_some() {
            sql.push_str(&format!(" AND o.id < ${}", binds.len() + 1));
        }
        let limit = q.limit.clamp(1, 500);
        let filters = sql;
        let from = "FROM orders o LEFT JOIN customers c ON c.id = o.customer_id";
        let with = if with.is_empty() { String::new() } else { format!("WITH {} ", with.join(", ")) };
        let n = limit + 1;
        let sql = if q.stuck_first {
            format!(
                "{with}SELECT * FROM (SELECT {COLUMNS}, CAST(1 AS BIGINT) AS stuck {from} \
                 WHERE o.id IN (SELECT id FROM stuck_ids){filters} ORDER BY o.id DESC LIMIT {n}) AS s \
                 UNION ALL SELECT * FROM (SELECT {COLUMNS}, CAST(0 AS BIGINT) AS stuck {from} \
                 WHERE o.id NOT IN (SELECT id FROM stuck_ids){filters} ORDER BY o.id DESC LIMIT {n}) AS p \
                 ORDER BY stuck DESC, id DESC LIMIT {n}"
            )
        } else {
            format!(
                "{with}SELECT {COLUMNS}, CAST(0 AS BIGINT) AS stuck {from} WHERE 1 = 1{filters} \
                 ORDER BY o.id DESC LIMIT {n}"
            )
        };
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b.as_str());
        }
        if let Some(b) = q.before {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut rows: Vec<GridRow> = rows.iter().map(|r| decode(r, now)).collect::<Result<_, _>>()?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(GridPage { rows, next })
    }
}

#[cfg(test)]
mod tests {
    use super::{like_literal, STUCK_FLAGS_SQL};

    /// The predicate the grid repeats is the partial index's, in both migrations, and names
    /// exactly the stuck flags.
    #[test]
    fn the_stuck_flags_predicate_is_the_indexs() {
        let built: Vec<String> = ["integration_failed", "overdue", "possible_duplicate"]
            .iter()
            .map(|f| format!("flags LIKE '% {} %' ESCAPE '\\'", like_literal(f)))
            .collect();
        assert_eq!(STUCK_FLAGS_SQL, built.join(" OR "));
        for migration in [
            include_str!("../migrations/sqlite/0009_stuck_orders.sql"),
            include_str!("../migrations/postgres/0009_stuck_orders.sql"),
        ] {
            let sql: String =
                migration.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join(" ");
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(sql.contains(&format!("ON orders (id) WHERE {STUCK_FLAGS_SQL};")), "{sql}");
        }
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_literal("possible_duplicate"), "possible\\_duplicate");
        assert_eq!(like_literal("100%"), "100\\%");
        assert_eq!(like_literal("a\\b"), "a\\\\b");
    }
}
