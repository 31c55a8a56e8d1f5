-- A confirmed run writes its notifications a page of contacts at a time, each page the next
-- ids of the run (exposure/runs.py `contact_pages`): (run_id, id) finds a page without sorting
-- the run's rows (SQLite's (run_id) index already ends in the rowid; PostgreSQL's does not). It
-- serves everything the (run_id) index did, so that one goes.
CREATE INDEX exposures_run_id ON exposures (run_id, id);

DROP INDEX exposures_run;
