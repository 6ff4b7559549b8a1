-- The board's stuck orders first (store/grid.rs, `GridQuery::stuck_first`): the orders flagged
-- integration_failed, overdue or possible_duplicate, read from this small index instead of from
-- every order (with 100,000 orders the board read them all: 0.4 s; docs/benchmarks.md, the
-- console). Its predicate is grid.rs's STUCK_FLAGS_SQL word for word: a query uses a partial
-- index only when it repeats the predicate, and a unit test checks that they agree. Keep in step
-- with ../postgres/0009_stuck_orders.sql.

CREATE INDEX orders_stuck ON orders (id)
    WHERE flags LIKE '% integration\_failed %' ESCAPE '\' OR flags LIKE '% overdue %' ESCAPE '\'
    OR flags LIKE '% possible\_duplicate %' ESCAPE '\';
