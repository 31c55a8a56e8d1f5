"""Small worlds built by hand: visitors, visits at exact minutes, and cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from checkin.tables import visitors, visits
from exposure.cases import CaseRules, create_case
from web.database import Database

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # minute 0 of every world


def at(minute: int) -> int:
    return int((T0 + timedelta(minutes=minute)).timestamp())


async def person(db: Database, name: str) -> str:
    await db.execute(sa.insert(visitors).values(id=name, kind="device", created_at=at(-100000)))
    return name


async def visit(db: Database, who: str, venue_id: int, start: int, end: int) -> None:
    """A finished visit from minute ``start`` to minute ``end`` (after T0)."""
    await db.execute(
        sa.insert(visits).values(
            visitor_id=who,
            venue_id=venue_id,
            checked_in_at=at(start),
            ends_at=at(end),
            ended_by="visitor",
            offline=False,
            source="scan",
            recorded_at=at(start),
        )
    )


async def case_of(db: Database, who: str, now: datetime, positive_on: date | None = None) -> int:
    created = await create_case(
        db,
        visitor_ids=[who],
        region_code="16.71",
        positive_on=positive_on or now.date(),
        onset_on=None,
        now=now,
        rules=CaseRules(timezone="UTC"),
    )
    return created.id
