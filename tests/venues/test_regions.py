import pytest

from venues.errors import InvalidRegionCode, RegionImportError, UnknownRegion
from venues.regions import (
    Region,
    bundled_regions,
    covers,
    find_region,
    import_regions,
    list_regions,
    parse_region_code,
    parse_regions_csv,
    seed_regions_if_empty,
)


@pytest.mark.parametrize("code", ["16", "16.71", "16.71.01", "16.71.01.1001"])
def test_well_formed_codes(code: str) -> None:
    assert parse_region_code(code) == code
    assert Region(code, "x").level == code.count(".") + 1


@pytest.mark.parametrize("code", ["", "1", "16.7", "16.71.1", "16.71.01.10", "16-71", "x"])
def test_malformed_codes(code: str) -> None:
    with pytest.raises(InvalidRegionCode):
        parse_region_code(code)


def test_covers_is_by_whole_segments() -> None:
    assert covers("16", "16.71.01")
    assert covers("16.71", "16.71")
    assert not covers("16", "160.71")
    assert not covers("16.7", "16.71")


def test_csv_errors_name_the_line() -> None:
    with pytest.raises(RegionImportError, match="line 3"):
        parse_regions_csv("code,name\n16,Sumsel\n16,Again\n")
    with pytest.raises(RegionImportError, match="line 1"):
        parse_regions_csv("16;Sumsel\n")


def test_bundled_seed_has_every_province() -> None:
    provinces = [r for r in bundled_regions() if r.level == 1]
    assert len(provinces) == 38


async def test_import_and_list(db) -> None:
    await seed_regions_if_empty(db)
    await import_regions(db, [Region("16.71.01", "Ilir Barat II")])
    assert Region("16.71.01", "Ilir Barat II") in await list_regions(db, "16.71")
    assert (await find_region(db, "16")).name == "Sumatera Selatan"
    assert len(await list_regions(db)) == 38


async def test_import_with_unknown_parent_changes_nothing(db) -> None:
    with pytest.raises(UnknownRegion):
        await import_regions(db, [Region("16", "Renamed"), Region("99.01", "Nowhere")])
    assert (await find_region(db, "16")).name == "Sumatera Selatan"
