"""API for venues, their poster tokens and signing keys, and the published key set."""

from __future__ import annotations

import hashlib
import re
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from venues.keys import create_key, jwks, list_keys, retire_key
from venues.posters import MEDIA_TYPES, PosterContent, PosterFormat, cached_poster
from venues.regions import parse_region_code
from venues.registry import (
    COLOURS,
    DEFAULT_ENTRY_POLICY,
    MAX_CAPACITY,
    MAX_VISIT_MINUTES,
    Venue,
    VenueFields,
    VenueKind,
    create_venue,
    update_venue,
    venue_poster,
    venue_token,
    verify_venue_token,
)
from venues.tokens import token_from_url
from web.accounts import Role, find_user_by_email, record_audit
from web.auth import require_user
from web.errors import NotFound, ValidationFailed
from web.keyring import venue_key_encryption_key
from web.openapi import api
from web.responses import JSONResponse
from web.routes_accounts import REGION
from web.scopes import VENUE_WRITERS, assign_manager, venue_for, visible_venues
from web.validation import obj, query_value, read_json

VENUE_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "kind": {"enum": [kind.value for kind in VenueKind]},
    "region_code": REGION,
    "address": {"type": "string", "maxLength": 500},
    "latitude": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
    "longitude": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
    "capacity": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CAPACITY},
    "default_visit_minutes": {"type": "integer", "minimum": 1, "maximum": 10 * MAX_VISIT_MINUTES},
    "entry_policy": {
        "type": "array",
        "items": {"enum": list(COLOURS)},
        "minItems": 1,
        "uniqueItems": True,
    },
}
NEW_VENUE = obj(VENUE_PROPERTIES, required=("name", "kind", "region_code"))
VENUE_CHANGE = obj({**VENUE_PROPERTIES, "is_active": {"type": "boolean"}})
VENUE = {
    "type": "object",
    "properties": {
        **VENUE_PROPERTIES,
        "id": {"type": "integer"},
        "code": {"type": "string"},
        "is_active": {"type": "boolean"},
        "checkin_url": {"type": "string"},
    },
    "required": ["id", "code", "name", "kind", "region_code", "is_active"],
}
VERIFY = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "maxLength": 2048},
        "url": {"type": "string", "maxLength": 2048},
    },
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
}
MANAGER = obj({"email": {"type": "string", "maxLength": 320}}, ("email",))


async def venue_json(request: Request, venue: Venue) -> dict[str, Any]:
    state = request.app.state
    token, _ = await venue_token(state.db, venue, venue_key_encryption_key(state.settings))
    return venue.public(state.settings.base_url, token)


async def venues_create(request: Request) -> JSONResponse:
    user = await require_user(request, *VENUE_WRITERS)
    body = await read_json(request, NEW_VENUE)
    state = request.app.state
    now = state.clock.now()
    policy = tuple(body.get("entry_policy", DEFAULT_ENTRY_POLICY))
    fields = VenueFields(**{**body, "kind": VenueKind(body["kind"]), "entry_policy": policy})
    async with state.db.transaction():
        venue = await create_venue(state.db, fields, now)
        if user.role is Role.VENUE_MANAGER:
            await assign_manager(state.db, user, venue.id)
        await record_audit(state.db, now, user.id, "venue_created", "venue", str(venue.id))
    return JSONResponse(await venue_json(request, venue), 201)


async def venues_index(request: Request) -> JSONResponse:
    user = await require_user(request, Role.ADMIN, Role.VENUE_MANAGER, Role.HEALTH_OFFICIAL)
    region = query_value(request, "region", REGION)
    found = await visible_venues(
        request.app.state.db, user, parse_region_code(region) if region else None
    )
    return JSONResponse([venue.public() for venue in found])


async def venues_show(request: Request) -> JSONResponse:
    _, venue = await venue_for(request, request.path_params["venue_id"])
    return JSONResponse(await venue_json(request, venue))


async def venues_update(request: Request) -> JSONResponse:
    user, venue = await venue_for(request, request.path_params["venue_id"], write=True)
    body = await read_json(request, VENUE_CHANGE)
    state = request.app.state
    now = state.clock.now()
    changed = await update_venue(state.db, venue, body, now)
    await record_audit(
        state.db, now, user.id, "venue_changed", "venue", str(venue.id), {"fields": sorted(body)}
    )
    return JSONResponse(await venue_json(request, changed))


async def venues_add_manager(request: Request) -> JSONResponse:
    user, venue = await venue_for(request, request.path_params["venue_id"], write=True)
    body = await read_json(request, MANAGER)
    state = request.app.state
    manager = await find_user_by_email(state.db, body["email"])
    if manager is None or manager.role is not Role.VENUE_MANAGER:
        raise ValidationFailed(f"{body['email']} is not a venue manager's account")
    await assign_manager(state.db, manager, venue.id)
    await record_audit(
        state.db,
        state.clock.now(),
        user.id,
        "venue_manager_added",
        "venue",
        str(venue.id),
        {"user_id": manager.id},
    )
    return JSONResponse({"venue_id": venue.id, "user_id": manager.id}, 201)


def poster_filename(venue: Venue, fmt: PosterFormat) -> str:
    """``singgah-poster-PLG-7K3Q.pdf``: only letters, digits and hyphens from the code."""
    code = re.sub(r"[^A-Za-z0-9-]", "", venue.code) or str(venue.id)
    return f"singgah-poster-{code}.{fmt}"


def poster_etag(kid: str, content: PosterContent, fmt: PosterFormat) -> str:
    """The key id and a digest of everything the poster shows, so a rotated key, an edited
    venue or a renamed region each make a new tag."""
    digest = hashlib.sha256(repr((content, fmt)).encode()).hexdigest()[:16]
    return f'"{kid}-{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header (RFC 9110 13.1.2, weak comparison) names ``etag``."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def venue_poster_file(request: Request) -> Response:
    """The venue's poster as PDF, SVG or PNG, for whoever may read the venue."""
    _, venue = await venue_for(request, request.path_params["venue_id"])
    fmt = request.path_params["format"]
    if fmt not in MEDIA_TYPES:
        raise NotFound(f"posters come as {', '.join(MEDIA_TYPES)}, not {fmt!r}")
    fmt = cast(PosterFormat, fmt)
    state = request.app.state
    content, key = await venue_poster(
        state.db, venue, venue_key_encryption_key(state.settings), state.settings.base_url
    )
    etag = poster_etag(key.kid, content, fmt)
    headers = {
        "ETag": etag,
        # Revalidate every time: a key rotation or an edit changes the poster at once.
        "Cache-Control": "private, no-cache",
        "Content-Disposition": f'attachment; filename="{poster_filename(venue, fmt)}"',
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    # Rendering takes tens of milliseconds of CPU: keep it off the event loop.
    body = await run_in_threadpool(cached_poster, content, fmt)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def qr_verify(request: Request) -> JSONResponse:
    body = await read_json(request, VERIFY)
    token = body["token"] if "token" in body else token_from_url(body["url"])
    state = request.app.state
    venue = await verify_venue_token(state.db, token, state.signatures)
    return JSONResponse(
        {
            "venue": {
                "id": venue.id,
                "code": venue.code,
                "name": venue.name,
                "kind": venue.kind.value,
                "region_code": venue.region_code,
                "capacity": venue.capacity,
                "status": "active" if venue.is_active else "inactive",
            }
        }
    )


async def keys_json(request: Request) -> JSONResponse:
    keys = await list_keys(request.app.state.db)
    return JSONResponse(jwks(keys), headers={"Cache-Control": "public, max-age=300"})


async def keys_index(request: Request) -> JSONResponse:
    await require_user(request, Role.ADMIN)
    return JSONResponse([key.public() for key in await list_keys(request.app.state.db)])


async def keys_rotate(request: Request) -> JSONResponse:
    user = await require_user(request, Role.ADMIN)
    state = request.app.state
    now = state.clock.now()
    key = await create_key(state.db, now, venue_key_encryption_key(state.settings))
    await record_audit(state.db, now, user.id, "signing_key_rotated", "signing_key", key.kid)
    return JSONResponse(key.public(), 201)


async def keys_retire(request: Request) -> JSONResponse:
    user = await require_user(request, Role.ADMIN)
    state = request.app.state
    now = state.clock.now()
    key = await retire_key(state.db, request.path_params["kid"], now)
    await record_audit(state.db, now, user.id, "signing_key_retired", "signing_key", key.kid)
    return JSONResponse(key.public())


KEY = {"type": "object"}
routes = [
    api(
        "/api/venues",
        venues_create,
        "POST",
        "Register a venue",
        auth="admin, venue_manager",
        tag="venues",
        body=NEW_VENUE,
        response=VENUE,
        status=201,
    ),
    api(
        "/api/venues",
        venues_index,
        "GET",
        "Venues you may see (region-scoped for officials)",
        auth="admin, venue_manager, health_official",
        tag="venues",
        query={"region": REGION},
        response={"type": "array", "items": VENUE},
    ),
    api(
        "/api/venues/{venue_id:int}",
        venues_show,
        "GET",
        "A venue with its check-in URL",
        auth="admin, venue_manager, health_official",
        tag="venues",
        response=VENUE,
    ),
    api(
        "/api/venues/{venue_id:int}",
        venues_update,
        "PATCH",
        "Edit or (is_active: false) deactivate a venue",
        auth="admin, venue_manager",
        tag="venues",
        body=VENUE_CHANGE,
        response=VENUE,
    ),
    api(
        "/api/venues/{venue_id:int}/managers",
        venues_add_manager,
        "POST",
        "Let another venue manager manage this venue",
        auth="admin, venue_manager",
        tag="venues",
        body=MANAGER,
        status=201,
        response={"type": "object"},
    ),
    api(
        "/api/venues/{venue_id:int}/poster.{format}",
        venue_poster_file,
        "GET",
        "The venue's A4 poster: format pdf (print), svg or png",
        auth="admin, venue_manager, health_official",
        tag="venues",
        media_types=tuple(MEDIA_TYPES.values()),
    ),
    api(
        "/api/qr/verify",
        qr_verify,
        "POST",
        "Verify a poster token or URL",
        auth="public",
        tag="venues",
        body=VERIFY,
        response={"type": "object"},
    ),
    api(
        "/.well-known/singgah/keys.json",
        keys_json,
        "GET",
        "JWKS of the poster keys",
        auth="public",
        tag="venues",
        response={"type": "object"},
    ),
    api(
        "/api/keys",
        keys_index,
        "GET",
        "Poster signing keys and their status",
        auth="admin",
        tag="keys",
        response={"type": "array", "items": KEY},
    ),
    api(
        "/api/keys/rotate",
        keys_rotate,
        "POST",
        "Make a new key sign new posters",
        auth="admin",
        tag="keys",
        response=KEY,
        status=201,
    ),
    api(
        "/api/keys/{kid}/retire",
        keys_retire,
        "POST",
        "Retire a key: its posters stop working",
        auth="admin",
        tag="keys",
        response=KEY,
    ),
]
