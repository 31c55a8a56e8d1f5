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
RISK_RANK = {"low": 1, "close": 2}


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


def _ranking(contact: Contact) -> tuple[int, int]:
    return RISK_RANK[contact.risk], contact.overlap_seconds


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
    base, presence = _case_presence(moment, rules)
    case_visit = presence["visit"]
    other = visits.alias("other")
    other_end = least(other.c.ends_at, sa.literal(moment))
    overlap_from = greatest(other.c.checked_in_at, presence["start"])
    overlap_until = least(other_end, presence["end"])
    overlap = overlap_until - overlap_from
    case_persons = sa.select(case_people.c.visitor_id).where(case_people.c.case_id.in_(ids))
    query = (
        base.join(other, other.c.venue_id == case_visit.c.venue_id)
        .add_columns(
            other.c.visitor_id,
            case_people.c.case_id,
            other.c.venue_id,
            sa.func.max(overlap).label("overlap"),
            sa.func.min(overlap_from).label("exposed_from"),
            sa.func.max(overlap_until).label("exposed_until"),
        )
        .where(
            case_people.c.case_id.in_(ids),
            # Both bounds on the other visit's check-in use the index; visits are capped.
            other.c.checked_in_at < case_visit.c.ends_at + AEROSOL_TAIL_CAP_SECONDS,
            other.c.checked_in_at > case_visit.c.checked_in_at - rules.max_visit_seconds,
            other.c.ends_at > case_visit.c.checked_in_at,
            other.c.visitor_id.not_in(case_persons),
            overlap > 0,
        )
        .group_by(other.c.visitor_id, case_people.c.case_id, other.c.venue_id)
    )
    best: dict[str, Contact] = {}
    for row in await db.fetch_all(query):
        risk = "close" if row["overlap"] >= rules.close_seconds else "low"
        contact = Contact(
            row["visitor_id"],
            risk,
            row["overlap"],
            row["venue_id"],
            row["case_id"],
            row["exposed_from"],
            row["exposed_until"],
        )
        kept = best.get(contact.visitor_id)
        if kept is None or _ranking(contact) > _ranking(kept):
            best[contact.visitor_id] = contact
    return sorted(
        best.values(), key=lambda c: (c.risk != "close", -c.overlap_seconds, c.visitor_id)
    )
