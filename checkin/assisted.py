"""Staff-assisted check-in, travellers registered at border checkpoints, and their arrivals.

Staff check in a person without a phone by NIK: the visitor with that NIK (found by its keyed
hash, nobody is decrypted) is reused, otherwise an ``assisted`` visitor is created with a
sealed profile; the visit goes into the same visits table with source ``assisted``.

At a border checkpoint a traveller is registered too: who (NIK, name, phone), from where
(a region code or free text), to which region, how (air, land, sea) and where they have been.
Everything but the destination region and the mode is sealed; the destination stays in clear
so that "arrivals in my region" is a bounded, indexed query. Who may do any of this is decided
by the caller (``web``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from checkin.errors import InvalidNik, InvalidTraveller, NotACheckpoint, VenueClosed
from checkin.tables import travellers
from checkin.visitors import (
    PersonalDataKeys,
    Profile,
    Visitor,
    checked_profile,
    create_visitor,
    find_by_nik,
    read_profile,
    seal_json,
    unseal_json,
    update_profile,
)
from checkin.visits import CheckinResult, CheckinRules, check_in, epoch, iso
from venues.regions import find_region, parse_region_code
from venues.registry import Venue, VenueKind
from venues.tables import regions, venues

MODES = ("air", "land", "sea")
MAX_ORIGIN = 200
MAX_TRAVEL_HISTORY = 2000


@dataclass(frozen=True)
class AssistedCheckin:
    visitor: Visitor
    new_visitor: bool
    result: CheckinResult


@dataclass(frozen=True)
class Journey:
    """Where a traveller comes from and goes to, as the officer states it."""

    origin: str
    destination_region_code: str
    mode: str
    travel_history: str = ""


@dataclass(frozen=True)
class Registration:
    traveller_id: int
    journey: Journey
    registered_at: int
    checkin: AssistedCheckin

    def public(self) -> dict[str, Any]:
        return {
            "id": self.traveller_id,
            "checkpoint_id": self.checkin.result.visit.venue_id,
            "destination_region_code": self.journey.destination_region_code,
            "mode": self.journey.mode,
            "registered_at": iso(self.registered_at),
        }


@dataclass(frozen=True)
class Arrival:
    """A traveller bound for a region, with the personal data an official needs to reach them."""

    id: int
    registered_at: int
    checkpoint_id: int
    checkpoint_name: str
    destination_region_code: str
    destination_name: str
    mode: str
    nik: str
    name: str
    phone: str
    origin: str
    travel_history: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "registered_at": iso(self.registered_at),
            "checkpoint": {"id": self.checkpoint_id, "name": self.checkpoint_name},
            "destination": {"code": self.destination_region_code, "name": self.destination_name},
            "mode": self.mode,
            "nik": self.nik,
            "name": self.name,
            "phone": self.phone,
            "origin": self.origin,
            "travel_history": self.travel_history,
        }


async def visitor_for_nik(
    db: Database, keys: PersonalDataKeys, profile: Profile, now: datetime
) -> tuple[Visitor, bool]:
    """The visitor with the profile's NIK, or a new ``assisted`` one; and whether it is new.

    A known visitor's profile is completed with what staff typed but never overwritten: the
    person may have entered their own details on their phone."""
    profile = checked_profile(profile)
    if not profile.nik:
        raise InvalidNik("a NIK is needed to check someone in without a phone")
    found = await find_by_nik(db, keys, profile.nik)
    if found is None:
        return await create_visitor(db, keys, now, kind="assisted", profile=profile), True
    known = await read_profile(db, keys, found.id)
    completed = Profile(known.name or profile.name, known.phone or profile.phone, profile.nik)
    if completed != known:
        await update_profile(db, keys, found.id, completed)
    return found, False


async def assisted_check_in(
    db: Database,
    keys: PersonalDataKeys,
    *,
    profile: Profile,
    venue: Venue,
    now: datetime,
    rules: CheckinRules,
) -> AssistedCheckin:
    """Check in the person with ``profile.nik`` at ``venue`` on their behalf."""
    if not venue.is_active:
        raise VenueClosed(f"{venue.name} is not active; nobody can check in there")
    async with db.transaction():
        visitor, new = await visitor_for_nik(db, keys, profile, now)
        result = await check_in(
            db, visitor_id=visitor.id, venue=venue, now=now, rules=rules, source="assisted"
        )
    return AssistedCheckin(visitor, new, result)


async def checked_journey(db: Database, journey: Journey) -> Journey:
    """The journey once each field passes its rule; the destination must be a known region."""
    origin, history = journey.origin.strip(), journey.travel_history.strip()
    if not origin:
        raise InvalidTraveller("the origin is needed: a region code or a place name")
    if len(origin) > MAX_ORIGIN:
        raise InvalidTraveller(f"the origin is longer than {MAX_ORIGIN} characters")
    if len(history) > MAX_TRAVEL_HISTORY:
        raise InvalidTraveller(f"the travel history is longer than {MAX_TRAVEL_HISTORY} characters")
    if journey.mode not in MODES:
        raise InvalidTraveller(f"the mode of travel is one of {', '.join(MODES)}")
    destination = await find_region(db, journey.destination_region_code)
    return Journey(origin, destination.code, journey.mode, history)


def sealing_context(visitor_id: str, destination: str, registered_at: int) -> str:
    # Binding the destination means a changed destination column no longer opens the data.
    return f"traveller:{visitor_id}:{destination}:{registered_at}"


async def register_traveller(
    db: Database,
    keys: PersonalDataKeys,
    *,
    profile: Profile,
    journey: Journey,
    checkpoint: Venue,
    now: datetime,
    rules: CheckinRules,
) -> Registration:
    """Register a traveller at a border checkpoint and check them in there."""
    if checkpoint.kind is not VenueKind.BORDER_CHECKPOINT:
        raise NotACheckpoint(f"{checkpoint.name} is not a border checkpoint")
    if not (profile.name or "").strip():
        raise InvalidTraveller("the traveller's name is needed")
    journey = await checked_journey(db, journey)
    profile = checked_profile(profile)
    moment = epoch(now)
    async with db.transaction():
        assisted = await assisted_check_in(
            db, keys, profile=profile, venue=checkpoint, now=now, rules=rules
        )
        visitor_id = assisted.visitor.id
        details = {**asdict(profile), "origin": journey.origin, "history": journey.travel_history}
        context = sealing_context(visitor_id, journey.destination_region_code, moment)
        traveller_id = await db.fetch_val(
            sa.insert(travellers)
            .values(
                visitor_id=visitor_id,
                visit_id=assisted.result.visit.id,
                checkpoint_id=checkpoint.id,
                destination_region_code=journey.destination_region_code,
                mode=journey.mode,
                details_sealed=seal_json(keys, context, details),
                details_key_id=keys.key_id,
                registered_at=moment,
            )
            .returning(travellers.c.id)
        )
    return Registration(traveller_id, journey, moment, assisted)


def in_region(column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    """``column`` is the region ``prefix`` or inside it; the pattern is a bound parameter."""
    code = parse_region_code(prefix)
    return sa.or_(column == code, column.like(sa.bindparam("region_pattern", code + ".%")))


async def arrivals(
    db: Database, keys: PersonalDataKeys, *, region_prefix: str | None, since: datetime
) -> list[Arrival]:
    """Travellers registered since ``since`` bound for ``region_prefix`` (every region when
    None), newest first, with their personal data unsealed."""
    query = (
        sa.select(
            travellers,
            venues.c.name.label("checkpoint_name"),
            regions.c.name.label("destination_name"),
        )
        .join(venues, venues.c.id == travellers.c.checkpoint_id)
        .join(regions, regions.c.code == travellers.c.destination_region_code)
        .where(travellers.c.registered_at >= epoch(since))
        .order_by(travellers.c.registered_at.desc(), travellers.c.id.desc())
    )
    if region_prefix is not None:
        query = query.where(in_region(travellers.c.destination_region_code, region_prefix))
    return [_arrival(keys, row) for row in await db.fetch_all(query)]


def _arrival(keys: PersonalDataKeys, row: Any) -> Arrival:
    context = sealing_context(
        row["visitor_id"], row["destination_region_code"], row["registered_at"]
    )
    details = unseal_json(keys, context, bytes(row["details_sealed"]))
    return Arrival(
        id=row["id"],
        registered_at=row["registered_at"],
        checkpoint_id=row["checkpoint_id"],
        checkpoint_name=row["checkpoint_name"],
        destination_region_code=row["destination_region_code"],
        destination_name=row["destination_name"],
        mode=row["mode"],
        nik=details["nik"],
        name=details["name"] or "",
        phone=details["phone"] or "",
        origin=details["origin"],
        travel_history=details["history"],
    )
