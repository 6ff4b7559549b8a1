//! Customers by hand: the service's side of the customer book (`/v1/customers`, the console's
//! Find Cust and Create Cust). Search and view read the store. Creating a customer is one short
//! transaction. Linking an order to a customer is an input of the order like any other, through
//! [`Service::change`]: another holder's lock refuses it, the order's version moves (a
//! concurrent change makes it decide again), the history records it with its actor, and the
//! input is recorded for replay. A merge links every order of one customer to another that way,
//! then marks the first merged into it (kept, so its id still answers; its email claims go to
//! the one kept).

use super::{commit, Applied, Service, ServiceError, RETRIES};
use crate::engine::{self, Problem, Rejection, RejectionCode};
use crate::limits::{text_problem, MAX_EMAIL, MAX_NAME, MAX_PHONE};
use crate::store::{CustomerDetail, CustomerMatch, CustomerOrder, CustomerSummary, OrderKey, StoreError};
use orderly_engine::replay::Input;
use serde::{Deserialize, Serialize};

/// The longest search query, in characters.
pub const MAX_QUERY: usize = 200;

/// The most customers one search answers.
pub const MAX_SEARCH_LIMIT: u32 = 100;

/// How many customers a search answers when it does not say.
pub const DEFAULT_SEARCH_LIMIT: u32 = 20;

/// The most orders a customer's view lists (the newest; the view says how many there are).
pub const MAX_CUSTOMER_ORDERS: u32 = 100;

/// A customer to create by hand (Create Cust). Every field may be left out (empty). An email,
/// when given, must look like an address; a customer needs an email or a phone, and a name or a
/// company.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewCustomer {
    /// Email (may be empty for a customer known by phone).
    #[schema(max_length = 254)]
    pub email: String,
    /// First name.
    #[schema(max_length = 200)]
    pub first_name: String,
    /// Last name.
    #[schema(max_length = 200)]
    pub last_name: String,
    /// Company.
    #[schema(max_length = 200)]
    pub company: String,
    /// Phone.
    #[schema(max_length = 64)]
    pub phone: String,
    /// Postal code (kept in its compared form, without spaces, for matching and search).
    #[schema(max_length = 200)]
    pub zip: String,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Merged {
    /// The customer kept.
    pub into: i64,
    /// The customer merged into it, now marked so (`merged_into`).
    pub from: i64,
    /// The orders moved from `from` to `into`, each as it is after its link, oldest first.
    pub moved: Vec<CustomerOrder>,
}

/// A refusal of the request's data: `invalid_data`, with the fields and what is wrong.
/// A customer id in a request's body that names no customer: the request is what is wrong
/// (422), not the resource its path names (which exists).
fn unknown_in_body(field: &str, id: i64) -> ServiceError {
    let problems =
        vec![Problem { field: field.into(), problem: format!("is {id}: no customer has this id") }];
    invalid(&format!("no customer has id {id}"), problems)
}

fn invalid(message: &str, problems: Vec<Problem>) -> ServiceError {
    let mut r = Rejection::new(RejectionCode::InvalidData, message);
    r.problems = problems;
    ServiceError::Rejected(r)
}

/// What is wrong with a search query, if anything: longer than [`MAX_QUERY`] characters.
/// (Any other text is searched for as it is.)
pub fn query_problem(query: &str) -> Option<String> {
    text_problem(query, MAX_QUERY)
}

/// The refusal of a customer merged into another, named where the request names it.
fn merged_away(field: &str, id: i64, into: i64, what: &str) -> ServiceError {
    let problems = vec![Problem {
        field: field.into(),
        problem: format!("customer {id} was merged into customer {into}"),
    }];
    invalid(&format!("customer {id} was merged into customer {into}: {what}"), problems)
}

/// Why `email` (trimmed, not empty) does not look like an address, if it does not: one `@`
/// with something before it, and after it a domain of dot-separated labels (at least two, none
/// empty or starting or ending with `-`); no spaces or control characters.
fn email_problem(email: &str) -> Option<String> {
    let bad = || Some("is not an email address (name@example.com)".to_string());
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = email.rsplit_once('@') else { return bad() };
    if local.is_empty() || local.contains('@') {
        return bad();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-');
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return bad();
    }
    None
}

/// What is wrong with a customer to create: lengths, control characters, the email's form, and
/// the parts it needs.
fn customer_problems(c: &NewCustomer) -> Vec<Problem> {
    let fields = [
        ("email", &c.email, MAX_EMAIL),
        ("first_name", &c.first_name, MAX_NAME),
        ("last_name", &c.last_name, MAX_NAME),
        ("company", &c.company, MAX_NAME),
        ("phone", &c.phone, MAX_PHONE),
        ("zip", &c.zip, MAX_NAME),
    ];
    let mut problems = Vec::new();
    for (field, text, max) in fields {
        let problem = text_problem(text, max).or_else(|| {
            text.chars()
                .any(char::is_control)
                .then(|| "has control characters (line breaks, tabs, ...)".into())
        });
        if let Some(problem) = problem {
            problems.push(Problem { field: field.into(), problem });
        }
    }
    let email = c.email.trim();
    if !email.is_empty() && !problems.iter().any(|p| p.field == "email") {
        if let Some(problem) = email_problem(email) {
            problems.push(Problem { field: "email".into(), problem });
        }
    }
    if email.is_empty() && c.phone.trim().is_empty() {
        problems.push(Problem {
            field: "email".into(),
            problem: "is missing, and so is `phone`: a customer needs one of them".into(),
        });
    }
    if [&c.first_name, &c.last_name, &c.company].iter().all(|t| t.trim().is_empty()) {
        problems.push(Problem {
            field: "last_name".into(),
            problem:
                "is missing, and so are `first_name` and `company`: a customer needs a name or a company"
                    .into(),
        });
    }
    problems
}

impl Service {
    /// Customers whose email, name (first, last, or both) or company contains `query`, or whose
    /// postal code starts with it, compared as matching compares them (trimmed, lowercased;
    /// postal codes without spaces; `%` and `_` are plain characters). Those whose email is the
    /// query come first, then the newest. An empty query lists the newest customers. `limit` is
    /// clamped to 1 to [`MAX_SEARCH_LIMIT`]. A query over [`MAX_QUERY`] characters is refused
    /// (`invalid_data`; [`query_problem`]). Customers merged into another are not found.
    pub async fn search_customers(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<CustomerSummary>, ServiceError> {
        if let Some(problem) = query_problem(query) {
            let problems = vec![Problem { field: "q".into(), problem }];
            return Err(invalid("the search cannot be run", problems));
        }
        Ok(self.store.search_customers(query, limit.clamp(1, MAX_SEARCH_LIMIT)).await?)
    }

    /// The customer with this id, with its newest orders (at most [`MAX_CUSTOMER_ORDERS`];
    /// `customer.orders` counts them all). A customer merged into another is found too, with
    /// `merged_into`. [`ServiceError::CustomerNotFound`] for an unknown id.
    pub async fn customer(&self, id: i64) -> Result<CustomerDetail, ServiceError> {
        self.store.customer_detail(id, MAX_CUSTOMER_ORDERS).await?.ok_or(ServiceError::CustomerNotFound(id))
    }

    /// Creates a customer by hand (Create Cust), not a guest, with no orders; it claims its
    /// email when no customer had it (see `customers.rs` in the store). Invalid fields are
    /// refused (`invalid_data`, each field in `problems`) and nothing is stored. The answer is
    /// what was written.
    pub async fn create_customer(&self, input: &NewCustomer) -> Result<CustomerSummary, ServiceError> {
        let problems = customer_problems(input);
        if !problems.is_empty() {
            return Err(invalid("the customer has fields that are missing or invalid", problems));
        }
        let wanted = CustomerMatch {
            email: input.email.clone(),
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            company: input.company.clone(),
            phone: input.phone.clone(),
            is_guest: false,
            zip: input.zip.clone(),
        };
        self.noted(self.create_customer_unnoted(&wanted).await)
    }

    async fn create_customer_unnoted(&self, wanted: &CustomerMatch) -> Result<CustomerSummary, ServiceError> {
        for _ in 0..RETRIES {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let customer = match tx.create_customer(wanted, now).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            };
            if !commit(tx).await? {
                continue;
            }
            let Some(id) = customer.id else {
                return Err(StoreError::Corrupt("a new customer came back without an id".into()).into());
            };
            return Ok(CustomerSummary {
                id,
                email: customer.email,
                first_name: customer.first_name,
                last_name: customer.last_name,
                company: customer.company,
                phone: customer.phone,
                is_guest: customer.is_guest,
                created_at: now,
                orders: 0,
                merged_into: None,
            });
        }
        Err(StoreError::Conflict.into())
    }

    /// Links the order `key` names to customer `customer_id` (Find Cust) on behalf of `actor`:
    /// the order's customer becomes that one, its `possible_duplicate` flag is cleared, and the
    /// history records a `customer_linked` row (`customer_id`, `previous`) with the actor.
    /// Refused (`locked`) while another holder has the order's lock, and (`invalid_data`) for a
    /// customer merged into another (the message names that one); an unknown customer is
    /// [`ServiceError::CustomerNotFound`], an unknown order [`ServiceError::NotFound`]. The
    /// answer has the order's whole history.
    pub async fn link_customer(
        &self,
        key: impl Into<OrderKey>,
        customer_id: i64,
        actor: Option<&str>,
    ) -> Result<Applied, ServiceError> {
        let customer = self
            .store
            .customer(customer_id)
            .await?
            .ok_or_else(|| unknown_in_body("customer_id", customer_id))?;
        if let Some(into) = customer.merged_into {
            return Err(merged_away("customer_id", customer_id, into, "link the order to that one"));
        }
        self.link(&key.into(), &customer, actor).await
    }

    /// Links an order to a customer read already.
    async fn link(
        &self,
        key: &OrderKey,
        customer: &CustomerSummary,
        actor: Option<&str>,
    ) -> Result<Applied, ServiceError> {
        let customer = customer.as_customer();
        let recorded = Input::LinkCustomer { customer: customer.clone(), actor: actor.map(str::to_string) };
        let actor = actor.map(str::to_string);
        self.change(
            key,
            None,
            true,
            &recorded,
            std::sync::Arc::new(move |a, o, now, hooks| {
                engine::link_customer(&a.workflow, o, &customer, now, actor.as_deref(), hooks)
            }),
        )
        .await
    }

    /// Merges customer `from` into customer `into` (the `possible_duplicate` workflow: they are
    /// the same person): every order of `from` is linked to `into`, each as
    /// [`Service::link_customer`] links one (its history records it with `actor`, its
    /// `possible_duplicate` flag clears), then `from` is marked merged into `into` (kept, with
    /// `merged_into`; search and matching skip it, and customers merged into `from` before now
    /// name `into`) and its email claims go to `into`, which from then on is the customer orders
    /// with those emails are matched to. A merge already done is answered again, moving nothing.
    ///
    /// Refused, with nothing done, for `into == from`, an `into` merged itself, and a `from`
    /// merged into another customer (`invalid_data`), and for an unknown id
    /// ([`ServiceError::CustomerNotFound`]). An order the merge may not change (another
    /// holder's lock: `locked`) stops it there: the orders before it are moved, `from` stays
    /// as it is, and the same merge sent again finishes the work.
    pub async fn merge_customers(
        &self,
        into: i64,
        from: i64,
        actor: Option<&str>,
    ) -> Result<Merged, ServiceError> {
        if into == from {
            let problems = vec![Problem {
                field: "from".into(),
                problem: format!("is {from}, the customer merged into: name the other customer"),
            }];
            return Err(invalid("a customer cannot be merged into itself", problems));
        }
        let kept = self.store.customer(into).await?.ok_or(ServiceError::CustomerNotFound(into))?;
        if let Some(further) = kept.merged_into {
            return Err(merged_away("id", into, further, "merge into that one"));
        }
        let merged = self.store.customer(from).await?.ok_or_else(|| unknown_in_body("from", from))?;
        match merged.merged_into {
            Some(done) if done == into => return Ok(Merged { into, from, moved: Vec::new() }),
            Some(other) => return Err(merged_away("from", from, other, "it cannot be merged again")),
            None => {}
        }
        self.noted(self.merge_unnoted(&kept, from, actor).await)
    }

    async fn merge_unnoted(
        &self,
        into: &CustomerSummary,
        from: i64,
        actor: Option<&str>,
    ) -> Result<Merged, ServiceError> {
        let mut moved = Vec::new();
        for _ in 0..RETRIES {
            // Orders linked to `from` since the last round (a new order matched to it) are moved
            // in the next.
            for id in self.store.customer_order_ids(from).await? {
                let applied = self.link(&OrderKey::Id(id), into, actor).await?;
                let o = applied.order;
                moved.push(CustomerOrder {
                    id: o.id,
                    number: o.number,
                    workflow: o.workflow,
                    status: o.status,
                    created_at: o.created_at,
                });
            }
            let mut tx = self.store.begin().await?;
            let marked = match tx.mark_merged(from, into.id).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            };
            if !marked {
                drop(tx);
                // Merged meanwhile by another request: done if into the same customer.
                match self.store.customer(from).await?.and_then(|c| c.merged_into) {
                    Some(done) if done == into.id => return Ok(Merged { into: into.id, from, moved }),
                    Some(other) => return Err(merged_away("from", from, other, "it cannot be merged again")),
                    None => continue,
                }
            }
            if commit(tx).await? {
                return Ok(Merged { into: into.id, from, moved });
            }
        }
        Err(StoreError::Conflict.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_that_look_like_addresses() {
        for ok in ["ann@example.com", "a.b+c@sub.example.co.uk", "x@y.z"] {
            assert_eq!(email_problem(ok), None, "{ok}");
        }
        for bad in [
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@.com",
            "ann@example..com",
            "a b@x.com",
            "ann@-x.com",
        ] {
            assert!(email_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_customer_needs_an_email_or_a_phone_and_a_name_or_a_company() {
        let fields = |c: &NewCustomer| customer_problems(c).into_iter().map(|p| p.field).collect::<Vec<_>>();
        assert_eq!(fields(&NewCustomer::default()), ["email", "last_name"]);
        let phone =
            NewCustomer { phone: "555-0100".into(), company: "Acme".into(), ..NewCustomer::default() };
        assert!(fields(&phone).is_empty());
        let long = NewCustomer {
            email: format!("{}@x.com", "a".repeat(300)),
            last_name: "Lee".into(),
            ..NewCustomer::default()
        };
        assert_eq!(fields(&long), ["email"]);
        let control =
            NewCustomer { email: "a@x.com".into(), last_name: "Lee\n".into(), ..NewCustomer::default() };
        assert_eq!(fields(&control), ["last_name"]);
    }
}
