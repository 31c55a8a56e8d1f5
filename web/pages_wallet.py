"""Visitor pages: the certificate wallet (``/me/certificates``) and the door screen
(``/me/status``). Plain forms, no script; the visitor is the one in the ``singgah_visitor``
cookie, and adding a first certificate without one creates the visitor."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from checkin.errors import CheckinError
from checkin.visitors import create_visitor, visitor_token
from checkin.visits import visits_of
from checkin.wallet import add_certificate, delete_certificate, door_decision, wallet_of
from venues.registry import find_venue
from web.auth import read_form
from web.pages import render
from web.routes_wallet import status_of
from web.visitors import optional_visitor_id, remember_visitor, require_visitor_id

WALLET_PAGE = "/me/certificates"


async def _wallet_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    visitor_id = optional_visitor_id(request)
    state = request.app.state
    found = await wallet_of(state.db, state.personal_keys, visitor_id) if visitor_id else []
    now = state.clock.now()
    certificates = [c.public(now) for c in found]
    return render(request, "wallet.html", status, certificates=certificates, error=error)


async def wallet_page(request: Request) -> Response:
    return await _wallet_page(request)


async def wallet_add_form(request: Request) -> Response:
    form = await read_form(request)
    state = request.app.state
    now = state.clock.now()
    visitor_id = optional_visitor_id(request)
    token = None
    if visitor_id is None:
        visitor_id = (await create_visitor(state.db, state.personal_keys, now)).id
        token = visitor_token(state.personal_keys, visitor_id)
    hc1 = str(form.get("hc1", ""))
    try:
        await add_certificate(state.db, state.personal_keys, visitor_id, hc1, now)
    except CheckinError as exc:
        page = await _wallet_page(request, exc.status, str(exc))
    else:
        page = RedirectResponse(WALLET_PAGE, 303)
    if token:
        remember_visitor(page, request, token)
    return page


async def wallet_delete_form(request: Request) -> Response:
    visitor_id = require_visitor_id(request)
    await read_form(request)
    state = request.app.state
    certificate_id = request.path_params["certificate_id"]
    await delete_certificate(state.db, state.personal_keys, visitor_id, certificate_id)
    return RedirectResponse(WALLET_PAGE, 303)


async def status_page(request: Request) -> Response:
    """The screen a visitor shows at the door: their colour large, with the venue and time of
    the visit in progress and whether its entry policy lets them in."""
    visitor_id = optional_visitor_id(request)
    if visitor_id is None:
        return render(request, "status.html", entry=None)
    state = request.app.state
    now = state.clock.now()
    entry = await status_of(request, visitor_id)
    # No visit lasts longer than the maximum, so an open one started within it.
    recent = await visits_of(
        state.db, visitor_id, now - timedelta(hours=state.settings.max_visit_hours)
    )
    visit = next((v for v in recent if v.is_open(int(now.timestamp()))), None)
    venue = await find_venue(state.db, visit.venue_id) if visit else None
    door = door_decision(entry, venue) if venue else None
    return render(request, "status.html", entry=entry, door=door, venue=venue, visit=visit)


routes = [
    Route(WALLET_PAGE, wallet_page, methods=["GET"]),
    Route(WALLET_PAGE, wallet_add_form, methods=["POST"]),
    Route(WALLET_PAGE + "/{certificate_id:int}/delete", wallet_delete_form, methods=["POST"]),
    Route("/me/status", status_page, methods=["GET"]),
]
