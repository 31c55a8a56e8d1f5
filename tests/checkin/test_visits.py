"""The check-in rules, with an injected clock, through the domain functions."""

from datetime import timedelta

import anyio
import pytest
import sqlalchemy as sa

from checkin.errors import OfflineScanOverlaps, OfflineScanRefused
from checkin.tables import occupancy_alerts, visits
from checkin.visitors import PersonalDataKeys, create_visitor
from checkin.visits import (
    OPEN_AT_VENUE,
    CheckinRules,
    auto_checkout,
    check_in,
    check_out,
    check_out_everyone,
    crossed_levels,
    hourly_occupancy,
    occupancy,
    visits_of,
)
from tests.factories import make_venue

KEYS = PersonalDataKeys("k1", b"s" * 32, b"l" * 32, b"t" * 32)
RULES = CheckinRules(max_visit_minutes=720, repeat_window_seconds=600, retention_days=14)


async def visitor(db, clock) -> str:
    return (await create_visitor(db, KEYS, clock.now())).id


async def test_a_check_in_ends_by_itself_after_the_venue_length(db, kek, clock) -> None:
    venue = await make_venue(db, kek, default_visit_minutes=45)
    result = await check_in(
        db, visitor_id=await visitor(db, clock), venue=venue, now=clock.now(), rules=RULES
    )
    assert result.created and result.visit.ends_at - result.visit.checked_in_at == 45 * 60
    assert (await occupancy(db, venue, clock.now())).current == 1
    clock.advance(minutes=44, seconds=59)
    assert (await occupancy(db, venue, clock.now())).current == 1
    clock.advance(seconds=1)
    assert (await occupancy(db, venue, clock.now())).current == 0  # before the job even ran
    assert await auto_checkout(db, clock.now()) == 1
    assert (await visits_of(db, result.visit.visitor_id, clock.now() - timedelta(days=1)))[
        0
    ].ended_by == "auto"


async def test_no_visit_is_longer_than_the_maximum(db, kek, clock) -> None:
    venue = await make_venue(db, kek, default_visit_minutes=1425)
    rules = CheckinRules(max_visit_minutes=12 * 60)
    result = await check_in(
        db, visitor_id=await visitor(db, clock), venue=venue, now=clock.now(), rules=rules
    )
    assert result.visit.ends_at - result.visit.checked_in_at == 12 * 3600


async def test_a_repeat_scan_is_the_same_visit(db, kek, clock) -> None:
    venue = await make_venue(db, kek)
    who = await visitor(db, clock)
    first = await check_in(db, visitor_id=who, venue=venue, now=clock.now(), rules=RULES)
    clock.advance(minutes=3)
    again = await check_in(db, visitor_id=who, venue=venue, now=clock.now(), rules=RULES)
    assert not again.created and again.visit.id == first.visit.id
    assert again.occupancy.current == 1


async def test_a_scan_that_read_the_clock_earlier_finds_the_visit_recorded_after_it(
    db, kek, clock
) -> None:
    # Two requests for one visitor: the first read the clock at 12:00:00 but reached the write
    # lock after the second, which read it at 12:00:01 (a resent scan, another process).
    earlier = clock.now()
    mall, office = await make_venue(db, kek), await make_venue(db, kek)
    who = await visitor(db, clock)
    clock.advance(seconds=1)
    first = await check_in(db, visitor_id=who, venue=mall, now=clock.now(), rules=RULES)
    again = await check_in(db, visitor_id=who, venue=mall, now=earlier, rules=RULES)
    assert not again.created and again.visit.id == first.visit.id
    assert (await occupancy(db, mall, clock.now())).current == 1

    elsewhere = await check_in(db, visitor_id=who, venue=office, now=earlier, rules=RULES)
    assert elsewhere.created
    history = await visits_of(db, who, earlier - timedelta(hours=1))
    mall_visit = next(v for v in history if v.venue_id == mall.id)
    # Ended by the switch, and not before it began.
    assert (mall_visit.ended_by, mall_visit.ends_at) == ("switch", mall_visit.checked_in_at)
    assert [v.venue_id for v in history if v.ended_by is None] == [office.id]


async def test_checking_in_elsewhere_closes_the_open_visit(db, kek, clock) -> None:
    mall, office = await make_venue(db, kek), await make_venue(db, kek)
    who = await visitor(db, clock)
    await check_in(db, visitor_id=who, venue=mall, now=clock.now(), rules=RULES)
    clock.advance(minutes=20)
    await check_in(db, visitor_id=who, venue=office, now=clock.now(), rules=RULES)
    history = await visits_of(db, who, clock.now() - timedelta(hours=1))
    assert [(v.venue_id, v.ended_by) for v in history] == [(office.id, None), (mall.id, "switch")]
    assert history[1].ends_at == int(clock.now().timestamp())
    assert (await occupancy(db, mall, clock.now())).current == 0


async def test_check_out_ends_the_visit_now_and_only_ones_own(db, kek, clock) -> None:
    venue = await make_venue(db, kek)
    who, other = await visitor(db, clock), await visitor(db, clock)
    result = await check_in(db, visitor_id=who, venue=venue, now=clock.now(), rules=RULES)
    clock.advance(minutes=30)
    from checkin.errors import VisitNotFound

    with pytest.raises(VisitNotFound):
        await check_out(db, other, result.visit.id, clock.now())
    closed = await check_out(db, who, result.visit.id, clock.now())
    assert closed.ended_by == "visitor" and closed.ends_at - closed.checked_in_at == 1800


async def test_closing_time_checks_everyone_out(db, kek, clock) -> None:
    venue, elsewhere = await make_venue(db, kek), await make_venue(db, kek)
    for _ in range(3):
        await check_in(
            db, visitor_id=await visitor(db, clock), venue=venue, now=clock.now(), rules=RULES
        )
    await check_in(
        db, visitor_id=await visitor(db, clock), venue=elsewhere, now=clock.now(), rules=RULES
    )
    clock.advance(minutes=5)
    assert await check_out_everyone(db, venue, clock.now()) == 3
    assert (await occupancy(db, venue, clock.now())).current == 0
    assert (await occupancy(db, elsewhere, clock.now())).current == 1


async def test_an_offline_scan_within_bounds_is_kept_with_its_time(db, kek, clock) -> None:
    venue = await make_venue(db, kek, default_visit_minutes=60)
    who = await visitor(db, clock)
    scanned = clock.now() - timedelta(hours=3)
    result = await check_in(
        db, visitor_id=who, venue=venue, now=clock.now(), rules=RULES, scanned_at=scanned
    )
    assert result.visit.offline and result.visit.checked_in_at == int(scanned.timestamp())
    assert result.visit.ended_by == "auto"  # its hour is long over
    resent = await check_in(
        db,
        visitor_id=who,
        venue=venue,
        now=clock.now(),
        rules=RULES,
        scanned_at=scanned + timedelta(seconds=30),
    )
    assert not resent.created and resent.visit.id == result.visit.id


@pytest.mark.parametrize(
    ("shift", "message"),
    [(timedelta(minutes=10), "future"), (-timedelta(days=15), "older")],
)
async def test_offline_scans_outside_bounds_are_refused(db, kek, clock, shift, message) -> None:
    venue = await make_venue(db, kek)
    with pytest.raises(OfflineScanRefused, match=message):
        await check_in(
            db,
            visitor_id=await visitor(db, clock),
            venue=venue,
            now=clock.now(),
            rules=RULES,
            scanned_at=clock.now() + shift,
        )


async def test_an_offline_scan_fits_among_later_visits(db, kek, clock) -> None:
    market, shop = await make_venue(db, kek, default_visit_minutes=120), await make_venue(db, kek)
    who = await visitor(db, clock)
    start = clock.now()
    clock.advance(minutes=30)
    await check_in(db, visitor_id=who, venue=shop, now=clock.now(), rules=RULES)
    clock.advance(minutes=30)
    late = await check_in(
        db, visitor_id=who, venue=market, now=clock.now(), rules=RULES, scanned_at=start
    )
    assert late.visit.ends_at == int(start.timestamp()) + 1800  # cut where the shop visit began
    assert late.visit.ended_by == "switch"


async def test_an_offline_scan_inside_a_visit_checked_out_by_hand_is_refused(
    db, kek, clock
) -> None:
    market, shop = await make_venue(db, kek), await make_venue(db, kek)
    who = await visitor(db, clock)
    start = clock.now()
    visit = await check_in(db, visitor_id=who, venue=shop, now=clock.now(), rules=RULES)
    clock.advance(minutes=40)
    await check_out(db, who, visit.visit.id, clock.now())
    with pytest.raises(OfflineScanOverlaps):
        await check_in(
            db,
            visitor_id=who,
            venue=market,
            now=clock.now(),
            rules=RULES,
            scanned_at=start + timedelta(minutes=15),
        )


def test_alert_levels_fire_when_crossed_from_below() -> None:
    assert crossed_levels(10, 7, 8) == (80,)
    assert crossed_levels(10, 8, 9) == ()
    assert crossed_levels(10, 9, 10) == (100,)
    assert crossed_levels(5, 3, 5) == (80, 100)
    assert crossed_levels(None, 100, 101) == ()


async def test_managers_alerts_are_recorded_at_80_and_100_per_cent(db, kek, clock) -> None:
    venue = await make_venue(db, kek, capacity=5)
    results = [
        await check_in(
            db, visitor_id=await visitor(db, clock), venue=venue, now=clock.now(), rules=RULES
        )
        for _ in range(6)
    ]
    assert [r.alert_levels for r in results] == [(), (), (), (80,), (100,), ()]
    assert results[-1].occupancy.full
    rows = await db.fetch_all(sa.select(occupancy_alerts.c.level).order_by(occupancy_alerts.c.id))
    assert [row[0] for row in rows] == [80, 100]


async def test_occupancy_stays_exact_under_hundreds_of_concurrent_check_ins(db, kek, clock) -> None:
    venues = [await make_venue(db, kek) for _ in range(3)]
    people = [await visitor(db, clock) for _ in range(150)]

    async def arrive(n: int) -> None:
        await check_in(db, visitor_id=people[n], venue=venues[n % 3], now=clock.now(), rules=RULES)

    async def leave(n: int) -> None:
        history = await visits_of(db, people[n], clock.now() - timedelta(hours=1))
        await check_out(db, people[n], history[0].id, clock.now())

    async with anyio.create_task_group() as group:
        for n in range(150):
            group.start_soon(arrive, n)
    async with anyio.create_task_group() as group:
        for n in range(0, 150, 3):
            group.start_soon(leave, n)
            group.start_soon(arrive, (n + 1) % 150)  # repeat scans: no new visits
    now = int(clock.now().timestamp())
    for venue in venues:
        open_visits = await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(visits)
            .where(
                visits.c.venue_id == venue.id, visits.c.ended_by.is_(None), visits.c.ends_at > now
            )
        )
        assert (await occupancy(db, venue, clock.now())).current == open_visits
    assert sum([(await occupancy(db, v, clock.now())).current for v in venues]) == 100
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(visits)) == 150


async def test_one_visitor_scanning_two_venues_at_once_keeps_one_open_visit(db, kek, clock) -> None:
    """Two scans of one visitor at two venues at the same moment (a phone sending the scans it
    queued offline, a double tap): the second ends the first. On PostgreSQL each check-in
    locks its venue's row, and these two lock different venues."""
    venues = [await make_venue(db, kek) for _ in range(2)]
    people = [await visitor(db, clock) for _ in range(40)]

    async def scan(person: str, venue) -> None:
        await check_in(db, visitor_id=person, venue=venue, now=clock.now(), rules=RULES)

    async with anyio.create_task_group() as group:
        for person in people:
            for venue in venues:
                group.start_soon(scan, person, venue)
    now = int(clock.now().timestamp())
    open_per_visitor = await db.fetch_all(
        sa.select(visits.c.visitor_id, sa.func.count().label("open"))
        .where(visits.c.ended_by.is_(None), visits.c.ends_at > now)
        .group_by(visits.c.visitor_id)
    )
    assert sorted(row["open"] for row in open_per_visitor) == [1] * len(people)
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(visits)) == 2 * len(people)


async def test_hourly_history_counts_people_present_each_hour(db, kek, clock) -> None:
    venue = await make_venue(db, kek, default_visit_minutes=90)
    clock.at = clock.at.replace(minute=30)
    await check_in(
        db, visitor_id=await visitor(db, clock), venue=venue, now=clock.now(), rules=RULES
    )
    clock.advance(hours=3)
    hours = dict(await hourly_occupancy(db, venue, clock.now(), days=1))
    start = int(clock.now().timestamp()) // 3600 * 3600 - 3 * 3600
    assert [hours[start + n * 3600] for n in range(4)] == [1, 1, 0, 0]


async def test_counting_the_people_present_reads_the_open_visits_index_alone(db, kek) -> None:
    venue = await make_venue(db, kek)
    if db.engine != "sqlite":  # PostgreSQL's plan depends on its statistics: the index is there
        found = await db.fetch_val(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'visits_open_span'"
        )
        assert "(venue_id, ends_at, checked_in_at, ended_by) WHERE (ended_by IS NULL)" in found
        return
    count = OPEN_AT_VENUE.params(venue_id=venue.id, now=0).compile(
        dialect=sa.dialects.sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    plan = await db.fetch_all(f"EXPLAIN QUERY PLAN {count}")
    assert "COVERING INDEX visits_open_span" in " ".join(row["detail"] for row in plan)
