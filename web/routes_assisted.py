"""API for staff-assisted check-in, traveller registration at border checkpoints, and arrivals.

Who may do what (see `web.scopes`): door staff (a venue's managers) and admins check people in
at their venues, checkpoint officers at border checkpoints. Health officials see the arrivals
bound for their region, and only those; admins see all. Each assisted check-in, registration
and each view of arrivals (which shows personal data) is audited, without the personal data.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from checkin.assisted import (
    MODES,
    Arrival,
    AssistedCheckin,
    Journey,
    Registration,
    arrivals,
    assisted_check_in,
    register_traveller,
)
from checkin.visitors import Profile
from checkin.visits import iso
from venues.registry import Venue
from web.accounts import Role, User, record_audit
from web.auth import require_user
from web.errors import Forbidden, ValidationFailed
from web.openapi import api
from web.responses import JSONResponse
from web.routes_checkin import CHECKIN_RESULT, checkin_json
from web.scopes import assisting_venue
from web.validation import obj, read_json
from web.visitors import checkin_rules

PERSON = {
    "nik": {"type": "string", "pattern": r"^\d{16}$"},
    "name": {"type": ["string", "null"], "maxLength": 200},
    "phone": {"type": ["string", "null"], "maxLength": 32},
}
ASSISTED_CHECKIN = obj(PERSON, required=("nik",))
NEW_TRAVELLER = obj(
    {
        **PERSON,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "origin": {"type": "string", "minLength": 1, "maxLength": 200},
        "destination_region_code": {"type": "string", "maxLength": 20},
        "mode": {"enum": list(MODES)},
        "travel_history": {"type": "string", "maxLength": 2000},
    },
    required=("nik", "name", "origin", "destination_region_code", "mode"),
)
TRAVELLER = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "checkpoint_id": {"type": "integer"},
        "destination_region_code": {"type": "string"},
        "mode": {"type": "string"},
        "registered_at": {"type": "string"},
    },
}
REGISTRATION = {
    "type": "object",
    "properties": {**CHECKIN_RESULT["properties"], "traveller": TRAVELLER},
}
ARRIVAL = {"type": "object", "description": "a traveller with their personal data"}
ARRIVALS = obj(
    {
        "region": {"type": ["string", "null"]},
        "since": {"type": "string"},
        "arrivals": {"type": "array", "items": ARRIVAL},
    }
)
CSV_COLUMNS = (
    "registered_at",
    "checkpoint",
    "destination_code",
    "destination",
    "mode",
    "nik",
    "name",
    "phone",
    "origin",
    "travel_history",
)
ARRIVAL_READERS = (Role.ADMIN, Role.HEALTH_OFFICIAL)


async def check_in_for(
    request: Request, user: User, venue: Venue, person: dict[str, Any], via: str
) -> AssistedCheckin:
    """Check a person in on their behalf, audit it (no personal data) and tell live viewers."""
    state = request.app.state
    now = state.clock.now()
    assisted = await assisted_check_in(
        state.db,
        state.personal_keys,
        profile=_profile(person),
        venue=venue,
        now=now,
        rules=checkin_rules(request),
    )
    visit = assisted.result.visit
    details = {"venue_id": venue.id, "new_visitor": assisted.new_visitor, "via": via}
    await record_audit(state.db, now, user.id, "assisted_checkin", "visit", str(visit.id), details)
    state.occupancy.changed(venue.id)
    return assisted


async def register_for(
    request: Request, user: User, venue: Venue, fields: dict[str, Any], via: str
) -> Registration:
    """Register a traveller at a checkpoint, audit it (no personal data), tell live viewers."""
    state = request.app.state
    now = state.clock.now()
    journey = Journey(
        origin=fields["origin"],
        destination_region_code=fields["destination_region_code"],
        mode=fields["mode"],
        travel_history=fields.get("travel_history") or "",
    )
    registration = await register_traveller(
        state.db,
        state.personal_keys,
        profile=_profile(fields),
        journey=journey,
        checkpoint=venue,
        now=now,
        rules=checkin_rules(request),
    )
    details = {
        "checkpoint_id": venue.id,
        "destination": registration.journey.destination_region_code,
        "mode": journey.mode,
        "visit_id": registration.checkin.result.visit.id,
        "via": via,
    }
    traveller_id = str(registration.traveller_id)
    await record_audit(
        state.db, now, user.id, "traveller_registered", "traveller", traveller_id, details
    )
    state.occupancy.changed(venue.id)
    return registration


def _profile(fields: dict[str, Any]) -> Profile:
    return Profile(
        name=fields.get("name") or None, phone=fields.get("phone") or None, nik=fields["nik"]
    )


def parse_since(text: str | None, now: datetime, retention_days: int) -> datetime:
    """``since`` as a time (a date means its midnight UTC); the retention window by default."""
    if not text:
        return now - timedelta(days=retention_days)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"since {text!r} is not an ISO 8601 date or time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def arrivals_for(request: Request, how: str) -> tuple[str | None, datetime, list[Arrival]]:
    """The region (None: all), the time and the arrivals the signed-in official (or admin) may
    see since ``?since=``; the view is audited with its scope and count, never the data."""
    user = await require_user(request, *ARRIVAL_READERS)
    state = request.app.state
    now = state.clock.now()
    since = parse_since(request.query_params.get("since"), now, state.settings.retention_days)
    if user.role is Role.HEALTH_OFFICIAL and not user.region_prefix:
        raise Forbidden("your account has no region; ask an administrator to set it")
    region = user.region_prefix if user.role is Role.HEALTH_OFFICIAL else None
    found = await arrivals(state.db, state.personal_keys, region_prefix=region, since=since)
    details = {"since": since.isoformat(), "count": len(found), "format": how}
    await record_audit(state.db, now, user.id, "arrivals_viewed", "region", region or "*", details)
    return region, since, found


async def assisted_checkins_create(request: Request) -> JSONResponse:
    user, venue = await assisting_venue(request, request.path_params["venue_id"])
    body = await read_json(request, ASSISTED_CHECKIN)
    assisted = await check_in_for(request, user, venue, body, "api")
    result = assisted.result
    payload = checkin_json(result, venue, request.app.state.clock.now())
    return JSONResponse(payload, 201 if result.created else 200)


async def travellers_create(request: Request) -> JSONResponse:
    user, venue = await assisting_venue(request, request.path_params["venue_id"])
    body = await read_json(request, NEW_TRAVELLER)
    registration = await register_for(request, user, venue, body, "api")
    payload = checkin_json(registration.checkin.result, venue, request.app.state.clock.now())
    return JSONResponse({"traveller": registration.public(), **payload}, 201)


async def arrivals_list(request: Request) -> JSONResponse:
    region, since, found = await arrivals_for(request, "json")
    return JSONResponse(
        {
            "region": region,
            "since": since.isoformat(),
            "arrivals": [arrival.public() for arrival in found],
        }
    )


def _cell(value: str) -> str:
    # A leading = + - @ makes spreadsheets run the cell as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def arrivals_csv(found: list[Arrival]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for a in found:
        row = [
            iso(a.registered_at),
            a.checkpoint_name,
            a.destination_region_code,
            a.destination_name,
            a.mode,
            a.nik,
            a.name,
            a.phone,
            a.origin,
            a.travel_history,
        ]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


async def arrivals_export(request: Request) -> Response:
    region, since, found = await arrivals_for(request, "csv")
    filename = f"arrivals-{region or 'all'}-{since.date().isoformat()}.csv"
    return Response(
        arrivals_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


STAFF = "admin, venue's manager, checkpoint officer (border checkpoints only)"
SINCE = {"since": {"type": "string", "description": "ISO 8601; default: the retention window"}}
routes = [
    api(
        "/api/venues/{venue_id:int}/assisted-checkins",
        assisted_checkins_create,
        "POST",
        "Check in a person without a phone, by NIK",
        auth=STAFF,
        tag="checkins",
        body=ASSISTED_CHECKIN,
        response=CHECKIN_RESULT,
        status=201,
    ),
    api(
        "/api/venues/{venue_id:int}/travellers",
        travellers_create,
        "POST",
        "Register a traveller at a border checkpoint",
        auth=STAFF,
        tag="travellers",
        body=NEW_TRAVELLER,
        response=REGISTRATION,
        status=201,
    ),
    api(
        "/api/arrivals",
        arrivals_list,
        "GET",
        "Travellers bound for your region (audited)",
        auth="admin, health official (own region)",
        tag="travellers",
        response=ARRIVALS,
        query=SINCE,
    ),
    api(
        "/api/arrivals.csv",
        arrivals_export,
        "GET",
        "Arrivals as CSV (audited)",
        auth="admin, health official (own region)",
        tag="travellers",
        query=SINCE,
        media_types=("text/csv",),
    ),
]
