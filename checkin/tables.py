"""Tables owned by the checkin package."""

import sqlalchemy as sa

from venues.tables import regions, venues

metadata = sa.MetaData()

visitors = sa.Table(
    "visitors",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("guardian_id", sa.Text, sa.ForeignKey("visitors.id")),
    sa.Column("profile_sealed", sa.LargeBinary),
    sa.Column("profile_key_id", sa.Text),
    sa.Column("nik_hash", sa.Text),
    sa.Column("phone_hash", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("visitor_id", sa.Text, sa.ForeignKey(visitors.c.id), nullable=False),
    sa.Column("venue_id", sa.BigInteger, sa.ForeignKey(venues.c.id), nullable=False),
    sa.Column("checked_in_at", sa.BigInteger, nullable=False),
    sa.Column("ends_at", sa.BigInteger, nullable=False),
    sa.Column("ended_by", sa.Text),
    sa.Column("offline", sa.Boolean, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
)

occupancy_alerts = sa.Table(
    "occupancy_alerts",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("venue_id", sa.BigInteger, sa.ForeignKey(venues.c.id), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("occupancy", sa.Integer, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
)

# A traveller registered at a border checkpoint. Name, phone, NIK, origin and travel history are
# sealed in `details_sealed`; the destination stays in clear so officials' scope is a query.
travellers = sa.Table(
    "travellers",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("visitor_id", sa.Text, sa.ForeignKey(visitors.c.id), nullable=False),
    # No foreign key: visits are partitioned on PostgreSQL, their key is (id, checked_in_at).
    # Deleting a visit clears this in code (`delete_visit`, the retention purge).
    sa.Column("visit_id", sa.BigInteger),
    sa.Column("checkpoint_id", sa.BigInteger, sa.ForeignKey(venues.c.id), nullable=False),
    sa.Column("destination_region_code", sa.Text, sa.ForeignKey(regions.c.code), nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("details_sealed", sa.LargeBinary, nullable=False),
    sa.Column("details_key_id", sa.Text, nullable=False),
    sa.Column("registered_at", sa.BigInteger, nullable=False),
)

# A visitor's health certificates. The HC1 (it names the holder and their birth date) is sealed;
# what the colour rules read is kept in clear: no name, no birth date.
wallet_certificates = sa.Table(
    "wallet_certificates",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("visitor_id", sa.Text, sa.ForeignKey(visitors.c.id), nullable=False),
    sa.Column("certificate_type", sa.Text, nullable=False),
    sa.Column("ci_hash", sa.Text),
    sa.Column("issuer_country", sa.Text),
    sa.Column("dose_number", sa.Integer),
    sa.Column("series_doses", sa.Integer),
    sa.Column("test_kind", sa.Text),
    sa.Column("test_positive", sa.Boolean),
    sa.Column("sampled_at", sa.BigInteger),
    sa.Column("recovery_from", sa.BigInteger),
    sa.Column("recovery_until", sa.BigInteger),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("hc1_sealed", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("added_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("visitor_id", "ci_hash"),
)
