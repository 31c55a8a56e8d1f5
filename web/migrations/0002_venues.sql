-- Venues, their poster signing keys, and which staff manage which venue.

CREATE TABLE venues (
    id {{id}},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    address TEXT NOT NULL DEFAULT '',
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    capacity INTEGER,
    default_visit_minutes INTEGER NOT NULL,
    entry_policy TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX venues_region ON venues (region_code);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    generation INTEGER NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    public_key {{bytes}} NOT NULL,
    private_key_sealed {{bytes}} NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE venue_managers (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    venue_id BIGINT NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, venue_id)
);

CREATE INDEX venue_managers_venue ON venue_managers (venue_id);
