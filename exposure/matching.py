"""The matching engine: who shared a venue with a case, for how long.

For each of a case's visits inside its infectious window, the case's presence runs from the
later of check-in and window start to the earlier of leaving (or now, for a visit still open)
and window end, extended by an aerosol tail of min(presence, 30 min) after they left
(Corona-Warn-App's rule; a setting turns it off). Every other visit at the same venue that
overlaps that extended presence is an exposure: close when the overlap is at least
``close_seconds`` (15 min), low when shorter but positive. A contact is a person, deduplicated
across visits, venues and cases, keeping the highest risk and the longest overlap.

One SQL self-join does the work. It is bounded on both sides of the time range (a visit is
never longer than ``max_visit_seconds``), so with the (venue_id, checked_in_at) index its cost
follows the candidate rows, not the size of the visits table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from databases import Database

from checkin.tables import visits
from exposure.tables import case_people, cases

AEROSOL_TAIL_CAP_SECONDS = 30 * 60


@dataclass(frozen=True)
class MatchRules:
    close_seconds: int = 15 * 60
    aerosol_tail: bool = True
    max_visit_seconds: int = 24 * 3600


@dataclass(frozen=True)
class Contact:
    visitor_id: str
    risk: str
    overlap_seconds: int
    venue_id: int
    case_id: int
    exposed_from: int
    exposed_until: int


@dataclass(frozen=True, order=True)
class Hotspot:
    case_id: int
    venue_id: int
    hot_from: int
    hot_until: int


def least(a: sa.ColumnElement[int], b: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    return sa.case((a < b, a), else_=b)


def greatest(a: sa.ColumnElement[int], b: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    return sa.case((a > b, a), else_=b)


def _case_presence(now: int, rules: MatchRules) -> tuple[sa.Select, dict[str, sa.ColumnElement]]:
    """The case visits and their presence expressions (start, end, extended end)."""
    case_visit = visits.alias("case_visit")
    start = greatest(case_visit.c.checked_in_at, cases.c.window_start)
    left = least(least(case_visit.c.ends_at, sa.literal(now)), cases.c.window_end)
    length = left - start
    tail = least(length, sa.literal(AEROSOL_TAIL_CAP_SECONDS)) if rules.aerosol_tail else 0
    base = (
        sa.select()
        .select_from(
            case_people.join(cases, cases.c.id == case_people.c.case_id).join(
                case_visit, case_visit.c.visitor_id == case_people.c.visitor_id
            )
        )
        .where(
            case_visit.c.checked_in_at < cases.c.window_end,
            case_visit.c.ends_at > cases.c.window_start,
            case_visit.c.checked_in_at > cases.c.window_start - rules.max_visit_seconds,
            left > start,
        )
    )
    return base, {"visit": case_visit, "start": start, "left": left, "end": left + tail}


async def hotspots(
    db: Database, case_ids: Iterable[int], now: datetime, rules: MatchRules
) -> list[Hotspot]:
    """Each venue a case visited during its window, with the (tail-extended) time range."""
    base, presence = _case_presence(int(now.timestamp()), rules)
    query = base.add_columns(
        case_people.c.case_id, presence["visit"].c.venue_id, presence["start"], presence["end"]
    ).where(case_people.c.case_id.in_(list(case_ids)))
    rows = await db.fetch_all(query)
    return sorted(Hotspot(r[0], r[1], r[2], r[3]) for r in rows)


async def match_contacts(
    db: Database, case_ids: Iterable[int], now: datetime, rules: MatchRules
) -> list[Contact]:
    """The deduplicated contacts of the cases, closest first."""
    ids = list(case_ids)
    moment = int(now.timestamp())
    base, found = _case_presence(moment, rules)
    # The case visits' presence is computed once (materialized), not once per candidate row.
    presence = (
        base.add_columns(
            case_people.c.case_id,
            found["visit"].c.venue_id,
            found["start"].label("p_from"),
            found["end"].label("p_until"),
        )
        .where(case_people.c.case_id.in_(ids))
        .cte("presence")
        .prefix_with("MATERIALIZED")
    )
    other = visits.alias("other")
    overlap_from = greatest(other.c.checked_in_at, presence.c.p_from)
    overlap_until = least(least(other.c.ends_at, sa.literal(moment)), presence.c.p_until)
    overlap = overlap_until - overlap_from
    case_persons = sa.select(case_people.c.visitor_id).where(case_people.c.case_id.in_(ids))
    query = (
        sa.select(
            other.c.visitor_id,
            presence.c.case_id,
            presence.c.venue_id,
            sa.func.max(overlap),
            sa.func.min(overlap_from),
            sa.func.max(overlap_until),
        )
        .select_from(presence.join(other, other.c.venue_id == presence.c.venue_id))
        .where(
            # Both bounds on the other visit's check-in use the index: it starts before the
            # presence ends, and no earlier than a maximal visit before the presence starts.
            other.c.checked_in_at < presence.c.p_until,
            other.c.checked_in_at > presence.c.p_from - rules.max_visit_seconds,
            other.c.visitor_id.not_in(case_persons),
            overlap > 0,
        )
        .group_by(other.c.visitor_id, presence.c.case_id, presence.c.venue_id)
    )
    best: dict[str, Contact] = {}
    for visitor_id, case_id, venue_id, longest, exposed_from, exposed_until in (
        row._mapping.values() for row in await db.fetch_all(query)
    ):
        kept = best.get(visitor_id)
        # Risk follows the overlap, so the longest overlap is also the highest risk.
        if kept is None or longest > kept.overlap_seconds:
            risk = "close" if longest >= rules.close_seconds else "low"
            best[visitor_id] = Contact(
                visitor_id, risk, longest, venue_id, case_id, exposed_from, exposed_until
            )
    return sorted(
        best.values(), key=lambda c: (c.risk != "close", -c.overlap_seconds, c.visitor_id)
    )
