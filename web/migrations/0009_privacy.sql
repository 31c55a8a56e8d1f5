-- Personal-data key ids: the newest row seals new data; every listed id still opens old data.
-- Indexes so the retention purge finds old rows without a scan.

CREATE TABLE data_keys (
    key_id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE INDEX visits_ends_at ON visits (ends_at);
CREATE INDEX travellers_registered_at ON travellers (registered_at);
CREATE INDEX exposures_exposed_until ON exposures (exposed_until);
CREATE INDEX notifications_created_at ON notifications (created_at);
CREATE INDEX visitors_created_at ON visitors (created_at);
