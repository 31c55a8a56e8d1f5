"""Background jobs that `serve` runs on a schedule: auto-checkout (and later purge, push)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from checkin.visits import auto_checkout
from web.clock import Clock
from web.database import Database

logger = logging.getLogger("singgah.jobs")


async def run_jobs_once(db: Database, clock: Clock) -> dict[str, int]:
    return {"auto_checkout": await auto_checkout(db, clock.now())}


async def run_forever(job: Callable[[], Awaitable[object]], interval_seconds: float) -> None:
    """Run ``job`` every interval; a failure is logged and the next run comes as planned."""
    while True:
        try:
            await job()
        except Exception:
            logger.exception("background job failed; retrying in %s s", interval_seconds)
        await asyncio.sleep(interval_seconds)
