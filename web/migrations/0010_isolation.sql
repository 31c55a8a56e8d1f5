-- Isolation monitoring: who is isolating (a case, a close contact or a traveller), their daily
-- reports, the alerts officials act on (danger signs, emergencies) and each region's health
-- contact. The person's region is kept in clear so an official's scope is part of the query; an
-- emergency alert's contact data is sealed (AES-GCM) like visitor profiles.

CREATE TABLE isolations (
    id {{id}},
    visitor_id TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    facility_venue_id BIGINT REFERENCES venues (id),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by BIGINT
);

CREATE INDEX isolations_region_end ON isolations (region_code, ends_on);
CREATE INDEX isolations_visitor ON isolations (visitor_id, ends_on);

CREATE TABLE isolation_reports (
    id {{id}},
    isolation_id BIGINT NOT NULL REFERENCES isolations (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    symptoms TEXT NOT NULL,
    temperature REAL,
    spo2 INTEGER,
    at_home BOOLEAN NOT NULL,
    needs TEXT NOT NULL,
    danger_signs TEXT NOT NULL,
    submitted_at BIGINT NOT NULL
);

CREATE INDEX isolation_reports_day ON isolation_reports (isolation_id, day);

CREATE TABLE isolation_alerts (
    id {{id}},
    isolation_id BIGINT NOT NULL REFERENCES isolations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    contact_sealed {{bytes}},
    contact_key_id TEXT,
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by BIGINT,
    resolved_at BIGINT,
    resolved_by BIGINT
);

CREATE INDEX isolation_alerts_isolation ON isolation_alerts (isolation_id, created_at);

CREATE TABLE health_contacts (
    region_code TEXT PRIMARY KEY REFERENCES regions (code),
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    hours TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT
);
