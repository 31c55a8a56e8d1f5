"""Visits: check-in and check-out, and the rules that keep them honest.

- A visit ends at check-out, at the venue's default visit length (auto-checkout), when a manager
  checks everyone out at closing, or when the visitor checks in somewhere else, whichever comes
  first; no visit is longer than ``max_visit_minutes``.
- An open visit's ``ends_at`` is when it will end by itself; a visit is open while it has no
  ``ended_by`` and ``ends_at`` is in the future. So occupancy (the count of open visits) is right
  even before the auto-checkout job has marked expired visits.
- A repeat scan of the venue of an open visit is the same visit (idempotent).
- An offline scan (a phone without signal sends it later with the time it was taken) is accepted
  within bounds, marked offline, and placed among the visitor's other visits as an online scan
  at that time would have been.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from checkin.errors import OfflineScanOverlaps, OfflineScanRefused, VisitNotFound
from checkin.tables import occupancy_alerts, travellers, visitors, visits
from venues.registry import Venue
from venues.tables import venues

ALERT_LEVELS = (80, 100)  # per cent of capacity: managers are told when occupancy reaches them


@dataclass(frozen=True)
class CheckinRules:
    max_visit_minutes: int = 720
    repeat_window_seconds: int = 600
    clock_skew_seconds: int = 120
    retention_days: int = 14


@dataclass(frozen=True)
class Visit:
    id: int
    visitor_id: str
    venue_id: int
    checked_in_at: int
    ends_at: int
    ended_by: str | None
    offline: bool
    source: str

    def is_open(self, now: int) -> bool:
        return self.ended_by is None and self.ends_at > now

    def public(self, now: datetime) -> dict[str, Any]:
        is_open = self.is_open(int(now.timestamp()))
        return {
            "id": self.id,
            "venue_id": self.venue_id,
            "checked_in_at": iso(self.checked_in_at),
            "checked_out_at": iso(self.ends_at),
            "checkout_planned": is_open,
            "ended_by": None if is_open else self.ended_by,
            "offline": self.offline,
        }


@dataclass(frozen=True)
class Occupancy:
    current: int
    capacity: int | None

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.current >= self.capacity

    def public(self) -> dict[str, Any]:
        return {"current": self.current, "capacity": self.capacity, "full": self.full}


@dataclass(frozen=True)
class CheckinResult:
    visit: Visit
    created: bool
    occupancy: Occupancy
    alert_levels: tuple[int, ...] = ()


# Cached: the check-ins of a second share their start and their planned end, and each answer
# formats both (0.05 against 1.1 us a call).
@functools.lru_cache(maxsize=4096)
def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _visit(row: Any) -> Visit:
    return Visit(
        id=row["id"],
        visitor_id=row["visitor_id"],
        venue_id=row["venue_id"],
        checked_in_at=row["checked_in_at"],
        ends_at=row["ends_at"],
        ended_by=row["ended_by"],
        offline=bool(row["offline"]),
        source=row["source"],
    )


def planned_length(venue: Venue, rules: CheckinRules) -> int:
    """Seconds until a visit ends by itself: the venue's usual length, capped."""
    return 60 * min(venue.default_visit_minutes, rules.max_visit_minutes)


def _open_at(moment: int | sa.BindParameter[int]) -> sa.ColumnElement[bool]:
    return sa.and_(
        visits.c.ended_by.is_(None), visits.c.ends_at > moment, visits.c.checked_in_at <= moment
    )


# The check-in hot path's statements, built once; the database binds each call's values.
# PRESENT_AND_OPEN_VISITS: the venue's occupancy (in every row) and the visitor's open
# visits, in one statement; a visitor with none gets one row whose visit columns are null.
OPEN_AT_VENUE = (
    sa.select(sa.func.count())
    .select_from(visits)
    .where(visits.c.venue_id == sa.bindparam("venue_id"), _open_at(sa.bindparam("now")))
)
_ONE = sa.select(sa.literal_column("1").label("one")).subquery("one")
# The visitor's visits not yet ended, including one that starts after ``now``: requests for
# the same visitor read the clock before they queue for the write lock, so a scan that read
# it a second earlier can be recorded after one that read it later (a repeat scan resent by
# a phone, a second server process). Bounded by ``now`` it would miss that visit and record
# the same visit twice (or leave two visits open at two venues).
_NOT_ENDED = sa.and_(visits.c.ended_by.is_(None), visits.c.ends_at > sa.bindparam("now"))
PRESENT_AND_OPEN_VISITS = sa.select(
    OPEN_AT_VENUE.scalar_subquery().label("present"), *visits.c
).select_from(
    _ONE.outerjoin(visits, sa.and_(visits.c.visitor_id == sa.bindparam("visitor_id"), _NOT_ENDED))
)
# PostgreSQL runs check-ins at one venue concurrently: each takes the venue's row lock, so
# each counts the ones before it (the occupancy it answers, the alert levels it crosses), and
# then the visitor's, so that two scans of one visitor at two venues at once (queued offline
# scans sent together) see each other and leave one visit open. Always venue, then visitor.
LOCK_VENUE = sa.select(venues.c.id).where(venues.c.id == sa.bindparam("venue_id")).with_for_update()
LOCK_VISITOR = (
    sa.select(visitors.c.id).where(visitors.c.id == sa.bindparam("visitor_id")).with_for_update()
)
INSERT_VISIT = sa.insert(visits).values(
    {column.name: sa.bindparam(column.name) for column in visits.c if column.name != "id"}
)


async def occupancy(db: Database, venue: Venue, now: datetime) -> Occupancy:
    return Occupancy(await _count_open(db, venue.id, epoch(now)), venue.capacity)


def crossed_levels(capacity: int | None, before: int, after: int) -> tuple[int, ...]:
    """Alert levels reached by going from ``before`` to ``after`` people."""
    if not capacity:
        return ()
    return tuple(level for level in ALERT_LEVELS if before * 100 < level * capacity <= after * 100)


async def _record_alerts(
    db: Database, venue: Venue, before: int, after: int, at: int
) -> tuple[int, ...]:
    levels = crossed_levels(venue.capacity, before, after)
    for level in levels:
        await db.execute(
            sa.insert(occupancy_alerts).values(
                venue_id=venue.id, level=level, occupancy=after, capacity=venue.capacity, at=at
            )
        )
    return levels


def _not_before_start(moment: int) -> sa.ColumnElement[int]:
    """``moment``, or the visit's own start where that is later (a visit never ends before
    it starts; see `_NOT_ENDED`)."""
    return sa.case((visits.c.checked_in_at > moment, visits.c.checked_in_at), else_=moment)


async def _insert_visit(db: Database, recorded_at: int, **values: Any) -> Visit:
    visit_id = await db.insert(INSERT_VISIT, {"recorded_at": recorded_at, **values})
    return Visit(id=visit_id, **values)


async def check_in(
    db: Database,
    *,
    visitor_id: str,
    venue: Venue,
    now: datetime,
    rules: CheckinRules,
    scanned_at: datetime | None = None,
    source: str = "scan",
) -> CheckinResult:
    """Record that ``visitor_id`` is at ``venue``: now, or at ``scanned_at`` for an offline scan.
    Inside a write transaction (a group commit's, a party's) it joins it: its failure fails
    the whole of it, as its callers want."""
    async with db.transaction(savepoint=False):
        if db.url.dialect == "postgresql":  # SQLite has one writer at a time already
            await db.execute(LOCK_VENUE, {"venue_id": venue.id})
            await db.execute(LOCK_VISITOR, {"visitor_id": visitor_id})
        if scanned_at is None or abs(epoch(scanned_at) - epoch(now)) <= rules.clock_skew_seconds:
            return await _check_in_now(db, visitor_id, venue, epoch(now), rules, source)
        return await _check_in_offline(db, visitor_id, venue, now, epoch(scanned_at), rules)


async def _check_in_now(
    db: Database, visitor_id: str, venue: Venue, now: int, rules: CheckinRules, source: str
) -> CheckinResult:
    rows = await db.fetch_all(
        PRESENT_AND_OPEN_VISITS, {"venue_id": venue.id, "visitor_id": visitor_id, "now": now}
    )
    before = rows[0]["present"]
    open_visits = [_visit(row) for row in rows if row["id"] is not None]
    for visit in open_visits:
        if visit.venue_id == venue.id:
            return CheckinResult(visit, False, Occupancy(before, venue.capacity))
    if open_visits:  # checking in elsewhere ends the visit the visitor forgot to check out of
        await db.execute(
            sa.update(visits)
            .where(visits.c.id.in_([visit.id for visit in open_visits]))
            .values(ends_at=_not_before_start(now), ended_by="switch")
        )
    visit = await _insert_visit(
        db,
        visitor_id=visitor_id,
        venue_id=venue.id,
        checked_in_at=now,
        ends_at=now + planned_length(venue, rules),
        ended_by=None,
        offline=False,
        source=source,
        recorded_at=now,
    )
    levels = await _record_alerts(db, venue, before, before + 1, now)
    return CheckinResult(visit, True, Occupancy(before + 1, venue.capacity), levels)


async def _count_open(db: Database, venue_id: int, now: int) -> int:
    return await db.fetch_val(OPEN_AT_VENUE, {"venue_id": venue_id, "now": now})


async def _check_in_offline(
    db: Database, visitor_id: str, venue: Venue, now: datetime, at: int, rules: CheckinRules
) -> CheckinResult:
    moment = epoch(now)
    if at > moment:
        raise OfflineScanRefused("the scan time is in the future; check the phone's clock")
    if at < epoch(now - timedelta(days=rules.retention_days)):
        raise OfflineScanRefused(
            f"the scan is older than {rules.retention_days} days, the longest visits are kept"
        )
    window = rules.repeat_window_seconds
    nearby = await db.fetch_all(
        sa.select(visits)
        .where(
            visits.c.visitor_id == visitor_id,
            visits.c.checked_in_at <= at + window,
            visits.c.ends_at > at - window,
        )
        .order_by(visits.c.checked_in_at)
    )
    candidates = [_visit(row) for row in nearby]
    for visit in candidates:
        covers_scan = visit.checked_in_at <= at < visit.ends_at
        if visit.venue_id == venue.id and (covers_scan or abs(visit.checked_in_at - at) <= window):
            count = await _count_open(db, venue.id, moment)
            return CheckinResult(visit, False, Occupancy(count, venue.capacity))
    covering = [v for v in candidates if v.checked_in_at <= at < v.ends_at]
    for visit in covering:
        if visit.ended_by == "visitor":
            raise OfflineScanOverlaps(
                "the scan falls inside another visit that was checked out later by hand"
            )
    for visit in covering:  # as an online scan at that time would have: end the earlier visit
        await db.execute(
            sa.update(visits).where(visits.c.id == visit.id).values(ends_at=at, ended_by="switch")
        )
    following = await db.fetch_val(
        sa.select(sa.func.min(visits.c.checked_in_at)).where(
            visits.c.visitor_id == visitor_id, visits.c.checked_in_at > at
        )
    )
    planned_end = at + planned_length(venue, rules)
    ends_at = min(planned_end, following) if following else planned_end
    if following and following < planned_end:
        ended_by: str | None = "switch"  # the visitor checked in somewhere else afterwards
    else:
        ended_by = "auto" if ends_at <= moment else None
    before = await _count_open(db, venue.id, moment)
    visit = await _insert_visit(
        db,
        visitor_id=visitor_id,
        venue_id=venue.id,
        checked_in_at=at,
        ends_at=ends_at,
        ended_by=ended_by,
        offline=True,
        source="offline",
        recorded_at=moment,
    )
    after = before + (1 if visit.is_open(moment) else 0)
    levels = await _record_alerts(db, venue, before, after, moment)
    return CheckinResult(visit, True, Occupancy(after, venue.capacity), levels)


async def find_visit(db: Database, visitor_id: str, visit_id: int) -> Visit:
    row = await db.fetch_one(
        sa.select(visits).where(visits.c.id == visit_id, visits.c.visitor_id == visitor_id)
    )
    if row is None:
        raise VisitNotFound(f"you have no visit {visit_id}")
    return _visit(row)


async def check_out(db: Database, visitor_id: str, visit_id: int, now: datetime) -> Visit:
    """End the visitor's own visit now (a visit already over is returned as it is)."""
    async with db.transaction():
        visit = await find_visit(db, visitor_id, visit_id)
        if not visit.is_open(epoch(now)):
            return visit
        await db.execute(
            sa.update(visits)
            .where(visits.c.id == visit.id)
            .values(ends_at=epoch(now), ended_by="visitor")
        )
    return Visit(**{**visit.__dict__, "ends_at": epoch(now), "ended_by": "visitor"})


async def check_out_everyone(db: Database, venue: Venue, now: datetime) -> int:
    """Closing time: end every open visit at the venue; returns how many."""
    moment = epoch(now)
    async with db.transaction():
        count = await _count_open(db, venue.id, moment)
        await db.execute(
            sa.update(visits)
            .where(visits.c.venue_id == venue.id, _open_at(moment))
            .values(ends_at=moment, ended_by="closing")
        )
    return count


async def auto_checkout(db: Database, now: datetime) -> int:
    """Mark visits whose time is up as ended by auto-checkout; returns how many."""
    moment = epoch(now)
    expired = sa.and_(visits.c.ended_by.is_(None), visits.c.ends_at <= moment)
    async with db.transaction():
        count = await db.fetch_val(sa.select(sa.func.count()).select_from(visits).where(expired))
        if count:
            await db.execute(sa.update(visits).where(expired).values(ended_by="auto"))
    return count


async def visits_of(db: Database, visitor_id: str, since: datetime) -> list[Visit]:
    rows = await db.fetch_all(
        sa.select(visits)
        .where(visits.c.visitor_id == visitor_id, visits.c.checked_in_at >= epoch(since))
        .order_by(visits.c.checked_in_at.desc())
    )
    return [_visit(row) for row in rows]


async def delete_visit(db: Database, visitor_id: str, visit_id: int) -> None:
    """The visitor removes one of their own visits: deleted for real. A traveller registration
    made with it forgets it (no foreign key does: visits are partitioned on PostgreSQL)."""
    async with db.transaction():
        await find_visit(db, visitor_id, visit_id)
        await db.execute(
            sa.update(travellers).where(travellers.c.visit_id == visit_id).values(visit_id=None)
        )
        await db.execute(sa.delete(visits).where(visits.c.id == visit_id))


async def hourly_occupancy(
    db: Database, venue: Venue, now: datetime, days: int
) -> list[tuple[int, int]]:
    """(hour start, people present at any time in that hour) for the last ``days`` days."""
    end = epoch(now) // 3600 * 3600 + 3600
    start = end - days * 86400
    rows = await db.fetch_all(
        sa.select(visits.c.checked_in_at, visits.c.ends_at).where(
            visits.c.venue_id == venue.id,
            visits.c.checked_in_at < end,
            visits.c.ends_at > start,
            visits.c.checked_in_at >= start - 86400,  # visits are capped at a day: bounded scan
        )
    )
    counts = dict.fromkeys(range(start, end, 3600), 0)
    for row in rows:
        first = max(start, row["checked_in_at"] // 3600 * 3600)
        for hour in range(first, min(end, row["ends_at"]), 3600):
            counts[hour] += 1
    return sorted(counts.items())
