-- engine: sqlite
-- No query on SQLite reads visits by check-in time alone: the exposure match and the hourly
-- history go by venue (visits_venue_span), the visitor's pages by visitor
-- (visits_visitor_time), the retention purge and the auto-checkout by end (visits_ends_at).
-- The index only cost every check-in's insert. PostgreSQL keeps it: moving rows out of the
-- default partition selects them by day (checkin/partitions.py).
DROP INDEX visits_checked_in;
