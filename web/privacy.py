"""The retention purge: every period from the settings, applied in an order that keeps every
reference whole (contacts before cases, visits before visitors). See docs/privacy.md."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from checkin.retention import (
    delete_expired_certificates,
    delete_idle_visitors_before,
    delete_occupancy_alerts_before,
    delete_rows,
    delete_travellers_before,
    delete_visits_before,
    epoch,
)
from exposure.isolation import delete_isolation_before
from exposure.retention import (
    delete_cases_before,
    delete_exposures_before,
    delete_hotspots_before,
    delete_notifications_before,
    delete_orphan_subscriptions,
)
from exposure.tables import case_people, exposures, isolations
from web.database import Database
from web.settings import Settings
from web.tables import audit_log, login_failures, sessions


async def delete_expired_sessions(db: Database, now: datetime) -> int:
    return await delete_rows(db, sa.delete(sessions).where(sessions.c.expires_at <= epoch(now)))


async def delete_login_failures_before(db: Database, cutoff: datetime) -> int:
    statement = sa.delete(login_failures).where(login_failures.c.at < epoch(cutoff))
    return await delete_rows(db, statement)


async def delete_audit_entries_before(db: Database, cutoff: datetime) -> int:
    return await delete_rows(db, sa.delete(audit_log).where(audit_log.c.at < epoch(cutoff)))


async def purge(db: Database, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete everything past its retention period; the count per table."""

    def days_ago(days: int) -> datetime:
        return now - timedelta(days=days)

    retention = days_ago(settings.retention_days)
    exposure_cutoff = days_ago(settings.exposure_retention_days)
    counts = {
        "travellers": await delete_travellers_before(db, retention),
        "visits": await delete_visits_before(db, retention),
        "occupancy_alerts": await delete_occupancy_alerts_before(db, retention),
        "wallet_certificates": await delete_expired_certificates(db, now),
        "exposures": await delete_exposures_before(db, exposure_cutoff),
        "hotspots": await delete_hotspots_before(db, exposure_cutoff),
        "cases": await delete_cases_before(db, exposure_cutoff),
        "isolations": await delete_isolation_before(db, retention),
        "notifications": await delete_notifications_before(
            db, days_ago(settings.notification_retention_days)
        ),
    }
    counts["visitors"] = await delete_idle_visitors_before(
        db,
        retention,
        referenced_by=(case_people.c.visitor_id, exposures.c.visitor_id, isolations.c.visitor_id),
    )
    counts["push_subscriptions"] = await delete_orphan_subscriptions(db)
    counts["sessions"] = await delete_expired_sessions(db, now)
    counts["login_failures"] = await delete_login_failures_before(
        db, now - timedelta(minutes=settings.login_window_minutes)
    )
    counts["audit_log"] = await delete_audit_entries_before(
        db, days_ago(settings.audit_retention_days)
    )
    return counts
