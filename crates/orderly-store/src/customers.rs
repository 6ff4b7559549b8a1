//! Customers: linking an incoming order to an existing customer, or creating one. Guests get a
//! record too.
//!
//! Matching, with email and company compared trimmed and lowercased:
//! 1. Customers with the order's email (and the customer its claim names, see below): one with
//!    the same company is linked; if the order gives no company, the oldest is linked;
//!    otherwise (same email, another company) a new customer is created and flagged
//!    `possible_duplicate`.
//! 2. No customer with that email: a new customer is created, flagged `possible_duplicate` when
//!    a customer with the same first and last name (both given) has the same company or the
//!    same postal code (compared without spaces, lowercased).
//!
//! An empty email never matches (step 2 still runs).
//!
//! Race-safe on both backends, across processes: `customer_emails` holds one row per email that
//! has customers (the first customer it linked to), unique on the email. A customer created for
//! an email no customer has (step 2) claims the email in the same transaction; a claim already
//! taken by a transaction that committed in between is [`StoreError::Conflict`], and the retry
//! reads again and links that customer. On PostgreSQL a match for an email with customers first
//! locks its claim (`FOR UPDATE`), so two creations for the same email and a new company (step
//! 1) wait for each other too; SQLite's write lock serializes every match already.
//!
//! Staff create customers by hand and merge two into one (`customer_book.rs`). A customer
//! created by hand claims its email when no customer had it, like step 2. A merge marks the
//! customer merged away (`merged_into`: matching skips it from then on) and gives its claims to
//! the one kept, which from then on stands for those emails too (step 1 reads the customer a
//! claim names besides those with the email), so a claim always names a customer not merged,
//! and an email with a claim never reaches step 2.

use super::encode::{self, get_bool, get_i64, get_str};
use super::{Backend, StoreError, Tx};
use crate::order::{Customer, Time};
use sqlx::any::AnyRow;

/// The customer fields of an incoming order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerMatch {
    /// Email as given.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company.
    pub company: String,
    /// Phone.
    pub phone: String,
    /// Checked out as a guest.
    pub is_guest: bool,
    /// Postal code (of the billing address, or shipping when there is none).
    pub zip: String,
}

impl CustomerMatch {
    /// The customer a new order asks for, as matching compares it: the order's customer, with
    /// the billing address's postal code, or the shipping address's when there is none.
    pub fn of(input: &orderly_engine::engine::NewOrder) -> CustomerMatch {
        let c = &input.customer;
        CustomerMatch {
            email: c.email.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            company: c.company.clone(),
            phone: c.phone.clone(),
            is_guest: c.guest,
            zip: input
                .billing_address
                .as_ref()
                .or(input.shipping_address.as_ref())
                .map(|a| a.zip.clone())
                .unwrap_or_default(),
        }
    }
}

/// The customer an order was linked to.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedCustomer {
    /// The customer, with its id; `is_new` when created for this order.
    pub customer: Customer,
    /// A different customer looks like the same person (same email with another company, or
    /// same name with the same company or postal code): staff should look.
    pub possible_duplicate: bool,
}

/// Email and company as compared: trimmed, lowercased.
pub(crate) fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// First and last name as compared: words lowercased, single spaces. Empty unless both given.
pub(crate) fn name_norm(first: &str, last: &str) -> String {
    let (first, last) = (words(first), words(last));
    if first.is_empty() || last.is_empty() {
        return String::new();
    }
    format!("{first} {last}")
}

/// Words lowercased, single spaces between them.
pub(crate) fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A postal code as compared: no spaces, lowercased.
pub(crate) fn zip_norm(s: &str) -> String {
    s.split_whitespace().collect::<String>().to_lowercase()
}

fn decode(row: &AnyRow) -> Result<(Customer, String), StoreError> {
    let customer = Customer {
        id: Some(get_i64(row, "id")?),
        email: get_str(row, "email")?,
        first_name: get_str(row, "first_name")?,
        last_name: get_str(row, "last_name")?,
        company: get_str(row, "company")?,
        phone: get_str(row, "phone")?,
        is_guest: get_bool(row, "is_guest")?,
        is_new: false,
    };
    Ok((customer, get_str(row, "company_norm")?))
}

impl Tx {
    /// Links the order's customer to an existing customer or creates one (see the module
    /// documentation for the rules). [`StoreError::Conflict`] when another transaction created
    /// the first customer for this email since this one began: drop the transaction and retry.
    pub async fn match_customer(
        &mut self,
        c: &CustomerMatch,
        now: Time,
    ) -> Result<MatchedCustomer, StoreError> {
        let email = norm(&c.email);
        let company = norm(&c.company);
        if !email.is_empty() {
            if self.backend() == Backend::Postgres {
                // Held to the end of the transaction: decisions for this email take turns.
                sqlx::query("SELECT customer_id FROM customer_emails WHERE email_norm = $1 FOR UPDATE")
                    .bind(email.as_str())
                    .fetch_optional(self.conn())
                    .await?;
            }
            let rows = sqlx::query(
                "SELECT id, email, first_name, last_name, company, company_norm, phone, is_guest \
                 FROM customers WHERE (email_norm = $1 \
                 OR id = (SELECT customer_id FROM customer_emails WHERE email_norm = $2)) \
                 AND merged_into IS NULL ORDER BY id",
            )
            .bind(email.as_str())
            .bind(email.as_str())
            .fetch_all(self.conn())
            .await?;
            let found = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            if let Some((customer, _)) = found.iter().find(|(_, co)| *co == company) {
                return Ok(MatchedCustomer { customer: customer.clone(), possible_duplicate: false });
            }
            if let Some((oldest, _)) = found.first() {
                if company.is_empty() {
                    return Ok(MatchedCustomer { customer: oldest.clone(), possible_duplicate: false });
                }
                let customer = self.create(c, now).await?;
                return Ok(MatchedCustomer { customer, possible_duplicate: true });
            }
        }
        let name = name_norm(&c.first_name, &c.last_name);
        let mut possible_duplicate = false;
        if !name.is_empty() {
            let zip = zip_norm(&c.zip);
            let near = sqlx::query(
                "SELECT id FROM customers WHERE name_norm = $1 AND (company_norm = $2 OR zip_norm = $3) \
                 AND merged_into IS NULL LIMIT 1",
            )
            .bind(name.as_str())
            .bind((!company.is_empty()).then_some(company.as_str()))
            .bind((!zip.is_empty()).then_some(zip.as_str()))
            .fetch_optional(self.conn())
            .await?;
            possible_duplicate = near.is_some();
        }
        let customer = self.create(c, now).await?;
        if !email.is_empty() {
            self.claim_email(&email, &customer).await?;
        }
        Ok(MatchedCustomer { customer, possible_duplicate })
    }

    /// Records `customer` as the first with `email`; [`StoreError::Conflict`] when another
    /// transaction did so for its own customer first (on PostgreSQL this waits for that
    /// transaction to end; if it rolls back, the claim is this one's).
    async fn claim_email(&mut self, email: &str, customer: &Customer) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO customer_emails (email_norm, customer_id) VALUES ($1, $2) \
             ON CONFLICT (email_norm) DO NOTHING",
        )
        .bind(email)
        .bind(customer.id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    /// Creates a customer.
    pub(crate) async fn create(&mut self, c: &CustomerMatch, now: Time) -> Result<Customer, StoreError> {
        let row = sqlx::query(
            "INSERT INTO customers (email, email_norm, first_name, last_name, name_norm, company, company_norm, \
             phone, zip_norm, is_guest, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING id",
        )
        .bind(c.email.trim())
        .bind(norm(&c.email))
        .bind(c.first_name.trim())
        .bind(c.last_name.trim())
        .bind(name_norm(&c.first_name, &c.last_name))
        .bind(c.company.trim())
        .bind(norm(&c.company))
        .bind(c.phone.trim())
        .bind(zip_norm(&c.zip))
        .bind(encode::boolean(c.is_guest))
        .bind(encode::time(now))
        .fetch_one(self.conn())
        .await?;
        Ok(Customer {
            id: Some(get_i64(&row, "id")?),
            email: c.email.trim().to_string(),
            first_name: c.first_name.trim().to_string(),
            last_name: c.last_name.trim().to_string(),
            company: c.company.trim().to_string(),
            phone: c.phone.trim().to_string(),
            is_guest: c.is_guest,
            is_new: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms() {
        assert_eq!(norm("  Ann@Example.COM "), "ann@example.com");
        assert_eq!(name_norm(" Ann ", "van  der Berg"), "ann van der berg");
        assert_eq!(name_norm("Ann", " "), "");
        assert_eq!(zip_norm(" SW1A 1aa "), "sw1a1aa");
    }
}
