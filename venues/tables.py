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
