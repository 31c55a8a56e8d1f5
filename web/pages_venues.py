"""Pages for venues: my venues, create and edit, the poster, keys for admins, and the page a
poster's QR code opens."""

from __future__ import annotations

from typing import Any

from databases import Database
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from venues.errors import VenueError
from venues.keys import create_key, list_keys, retire_key
from venues.regions import Region, list_regions
from venues.registry import (
    COLOURS,
    VenueFields,
    VenueKind,
    create_venue,
    update_venue,
    venue_token,
)
from venues.tokens import checkin_url
from web.accounts import Role, record_audit
from web.auth import read_form, require_user
from web.keyring import venue_key_encryption_key
from web.pages import render
from web.scopes import VENUE_READERS, VENUE_WRITERS, assign_manager, venue_for, visible_venues


def _number(form: FormData, name: str, convert: type[int] | type[float]) -> Any:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return None
    try:
        return convert(raw)
    except ValueError as exc:
        raise ValueError(f"{name.replace('_', ' ')}: {raw!r} is not a number") from exc


def fields_from_form(form: FormData) -> dict[str, Any]:
    minutes = _number(form, "default_visit_minutes", int)
    return {
        "name": str(form.get("name", "")),
        "kind": VenueKind(str(form.get("kind", "other"))),
        "region_code": str(form.get("region_code", "")).strip(),
        "address": str(form.get("address", "")),
        "latitude": _number(form, "latitude", float),
        "longitude": _number(form, "longitude", float),
        "capacity": _number(form, "capacity", int),
        "default_visit_minutes": 120 if minutes is None else minutes,
        "entry_policy": tuple(str(c) for c in form.getlist("entry_policy")),
    }


async def region_choices(db: Database) -> list[Region]:
    """Provinces and their cities, in code order, for a region drop-down."""
    provinces = await list_regions(db)
    cities = [city for province in provinces for city in await list_regions(db, province.code)]
    return sorted(provinces + cities, key=lambda r: r.code)


async def form_context(request: Request) -> dict[str, Any]:
    return {
        "kinds": list(VenueKind),
        "colours": [c for c in COLOURS if c != "black"],
        "regions": await region_choices(request.app.state.db),
    }


async def venues_page(request: Request) -> Response:
    user = await require_user(request, *VENUE_READERS)
    found = await visible_venues(request.app.state.db, user, None)
    return render(request, "venues.html", venues=found, can_create=user.role in VENUE_WRITERS)


async def venue_new(request: Request) -> Response:
    await require_user(request, *VENUE_WRITERS)
    venue = VenueFields(name="", kind=VenueKind.PUBLIC_OFFICE, region_code="")
    return render(request, "venue_form.html", venue=venue, **await form_context(request))


async def venue_create(request: Request) -> Response:
    user = await require_user(request, *VENUE_WRITERS)
    form = await read_form(request)
    state = request.app.state
    now = state.clock.now()
    try:
        fields = VenueFields(**fields_from_form(form))
        venue = await create_venue(state.db, fields, now)
    except (ValueError, VenueError) as exc:
        draft = {"name": str(form.get("name", "")), "kind": VenueKind.OTHER, "region_code": ""}
        return render(
            request,
            "venue_form.html",
            422,
            venue=VenueFields(**draft),
            error=str(exc),
            **await form_context(request),
        )
    if user.role is Role.VENUE_MANAGER:
        await assign_manager(state.db, user, venue.id)
    await record_audit(state.db, now, user.id, "venue_created", "venue", str(venue.id))
    return RedirectResponse(f"/venues/{venue.id}", 303)


async def venue_page(request: Request) -> Response:
    user, venue = await venue_for(request, request.path_params["venue_id"])
    state = request.app.state
    token, key = await venue_token(state.db, venue, venue_key_encryption_key(state.settings))
    return render(
        request,
        "venue.html",
        venue=venue,
        kid=key.kid,
        url=checkin_url(state.settings.base_url, token),
        can_edit=user.role in VENUE_WRITERS,
        **await form_context(request),
    )


async def venue_edit(request: Request) -> Response:
    user, venue = await venue_for(request, request.path_params["venue_id"], write=True)
    form = await read_form(request)
    state = request.app.state
    now = state.clock.now()
    try:
        changes = fields_from_form(form) | {"is_active": form.get("is_active") == "on"}
        await update_venue(state.db, venue, changes, now)
    except (ValueError, VenueError) as exc:
        return render(
            request,
            "venue.html",
            422,
            venue=venue,
            error=str(exc),
            url="",
            kid="",
            can_edit=True,
            **await form_context(request),
        )
    await record_audit(state.db, now, user.id, "venue_changed", "venue", str(venue.id))
    return RedirectResponse(f"/venues/{venue.id}", 303)


async def keys_page(request: Request) -> Response:
    await require_user(request, Role.ADMIN)
    keys = list(reversed(await list_keys(request.app.state.db)))
    current = next((key.kid for key in keys if key.retired_at is None), None)
    return render(request, "keys.html", keys=keys, current=current)


async def keys_rotate_form(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    await read_form(request)
    state = request.app.state
    now = state.clock.now()
    key = await create_key(state.db, now, venue_key_encryption_key(state.settings))
    await record_audit(state.db, now, user.id, "signing_key_rotated", "signing_key", key.kid)
    return RedirectResponse("/admin/keys", 303)


async def keys_retire_form(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    await read_form(request)
    state = request.app.state
    now = state.clock.now()
    key = await retire_key(state.db, request.path_params["kid"], now)
    await record_audit(state.db, now, user.id, "signing_key_retired", "signing_key", key.kid)
    return RedirectResponse("/admin/keys", 303)


routes = [
    Route("/venues", venues_page, methods=["GET"]),
    Route("/venues/new", venue_new, methods=["GET"]),
    Route("/venues/new", venue_create, methods=["POST"]),
    Route("/venues/{venue_id:int}", venue_page, methods=["GET"]),
    Route("/venues/{venue_id:int}", venue_edit, methods=["POST"]),
    Route("/admin/keys", keys_page, methods=["GET"]),
    Route("/admin/keys/rotate", keys_rotate_form, methods=["POST"]),
    Route("/admin/keys/{kid}/retire", keys_retire_form, methods=["POST"]),
]
