"""Tables owned by the certificates package."""

import sqlalchemy as sa

metadata = sa.MetaData()

issuers = sa.Table(
    "issuers",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

signing_certificates = sa.Table(
    "signing_certificates",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("issuer_id", sa.BigInteger, sa.ForeignKey(issuers.c.id), nullable=False),
    sa.Column("kid", sa.Text, nullable=False),
    sa.Column("certificate_types", sa.Text, nullable=False),  # e.g. "t,v"
    sa.Column("certificate", sa.LargeBinary, nullable=False),  # DER
    sa.Column("sealed_private_key", sa.LargeBinary, nullable=False),  # AES-GCM, never served
    sa.Column("not_after", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("retired_at", sa.BigInteger),
)

trusted_certificates = sa.Table(
    "trusted_certificates",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("kid", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False, unique=True),
    sa.Column("certificate", sa.LargeBinary, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("imported_at", sa.BigInteger, nullable=False),
)

# No names or dates of birth: the certificate identifier is kept only as a hash, enough to
# revoke it and to find positive results.
issued_certificates = sa.Table(
    "issued_certificates",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("issuer_id", sa.BigInteger, sa.ForeignKey(issuers.c.id), nullable=False),
    sa.Column(
        "signing_certificate_id",
        sa.BigInteger,
        sa.ForeignKey(signing_certificates.c.id),
        nullable=False,
    ),
    sa.Column("issued_by", sa.BigInteger),  # the staff user, when issued by one
    sa.Column("certificate_type", sa.Text, nullable=False),
    sa.Column("ci_hash", sa.Text, nullable=False, unique=True),
    sa.Column("test_result", sa.Text),  # "positive" / "negative" for tests
    sa.Column("sampled_at", sa.BigInteger),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger),
    sa.Column("revocation_reason", sa.Text),
)
