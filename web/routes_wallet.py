"""API for the visitor wallet (health certificates), the visitor's colour and the door decision."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from checkin.wallet import (
    VisitorStatus,
    add_certificate,
    delete_certificate,
    door_decision,
    wallet_of,
)
from exposure.cases import door_status
from venues.registry import Venue
from web.openapi import api
from web.responses import JSONResponse
from web.validation import obj, read_json
from web.visitors import require_visitor_id

NEW_CERTIFICATE = obj({"hc1": {"type": "string", "minLength": 1, "maxLength": 8192}}, ("hc1",))
WALLET_CERTIFICATE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "certificate_type": {"enum": ["v", "t", "r"]},
        "status": {"enum": ["valid", "expired", "revoked"]},
        "initials": {"type": "string"},
        "issued_at": {"type": "string"},
        "expires_at": {"type": "string"},
        "dose_number": {"type": "integer"},
        "series_doses": {"type": "integer"},
        "test_kind": {"enum": ["pcr", "antigen"]},
        "test_result": {"enum": ["positive", "negative"]},
        "sampled_at": {"type": "string"},
        "valid_from": {"type": "string"},
        "valid_until": {"type": "string"},
    },
}
STATUS = {
    "type": "object",
    "properties": {
        "colour": {"enum": ["green", "yellow", "red", "black"]},
        "reason": {"type": "string"},
        "valid_until": {"type": ["string", "null"], "description": "null: no known end"},
        "initials": {"type": "string"},
    },
}
DOOR = {
    "type": "object",
    "description": "What the door is shown: colour, initials, validity; never the visits",
    "properties": {**STATUS["properties"], "allowed": {"type": "boolean"}},
}


async def status_of(request: Request, visitor_id: str) -> VisitorStatus:
    """The visitor's colour now, from their certificates and what the exposure engine knows
    (a confirmed positive result or a close contact makes it black)."""
    state = request.app.state
    now = state.clock.now()
    return await door_status(state.db, state.personal_keys, visitor_id, now, state.colour_rules)


async def door_json(request: Request, visitor_id: str, venue: Venue) -> dict[str, Any]:
    """The door decision at ``venue`` for the check-in response."""
    return door_decision(await status_of(request, visitor_id), venue).public()


async def wallet_index(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    state = request.app.state
    found = await wallet_of(state.db, state.personal_keys, visitor_id)
    return JSONResponse([c.public(state.clock.now()) for c in found])


async def wallet_add(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    body = await read_json(request, NEW_CERTIFICATE)
    state = request.app.state
    now = state.clock.now()
    added = await add_certificate(state.db, state.personal_keys, visitor_id, body["hc1"], now)
    return JSONResponse(added.public(now), 201)


async def wallet_delete(request: Request) -> Response:
    visitor_id = require_visitor_id(request)
    state = request.app.state
    certificate_id = request.path_params["certificate_id"]
    await delete_certificate(state.db, state.personal_keys, visitor_id, certificate_id)
    return Response(status_code=204)


async def status_show(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    return JSONResponse((await status_of(request, visitor_id)).public())


routes = [
    api("/api/me/certificates", wallet_index, "GET",
        "Your certificates (without the HC1)", auth="visitor", tag="wallet",
        response={"type": "array", "items": WALLET_CERTIFICATE}),
    api("/api/me/certificates", wallet_add, "POST",
        "Add a certificate: verified against the trust list, kept sealed", auth="visitor",
        tag="wallet", body=NEW_CERTIFICATE, response=WALLET_CERTIFICATE, status=201),
    api("/api/me/certificates/{certificate_id:int}", wallet_delete, "DELETE",
        "Delete one of your certificates", auth="visitor", tag="wallet", status=204),
    api("/api/me/status", status_show, "GET",
        "Your entry colour, until when it holds, and your initials", auth="visitor",
        tag="wallet", response=STATUS),
]  # fmt: skip
