"""Background jobs that `serve` runs on a schedule: the visits' day partitions ahead of time
(PostgreSQL), auto-checkout, isolation reminders and the retention purge (the push sender runs
as its own task, see web/push.py).

Every `serve` process runs them. On PostgreSQL one process at a time: a round takes a
session-level advisory lock without waiting, and a process that finds it held skips that
round. The lock belongs to the database session, so a process that dies mid-round frees it
and another runs the next round. On SQLite each job is its own write transaction and the
jobs are idempotent, so processes sharing a file may each run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from checkin.partitions import ensure_visit_partitions
from checkin.visits import auto_checkout
from exposure.isolation import IsolationRules, queue_reminders
from web.clock import Clock
from web.database import Database
from web.privacy import purge
from web.settings import Settings

logger = logging.getLogger("singgah.jobs")
JOBS_LOCK = 0x53474A42  # the advisory lock key of a round of jobs ("SGJB")


async def run_jobs_once(db: Database, clock: Clock, settings: Settings) -> dict[str, int] | None:
    """Run every job once; their counts, or None when another process is running them."""
    async with jobs_turn(db) as ours:
        if not ours:
            logger.info("jobs round skipped in process %d: another process runs it", os.getpid())
            return None
        return await _run_jobs(db, clock, settings)


@contextlib.asynccontextmanager
async def jobs_turn(db: Database) -> AsyncIterator[bool]:
    """Whether this process may run the jobs now: on PostgreSQL, if it got the jobs lock.

    The lock is held on this task's connection for the whole round (the jobs run on it too)
    and released at the end, or by PostgreSQL when the session ends with the process.
    """
    if db.engine != "postgresql":
        yield True
        return
    async with db.connection():
        ours = await db.fetch_val("SELECT pg_try_advisory_lock(:key)", {"key": JOBS_LOCK})
        try:
            yield ours
        finally:
            if ours:
                await db.fetch_val("SELECT pg_advisory_unlock(:key)", {"key": JOBS_LOCK})


async def _run_jobs(db: Database, clock: Clock, settings: Settings) -> dict[str, int]:
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
