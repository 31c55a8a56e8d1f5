-- The visitor wallet: health certificates a visitor added by scanning or pasting their HC1.
-- The HC1 names the holder and their birth date, so it is sealed (AES-GCM, bound to the visitor)
-- in `hc1_sealed`; the facts the colour rules read (type, dose numbers, test kind, result and
-- sampling time, recovery dates, expiry) are kept in clear. `ci_hash` is the SHA-256 of the
-- upper-cased certificate identifier: one certificate once per visitor, and revocation by the
-- issuer is seen at once.

CREATE TABLE wallet_certificates (
    id {{id}},
    visitor_id TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    certificate_type TEXT NOT NULL,
    ci_hash TEXT,
    issuer_country TEXT,
    dose_number INTEGER,
    series_doses INTEGER,
    test_kind TEXT,
    test_positive BOOLEAN,
    sampled_at BIGINT,
    recovery_from BIGINT,
    recovery_until BIGINT,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    hc1_sealed {{bytes}} NOT NULL,
    key_id TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    UNIQUE (visitor_id, ci_hash)
);

CREATE INDEX wallet_certificates_expires ON wallet_certificates (expires_at);
