"""How processes on one PostgreSQL database coordinate, each process played by its own
connections: occupancy notices (LISTEN/NOTIFY) and one round of jobs at a time (advisory lock).
The same with real `singgah serve` processes: tests/web/test_multiprocess.py."""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import pytest

from web.database import Database, open_database
from web.jobs import JOBS_LOCK, run_jobs_once
from web.live import (
    OccupancyNotifier,
    PostgresOccupancyNotifier,
    connect_options,
    occupancy_notifier,
)

ON_POSTGRES = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
VENUE = 7


async def woken(notifier: OccupancyNotifier, venue_id: int, within: float = 5.0) -> float:
    """Seconds until the venue's streams in ``notifier``'s process are woken (fails after
    ``within``: without a wake-up, `wait` would return after 30 s)."""
    started = time.monotonic()
    await asyncio.wait_for(notifier.wait(venue_id, 30), within)
    return time.monotonic() - started


async def listening(*notifiers: PostgresOccupancyNotifier) -> None:
    for notifier in notifiers:
        await asyncio.wait_for(notifier.listening.wait(), 10)


@ON_POSTGRES
async def test_a_change_in_one_process_wakes_the_streams_of_another(db: Database) -> None:
    here, there = PostgresOccupancyNotifier(db.url), PostgresOccupancyNotifier(db.url)
    await here.start()
    await there.start()
    try:
        await listening(here, there)
        waiting = asyncio.create_task(woken(there, VENUE))
        await asyncio.sleep(0.05)  # the stream is waiting before the change
        here.changed(VENUE)
        assert await waiting < 2.0
        other = asyncio.create_task(woken(there, VENUE + 1, within=1.0))
        await asyncio.sleep(0.05)
        here.changed(VENUE)  # another venue's notice wakes no one else
        with pytest.raises(TimeoutError):
            await other
    finally:
        await here.stop()
        await there.stop()


@ON_POSTGRES
async def test_a_listener_whose_connection_drops_wakes_its_streams_and_reconnects(
    db: Database,
) -> None:
    here = PostgresOccupancyNotifier(db.url)
    there = PostgresOccupancyNotifier(db.url, retry_seconds=0.2)
    await here.start()
    await there.start()
    admin = await asyncpg.connect(**connect_options(db.url))
    try:
        await listening(here, there)
        dropped = there.backend_pid
        waiting = asyncio.create_task(woken(there, VENUE))
        await asyncio.sleep(0.05)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", dropped)
        assert await waiting < 2.0  # notices may be lost meanwhile: every stream re-reads
        await listening(there)
        assert there.backend_pid != dropped
        waiting = asyncio.create_task(woken(there, VENUE))
        await asyncio.sleep(0.05)
        here.changed(VENUE)
        assert await waiting < 2.0
    finally:
        await admin.close()
        await here.stop()
        await there.stop()


def test_sqlite_streams_are_woken_in_their_own_process_only(tmp_path) -> None:
    notifier = occupancy_notifier(open_database(f"sqlite:///{tmp_path / 'x.db'}").url)
    assert type(notifier) is OccupancyNotifier


async def jobs_lock_holders(admin: asyncpg.Connection) -> int:
    """Sessions holding the jobs lock (a bigint key shows as its low 32 bits in ``objid``)."""
    return await admin.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1",
        JOBS_LOCK & 0xFFFFFFFF,
    )


async def until_jobs_lock_holders(admin: asyncpg.Connection, count: int) -> None:
    for _ in range(100):
        if await jobs_lock_holders(admin) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the jobs lock never had {count} holders")


@ON_POSTGRES
async def test_one_round_of_jobs_at_a_time_and_the_next_when_its_holder_dies(
    db: Database, clock, settings
) -> None:
    other_process = open_database(str(db.url))
    await other_process.connect()
    admin = await asyncpg.connect(**connect_options(db.url))
    # Holds the first round mid-way: its auto-checkout waits for this lock on visits.
    blocker = await asyncpg.connect(**connect_options(db.url))
    doomed = await asyncpg.connect(**connect_options(db.url))
    first = None
    try:
        await blocker.execute("BEGIN; LOCK TABLE visits IN ACCESS EXCLUSIVE MODE")
        first = asyncio.create_task(run_jobs_once(db, clock, settings))
        await until_jobs_lock_holders(admin, 1)
        # The round is running: the other process skips it rather than waiting for it.
        assert await asyncio.wait_for(run_jobs_once(other_process, clock, settings), 5) is None
        blocker.terminate()
        counts = await asyncio.wait_for(first, 10)
        assert counts is not None and counts["auto_checkout"] == 0
        assert await jobs_lock_holders(admin) == 0  # released at the end of the round

        # A process dies holding the lock: its session ends, and the next round runs.
        assert await doomed.fetchval("SELECT pg_try_advisory_lock($1)", JOBS_LOCK)
        assert await run_jobs_once(other_process, clock, settings) is None
        doomed.terminate()
        await until_jobs_lock_holders(admin, 0)
        assert await run_jobs_once(other_process, clock, settings) is not None
    finally:
        blocker.terminate()
        doomed.terminate()
        if first is not None:
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
        await admin.close()
        await other_process.disconnect()
