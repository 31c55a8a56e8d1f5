"""Hand-built worlds with obvious answers, and a brute-force oracle on random worlds."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exposure.cases import case_status
from exposure.matching import MatchRules, count_contacts, hotspots, match_contacts
from exposure.runs import run_exposures
from tests.exposure.world import T0, at, case_of, person, visit
from tests.factories import make_venue

NOW = T0 + timedelta(days=1)
NO_TAIL = MatchRules(aerosol_tail=False)
TAIL = MatchRules(aerosol_tail=True)


async def contacts(db, case_ids, rules=NO_TAIL, now=NOW):
    return {
        c.visitor_id: (c.risk, c.overlap_seconds // 60)
        for c in await match_contacts(db, case_ids, now, rules)
    }


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ((0, 15), ("close", 15)),
        ((0, 14), ("low", 14)),
        ((-30, 0), None),
        ((60, 90), None),
        ((10, 100), ("close", 50)),
        ((59, 61), ("low", 1)),
    ],
    ids=["exactly-15", "14", "touching-before", "touching-after", "partial", "one-minute"],
)
async def test_overlap_boundaries(db, kek, other, expected) -> None:
    venue = await make_venue(db, kek)
    case, contact = await person(db, "case"), await person(db, "contact")
    await visit(db, case, venue.id, 0, 60)
    await visit(db, contact, venue.id, *other)
    found = await contacts(db, [await case_of(db, case, NOW)])
    assert found.get("contact") == expected


async def test_the_aerosol_tail_extends_the_case_presence(db, kek) -> None:
    venue = await make_venue(db, kek)
    case, late = await person(db, "case"), await person(db, "late")
    await visit(db, case, venue.id, 0, 20)  # 20 minutes: a 20-minute tail
    await visit(db, late, venue.id, 25, 90)
    case_id = await case_of(db, case, NOW)
    assert await contacts(db, [case_id], NO_TAIL) == {}
    assert await contacts(db, [case_id], TAIL) == {"late": ("close", 15)}


async def test_the_tail_is_capped_at_30_minutes(db, kek) -> None:
    venue = await make_venue(db, kek)
    case, late = await person(db, "case"), await person(db, "late")
    await visit(db, case, venue.id, 0, 120)
    await visit(db, late, venue.id, 125, 200)
    assert await contacts(db, [await case_of(db, case, NOW)], TAIL) == {"late": ("close", 25)}


async def test_other_venues_and_the_case_itself_are_not_contacts(db, kek) -> None:
    here, there = await make_venue(db, kek), await make_venue(db, kek)
    case, elsewhere = await person(db, "case"), await person(db, "elsewhere")
    await visit(db, case, here.id, 0, 60)
    await visit(db, case, here.id, 100, 160)
    await visit(db, elsewhere, there.id, 0, 60)
    assert await contacts(db, [await case_of(db, case, NOW)]) == {}


async def test_a_case_visiting_twice_keeps_the_longest_overlap_and_its_time_range(db, kek) -> None:
    venue = await make_venue(db, kek)
    case, staff = await person(db, "case"), await person(db, "staff")
    await visit(db, case, venue.id, 0, 10)
    await visit(db, case, venue.id, 100, 130)
    await visit(db, staff, venue.id, 0, 480)
    [found] = await match_contacts(db, [await case_of(db, case, NOW)], NOW, NO_TAIL)
    assert (found.risk, found.overlap_seconds) == ("close", 30 * 60)
    assert (found.exposed_from, found.exposed_until) == (at(100), at(130))


async def test_the_last_exposure_is_the_latest_overlap_of_the_contacts_risk(db, kek) -> None:
    cafe, shop = await make_venue(db, kek), await make_venue(db, kek)
    case, staff, passer = (
        await person(db, "case"),
        await person(db, "staff"),
        await person(db, "passer"),
    )
    await visit(db, case, cafe.id, 0, 60)
    await visit(db, case, shop.id, 300, 320)  # later and shorter, still close
    await visit(db, case, cafe.id, 600, 605)  # later still, but only a low-risk overlap
    await visit(db, staff, cafe.id, 0, 60)
    await visit(db, staff, shop.id, 300, 320)
    await visit(db, staff, cafe.id, 600, 605)
    await visit(db, passer, cafe.id, 50, 55)
    await visit(db, passer, cafe.id, 600, 604)
    found = {
        c.visitor_id: c
        for c in await match_contacts(db, [await case_of(db, case, NOW)], NOW, NO_TAIL)
    }
    # The longest overlap is kept with its venue and range; black status runs from the last
    # close one (the shop), not from the later low-risk one.
    assert (found["staff"].venue_id, found["staff"].exposed_until) == (cafe.id, at(60))
    assert found["staff"].last_exposed_at == at(320)
    # A low contact's last exposure is their latest overlap.
    assert (found["passer"].risk, found["passer"].last_exposed_at) == ("low", at(604))


async def test_black_status_runs_from_the_last_close_exposure(db, kek) -> None:
    cafe, shop = await make_venue(db, kek), await make_venue(db, kek)
    case, staff = await person(db, "case"), await person(db, "staff")
    await visit(db, case, cafe.id, 0, 60)
    await visit(db, case, shop.id, 300, 320)
    await visit(db, staff, cafe.id, 0, 60)
    await visit(db, staff, shop.id, 300, 320)
    case_id = await case_of(db, case, NOW)
    await run_exposures(db, [case_id], now=NOW, rules=NO_TAIL, dry_run=False, triggered_by=None)
    status = await case_status(db, "staff", NOW)
    assert status.close_contact_at == datetime.fromtimestamp(at(320), UTC)


async def test_of_equally_long_overlaps_the_latest_is_kept(db, kek) -> None:
    cafe, shop = await make_venue(db, kek), await make_venue(db, kek)
    case, barista = await person(db, "case"), await person(db, "barista")
    await visit(db, case, cafe.id, 0, 30)
    await visit(db, case, shop.id, 200, 230)  # later, and at the venue with the higher id
    await visit(db, barista, cafe.id, 0, 480)
    await visit(db, barista, shop.id, 0, 480)
    [found] = await match_contacts(db, [await case_of(db, case, NOW)], NOW, NO_TAIL)
    assert (found.venue_id, found.overlap_seconds, found.exposed_until) == (
        shop.id,
        30 * 60,
        at(230),
    )


async def test_of_overlaps_equal_in_length_and_time_the_lowest_case_is_kept(db, kek) -> None:
    venue = await make_venue(db, kek)
    first, second, friend = (
        await person(db, "first"),
        await person(db, "second"),
        await person(db, "friend"),
    )
    for who in (first, second, friend):
        await visit(db, who, venue.id, 0, 40)
    second_case = await case_of(db, second, NOW)
    first_case = await case_of(db, first, NOW)
    found = await match_contacts(db, [first_case, second_case], NOW, NO_TAIL)
    assert [(c.visitor_id, c.case_id) for c in found] == [("friend", second_case)]


async def test_a_preview_counts_the_contacts_a_run_finds(db, kek) -> None:
    mall, office = await make_venue(db, kek), await make_venue(db, kek)
    first, second = await person(db, "first"), await person(db, "second")
    await visit(db, first, mall.id, 0, 30)
    await visit(db, second, office.id, 100, 200)
    for name in ("both", "mall-only", "office-only"):
        await person(db, name)
    await visit(db, "both", mall.id, 0, 10)  # low here, close at the office: counted there
    await visit(db, "both", office.id, 150, 200)
    await visit(db, "mall-only", mall.id, 5, 40)
    await visit(db, "office-only", office.id, 190, 195)
    case_ids = [await case_of(db, first, NOW), await case_of(db, second, NOW)]
    counted = await count_contacts(db, case_ids, NOW, NO_TAIL)
    assert counted == {(mall.id, "close"): 1, (office.id, "close"): 1, (office.id, "low"): 1}
    run = await run_exposures(
        db, case_ids, now=NOW, rules=NO_TAIL, dry_run=False, triggered_by=None
    )
    assert counted == run.by_venue_risk


async def test_a_contact_of_two_cases_is_one_contact_with_the_highest_risk(db, kek) -> None:
    mall, office = await make_venue(db, kek), await make_venue(db, kek)
    first, second, both = (
        await person(db, "first"),
        await person(db, "second"),
        await person(db, "both"),
    )
    await visit(db, first, mall.id, 0, 10)
    await visit(db, both, mall.id, 0, 10)
    await visit(db, second, office.id, 100, 200)
    await visit(db, both, office.id, 150, 200)
    found = await match_contacts(
        db, [await case_of(db, first, NOW), await case_of(db, second, NOW)], NOW, NO_TAIL
    )
    assert [(c.visitor_id, c.risk, c.overlap_seconds // 60, c.venue_id) for c in found] == [
        ("both", "close", 50, office.id)
    ]


async def test_the_window_clamps_a_visit_straddling_the_look_back(db, kek) -> None:
    venue = await make_venue(db, kek)
    case, contact = await person(db, "case"), await person(db, "contact")
    now = T0 + timedelta(days=14, minutes=30)  # look-back starts at minute 30
    await visit(db, case, venue.id, 0, 60)
    await visit(db, contact, venue.id, 0, 40)
    case_id = await case_of(db, case, now, positive_on=T0.date())  # window clamped by look-back
    assert await contacts(db, [case_id], NO_TAIL, now) == {"contact": ("low", 10)}


async def test_hotspots_are_the_case_visits_with_their_time_range(db, kek) -> None:
    venue, later_venue = await make_venue(db, kek), await make_venue(db, kek)
    case = await person(db, "case")
    await visit(db, case, later_venue.id, 100, 160)
    await visit(db, case, venue.id, 0, 20)
    spots = await hotspots(db, [await case_of(db, case, NOW)], NOW, TAIL)
    assert [(s.venue_id, s.hot_from, s.hot_until) for s in spots] == [
        (venue.id, at(0), at(40)),
        (later_venue.id, at(100), at(190)),
    ]


def oracle(case_visits, others, rules: MatchRules, window_start: int, now: int):
    """Brute force over every pair, straight from the rules."""
    best = {}
    for venue, start, end in case_visits:
        s, e = max(start, window_start), min(end, now)
        if e <= s:
            continue
        extended = e + (min(e - s, 1800) if rules.aerosol_tail else 0)
        for who, o_venue, o_start, o_end in others:
            overlap = min(o_end, extended) - max(o_start, s)
            if o_venue == venue and overlap > 0:
                risk = 2 if overlap >= rules.close_seconds else 1
                best[who] = max(best.get(who, (0, 0)), (risk, overlap))
    return {who: ("close" if r == 2 else "low", o) for who, (r, o) in best.items()}


span = st.tuples(st.integers(0, 600), st.integers(1, 240))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case_spans=st.lists(st.tuples(st.integers(0, 2), span), min_size=1, max_size=4),
    other_spans=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2), span), max_size=12),
    aerosol=st.booleans(),
)
async def test_the_engine_agrees_with_a_brute_force_oracle(
    db, kek, case_spans, other_spans, aerosol
) -> None:
    import sqlalchemy as sa

    from checkin.tables import visitors, visits
    from exposure.tables import case_people, cases

    for table in (case_people, cases, visits, visitors):
        await db.execute(sa.delete(table))
    venues = [await make_venue(db, kek) for _ in range(3)]
    case = await person(db, "case")
    case_visits = []
    for venue_index, (start, length) in case_spans:
        await visit(db, case, venues[venue_index].id, start, start + length)
        case_visits.append((venues[venue_index].id, at(start), at(start + length)))
    people = {f"p{n}" for n, _, _ in [(n, v, s) for n, v, s in other_spans]}
    for name in sorted(people):
        await person(db, name)
    others = []
    for n, venue_index, (start, length) in other_spans:
        await visit(db, f"p{n}", venues[venue_index].id, start, start + length)
        others.append((f"p{n}", venues[venue_index].id, at(start), at(start + length)))
    rules = MatchRules(aerosol_tail=aerosol)
    case_id = await case_of(db, case, NOW)
    from exposure.cases import find_case

    found = await find_case(db, case_id)
    engine = {
        c.visitor_id: (c.risk, c.overlap_seconds)
        for c in await match_contacts(db, [case_id], NOW, rules)
    }
    assert engine == oracle(case_visits, others, rules, found.window_start, int(NOW.timestamp()))
    # What a preview counts is what the engine finds, venue by venue.
    found_by_venue = Counter(
        (c.venue_id, c.risk) for c in await match_contacts(db, [case_id], NOW, rules)
    )
    assert await count_contacts(db, [case_id], NOW, rules) == found_by_venue
