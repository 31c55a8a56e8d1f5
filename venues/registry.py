"""The venue registry: create, edit, list and deactivate venues; verify their poster tokens."""

from __future__ import annotations

import csv
import io
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from databases import Database

from venues.errors import (
    InvalidVenue,
    TokenKeyRetired,
    TokenUnknownKey,
    TokenVenueInactive,
    TokenVenueUnknown,
    UnknownRegion,
    VenueImportError,
    VenueNotFound,
)
from venues.keys import SigningKey, current_signer
from venues.posters import PosterContent
from venues.regions import REGION_CODE, covers
from venues.tables import regions, signing_keys, venues
from venues.tokens import SignatureCache, checkin_url, parse_token, sign_token


class VenueKind(StrEnum):
    PUBLIC_OFFICE = "public_office"
    MALL = "mall"
    WORSHIP = "worship"
    SCHOOL = "school"
    WORKPLACE = "workplace"
    TRANSPORT_HUB = "transport_hub"
    HEALTH_FACILITY = "health_facility"
    BORDER_CHECKPOINT = "border_checkpoint"
    EVENT = "event"
    OTHER = "other"


# Entry colours (see certificates): black (positive or close contact) never enters.
COLOURS = ("green", "yellow", "red", "black")
DEFAULT_ENTRY_POLICY = ("green", "yellow")
MIN_VISIT_MINUTES, MAX_VISIT_MINUTES = 15, 1425  # Corona-Warn-App's bounds: 15 min .. 23 h 45
DEFAULT_VISIT_MINUTES = 120
# The largest stadiums hold about 150,000; the column is a 32-bit INTEGER on PostgreSQL.
MAX_CAPACITY = 1_000_000
# Crockford's base32 without look-alikes, for codes people type: no I, L, O, U.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REGION_NAME_NOISE = ("KOTA ADMINISTRASI ", "KABUPATEN ", "KOTA ", "KAB. ")


@dataclass(frozen=True)
class VenueFields:
    """What a person states about a venue; checked by `check_venue_fields`."""

    name: str
    kind: VenueKind
    region_code: str
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    capacity: int | None = None
    default_visit_minutes: int = DEFAULT_VISIT_MINUTES
    entry_policy: tuple[str, ...] = DEFAULT_ENTRY_POLICY


@dataclass(frozen=True)
class Venue(VenueFields):
    id: int = 0
    code: str = ""
    is_active: bool = True
    created_at: int = 0

    def summary(self) -> dict[str, Any]:
        """What a visitor or a door scanner is shown about the venue."""
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "kind": self.kind.value,
            "region_code": self.region_code,
            "capacity": self.capacity,
            "status": "active" if self.is_active else "inactive",
        }

    def public(self, base_url: str | None = None, token: str | None = None) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["entry_policy"] = list(self.entry_policy)
        if base_url and token:
            data["checkin_url"] = checkin_url(base_url, token)
        return data


def clamp_visit_minutes(minutes: int) -> int:
    return max(MIN_VISIT_MINUTES, min(MAX_VISIT_MINUTES, minutes))


def check_venue_fields(fields: VenueFields) -> VenueFields:
    """The fields with the visit length clamped; `InvalidVenue` names the first broken rule."""
    if not fields.name.strip():
        raise InvalidVenue("a venue needs a name")
    if not REGION_CODE.match(fields.region_code):
        raise InvalidVenue(f"region code {fields.region_code!r} is malformed")
    if (fields.latitude is None) != (fields.longitude is None):
        raise InvalidVenue("give both latitude and longitude, or neither")
    if fields.latitude is not None and not -90 <= fields.latitude <= 90:
        raise InvalidVenue("latitude must be between -90 and 90")
    if fields.longitude is not None and not -180 <= fields.longitude <= 180:
        raise InvalidVenue("longitude must be between -180 and 180")
    if fields.capacity is not None and not 0 < fields.capacity <= MAX_CAPACITY:
        raise InvalidVenue(f"capacity must be a positive number of people, at most {MAX_CAPACITY}")
    unknown = set(fields.entry_policy) - set(COLOURS)
    if unknown or not fields.entry_policy:
        raise InvalidVenue(f"the entry policy lists colours from {', '.join(COLOURS)}")
    if "black" in fields.entry_policy:
        raise InvalidVenue("black (positive case or close contact) may never enter a venue")
    return replace(
        fields,
        name=fields.name.strip(),
        address=fields.address.strip(),
        default_visit_minutes=clamp_visit_minutes(fields.default_visit_minutes),
        entry_policy=tuple(c for c in COLOURS if c in fields.entry_policy),
    )


def _venue(row: Any) -> Venue:
    return Venue(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        kind=VenueKind(row["kind"]),
        region_code=row["region_code"],
        address=row["address"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        capacity=row["capacity"],
        default_visit_minutes=row["default_visit_minutes"],
        entry_policy=tuple(row["entry_policy"].split(",")),
        is_active=bool(row["is_active"]),
        created_at=row["created_at"],
    )


def _columns(fields: VenueFields) -> dict[str, Any]:
    values = {key: value for key, value in asdict(fields).items() if key in VENUE_FIELD_NAMES}
    values["kind"] = fields.kind.value
    values["entry_policy"] = ",".join(fields.entry_policy)
    return values


VENUE_FIELD_NAMES = frozenset(VenueFields.__dataclass_fields__)


def code_prefix(region_name: str) -> str:
    """Three letters from the region's name: Kota Palembang -> PAL."""
    name = region_name.upper()
    for noise in REGION_NAME_NOISE:
        name = name.removeprefix(noise)
    letters = [c for c in name if "A" <= c <= "Z"]
    return ("".join(letters) + "XXX")[:3]


def new_code(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))


async def _region_name(db: Database, code: str) -> str:
    name = await db.fetch_val(sa.select(regions.c.name).where(regions.c.code == code))
    if name is None:
        raise UnknownRegion(f"region {code} is not in the regions table")
    return name


async def create_venue(db: Database, fields: VenueFields, now: datetime) -> Venue:
    fields = check_venue_fields(fields)
    prefix = code_prefix(await _region_name(db, fields.region_code))
    moment = int(now.timestamp())
    async with db.transaction():
        code = new_code(prefix)
        while await db.fetch_val(sa.select(venues.c.id).where(venues.c.code == code)):
            code = new_code(prefix)
        venue_id = await db.fetch_val(
            sa.insert(venues)
            .values(
                code=code, is_active=True, created_at=moment, updated_at=moment, **_columns(fields)
            )
            .returning(venues.c.id)
        )
    return Venue(**asdict(fields), id=venue_id, code=code, is_active=True, created_at=moment)


async def find_venue(db: Database, venue_id: int) -> Venue:
    row = await db.fetch_one(sa.select(venues).where(venues.c.id == venue_id))
    if row is None:
        raise VenueNotFound(f"there is no venue {venue_id}")
    return _venue(row)


async def find_venue_by_code(db: Database, code: str) -> Venue:
    row = await db.fetch_one(sa.select(venues).where(venues.c.code == code.strip().upper()))
    if row is None:
        raise VenueNotFound(f"there is no venue with code {code!r}")
    return _venue(row)


async def update_venue(
    db: Database, venue: Venue, changes: Mapping[str, Any], now: datetime
) -> Venue:
    """Apply ``changes`` (any `VenueFields` name, or ``is_active``) under the same rules."""
    fields = {name: getattr(venue, name) for name in VENUE_FIELD_NAMES}
    fields.update({k: v for k, v in changes.items() if k in VENUE_FIELD_NAMES})
    fields["kind"] = VenueKind(fields["kind"])
    fields["entry_policy"] = tuple(fields["entry_policy"])
    checked = check_venue_fields(VenueFields(**fields))
    if checked.region_code != venue.region_code:
        await _region_name(db, checked.region_code)
    is_active = bool(changes.get("is_active", venue.is_active))
    await db.execute(
        sa.update(venues)
        .where(venues.c.id == venue.id)
        .values(is_active=is_active, updated_at=int(now.timestamp()), **_columns(checked))
    )
    return Venue(
        **asdict(checked),
        id=venue.id,
        code=venue.code,
        is_active=is_active,
        created_at=venue.created_at,
    )


async def list_venues(
    db: Database,
    *,
    region_prefix: str | None = None,
    venue_ids: Iterable[int] | None = None,
    include_inactive: bool = True,
    kind: VenueKind | None = None,
) -> list[Venue]:
    """Venues in a region (by code prefix) and/or among ``venue_ids`` and/or of one ``kind``,
    ordered by name."""
    query = sa.select(venues).order_by(venues.c.name, venues.c.id)
    if region_prefix:
        query = query.where(
            sa.or_(
                venues.c.region_code == region_prefix,
                venues.c.region_code.like(region_prefix + ".%"),
            )
        )
    if venue_ids is not None:
        query = query.where(venues.c.id.in_(list(venue_ids)))
    if not include_inactive:
        query = query.where(venues.c.is_active == sa.true())
    if kind is not None:
        query = query.where(venues.c.kind == kind.value)
    return [_venue(row) for row in await db.fetch_all(query)]


async def venue_token(db: Database, venue: Venue, kek: bytes) -> tuple[str, SigningKey]:
    """The poster token for ``venue`` under the current key. It is deterministic (Ed25519 and
    the issue time is the later of the key's and the venue's creation), so a poster's bytes are
    the same until the key rotates."""
    key, private_key = await current_signer(db, kek)
    issued_at = max(key.created_at, venue.created_at)
    return sign_token(private_key, key.kid, venue.id, issued_at), key


async def venue_poster(
    db: Database, venue: Venue, kek: bytes, base_url: str
) -> tuple[PosterContent, SigningKey]:
    """What ``venue``'s poster shows under the current key (name, code, region name and the
    check-in URL), and that key. The same until the key rotates or the venue is edited."""
    token, key = await venue_token(db, venue, kek)
    region_name = await _region_name(db, venue.region_code)
    return PosterContent(venue.name, venue.code, checkin_url(base_url, token), region_name), key


# Built once (the check-in hot path); the database binds the values of each call.
KEY_AND_VENUE = (
    sa.select(signing_keys.c.public_key, signing_keys.c.retired_at, *venues.c)
    .select_from(signing_keys.outerjoin(venues, venues.c.id == sa.bindparam("venue_id")))
    .where(signing_keys.c.kid == sa.bindparam("kid"))
)


async def verify_venue_token(db: Database, token: str, signatures: SignatureCache) -> Venue:
    """The active venue a poster token names, or the exact reason it is refused:
    malformed, unknown key, retired key, bad signature, unknown venue, deactivated venue.

    One query fetches the key and the venue together (this is on the check-in hot path); only
    the signature check is cached, so retirement and deactivation take effect at once."""
    parsed, signed, signature = parse_token(token)
    row = await db.fetch_one(KEY_AND_VENUE, {"kid": parsed.kid, "venue_id": parsed.venue_id})
    if row is None:
        raise TokenUnknownKey(f"no poster key {parsed.kid} is known here")
    if row["retired_at"] is not None:
        raise TokenKeyRetired(f"poster key {parsed.kid} was retired; print a new poster")
    signatures.check(token, signed, signature, bytes(row["public_key"]))
    if row["id"] is None:
        raise TokenVenueUnknown(f"the poster names venue {parsed.venue_id}, which does not exist")
    venue = _venue(row)
    if not venue.is_active:
        raise TokenVenueInactive(f"{venue.name} has been deactivated")
    return venue


IMPORT_COLUMNS = (
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


def _optional_number(value: str, convert: type[int] | type[float]) -> Any:
    value = value.strip()
    if not value:
        return None
    number = convert(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def parse_venues_csv(text: str) -> list[VenueFields]:
    """Rows with a header naming `IMPORT_COLUMNS` (name, kind and region_code required;
    entry_policy as ``green|yellow``). `VenueImportError` names the first bad line."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = {"name", "kind", "region_code"} - set(header)
    unknown = set(header) - set(IMPORT_COLUMNS)
    if missing or unknown:
        raise VenueImportError(1, f"columns missing {sorted(missing)} / unknown {sorted(unknown)}")
    found = []
    for row in reader:
        line = reader.line_num
        try:
            minutes = _optional_number(row.get("default_visit_minutes") or "", int)
            fields = VenueFields(
                name=row["name"] or "",
                kind=VenueKind((row["kind"] or "").strip()),
                region_code=(row["region_code"] or "").strip(),
                address=row.get("address") or "",
                latitude=_optional_number(row.get("latitude") or "", float),
                longitude=_optional_number(row.get("longitude") or "", float),
                capacity=_optional_number(row.get("capacity") or "", int),
                default_visit_minutes=DEFAULT_VISIT_MINUTES if minutes is None else minutes,
                entry_policy=tuple(
                    c.strip() for c in (row.get("entry_policy") or "green|yellow").split("|")
                ),
            )
            found.append(check_venue_fields(fields))
        except (ValueError, InvalidVenue) as exc:
            raise VenueImportError(line, str(exc)) from exc
    return found


async def import_venues(db: Database, found: list[VenueFields], now: datetime) -> list[Venue]:
    """Create every venue in one transaction: all of them, or none."""
    async with db.transaction():
        return [await create_venue(db, fields, now) for fields in found]


def venue_in_region(venue: Venue, region_prefix: str) -> bool:
    return covers(region_prefix, venue.region_code)
