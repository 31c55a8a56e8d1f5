"""API for visitors, check-in and check-out, and venue occupancy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from checkin.errors import OfflineScanRefused
from checkin.visitors import (
    Profile,
    create_visitor,
    dependants_of,
    find_visitor,
    read_profile,
    update_profile,
    visitor_token,
)
from checkin.visits import (
    CheckinResult,
    check_in,
    check_out,
    check_out_everyone,
    delete_visit,
    hourly_occupancy,
    iso,
    occupancy,
    visits_of,
)
from venues.registry import Venue, verify_venue_token
from web.accounts import record_audit
from web.errors import ValidationFailed
from web.openapi import api
from web.responses import JSONResponse
from web.routes_wallet import DOOR, door_json
from web.scopes import venue_for
from web.validation import obj, read_json
from web.visitors import checkin_rules, require_visitor_id

PROFILE = obj(
    {
        "name": {"type": ["string", "null"], "maxLength": 200},
        "phone": {"type": ["string", "null"], "maxLength": 32},
        "nik": {"type": ["string", "null"], "pattern": r"^\d{16}$"},
    }
)
NEW_CHECKIN = obj(
    {
        "token": {"type": "string", "maxLength": 2048},
        "scanned_at": {"type": "string", "format": "date-time", "maxLength": 40},
        "dependants": {
            "type": "array",
            "items": {"type": "string", "maxLength": 64},
            "maxItems": 10,
            "uniqueItems": True,
        },
    },
    required=("token",),
)
VISIT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "venue_id": {"type": "integer"},
        "checked_in_at": {"type": "string"},
        "checked_out_at": {"type": "string"},
        "checkout_planned": {"type": "boolean"},
        "offline": {"type": "boolean"},
        "ended_by": {"type": ["string", "null"]},
    },
}
OCCUPANCY = {
    "type": "object",
    "properties": {
        "current": {"type": "integer"},
        "capacity": {"type": ["integer", "null"]},
        "full": {"type": "boolean"},
    },
}
CHECKIN_RESULT = {
    "type": "object",
    "properties": {
        "visit": VISIT,
        "venue": {"type": "object"},
        "occupancy": OCCUPANCY,
        "dependant_visits": {"type": "array", "items": VISIT},
        "door": DOOR,
    },
}
STREAM_REFRESH_SECONDS = 5.0


def parse_scanned_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"scanned_at {text!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise OfflineScanRefused("scanned_at needs a time zone (for example 2026-11-22T09:00:00Z)")
    return moment


async def visitors_create(request: Request) -> JSONResponse:
    state = request.app.state
    visitor = await create_visitor(state.db, state.personal_keys, state.clock.now())
    token = visitor_token(state.personal_keys, visitor.id)
    return JSONResponse({"visitor_id": visitor.id, "token": token}, 201)


async def me_show(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    state = request.app.state
    await find_visitor(state.db, visitor_id)
    profile = await read_profile(state.db, state.personal_keys, visitor_id)
    dependants = [d.id for d in await dependants_of(state.db, visitor_id)]
    return JSONResponse(
        {"visitor_id": visitor_id, "profile": profile.__dict__, "dependants": dependants}
    )


async def me_profile(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    body = await read_json(request, PROFILE)
    state = request.app.state
    await find_visitor(state.db, visitor_id)
    await update_profile(state.db, state.personal_keys, visitor_id, Profile(**body))
    return JSONResponse({"visitor_id": visitor_id, "profile": "saved"})


async def me_add_dependant(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    body = await read_json(request, PROFILE)
    state = request.app.state
    await find_visitor(state.db, visitor_id)
    dependant = await create_visitor(
        state.db,
        state.personal_keys,
        state.clock.now(),
        kind="dependant",
        profile=Profile(**body),
        guardian_id=visitor_id,
    )
    return JSONResponse({"visitor_id": dependant.id}, 201)


def checkin_json(result: CheckinResult, venue: Venue, now: datetime) -> dict[str, Any]:
    return {
        "visit": result.visit.public(now),
        "venue": venue.summary(),
        "occupancy": result.occupancy.public(),
    }


async def checkins_create(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    body = await read_json(request, NEW_CHECKIN)
    state = request.app.state
    now = state.clock.now()
    scanned_at = parse_scanned_at(body.get("scanned_at"))
    rules = checkin_rules(request)
    dependants = body.get("dependants", [])

    async def record() -> tuple[Venue, CheckinResult, list[CheckinResult], dict[str, Any]]:
        # All in one write transaction, shared with the check-ins arriving at the same time
        # (group commit): the key and venue are read as of the insert (retired or
        # deactivated: refused), and the door decision is read on the same connection.
        venue = await verify_venue_token(state.db, body["token"], state.signatures)
        if dependants:
            own = {d.id for d in await dependants_of(state.db, visitor_id)}
            if not set(dependants) <= own:
                raise ValidationFailed(
                    "dependants must be ones you registered (/api/me/dependants)"
                )
        result = await check_in(
            state.db,
            visitor_id=visitor_id,
            venue=venue,
            now=now,
            rules=rules,
            scanned_at=scanned_at,
        )
        party = [
            await check_in(
                state.db,
                visitor_id=dependant,
                venue=venue,
                now=now,
                rules=rules,
                scanned_at=scanned_at,
                source="dependant",
            )
            for dependant in dependants
        ]
        return venue, result, party, await door_json(request, visitor_id, venue)

    # A 201 is sent only once the commit that holds the visit is done.
    venue, result, party, door = await state.db.group_commit(record)
    state.occupancy.changed(venue.id)
    final = party[-1].occupancy if party else result.occupancy
    payload = checkin_json(result, venue, now) | {"occupancy": final.public()}
    if party:
        payload["dependant_visits"] = [item.visit.public(now) for item in party]
    payload["door"] = door
    return JSONResponse(payload, 201 if result.created else 200)


async def checkins_checkout(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    state = request.app.state
    now = state.clock.now()
    visit = await check_out(state.db, visitor_id, request.path_params["visit_id"], now)
    state.occupancy.changed(visit.venue_id)
    return JSONResponse({"visit": visit.public(now)})


async def me_visits(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    state = request.app.state
    now = state.clock.now()
    since = now - timedelta(days=state.settings.retention_days)
    found = await visits_of(state.db, visitor_id, since)
    return JSONResponse([visit.public(now) for visit in found])


async def me_visit_delete(request: Request) -> Response:
    visitor_id = require_visitor_id(request)
    await delete_visit(request.app.state.db, visitor_id, request.path_params["visit_id"])
    return Response(status_code=204)


async def venue_occupancy(request: Request) -> JSONResponse:
    _, venue = await venue_for(request, request.path_params["venue_id"])
    state = request.app.state
    return JSONResponse((await occupancy(state.db, venue, state.clock.now())).public())


async def venue_occupancy_stream(request: Request) -> StreamingResponse:
    """Server-Sent Events: the occupancy now, then each change."""
    _, venue = await venue_for(request, request.path_params["venue_id"])
    state = request.app.state

    async def events() -> AsyncIterator[str]:
        last = None
        while not await request.is_disconnected():
            current = (await occupancy(state.db, venue, state.clock.now())).public()
            if current != last:
                yield f"event: occupancy\ndata: {json.dumps(current)}\n\n"
                last = current
            await state.occupancy.wait(venue.id, STREAM_REFRESH_SECONDS)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def venue_occupancy_history(request: Request) -> JSONResponse:
    _, venue = await venue_for(request, request.path_params["venue_id"])
    state = request.app.state
    hours = await hourly_occupancy(
        state.db, venue, state.clock.now(), state.settings.retention_days
    )
    return JSONResponse([{"hour": iso(hour), "present": count} for hour, count in hours])


async def venue_checkout_all(request: Request) -> JSONResponse:
    user, venue = await venue_for(request, request.path_params["venue_id"], write=True)
    state = request.app.state
    now = state.clock.now()
    count = await check_out_everyone(state.db, venue, now)
    await record_audit(
        state.db, now, user.id, "checkout_all", "venue", str(venue.id), {"visits": count}
    )
    state.occupancy.changed(venue.id)
    return JSONResponse({"checked_out": count})


READERS = "admin, venue's manager, health official of its region"
routes = [
    # First: the hot path's route is matched before the others are tried.
    api(
        "/api/checkins",
        checkins_create,
        "POST",
        "Check in with a poster token",
        auth="visitor",
        tag="checkins",
        body=NEW_CHECKIN,
        response=CHECKIN_RESULT,
        status=201,
    ),
    api(
        "/api/visitors",
        visitors_create,
        "POST",
        "Create a pseudonymous visitor",
        auth="public",
        tag="visitors",
        status=201,
        response=obj({"visitor_id": {"type": "string"}, "token": {"type": "string"}}),
    ),
    api(
        "/api/me/profile",
        me_show,
        "GET",
        "The visitor: profile and dependants",
        auth="visitor",
        tag="visitors",
        response={"type": "object"},
    ),
    api(
        "/api/me/profile",
        me_profile,
        "PUT",
        "Optional contact details for tracing",
        auth="visitor",
        tag="visitors",
        body=PROFILE,
        response={"type": "object"},
    ),
    api(
        "/api/me/dependants",
        me_add_dependant,
        "POST",
        "A child or elderly person checked in with you",
        auth="visitor",
        tag="visitors",
        body=PROFILE,
        status=201,
        response={"type": "object"},
    ),
    api(
        "/api/checkins/{visit_id:int}/checkout",
        checkins_checkout,
        "POST",
        "Check out",
        auth="visitor",
        tag="checkins",
        response=obj({"visit": VISIT}),
    ),
    api(
        "/api/me/visits",
        me_visits,
        "GET",
        "Your visits of the retention window",
        auth="visitor",
        tag="checkins",
        response={"type": "array", "items": VISIT},
    ),
    api(
        "/api/me/visits/{visit_id:int}",
        me_visit_delete,
        "DELETE",
        "Delete one of your visits",
        auth="visitor",
        tag="checkins",
        status=204,
    ),
    api(
        "/api/venues/{venue_id:int}/occupancy",
        venue_occupancy,
        "GET",
        "People in the venue now",
        auth=READERS,
        tag="occupancy",
        response=OCCUPANCY,
    ),
    api(
        "/api/venues/{venue_id:int}/occupancy/stream",
        venue_occupancy_stream,
        "GET",
        "Occupancy as Server-Sent Events",
        auth=READERS,
        tag="occupancy",
    ),
    api(
        "/api/venues/{venue_id:int}/occupancy/history",
        venue_occupancy_history,
        "GET",
        "People present per hour, last 14 days",
        auth=READERS,
        tag="occupancy",
        response={"type": "array", "items": {"type": "object"}},
    ),
    api(
        "/api/venues/{venue_id:int}/checkout-all",
        venue_checkout_all,
        "POST",
        "Closing time: check everyone out",
        auth="admin, venue's manager",
        tag="occupancy",
        response=obj({"checked_out": {"type": "integer"}}),
    ),
]
