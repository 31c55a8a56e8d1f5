"""Visitor pages (the page a poster opens, the visit, my visits) and the manager's live view.

They work without JavaScript: the visitor is remembered by an HttpOnly cookie holding the same
bearer token the API uses, and every change is a form post with a CSRF token.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from checkin.errors import VisitNotFound
from checkin.visitors import create_visitor, visitor_token
from checkin.visits import (
    check_in,
    check_out,
    check_out_everyone,
    delete_visit,
    find_visit,
    hourly_occupancy,
    occupancy,
    visits_of,
)
from venues.registry import find_venue, list_venues, verify_venue_token
from web.accounts import record_audit
from web.auth import read_form
from web.pages import render
from web.scopes import VENUE_WRITERS, venue_for
from web.visitors import checkin_rules, optional_visitor_id, remember_visitor, require_visitor_id

HISTORY_DAYS_SHOWN = 2  # the chart on the live page; the API serves the whole window


async def poster_page(request: Request) -> Response:
    """The page a poster's QR code opens: the venue, and one big button to check in."""
    state = request.app.state
    token = request.path_params["token"]
    venue = await verify_venue_token(state.db, token, state.signatures)
    visitor_id = optional_visitor_id(request)
    current = None
    if visitor_id:
        recent = await visits_of(state.db, visitor_id, state.clock.now() - timedelta(days=1))
        moment = int(state.clock.now().timestamp())
        current = next((v for v in recent if v.venue_id == venue.id and v.is_open(moment)), None)
    return render(request, "checkin.html", venue=venue, token=token, current=current)


async def poster_checkin(request: Request) -> Response:
    await read_form(request)
    state = request.app.state
    now = state.clock.now()
    venue = await verify_venue_token(state.db, request.path_params["token"], state.signatures)
    visitor_id = optional_visitor_id(request)
    new_token = None
    if visitor_id is None:
        visitor = await create_visitor(state.db, state.personal_keys, now)
        visitor_id, new_token = visitor.id, visitor_token(state.personal_keys, visitor.id)
    result = await check_in(
        state.db, visitor_id=visitor_id, venue=venue, now=now, rules=checkin_rules(request)
    )
    state.occupancy.changed(venue.id)
    response = RedirectResponse(f"/visits/{result.visit.id}", 303)
    if new_token:
        remember_visitor(response, request, new_token)
    return response


async def visit_page(request: Request) -> Response:
    visitor_id = require_visitor_id(request)
    state = request.app.state
    visit = await find_visit(state.db, visitor_id, request.path_params["visit_id"])
    venue = await find_venue(state.db, visit.venue_id)
    now = state.clock.now()
    return render(
        request,
        "visit.html",
        visit=visit,
        venue=venue,
        is_open=visit.is_open(int(now.timestamp())),
        occupancy=await occupancy(state.db, venue, now),
    )


async def visit_checkout(request: Request) -> Response:
    await read_form(request)
    visitor_id = require_visitor_id(request)
    state = request.app.state
    visit = await check_out(
        state.db, visitor_id, request.path_params["visit_id"], state.clock.now()
    )
    state.occupancy.changed(visit.venue_id)
    return RedirectResponse(f"/visits/{visit.id}", 303)


async def my_visits(request: Request) -> Response:
    visitor_id = optional_visitor_id(request)
    state = request.app.state
    now = state.clock.now()
    found = []
    if visitor_id:
        since = now - timedelta(days=state.settings.retention_days)
        found = await visits_of(state.db, visitor_id, since)
    names = {
        v.id: v.name for v in await list_venues(state.db, venue_ids={x.venue_id for x in found})
    }
    moment = int(now.timestamp())
    return render(
        request,
        "me.html",
        visits=found,
        names=names,
        moment=moment,
        retention_days=state.settings.retention_days,
    )


async def my_visit_delete(request: Request) -> Response:
    await read_form(request)
    visitor_id = require_visitor_id(request)
    # Already gone is fine: deleting twice is not an error for the person.
    with contextlib.suppress(VisitNotFound):
        await delete_visit(request.app.state.db, visitor_id, request.path_params["visit_id"])
    return RedirectResponse("/me", 303)


async def live_page(request: Request) -> Response:
    user, venue = await venue_for(request, request.path_params["venue_id"])
    state = request.app.state
    now = state.clock.now()
    hours = await hourly_occupancy(state.db, venue, now, HISTORY_DAYS_SHOWN)
    peak = max([count for _, count in hours] + [venue.capacity or 0, 1])
    return render(
        request,
        "live.html",
        venue=venue,
        hours=hours,
        peak=peak,
        occupancy=await occupancy(state.db, venue, now),
        can_close=user.role in VENUE_WRITERS,
    )


async def live_checkout_all(request: Request) -> Response:
    user, venue = await venue_for(request, request.path_params["venue_id"], write=True)
    await read_form(request)
    state = request.app.state
    now = state.clock.now()
    count = await check_out_everyone(state.db, venue, now)
    await record_audit(
        state.db, now, user.id, "checkout_all", "venue", str(venue.id), {"visits": count}
    )
    state.occupancy.changed(venue.id)
    return RedirectResponse(f"/venues/{venue.id}/live", 303)


routes = [
    Route("/c/{token}", poster_page, methods=["GET"]),
    Route("/c/{token}", poster_checkin, methods=["POST"]),
    Route("/visits/{visit_id:int}", visit_page, methods=["GET"]),
    Route("/visits/{visit_id:int}/checkout", visit_checkout, methods=["POST"]),
    Route("/me", my_visits, methods=["GET"]),
    Route("/me/visits/{visit_id:int}/delete", my_visit_delete, methods=["POST"]),
    Route("/venues/{venue_id:int}/live", live_page, methods=["GET"]),
    Route("/venues/{venue_id:int}/checkout-all", live_checkout_all, methods=["POST"]),
]
