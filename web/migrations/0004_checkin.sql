-- Visitors (pseudonymous device identities and people checked in by staff), their visits, and
-- occupancy alerts. Personal data is sealed (AES-GCM) in `profile_sealed`; NIK and phone are
-- also kept as keyed hashes so staff can find a person without decrypting anyone.

CREATE TABLE visitors (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    guardian_id TEXT REFERENCES visitors (id) ON DELETE CASCADE,
    profile_sealed {{bytes}},
    profile_key_id TEXT,
    nik_hash TEXT,
    phone_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX visitors_nik_hash ON visitors (nik_hash);
CREATE INDEX visitors_phone_hash ON visitors (phone_hash);
CREATE INDEX visitors_guardian ON visitors (guardian_id);

CREATE TABLE visits (
    id {{id}},
    visitor_id TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    venue_id BIGINT NOT NULL REFERENCES venues (id),
    checked_in_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    ended_by TEXT,
    offline BOOLEAN NOT NULL DEFAULT FALSE,
    source TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);

-- The visitor's open visit, their history, and a venue's open visits (occupancy) and visits in
-- a time range (exposure matching): both time bounds are usable from these.
CREATE INDEX visits_visitor_time ON visits (visitor_id, checked_in_at);
CREATE INDEX visits_venue_time ON visits (venue_id, checked_in_at);
CREATE INDEX visits_open ON visits (venue_id, ends_at) WHERE ended_by IS NULL;
CREATE INDEX visits_checked_in ON visits (checked_in_at);

CREATE TABLE occupancy_alerts (
    id {{id}},
    venue_id BIGINT NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    level INTEGER NOT NULL,
    occupancy INTEGER NOT NULL,
    capacity INTEGER NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX occupancy_alerts_venue_at ON occupancy_alerts (venue_id, at);
