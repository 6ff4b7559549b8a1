-- Customers staff merged into another (POST /v1/customers/{id}/merge) are kept, marked with the
-- customer kept (always one not merged itself): their orders were moved and their email claims
-- passed on, and matching and search skip them. Keep in step with
-- ../sqlite/0008_customer_merges.sql.

ALTER TABLE customers ADD COLUMN merged_into BIGINT REFERENCES customers (id);
