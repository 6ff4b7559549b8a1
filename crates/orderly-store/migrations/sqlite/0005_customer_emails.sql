-- Each email that has customers, and the customer it first linked to: the unique key that
-- makes customer matching race-safe (store/customers.rs). A creation for an email no customer
-- has claims it here in the same transaction, so of two creations racing for one new email
-- the second finds the claim taken, reads again and links the first one's customer; a creation
-- for an email that has customers locks its row first (PostgreSQL; SQLite serializes writers
-- anyway). Filled from the customers there are, the oldest per email. Keep in step with
-- ../postgres/0005_customer_emails.sql.

CREATE TABLE customer_emails (
    email_norm TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id)
);

INSERT INTO customer_emails (email_norm, customer_id)
SELECT email_norm, MIN(id) FROM customers WHERE email_norm <> '' GROUP BY email_norm;
