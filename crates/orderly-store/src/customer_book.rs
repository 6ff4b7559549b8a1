//! The customer book: what staff do with customers by hand (the console's Find Cust and Create
//! Cust, the API's `/v1/customers`): search them, read one with its orders, create one, and
//! mark one merged into another. Linking an order to a customer is an input of the order (the
//! service's, through the engine); matching an incoming order is `customers.rs`.
//!
//! A merged customer is kept, with `merged_into` naming the customer kept (never one merged
//! itself: a merge into a customer others were merged into repoints them), so that its id keeps
//! answering; search and matching skip it.
//!
//! Search compares what matching compares, normalised the same way (trimmed and lowercased;
//! names as lowercased words; postal codes without spaces): the email, the name (first and last
//! together, or either alone) and the company contain the query, or the postal code starts with
//! it. The query is bound, never spliced, and taken literally: `%`, `_` and `\` are escaped
//! (`LIKE ... ESCAPE '\'`). Names given alone are compared with the database's `LOWER`, which
//! SQLite applies to ASCII letters only; first and last name together use the stored normal form.

use super::customers::{norm, words, zip_norm, CustomerMatch};
use super::encode::{get_bool, get_i64, get_opt_i64, get_str, get_time};
use super::grid::like_literal;
use super::{Backend, Store, StoreError, Tx};
use crate::order::{Customer, OrderId, Time};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

/// A customer as staff find it: who, and how many orders it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerSummary {
    /// The store's id.
    pub id: i64,
    /// Email as given (may be empty: a phone customer).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company.
    pub company: String,
    /// Phone.
    pub phone: String,
    /// Created for an order checked out as a guest.
    pub is_guest: bool,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Time,
    /// How many orders are linked to it.
    pub orders: i64,
    /// For a customer merged into another: that one (its orders went there). Search never
    /// finds a merged customer.
    pub merged_into: Option<i64>,
}

impl CustomerSummary {
    /// The customer as an order carries it (not new: it exists).
    pub fn as_customer(&self) -> Customer {
        Customer {
            id: Some(self.id),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            company: self.company.clone(),
            phone: self.phone.clone(),
            is_guest: self.is_guest,
            is_new: false,
        }
    }
}

/// One of a customer's orders, as its page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerOrder {
    /// The order's id.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: OrderId,
    /// Its number.
    pub number: String,
    /// Its workflow.
    pub workflow: String,
    /// Its status code.
    pub status: String,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Time,
}

/// A customer with its orders, newest first (at most as many as asked for; `customer.orders`
/// says how many there are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerDetail {
    /// The customer.
    pub customer: CustomerSummary,
    /// Its orders, newest first.
    pub orders: Vec<CustomerOrder>,
}

/// The columns of a [`CustomerSummary`], from `customers c`.
macro_rules! summary_columns {
    () => {
        "c.id, c.email, c.first_name, c.last_name, c.company, c.phone, c.is_guest, c.created_at, \
         c.merged_into, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) AS order_count"
    };
}

fn decode_summary(row: &AnyRow) -> Result<CustomerSummary, StoreError> {
    Ok(CustomerSummary {
        id: get_i64(row, "id")?,
        email: get_str(row, "email")?,
        first_name: get_str(row, "first_name")?,
        last_name: get_str(row, "last_name")?,
        company: get_str(row, "company")?,
        phone: get_str(row, "phone")?,
        is_guest: get_bool(row, "is_guest")?,
        created_at: get_time(row, "created_at")?,
        orders: get_i64(row, "order_count")?,
        merged_into: get_opt_i64(row, "merged_into")?,
    })
}

fn decode_order(row: &AnyRow) -> Result<CustomerOrder, StoreError> {
    Ok(CustomerOrder {
        id: get_i64(row, "id")?,
        number: get_str(row, "number")?,
        workflow: get_str(row, "workflow")?,
        status: get_str(row, "status")?,
        created_at: get_time(row, "created_at")?,
    })
}

impl Store {
    /// Customers matching `query` (see the module documentation), those whose email is the
    /// query first, then newest first; at most `limit` (clamped to 1 to 100). An empty query
    /// (after trimming) matches every customer. Merged customers are never found; nor is
    /// anything by a query with a NUL (no text stored has one, and PostgreSQL refuses it).
    pub async fn search_customers(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<CustomerSummary>, StoreError> {
        let limit = i64::from(limit.clamp(1, 100));
        if query.contains('\0') {
            return Ok(Vec::new());
        }
        let email = norm(query);
        if email.is_empty() {
            let rows = sqlx::query(concat!(
                "SELECT ",
                summary_columns!(),
                " FROM customers c WHERE c.merged_into IS NULL ORDER BY c.id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            return rows.iter().map(decode_summary).collect();
        }
        let contains = format!("%{}%", like_literal(&email));
        let name = format!("%{}%", like_literal(&words(query)));
        // A query with nothing but spaces between its characters still has a postal code form;
        // one that is all spaces was caught above.
        let zip = format!("{}%", like_literal(&zip_norm(query)));
        let rows = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            " FROM customers c WHERE c.merged_into IS NULL AND (c.email_norm LIKE $1 ESCAPE '\\' \
             OR c.company_norm LIKE $2 ESCAPE '\\' OR c.name_norm LIKE $3 ESCAPE '\\' \
             OR LOWER(c.first_name) LIKE $4 ESCAPE '\\' OR LOWER(c.last_name) LIKE $5 ESCAPE '\\' \
             OR c.zip_norm LIKE $6 ESCAPE '\\') \
             ORDER BY CASE WHEN c.email_norm = $7 THEN 0 ELSE 1 END, c.id DESC LIMIT $8"
        ))
        .bind(contains.as_str())
        .bind(contains.as_str())
        .bind(name.as_str())
        .bind(name.as_str())
        .bind(name.as_str())
        .bind(zip.as_str())
        .bind(email.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_summary).collect()
    }

    /// The customer with this id and its newest `max_orders` orders, read from one snapshot.
    pub async fn customer_detail(
        &self,
        id: i64,
        max_orders: u32,
    ) -> Result<Option<CustomerDetail>, StoreError> {
        let mut tx = self.read().await?;
        let row = sqlx::query(concat!("SELECT ", summary_columns!(), " FROM customers c WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let customer = decode_summary(&row)?;
        let rows = sqlx::query(
            "SELECT id, number, workflow, status, created_at FROM orders WHERE customer_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(id)
        .bind(i64::from(max_orders))
        .fetch_all(&mut *tx)
        .await?;
        let orders = rows.iter().map(decode_order).collect::<Result<_, _>>()?;
        tx.commit().await?;
        Ok(Some(CustomerDetail { customer, orders }))
    }

    /// The customer with this id (merged or not), with how many orders it has.
    pub async fn customer(&self, id: i64) -> Result<Option<CustomerSummary>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", summary_columns!(), " FROM customers c WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode_summary).transpose()
    }

    /// The ids of every order linked to the customer, oldest first.
    pub async fn customer_order_ids(&self, id: i64) -> Result<Vec<OrderId>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?)
    }
}

impl Tx {
    /// Creates a customer by hand (not guest). It claims its email when no customer had it (the
    /// first customer for an email claims it, as when an order creates one); an email claimed
    /// already stays with its customer.
    pub async fn create_customer(&mut self, c: &CustomerMatch, now: Time) -> Result<Customer, StoreError> {
        let customer = self.create(c, now).await?;
        let email = norm(&c.email);
        if !email.is_empty() {
            // On PostgreSQL a claim another transaction is making waits for it: taken, this does
            // nothing; rolled back, this one claims it.
            sqlx::query(
                "INSERT INTO customer_emails (email_norm, customer_id) VALUES ($1, $2) \
                 ON CONFLICT (email_norm) DO NOTHING",
            )
            .bind(email.as_str())
            .bind(customer.id)
            .execute(self.conn())
            .await?;
        }
        Ok(customer)
    }

    /// Marks customer `from` merged into `into` once no order is linked to it: its email claims
    /// go to `into` (which then stands for those emails when orders are matched), customers
    /// merged into `from` before now name `into`, and `from` gets `merged_into`. False, with
    /// nothing done, when an order is still linked to it (one came in since its orders were
    /// moved: link that one too and try again) or it is merged already.
    ///
    /// On PostgreSQL the claim of `from`'s email is locked first, so an order being matched to
    /// that email meanwhile waits, then skips `from` and finds `into`; one matched first is seen
    /// here, and this answers false.
    pub async fn mark_merged(&mut self, from: i64, into: i64) -> Result<bool, StoreError> {
        if self.backend() == Backend::Postgres {
            sqlx::query(
                "SELECT customer_id FROM customer_emails WHERE customer_id = $1 \
                 OR email_norm = (SELECT email_norm FROM customers WHERE id = $2) FOR UPDATE",
            )
            .bind(from)
            .bind(from)
            .fetch_all(self.conn())
            .await?;
        }
        let marked = sqlx::query(
            "UPDATE customers SET merged_into = $1 WHERE id = $2 AND merged_into IS NULL \
             AND NOT EXISTS (SELECT 1 FROM orders WHERE customer_id = $3)",
        )
        .bind(into)
        .bind(from)
        .bind(from)
        .execute(self.conn())
        .await?;
        if marked.rows_affected() != 1 {
            return Ok(false);
        }
        for sql in [
            "UPDATE customer_emails SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE customers SET merged_into = $1 WHERE merged_into = $2",
        ] {
            sqlx::query(sql).bind(into).bind(from).execute(self.conn()).await?;
        }
        Ok(true)
    }
}
