"""Live occupancy: a change in this process wakes the venue's streams at once; a periodic
re-read from the database catches changes made by other processes and by auto-checkout."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class OccupancyNotifier:
    def __init__(self) -> None:
        self._events: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def changed(self, venue_id: int) -> None:
        event = self._events.pop(venue_id, None)
        if event is not None:
            event.set()

    async def wait(self, venue_id: int, at_most_seconds: float) -> None:
        """Return when the venue's occupancy may have changed, or after ``at_most_seconds``."""
        event = self._events[venue_id]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most_seconds):
                await event.wait()
