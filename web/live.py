"""Live occupancy: a change wakes the venue's streams at once.

`OccupancyNotifier` wakes the streams of this process. On PostgreSQL,
`PostgresOccupancyNotifier` also tells every other process sharing the database, with
LISTEN/NOTIFY on one dedicated connection per process. On SQLite (one process per data folder
is the usual layout) and as a safety net everywhere, each stream re-reads the database
periodically (``web.routes_checkin.STREAM_REFRESH_SECONDS``), which catches the changes no one
announces: other SQLite processes, auto-checkout, a notice lost while a listener reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import asyncpg
from databases import DatabaseURL

logger = logging.getLogger("singgah.live")

CHANNEL = "singgah_occupancy"  # NOTIFY payload: the venue id, as text
# The notices of one flush in one statement: many check-ins, one round trip.
NOTIFY_VENUES = "SELECT pg_notify($1, venue::text) FROM unnest($2::bigint[]) AS venue"


class OccupancyNotifier:
    """Wakes this process's occupancy streams of a venue."""

    def __init__(self) -> None:
        self._events: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def changed(self, venue_id: int) -> None:
        """The venue's occupancy changed (call it after the commit that changed it)."""
        self._wake(venue_id)

    async def wait(self, venue_id: int, at_most_seconds: float) -> None:
        """Return when the venue's occupancy may have changed, or after ``at_most_seconds``."""
        event = self._events[venue_id]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most_seconds):
                await event.wait()

    async def start(self) -> None:
        """Nothing to start: the streams of one process need no connection."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def _wake(self, venue_id: int) -> None:
        event = self._events.pop(venue_id, None)
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        events, self._events = self._events, defaultdict(asyncio.Event)
        for event in events.values():
            event.set()


class PostgresOccupancyNotifier(OccupancyNotifier):
    """Tells every process on the database, through one connection of its own.

    `changed` wakes this process's streams and queues the venue; a task sends the queued venues
    in one ``pg_notify`` statement per round trip, on the connection that LISTENs. The notice
    goes out after the change's commit (``changed`` is called once the commit returned), but not
    from the check-in's own transaction: PostgreSQL serialises the commits of every transaction
    that notified (a database-wide lock on its notification queue), which would queue all
    check-ins of all processes behind one another. Each process ignores its own notices (same
    backend pid): its streams were woken already. A lost connection is retried with backoff;
    meanwhile, and after reconnecting, every stream re-reads (notices may have been missed).
    """

    def __init__(
        self, url: DatabaseURL, *, heartbeat_seconds: float = 15.0, retry_seconds: float = 1.0
    ) -> None:
        super().__init__()
        self._url = url
        self._heartbeat_seconds = heartbeat_seconds
        self._retry_seconds = retry_seconds
        self._pending: set[int] = set()
        self._flush = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while LISTENing (tests wait for it)
        self.backend_pid: int | None = None

    def changed(self, venue_id: int) -> None:
        super().changed(venue_id)
        self._pending.add(venue_id)
        self._flush.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="occupancy-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self._retry_seconds
        while True:
            try:
                connection = await asyncpg.connect(**connect_options(self._url))
            except Exception as exc:  # the server down, refusing, too slow: try again later
                logger.warning("occupancy listener cannot connect (%s)", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = self._retry_seconds
            try:
                await self._listen(connection)
            except Exception as exc:  # whatever broke the connection, a new one mends it
                logger.warning("occupancy listener lost its connection (%s)", type(exc).__name__)
            finally:
                self.listening.clear()
                connection.terminate()
                self._wake_all()
            await asyncio.sleep(delay)

    async def _listen(self, connection: asyncpg.Connection) -> None:
        own = connection.get_server_pid()

        def on_notice(_: object, pid: int, channel: str, payload: str) -> None:
            if pid != own and payload.isdigit():
                self._wake(int(payload))

        connection.add_termination_listener(lambda _: self._flush.set())
        await connection.add_listener(CHANNEL, on_notice)
        self.backend_pid = own
        self.listening.set()
        self._wake_all()  # changes made while nobody here was listening
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_seconds):
                    await self._flush.wait()
            self._flush.clear()
            if connection.is_closed():
                raise ConnectionError("listener connection closed")
            venues, self._pending = self._pending, set()
            try:
                if venues:
                    await connection.execute(NOTIFY_VENUES, CHANNEL, sorted(venues), timeout=10)
                else:  # an idle connection can die silently (a host gone): ask it now and then
                    await connection.fetchval("SELECT 1", timeout=10)
            except BaseException:
                self._pending |= venues  # sent after reconnecting
                raise


def connect_options(url: DatabaseURL) -> dict[str, Any]:
    """asyncpg's connect arguments for a database URL, as `databases` builds its pool."""
    options: dict[str, Any] = {
        "host": url.hostname,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "timeout": 10,
        "server_settings": {"application_name": "singgah-occupancy-listener"},
    }
    ssl = url.options.get("ssl")
    if ssl is not None:
        options["ssl"] = {"true": True, "false": False}.get(ssl.lower(), ssl)
    return options


def occupancy_notifier(url: DatabaseURL) -> OccupancyNotifier:
    """Across processes on PostgreSQL; within this process on SQLite."""
    if url.dialect == "postgresql":
        return PostgresOccupancyNotifier(url)
    return OccupancyNotifier()
