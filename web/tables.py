"""Tables owned by `web`: staff accounts, sessions, API tokens, login throttling, audit log."""

import sqlalchemy as sa

from certificates.tables import issuers
from venues.tables import venues as venue_table

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("region_prefix", sa.Text),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("issuer_id", sa.BigInteger, sa.ForeignKey(issuers.c.id)),  # issuer staff only
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey(users.c.id), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey(users.c.id), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger),
    sa.Column("revoked_at", sa.BigInteger),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("account_key", sa.Text, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor_user_id", sa.BigInteger, sa.ForeignKey(users.c.id)),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("object_type", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
)

venue_managers = sa.Table(
    "venue_managers",
    metadata,
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey(users.c.id), primary_key=True),
    sa.Column("venue_id", sa.BigInteger, sa.ForeignKey(venue_table.c.id), primary_key=True),
)

# Personal-data key ids (see web/keyring.py): the newest seals, all of them open.
data_keys = sa.Table(
    "data_keys",
    metadata,
    sa.Column("key_id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
