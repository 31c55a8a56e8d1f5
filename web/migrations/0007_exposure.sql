-- Positive cases, the people (visitors) each case is, exposure runs and what they found, and
-- the notification outbox that confirmed runs write in the same transaction.

CREATE TABLE cases (
    id {{id}},
    region_code TEXT NOT NULL REFERENCES regions (code),
    positive_on TEXT NOT NULL,
    onset_on TEXT,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by BIGINT,
    confirmed_at BIGINT,
    confirmed_by BIGINT
);

CREATE INDEX cases_region_status ON cases (region_code, status);

CREATE TABLE case_people (
    case_id BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    visitor_id TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    PRIMARY KEY (case_id, visitor_id)
);

CREATE INDEX case_people_visitor ON case_people (visitor_id);

CREATE TABLE exposure_runs (
    id {{id}},
    dry_run BOOLEAN NOT NULL,
    case_ids TEXT NOT NULL,
    parameters TEXT NOT NULL,
    triggered_by BIGINT,
    created_at BIGINT NOT NULL,
    duration_ms INTEGER NOT NULL,
    close_contacts INTEGER NOT NULL,
    low_contacts INTEGER NOT NULL,
    venues INTEGER NOT NULL
);

CREATE TABLE exposures (
    id {{id}},
    run_id BIGINT NOT NULL REFERENCES exposure_runs (id) ON DELETE CASCADE,
    case_id BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    visitor_id TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    venue_id BIGINT NOT NULL REFERENCES venues (id),
    risk TEXT NOT NULL,
    overlap_seconds INTEGER NOT NULL,
    exposed_from BIGINT NOT NULL,
    exposed_until BIGINT NOT NULL
);

CREATE INDEX exposures_run ON exposures (run_id);
CREATE INDEX exposures_visitor ON exposures (visitor_id, exposed_from);

CREATE TABLE hotspots (
    id {{id}},
    run_id BIGINT NOT NULL REFERENCES exposure_runs (id) ON DELETE CASCADE,
    case_id BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    venue_id BIGINT NOT NULL REFERENCES venues (id),
    hot_from BIGINT NOT NULL,
    hot_until BIGINT NOT NULL
);

CREATE INDEX hotspots_run ON hotspots (run_id);

CREATE TABLE notifications (
    id {{id}},
    recipient_kind TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);

CREATE INDEX notifications_recipient ON notifications (recipient_kind, recipient_id, created_at);
