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
    # The end of the person's latest overlap of their risk level (for a close contact, the
    # latest overlap of close-contact length): black status and isolation run from it, which
    # can be later than the longest overlap kept above.
    last_exposed_at: int


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
    return sorted(Hotspot(*row) for row in await db.fetch_rows(query))


def _overlaps(ids: list[int], moment: int, rules: MatchRules) -> sa.Subquery:
    """One row per overlap of another visit with a case's presence: who, which case, where,
    from when until when and how long."""
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
    return (
        sa.select(
            other.c.visitor_id,
            presence.c.case_id,
            presence.c.venue_id,
            overlap.label("overlap_seconds"),
            overlap_from.label("exposed_from"),
            overlap_until.label("exposed_until"),
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
        .subquery("overlaps")
    )


def _contacts(
    ids: list[int], moment: int, rules: MatchRules, *, last_exposure: bool
) -> sa.Subquery:
    """One row per contact (the person): their longest overlap, which is also their highest
    risk, with its case, venue and time range. Ties go to the latest overlap (the one whose
    black status lasts longest), then to the lowest case id and venue id, so the choice never
    depends on row order. One window function over the overlaps: the deduplication is done by
    the database, which returns one row per person. With ``last_exposure``, also the end of
    the person's latest overlap of their risk (two more window aggregates, which a preview's
    counts do not need)."""
    overlaps = _overlaps(ids, moment, rules)
    by_person = overlaps.c.visitor_id
    rank = sa.func.row_number().over(
        partition_by=by_person,
        order_by=(
            overlaps.c.overlap_seconds.desc(),
            overlaps.c.exposed_until.desc(),
            overlaps.c.case_id,
            overlaps.c.venue_id,
        ),
    )
    is_close = overlaps.c.overlap_seconds >= rules.close_seconds
    columns = [overlaps, rank.label("rank")]
    if last_exposure:
        last_close = sa.func.max(sa.case((is_close, overlaps.c.exposed_until)))
        last_any = sa.func.max(overlaps.c.exposed_until)
        columns.append(
            sa.func.coalesce(
                last_close.over(partition_by=by_person), last_any.over(partition_by=by_person)
            ).label("last_exposed_at")
        )
    ranked = sa.select(*columns).subquery("ranked")
    risk = sa.case((ranked.c.overlap_seconds >= rules.close_seconds, "close"), else_="low")
    return (
        sa.select(
            ranked.c.visitor_id,
            risk.label("risk"),
            ranked.c.overlap_seconds,
            ranked.c.venue_id,
            ranked.c.case_id,
            ranked.c.exposed_from,
            ranked.c.exposed_until,
            *([ranked.c.last_exposed_at] if last_exposure else []),
        )
        .where(ranked.c.rank == 1)
        .subquery("contacts")
    )


def contacts_query(case_ids: Iterable[int], now: datetime, rules: MatchRules) -> sa.Select:
    """The deduplicated contacts of the cases, closest first, as a query: a confirmed run
    inserts its rows into ``exposures`` in the database (INSERT ... SELECT), never in Python."""
    found = _contacts(list(case_ids), int(now.timestamp()), rules, last_exposure=True)
    return sa.select(*found.c).order_by(found.c.overlap_seconds.desc(), found.c.visitor_id)


async def match_contacts(
    db: Database, case_ids: Iterable[int], now: datetime, rules: MatchRules
) -> list[Contact]:
    """The deduplicated contacts of the cases, closest first, fetched (for tests and the
    bench; a run streams them, see exposure/runs.py).

    ``db`` is a `web.database.Database`: its ``fetch_rows`` returns plain rows."""
    return [Contact(*row) for row in await db.fetch_rows(contacts_query(case_ids, now, rules))]


async def count_contacts(
    db: Database, case_ids: Iterable[int], now: datetime, rules: MatchRules
) -> dict[tuple[int, str], int]:
    """The number of contacts by (venue of their exposure, risk), counted in SQL: a preview
    shows only counts, so it fetches no contact."""
    found = _contacts(list(case_ids), int(now.timestamp()), rules, last_exposure=False)
    query = sa.select(found.c.venue_id, found.c.risk, sa.func.count()).group_by(
        found.c.venue_id, found.c.risk
    )
    return {(venue_id, risk): count for venue_id, risk, count in await db.fetch_rows(query)}
