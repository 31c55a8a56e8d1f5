-- Travellers registered at border checkpoints. Name, phone, NIK, origin and travel history are
-- sealed (AES-GCM) in `details_sealed`; the destination region is kept in clear so that a
-- health official's scope is part of the query (arrivals in their region and only those).

CREATE TABLE travellers (
    id {{id}},
    visitor_id TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    visit_id BIGINT REFERENCES visits (id) ON DELETE SET NULL,
    checkpoint_id BIGINT NOT NULL REFERENCES venues (id),
    destination_region_code TEXT NOT NULL REFERENCES regions (code),
    mode TEXT NOT NULL,
    details_sealed {{bytes}} NOT NULL,
    details_key_id TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);

-- Arrivals in a region since a time: the destination prefix and the time are both bounds.
CREATE INDEX travellers_destination_time ON travellers (destination_region_code, registered_at);
CREATE INDEX travellers_registered ON travellers (registered_at);
