import re

import pytest

from tests.factories import START, make_venue
from venues.errors import InvalidVenue, UnknownRegion, VenueImportError
from venues.registry import (
    VenueFields,
    VenueKind,
    check_venue_fields,
    code_prefix,
    create_venue,
    find_venue_by_code,
    import_venues,
    list_venues,
    parse_venues_csv,
    update_venue,
)


def fields(**overrides) -> VenueFields:
    return VenueFields(
        **{"name": "Mal Demo", "kind": VenueKind.MALL, "region_code": "16.71", **overrides}
    )


@pytest.mark.parametrize(
    ("given", "kept"), [(5, 15), (15, 15), (90, 90), (1425, 1425), (2000, 1425)]
)
def test_visit_length_is_clamped_to_15_minutes_and_23_hours_45(given, kept) -> None:
    assert check_venue_fields(fields(default_visit_minutes=given)).default_visit_minutes == kept


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "  "}, "name"),
        ({"entry_policy": ("green", "black")}, "black"),
        ({"entry_policy": ()}, "entry policy"),
        ({"entry_policy": ("purple",)}, "entry policy"),
        ({"latitude": -3.0}, "both"),
        ({"latitude": 95.0, "longitude": 104.7}, "latitude"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 2**31}, "at most"),
        ({"region_code": "16-71"}, "malformed"),
    ],
)
def test_broken_rules_are_named(overrides, message) -> None:
    with pytest.raises(InvalidVenue, match=message):
        check_venue_fields(fields(**overrides))


def test_code_prefix_comes_from_the_region_name() -> None:
    assert code_prefix("Kota Palembang") == "PAL"
    assert code_prefix("Kota Administrasi Jakarta Pusat") == "JAK"
    assert code_prefix("Bali") == "BAL"


async def test_create_gives_a_typeable_code(db, kek) -> None:
    venue = await make_venue(db, kek, name="Masjid Agung")
    assert re.fullmatch(r"PAL-[0-9A-HJKMNP-TV-Z]{4}", venue.code)
    assert (await find_venue_by_code(db, venue.code.lower())).id == venue.id


async def test_unknown_region_is_refused(db) -> None:
    with pytest.raises(UnknownRegion):
        await create_venue(db, fields(region_code="99.99"), START)


async def test_update_keeps_the_rules_and_can_deactivate(db, kek) -> None:
    venue = await make_venue(db, kek)
    changed = await update_venue(db, venue, {"capacity": 80, "default_visit_minutes": 1}, START)
    assert (changed.capacity, changed.default_visit_minutes) == (80, 15)
    with pytest.raises(InvalidVenue):
        await update_venue(db, venue, {"entry_policy": ["black"]}, START)
    assert not (await update_venue(db, venue, {"is_active": False}, START)).is_active


async def test_list_by_region_prefix_is_by_whole_segments(db, kek) -> None:
    palembang = await make_venue(db, kek, region_code="16.71")
    jakarta = await make_venue(db, kek, region_code="31.71")
    assert [v.id for v in await list_venues(db, region_prefix="16")] == [palembang.id]
    assert {v.id for v in await list_venues(db)} == {palembang.id, jakarta.id}
    assert await list_venues(db, region_prefix="1") == []


CSV_HEADER = ",".join(
    (
        "name",
        "kind",
        "region_code",
        "address",
        "latitude",
        "longitude",
        "capacity",
        "default_visit_minutes",
        "entry_policy",
    )
)
CSV_OK = (
    CSV_HEADER
    + """
Kantor Camat Ilir Timur I,public_office,16.71,Jl. Merdeka,-2.99,104.76,30,45,green|yellow
"Pasar 16 Ilir, Blok A",mall,16.71,,,,500,,green
"""
)


async def test_csv_import_creates_every_venue(db, kek) -> None:
    created = await import_venues(db, parse_venues_csv(CSV_OK), START)
    assert [v.name for v in created] == ["Kantor Camat Ilir Timur I", "Pasar 16 Ilir, Blok A"]
    assert created[1].entry_policy == ("green",) and created[1].default_visit_minutes == 120


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X,stadium,16.71,,,,,,", "line 3"),
        ("X,mall,16.71,,abc,,,,", "line 3"),
        ("X,mall,16.71,,,,,,black", "line 3"),
    ],
)
def test_csv_errors_name_the_line(row, message) -> None:
    with pytest.raises(VenueImportError, match=message):
        parse_venues_csv(CSV_OK.splitlines()[0] + "\n" + CSV_OK.splitlines()[1] + "\n" + row)


async def test_csv_import_is_all_or_nothing(db) -> None:
    bad_region = CSV_OK + "Nowhere Hall,event,99.99,,,,,,\n"
    with pytest.raises(UnknownRegion):
        await import_venues(db, parse_venues_csv(bad_region), START)
    assert await list_venues(db) == []
