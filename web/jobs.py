"""Background jobs that `serve` runs on a schedule: the visits' day partitions ahead of time
(PostgreSQL), auto-checkout, isolation reminders and the retention purge (the push sender runs
as its own task, see web/push.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from checkin.partitions import ensure_visit_partitions
from checkin.visits import auto_checkout
from exposure.isolation import IsolationRules, queue_reminders
from web.clock import Clock
from web.database import Database
from web.privacy import purge
from web.settings import Settings

logger = logging.getLogger("singgah.jobs")


async def run_jobs_once(db: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    now = clock.now()
    made = await ensure_visit_partitions(db, now, days_back=settings.retention_days)
    counts = {
        "visit_partitions": len(made),
        "auto_checkout": await auto_checkout(db, now),
        "isolation_reminders": await queue_reminders(
            db, now, IsolationRules(timezone=settings.timezone)
        ),
    }
    purged = await purge(db, settings, now)
    counts.update({f"purged_{table}": count for table, count in purged.items()})
    return counts


async def run_forever(job: Callable[[], Awaitable[object]], interval_seconds: float) -> None:
    """Run ``job`` every interval; a failure is logged and the next run comes as planned."""
    while True:
        try:
            await job()
        except Exception:
            logger.exception("background job failed; retrying in %s s", interval_seconds)
        await asyncio.sleep(interval_seconds)
