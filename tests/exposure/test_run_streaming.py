"""A confirmed run streams its contacts: no query hands Python more than a page of them, and
the exposures and notifications are the same whatever the page size."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from exposure.matching import MatchRules
from exposure.runs import run_exposures
from exposure.tables import exposures, notifications
from tests.exposure.world import T0, case_of, person, visit
from tests.factories import make_venue
from web.database import Database

NOW = T0.replace(hour=23)
RULES = MatchRules(aerosol_tail=False)
CONTACTS = 23
PAGE = 5


class CountingDatabase:
    """The real database, noting how many rows each fetch returned."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.fetched: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    async def fetch_rows(self, query: Any, values: Any = None) -> Any:
        rows = await self.db.fetch_rows(query, values)
        self.fetched.append(len(rows))
        return rows

    async def fetch_all(self, query: Any, values: Any = None) -> Any:
        rows = await self.db.fetch_all(query, values)
        self.fetched.append(len(rows))
        return rows


async def recorded(db: Database, run_id: int) -> tuple[list[tuple], list[tuple]]:
    found = await db.fetch_rows(
        sa.select(*(c for c in exposures.c if c.name not in ("id", "run_id"))).where(
            exposures.c.run_id == run_id
        )
    )
    queued = await db.fetch_rows(
        sa.select(notifications.c.recipient_id, notifications.c.kind, notifications.c.payload)
    )
    return sorted(found), sorted(queued)


async def test_a_run_writes_its_contacts_a_page_at_a_time(db: Database, kek: bytes) -> None:
    cafe, shop = await make_venue(db, kek), await make_venue(db, kek)
    case = await person(db, "case")
    await visit(db, case, cafe.id, 0, 60)
    await visit(db, case, shop.id, 120, 180)
    for n in range(CONTACTS):  # close and low contacts at both venues
        await visit(
            db,
            await person(db, f"p{n:02d}"),
            (cafe, shop)[n % 2].id,
            120 * (n % 2),
            120 * (n % 2) + 5 + n,
        )
    case_id = await case_of(db, case, NOW)
    await db.execute(sa.delete(notifications))  # the case's own status notice: not the run's

    counting = CountingDatabase(db)
    paged = await run_exposures(
        counting, [case_id], now=NOW, rules=RULES, dry_run=False, triggered_by=None,
        batch_size=PAGE,
    )  # fmt: skip
    assert sum(paged.counts().values()) == CONTACTS
    assert max(counting.fetched) <= PAGE  # no query returned more than a page
    pages = sum(1 for n in counting.fetched if n == PAGE)
    assert pages >= CONTACTS // PAGE  # the contacts came as pages
    first = await recorded(db, paged.id)
    assert len(first[1]) == CONTACTS + 2  # one per contact, one per hotspot venue

    await db.execute(sa.delete(notifications))  # so the same case alerts again
    whole = await run_exposures(
        db, [case_id], now=NOW, rules=RULES, dry_run=False, triggered_by=None,
        batch_size=10 * CONTACTS,
    )  # fmt: skip
    assert whole.by_venue_risk == paged.by_venue_risk
    assert await recorded(db, whole.id) == first
