"""Retention for exposure data: contact lists, hotspots, notifications and closed cases.

Each function deletes rows older than the cutoff it is given and returns how many went.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from databases import Database

from checkin.retention import delete_rows, epoch
from checkin.tables import visitors
from exposure.tables import (
    case_people,
    cases,
    exposure_runs,
    exposures,
    hotspots,
    notifications,
    push_subscriptions,
)


async def delete_exposures_before(db: Database, cutoff: datetime) -> int:
    """Contact-list rows whose last exposure ended before ``cutoff``."""
    return await delete_rows(
        db, sa.delete(exposures).where(exposures.c.last_exposed_at < epoch(cutoff))
    )


async def delete_hotspots_before(db: Database, cutoff: datetime) -> int:
    return await delete_rows(db, sa.delete(hotspots).where(hotspots.c.hot_until < epoch(cutoff)))


async def delete_notifications_before(db: Database, cutoff: datetime) -> int:
    """The notification outbox: queued and read notices created before ``cutoff``."""
    return await delete_rows(
        db, sa.delete(notifications).where(notifications.c.created_at < epoch(cutoff))
    )


async def delete_cases_before(db: Database, cutoff: datetime) -> int:
    """Cases whose infectious window ended before ``cutoff`` and that no exposure or hotspot
    still refers to, with the link to their people; then runs left with nothing."""
    referenced = sa.union(sa.select(exposures.c.case_id), sa.select(hotspots.c.case_id))
    old = sa.select(cases.c.id).where(
        (cases.c.window_end < epoch(cutoff)) & cases.c.id.not_in(referenced)
    )
    await delete_rows(db, sa.delete(case_people).where(case_people.c.case_id.in_(old)))
    deleted = await delete_rows(db, sa.delete(cases).where(cases.c.id.in_(old)))
    used = sa.union(sa.select(exposures.c.run_id), sa.select(hotspots.c.run_id))
    await delete_rows(
        db,
        sa.delete(exposure_runs).where(
            (exposure_runs.c.created_at < epoch(cutoff)) & exposure_runs.c.id.not_in(used)
        ),
    )
    return deleted


async def delete_orphan_subscriptions(db: Database) -> int:
    """Push subscriptions of visitors who are gone: nothing can reach them any more, and an
    endpoint identifies a device. Their deliveries go with them (ON DELETE CASCADE)."""
    gone = (push_subscriptions.c.owner_kind == "visitor") & push_subscriptions.c.owner_id.not_in(
        sa.select(visitors.c.id)
    )
    return await delete_rows(db, sa.delete(push_subscriptions).where(gone))
