"""Retention: visits, travellers, alerts, expired certificates and idle visitors are deleted.

Deletion is real (``DELETE``), not a flag: personal data past its period must not exist any
more. Each function takes the cutoff (epoch seconds, or a ``datetime``) and returns how many
rows it deleted; the caller decides the periods (settings) and the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from databases import Database

from checkin.partitions import drop_visit_partitions_before
from checkin.tables import occupancy_alerts, travellers, visitors, visits, wallet_certificates


def epoch(cutoff: datetime) -> int:
    return int(cutoff.timestamp())


async def delete_rows(db: Database, statement: sa.Delete) -> int:
    """Run a DELETE and return the rows it removed (``databases`` drops the rowcount)."""
    table = statement.table
    where = statement.whereclause
    count = await db.fetch_val(sa.select(sa.func.count()).select_from(table).where(where))
    if count:
        await db.execute(statement)
    return int(count or 0)


async def delete_travellers_before(db: Database, cutoff: datetime) -> int:
    """Traveller registrations made before ``cutoff``, and any whose visit is that old."""
    old_visits = sa.select(visits.c.id).where(visits.c.ends_at < epoch(cutoff))
    return await delete_rows(
        db,
        sa.delete(travellers).where(
            (travellers.c.registered_at < epoch(cutoff)) | travellers.c.visit_id.in_(old_visits)
        ),
    )


async def delete_visits_before(db: Database, cutoff: datetime) -> int:
    """Visits (online and offline scans alike) that ended before ``cutoff``. Travellers that
    point at them go first (see :func:`delete_travellers_before`). On PostgreSQL the days
    wholly past retention are dropped as partitions; the rest is deleted row by row."""
    await delete_travellers_before(db, cutoff)
    dropped = await drop_visit_partitions_before(db, epoch(cutoff))
    statement = sa.delete(visits).where(visits.c.ends_at < epoch(cutoff))
    return dropped + await delete_rows(db, statement)


async def delete_occupancy_alerts_before(db: Database, cutoff: datetime) -> int:
    return await delete_rows(
        db, sa.delete(occupancy_alerts).where(occupancy_alerts.c.at < epoch(cutoff))
    )


async def delete_expired_certificates(db: Database, now: datetime) -> int:
    """Wallet certificates past their expiry: they open no door and name their holder."""
    return await delete_rows(
        db,
        sa.delete(wallet_certificates).where(wallet_certificates.c.expires_at < epoch(now)),
    )


async def delete_idle_visitors_before(
    db: Database, cutoff: datetime, referenced_by: Sequence[sa.Column] = ()
) -> int:
    """Visitors created before ``cutoff`` that nothing refers to any more: no visit, traveller,
    certificate or dependant, and no row in ``referenced_by`` (columns of other packages that
    point at visitors, such as a case's people), so a deletion never breaks a reference."""
    guardians = sa.select(visitors.c.guardian_id).where(visitors.c.guardian_id.is_not(None))
    references = [
        visits.c.visitor_id,
        travellers.c.visitor_id,
        wallet_certificates.c.visitor_id,
        *referenced_by,
    ]
    condition = visitors.c.created_at < epoch(cutoff)
    for column in references:
        condition &= visitors.c.id.not_in(sa.select(column))
    condition &= visitors.c.id.not_in(guardians)
    return await delete_rows(db, sa.delete(visitors).where(condition))
