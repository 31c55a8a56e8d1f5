"""Tables owned by the venues package."""

import sqlalchemy as sa

metadata = sa.MetaData()

regions = sa.Table(
    "regions",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("parent_code", sa.Text, sa.ForeignKey("regions.code")),
)

venues = sa.Table(
    "venues",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("region_code", sa.Text, sa.ForeignKey(regions.c.code), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("capacity", sa.Integer),
    sa.Column("default_visit_minutes", sa.Integer, nullable=False),
    sa.Column("entry_policy", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.Text, primary_key=True),
    sa.Column("generation", sa.Integer, nullable=False, unique=True),
    sa.Column("algorithm", sa.Text, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("private_key_sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("retired_at", sa.BigInteger),
)
