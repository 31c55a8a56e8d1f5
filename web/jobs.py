"""Background jobs that `serve` runs on a schedule: auto-checkout and the retention purge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from checkin.visits import auto_checkout
from web.clock import Clock
from web.database import Database
from web.privacy import purge
from web.settings import Settings

logger = logging.getLogger("singgah.jobs")


async def run_jobs_once(db: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    counts = {"auto_checkout": await auto_checkout(db, clock.now())}
    purged = await purge(db, settings, clock.now())
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
