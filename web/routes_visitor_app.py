"""API behind the in-app scanner: a venue by its typed short code, and the door verifier."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from certificates.colour import CaseStatus, certificate_facts, status_colour
from certificates.trust_list import verify_with_trust_list
from certificates.verify import Outcome
from checkin.visits import iso
from checkin.wallet import holder_initials
from venues.registry import find_venue_by_code, venue_token
from venues.tokens import checkin_url
from web.keyring import venue_key_encryption_key
from web.openapi import api
from web.responses import JSONResponse
from web.validation import obj, read_json

VENUE_BY_CODE = {
    "type": "object",
    "properties": {
        "venue": {"type": "object"},
        "token": {"type": "string"},
        "checkin_url": {"type": "string"},
    },
}
DOOR_CHECK = obj({"hc1": {"type": "string", "minLength": 1, "maxLength": 8192}}, ("hc1",))
DOOR_RESULT = {
    "type": "object",
    "description": "What door staff see: never the name, the date of birth or the visits",
    "properties": {
        "valid": {"type": "boolean"},
        "problem": {"type": ["string", "null"], "description": "why it is not valid"},
        "colour": {"enum": ["green", "yellow", "red", "black", None]},
        "reason": {"type": ["string", "null"]},
        "initials": {"type": ["string", "null"]},
        "valid_until": {"type": ["string", "null"], "description": "null: no known end"},
    },
}


async def venue_by_code(request: Request) -> JSONResponse:
    """The venue a visitor typed the short code of (printed under the poster's QR) and the
    token its poster holds now, so the scanner checks in exactly as if the QR had been read."""
    state = request.app.state
    venue = await find_venue_by_code(state.db, request.path_params["code"])
    token, _ = await venue_token(state.db, venue, venue_key_encryption_key(state.settings))
    return JSONResponse(
        {
            "venue": venue.summary(),
            "token": token,
            "checkin_url": checkin_url(state.settings.base_url, token),
        }
    )


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


async def door_check(request: Request) -> JSONResponse:
    """A visitor's certificate checked at the door: signature against the trust list,
    revocation, then its colour under the configured rules. Case status is not consulted (the
    door sees the certificate, not the person's record)."""
    body = await read_json(request, DOOR_CHECK)
    state = request.app.state
    now = state.clock.now()
    result = await verify_with_trust_list(state.db, body["hc1"], now)
    if not result.valid or result.claims is None:
        failed = [f"{s.name}: {s.reason}" for s in result.steps if s.outcome is Outcome.FAIL]
        return JSONResponse(_door_json(False, "; ".join(failed) or "unreadable"))
    dcc = result.claims.dcc
    decision = status_colour(certificate_facts(dcc), CaseStatus(), now, state.colour_rules)
    expires = result.claims.expires_at
    until = _earliest(
        decision.valid_until, datetime.fromtimestamp(expires, UTC) if expires else None
    )
    return JSONResponse(
        _door_json(
            True,
            None,
            colour=decision.colour.value,
            reason=decision.reason,
            initials=holder_initials(dcc),
            valid_until=iso(int(until.timestamp())) if until else None,
        )
    )


def _door_json(valid: bool, problem: str | None, **found: Any) -> dict[str, Any]:
    empty = {"colour": None, "reason": None, "initials": None, "valid_until": None}
    return {"valid": valid, "problem": problem, **empty, **found}


routes = [
    api("/api/venues/by-code/{code}", venue_by_code, "GET",
        "A venue by its short code, with its current poster token", auth="public",
        tag="venues", response=VENUE_BY_CODE),
    api("/api/door/check", door_check, "POST",
        "Check a visitor's certificate at the door: colour, initials, validity",
        auth="public", tag="wallet", body=DOOR_CHECK, response=DOOR_RESULT),
]  # fmt: skip
