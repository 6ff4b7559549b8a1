-- Orders no longer index updated_at. Every change to an order moves it, and with it indexed
-- PostgreSQL could update no order row in place (a HOT update needs no indexed column to change):
-- an event that only adds history wrote a new entry into each of the table's indexes, about a
-- quarter of the database's work per event (docs/benchmarks.md, issue 15). What it served is
-- served otherwise: the board's live updates watch the newest recorded input
-- (`Store::last_order_change`: every change to an order records one, on the primary key), and a
-- list filtered on `updated_since` reads like one filtered on `created_since`.

DROP INDEX IF EXISTS orders_updated_at;
