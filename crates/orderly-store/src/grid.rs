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

/// The flags that make an order stuck on the board.
pub(crate) const STUCK_FLAGS: &[&str] = &["integration_failed", "overdue", "possible_duplicate"];

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

impl Store {
    /// One page of the order grid as of `now` (for the lock filter).
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
        let stuck = if q.stuck_first {
            let mut ors: Vec<String> = STUCK_FLAGS
                .iter()
                .map(|f| {
                    format!(
                        "o.flags LIKE {} ESCAPE '\\'",
                        param(&mut binds, format!("% {} %", like_literal(f)))
                    )
                })
                .collect();
            let due = param(&mut binds, encode::time(now));
            ors.push(format!("EXISTS (SELECT 1 FROM timers t WHERE t.order_id = o.id AND t.due_at < {due})"));
            format!("CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)", ors.join(" OR "))
        } else {
            "CAST(0 AS BIGINT)".to_string()
        };
        let mut sql = format!(
            "SELECT o.id, o.number, o.workflow, o.channel, o.mode, o.status, o.status_since, o.flags, \
             o.queue, o.assignee, o.lock_holder, o.lock_expires_at, o.created_at, c.email, {stuck} AS stuck \
             FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE 1 = 1",
        );
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
        if let Some(text) = q.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let prefix = param(&mut binds, format!("{}%", like_literal(text)));
            let inside = param(&mut binds, format!("%{}%", like_literal(&text.to_lowercase())));
            sql.push_str(&format!(
                " AND (o.number LIKE {prefix} ESCAPE '\\' OR c.email_norm LIKE {inside} ESCAPE '\\' \
                 OR c.name_norm LIKE {inside} ESCAPE '\\' OR c.company_norm LIKE {inside} ESCAPE '\\')"
            ));
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
        let order_by = if q.stuck_first { "stuck DESC, o.id DESC" } else { "o.id DESC" };
        sql.push_str(&format!(" ORDER BY {order_by} LIMIT {}", limit + 1));
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
    use super::like_literal;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_literal("possible_duplicate"), "possible\\_duplicate");
        assert_eq!(like_literal("100%"), "100\\%");
        assert_eq!(like_literal("a\\b"), "a\\\\b");
    }
}
