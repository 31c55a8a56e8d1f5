-- Certificate issuers, their signing certificates, imported trusted signers, issued certificates
-- (recorded without names or dates of birth), and the binding of issuer staff to an issuer.

CREATE TABLE issuers (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    country TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_certificates (
    id {{id}},
    issuer_id BIGINT NOT NULL REFERENCES issuers (id),
    kid TEXT NOT NULL,
    certificate_types TEXT NOT NULL,
    certificate {{bytes}} NOT NULL,
    sealed_private_key {{bytes}} NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE INDEX signing_certificates_issuer ON signing_certificates (issuer_id);

CREATE TABLE trusted_certificates (
    id {{id}},
    kid TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    certificate {{bytes}} NOT NULL,
    source TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE issued_certificates (
    id {{id}},
    issuer_id BIGINT NOT NULL REFERENCES issuers (id),
    signing_certificate_id BIGINT NOT NULL REFERENCES signing_certificates (id),
    issued_by BIGINT,
    certificate_type TEXT NOT NULL,
    ci_hash TEXT NOT NULL UNIQUE,
    test_result TEXT,
    sampled_at BIGINT,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason TEXT
);

CREATE INDEX issued_certificates_positive ON issued_certificates (test_result, sampled_at);

ALTER TABLE users ADD COLUMN issuer_id BIGINT REFERENCES issuers (id);
