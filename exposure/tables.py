"""Tables owned by the exposure package."""

import sqlalchemy as sa

from checkin.tables import visitors
from venues.tables import regions, venues

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("region_code", sa.Text, sa.ForeignKey(regions.c.code), nullable=False),
    sa.Column("positive_on", sa.Text, nullable=False),
    sa.Column("onset_on", sa.Text),
    sa.Column("window_start", sa.BigInteger, nullable=False),
    sa.Column("window_end", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.BigInteger),
    sa.Column("confirmed_at", sa.BigInteger),
    sa.Column("confirmed_by", sa.BigInteger),
)

case_people = sa.Table(
    "case_people",
    metadata,
    sa.Column("case_id", sa.BigInteger, sa.ForeignKey(cases.c.id), primary_key=True),
    sa.Column("visitor_id", sa.Text, sa.ForeignKey(visitors.c.id), primary_key=True),
)

exposure_runs = sa.Table(
    "exposure_runs",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("case_ids", sa.Text, nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("triggered_by", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("close_contacts", sa.Integer, nullable=False),
    sa.Column("low_contacts", sa.Integer, nullable=False),
    sa.Column("venues", sa.Integer, nullable=False),
)

exposures = sa.Table(
    "exposures",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("run_id", sa.BigInteger, sa.ForeignKey(exposure_runs.c.id), nullable=False),
    sa.Column("case_id", sa.BigInteger, sa.ForeignKey(cases.c.id), nullable=False),
    sa.Column("visitor_id", sa.Text, sa.ForeignKey(visitors.c.id), nullable=False),
    sa.Column("venue_id", sa.BigInteger, sa.ForeignKey(venues.c.id), nullable=False),
    sa.Column("risk", sa.Text, nullable=False),
    sa.Column("overlap_seconds", sa.Integer, nullable=False),
    sa.Column("exposed_from", sa.BigInteger, nullable=False),
    sa.Column("exposed_until", sa.BigInteger, nullable=False),
    sa.Column("last_exposed_at", sa.BigInteger, nullable=False),
)

hotspots = sa.Table(
    "hotspots",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("run_id", sa.BigInteger, sa.ForeignKey(exposure_runs.c.id), nullable=False),
    sa.Column("case_id", sa.BigInteger, sa.ForeignKey(cases.c.id), nullable=False),
    sa.Column("venue_id", sa.BigInteger, sa.ForeignKey(venues.c.id), nullable=False),
    sa.Column("hot_from", sa.BigInteger, nullable=False),
    sa.Column("hot_until", sa.BigInteger, nullable=False),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("recipient_kind", sa.Text, nullable=False),
    sa.Column("recipient_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("read_at", sa.BigInteger),
    sa.Column("fanned_out_at", sa.BigInteger),
)

# A device that asked for push alerts: a visitor's browser or a staff account's (owner_kind
# 'visitor' or 'user'). The push service's endpoint identifies the device.
push_subscriptions = sa.Table(
    "push_subscriptions",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("owner_kind", sa.Text, nullable=False),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False, unique=True),
    sa.Column("p256dh", sa.Text, nullable=False),
    sa.Column("auth", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# One notification pushed to one device: state 'pending', 'delivered' or 'failed'.
push_deliveries = sa.Table(
    "push_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column(
        "notification_id",
        sa.BigInteger,
        sa.ForeignKey(notifications.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "subscription_id",
        sa.BigInteger,
        sa.ForeignKey(push_subscriptions.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("claim", sa.Text),
    sa.Column("last_status", sa.Integer),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("notification_id", "subscription_id"),
)

isolations = sa.Table(
    "isolations",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("visitor_id", sa.Text, sa.ForeignKey(visitors.c.id), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("region_code", sa.Text, sa.ForeignKey(regions.c.code), nullable=False),
    sa.Column("facility_venue_id", sa.BigInteger, sa.ForeignKey(venues.c.id)),
    sa.Column("starts_on", sa.Text, nullable=False),
    sa.Column("ends_on", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.BigInteger),
)

isolation_reports = sa.Table(
    "isolation_reports",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("isolation_id", sa.BigInteger, sa.ForeignKey(isolations.c.id), nullable=False),
    sa.Column("day", sa.Text, nullable=False),
    sa.Column("symptoms", sa.Text, nullable=False),
    sa.Column("temperature", sa.Float),
    sa.Column("spo2", sa.Integer),
    sa.Column("at_home", sa.Boolean, nullable=False),
    sa.Column("needs", sa.Text, nullable=False),
    sa.Column("danger_signs", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.BigInteger, nullable=False),
)

isolation_alerts = sa.Table(
    "isolation_alerts",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("isolation_id", sa.BigInteger, sa.ForeignKey(isolations.c.id), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("contact_sealed", sa.LargeBinary),
    sa.Column("contact_key_id", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("acknowledged_at", sa.BigInteger),
    sa.Column("acknowledged_by", sa.BigInteger),
    sa.Column("resolved_at", sa.BigInteger),
    sa.Column("resolved_by", sa.BigInteger),
)

health_contacts = sa.Table(
    "health_contacts",
    metadata,
    sa.Column("region_code", sa.Text, sa.ForeignKey(regions.c.code), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("hours", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.BigInteger),
)
