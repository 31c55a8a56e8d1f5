"""Visits by day on PostgreSQL: day partitions made ahead of time, and dropped whole when old.

Migration 0014 partitions ``visits`` by range of ``checked_in_at`` (epoch seconds). Each UTC day
``[d, d + 86400)`` gets its own partition ``visits_YYYYMMDD``, made in advance: at migrate time
for the retention window and a few days ahead, then by the scheduled job. No insert ever waits
on one: a check-in lands in its day's partition, and a row of a day without one (the job was
down for days, an odd clock) lands in ``visits_default``; when that day's partition is made
later, its rows move out of the default first.

The retention purge drops a partition only when every row in it is past retention: its range
ends at or before the cutoff and its latest ``ends_at`` is before it (a visit may end the day
after it began). Rows past retention elsewhere (the day the cutoff falls in, the default, a
table converted by 0014) are deleted row by row as on SQLite. See docs/privacy.md.

On SQLite every function here does nothing: the table is not partitioned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from databases import Database

from checkin.tables import visits

DAY_SECONDS = 86400
DAYS_AHEAD = 3  # partitions made ahead: the job may be down this long before the default fills
DAYS_BACK = 14  # the default RETENTION_DAYS; the scheduled job passes the setting
DEFAULT_PARTITION = "visits_default"
# Held while partitions are made or dropped, so two processes never race on the same one.
PARTITION_LOCK = 72_646_014
# A partition operation waits this long for its lock, then gives up until the next run: it
# must never queue the check-ins behind a long query for long.
LOCK_TIMEOUT = "5s"
BOUND = re.compile(r"FROM \((?:MINVALUE|'?(-?\d+)'?)\) TO \((?:MAXVALUE|'?(-?\d+)'?)\)")


@dataclass(frozen=True)
class Partition:
    name: str
    lower: int | None  # None: MINVALUE (the table 0014 converted)
    upper: int | None  # None: MAXVALUE

    def overlaps(self, lower: int, upper: int) -> bool:
        return (self.lower is None or self.lower < upper) and (
            self.upper is None or lower < self.upper
        )


async def is_partitioned(db: Database) -> bool:
    """Whether ``visits`` is partitioned: PostgreSQL, once migration 0014 has run."""
    if db.url.dialect != "postgresql":
        return False
    return bool(
        await db.fetch_val(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table"
            " WHERE partrelid = to_regclass('visits'))"
        )
    )


def day_start(moment: datetime) -> int:
    return int(moment.timestamp()) // DAY_SECONDS * DAY_SECONDS


def partition_name(lower: int) -> str:
    return "visits_" + datetime.fromtimestamp(lower, UTC).strftime("%Y%m%d")


async def visit_partitions(db: Database) -> list[Partition]:
    """The range partitions of ``visits``, oldest first (the default partition is not one)."""
    rows = await db.fetch_all(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'visits'::regclass"
    )
    found = []
    for name, bound in ((row[0], row[1]) for row in rows):
        match = BOUND.search(bound)
        if match:
            lower, upper = (int(value) if value else None for value in match.groups())
            found.append(Partition(name, lower, upper))
    return sorted(found, key=lambda p: (p.lower is not None, p.lower or 0))


def _rows_of(name: str) -> sa.TableClause:
    """One partition, as a table of its own (the same columns as ``visits``)."""
    return sa.table(name, *(sa.column(column.name) for column in visits.c))


async def _lock(db: Database) -> None:
    await db.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    await db.execute(f"SELECT pg_advisory_xact_lock({PARTITION_LOCK})")


async def _create_day(db: Database, lower: int) -> None:
    """The partition of the day starting at ``lower``; rows of that day already in the default
    partition move into it (PostgreSQL refuses a partition whose rows sit in the default)."""
    name, upper = partition_name(lower), lower + DAY_SECONDS
    bounds = f"FOR VALUES FROM ({lower}) TO ({upper})"
    default = _rows_of(DEFAULT_PARTITION)
    in_day = (default.c.checked_in_at >= lower) & (default.c.checked_in_at < upper)
    if not await db.fetch_val(sa.select(sa.exists().where(in_day))):
        await db.execute(f"CREATE TABLE {name} PARTITION OF visits {bounds}")
        return
    await db.execute(f"ALTER TABLE visits DETACH PARTITION {DEFAULT_PARTITION}")
    await db.execute(f"CREATE TABLE {name} PARTITION OF visits {bounds}")
    columns = [column.name for column in visits.c]
    await db.execute(
        sa.insert(_rows_of(name)).from_select(columns, sa.select(*default.c).where(in_day))
    )
    await db.execute(sa.delete(default).where(in_day))
    await db.execute(f"ALTER TABLE visits ATTACH PARTITION {DEFAULT_PARTITION} DEFAULT")


async def ensure_visit_partitions(
    db: Database, now: datetime, days_back: int = DAYS_BACK, days_ahead: int = DAYS_AHEAD
) -> list[str]:
    """Make the missing day partitions from ``days_back`` days before ``now`` (offline scans
    are accepted that far back) to ``days_ahead`` days after; the names made."""
    if not await is_partitioned(db):
        return []
    today = day_start(now)
    made = []
    async with db.transaction():
        await _lock(db)
        existing = await visit_partitions(db)
        first, last = today - days_back * DAY_SECONDS, today + days_ahead * DAY_SECONDS
        for lower in range(first, last + DAY_SECONDS, DAY_SECONDS):
            if not any(p.overlaps(lower, lower + DAY_SECONDS) for p in existing):
                await _create_day(db, lower)
                made.append(partition_name(lower))
    return made


async def drop_visit_partitions_before(db: Database, cutoff: int) -> int:
    """Drop every partition whose rows all ended before ``cutoff``; the rows dropped.

    Each is locked against writes (SHARE: readers go on) while its latest end is read, so no
    row can arrive or change between the check and the drop."""
    if not await is_partitioned(db):
        return 0
    dropped = 0
    for partition in await visit_partitions(db):
        if partition.upper is None or partition.upper > cutoff:
            continue
        async with db.transaction():
            await _lock(db)
            if await db.fetch_val(sa.select(sa.func.to_regclass(partition.name))) is None:
                continue  # another process dropped it first
            await db.execute(f"LOCK TABLE {partition.name} IN SHARE MODE")
            rows = _rows_of(partition.name)
            row = await db.fetch_one(sa.select(sa.func.count(), sa.func.max(rows.c.ends_at)))
            count, latest_end = row[0], row[1]
            if latest_end is None or latest_end < cutoff:
                await db.execute(f"DROP TABLE {partition.name}")
                dropped += count
    return dropped
