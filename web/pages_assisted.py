"""Staff pages: assisted check-in at the door, traveller registration at a border checkpoint,
and the arrivals in a health official's region. The same rules and audit as the API."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkin.assisted import MODES
from checkin.errors import CheckinError
from venues.errors import VenueError
from venues.registry import VenueKind
from web.auth import read_form, require_user
from web.errors import NotFound
from web.pages import render
from web.pages_venues import region_choices
from web.routes_assisted import arrivals_for, check_in_for, register_for
from web.scopes import ASSISTING_STAFF, assistable_venues, assisting_venue

PERSON_FIELDS = ("nik", "name", "phone")
TRAVELLER_FIELDS = (*PERSON_FIELDS, "origin", "destination_region_code", "mode", "travel_history")


def _values(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in names}


def _venue_id(form: FormData) -> int:
    raw = str(form.get("venue_id", ""))
    if not raw.isdigit():
        raise NotFound("choose a venue from the list")
    return int(raw)


async def _form_context(request: Request, kind: VenueKind | None) -> dict[str, Any]:
    user = await require_user(request, *ASSISTING_STAFF)
    db = request.app.state.db
    context: dict[str, Any] = {"venues": await assistable_venues(db, user, kind)}
    if kind is VenueKind.BORDER_CHECKPOINT:
        context |= {"regions": await region_choices(db), "modes": MODES}
    return context


async def assisted_form(request: Request) -> Response:
    context = await _form_context(request, None)
    selected = request.query_params.get("venue", "")
    return render(request, "assisted.html", selected=selected, values={}, **context)


async def assisted_submit(request: Request) -> Response:
    await require_user(request, *ASSISTING_STAFF)  # the role before the form's venue
    form = await read_form(request)
    user, venue = await assisting_venue(request, _venue_id(form))
    values = _values(form, PERSON_FIELDS)
    context = await _form_context(request, None)
    try:
        assisted = await check_in_for(request, user, venue, values, "form")
    except CheckinError as exc:
        return render(
            request, "assisted.html", exc.status, selected=str(venue.id), values=values,
            error=str(exc), **context,
        )  # fmt: skip
    return render(
        request, "assisted.html", 201 if assisted.result.created else 200,
        selected=str(venue.id), values={}, done=assisted, venue=venue, **context,
    )  # fmt: skip


async def travellers_form(request: Request) -> Response:
    context = await _form_context(request, VenueKind.BORDER_CHECKPOINT)
    selected = request.query_params.get("venue", "")
    return render(request, "travellers.html", selected=selected, values={}, **context)


async def travellers_submit(request: Request) -> Response:
    await require_user(request, *ASSISTING_STAFF)  # the role before the form's venue
    form = await read_form(request)
    user, venue = await assisting_venue(request, _venue_id(form))
    values = _values(form, TRAVELLER_FIELDS)
    context = await _form_context(request, VenueKind.BORDER_CHECKPOINT)
    try:
        registration = await register_for(request, user, venue, values, "form")
    except (CheckinError, VenueError) as exc:
        return render(
            request, "travellers.html", exc.status, selected=str(venue.id), values=values,
            error=str(exc), **context,
        )  # fmt: skip
    return render(
        request, "travellers.html", 201, selected=str(venue.id), values={},
        done=registration, venue=venue, **context,
    )  # fmt: skip


async def arrivals_page(request: Request) -> Response:
    region, since, found = await arrivals_for(request, "page")
    return render(
        request,
        "arrivals.html",
        region=region,
        since=since.date().isoformat(),
        arrivals=found,
    )


routes = [
    Route("/assisted", assisted_form, methods=["GET"]),
    Route("/assisted", assisted_submit, methods=["POST"]),
    Route("/travellers", travellers_form, methods=["GET"]),
    Route("/travellers", travellers_submit, methods=["POST"]),
    Route("/arrivals", arrivals_page, methods=["GET"]),
]
