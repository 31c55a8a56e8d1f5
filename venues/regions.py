"""Indonesian administrative regions: province, regency/city, district, village.

Codes follow the Ministry of Home Affairs (Kemendagri) pattern: ``16`` (province),
``16.71`` (regency or city), ``16.71.01`` (district), ``16.71.01.1001`` (village). A region
covers every region whose code starts with its own, which is how officials are scoped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
from databases import Database

from venues.errors import InvalidRegionCode, RegionImportError, UnknownRegion
from venues.tables import regions

REGION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
LEVEL_NAMES = {1: "province", 2: "regency/city", 3: "district", 4: "village"}


@dataclass(frozen=True)
class Region:
    code: str
    name: str

    @property
    def level(self) -> int:
        return self.code.count(".") + 1

    @property
    def parent_code(self) -> str | None:
        return self.code.rsplit(".", 1)[0] if "." in self.code else None


def parse_region_code(code: str) -> str:
    """The code itself when well formed; raises `InvalidRegionCode` with the expected shape."""
    if not isinstance(code, str) or not REGION_CODE.match(code):
        raise InvalidRegionCode(
            f"region code {code!r} is not of the form 16, 16.71, 16.71.01 or 16.71.01.1001"
        )
    return code


def covers(prefix: str, code: str) -> bool:
    """Whether the region ``prefix`` contains (or is) the region ``code``."""
    return code == prefix or code.startswith(prefix + ".")


def parse_regions_csv(text: str) -> list[Region]:
    """Rows ``code,name`` (a header line ``code,name`` is allowed), parents before children.

    Raises `RegionImportError` naming the first bad line; nothing is returned half-parsed.
    """
    found: list[Region] = []
    seen: set[str] = set()
    for line_number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (line_number == 1 and [c.strip().lower() for c in row] == ["code", "name"]):
            continue
        if len(row) != 2:
            raise RegionImportError(line_number, f"expected 2 columns (code,name), got {len(row)}")
        code, name = row[0].strip(), row[1].strip()
        if not REGION_CODE.match(code):
            raise RegionImportError(line_number, f"region code {code!r} is malformed")
        if not name:
            raise RegionImportError(line_number, "the name is empty")
        if code in seen:
            raise RegionImportError(line_number, f"region {code} appears twice")
        seen.add(code)
        found.append(Region(code, name))
    return found


async def import_regions(db: Database, found: list[Region]) -> int:
    """Insert or rename the regions in one transaction; parents must exist or come first."""
    async with db.transaction():
        known = {row[0] for row in await db.fetch_all(sa.select(regions.c.code))}
        for region in found:
            if region.parent_code and region.parent_code not in known:
                raise UnknownRegion(f"region {region.code}: parent {region.parent_code} is unknown")
            values = {"name": region.name, "level": region.level, "parent_code": region.parent_code}
            if region.code in known:
                await db.execute(
                    sa.update(regions).where(regions.c.code == region.code).values(**values)
                )
            else:
                await db.execute(sa.insert(regions).values(code=region.code, **values))
                known.add(region.code)
    return len(found)


def bundled_regions() -> list[Region]:
    """The seed set that ships with Singgah: every province and a few cities."""
    text = resources.files("venues").joinpath("data/regions.csv").read_text(encoding="utf-8")
    return parse_regions_csv(text)


async def seed_regions_if_empty(db: Database) -> int:
    if await db.fetch_val(sa.select(sa.func.count()).select_from(regions)):
        return 0
    return await import_regions(db, bundled_regions())


async def list_regions(db: Database, parent: str | None = None) -> list[Region]:
    query = sa.select(regions.c.code, regions.c.name).order_by(regions.c.code)
    query = query.where(
        regions.c.parent_code == parent if parent else regions.c.parent_code.is_(None)
    )
    return [Region(row[0], row[1]) for row in await db.fetch_all(query)]


async def find_region(db: Database, code: str) -> Region:
    row = await db.fetch_one(
        sa.select(regions.c.code, regions.c.name).where(regions.c.code == parse_region_code(code))
    )
    if row is None:
        raise UnknownRegion(f"region {code} is not in the regions table")
    return Region(row[0], row[1])
