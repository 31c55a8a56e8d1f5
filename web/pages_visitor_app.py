"""The visitor app: the in-app scanner (``/scan``), the door verifier (``/door``) and the web
app manifest that makes the site installable.

The pages are shells driven by static scripts (``scan.js``, ``door.js``); their messages come
from the locale catalogue as JSON in the page, so the scripts speak the visitor's language.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkin.visitors import create_visitor, visitor_token
from web.i18n import translator
from web.pages import render
from web.responses import JSONResponse
from web.templating import language
from web.visitors import optional_visitor_id, remember_visitor

THEME_COLOUR = "#0b5d3b"
SCAN_MESSAGES = (
    "scan.starting", "scan.pointing", "scan.no_camera", "scan.checking_in", "scan.checked_in",
    "scan.already_in", "scan.offline_kept", "scan.pending", "scan.sent", "scan.foreign_url",
    "scan.plain_text", "scan.broken", "scan.refused", "scan.adding_certificate",
    "scan.certificate_added", "scan.unknown_code", "scan.offline_certificate",
    "scan.offline_code",
)  # fmt: skip
DOOR_MESSAGES = (
    "scan.starting", "scan.pointing", "scan.no_camera",
    "doorscan.checking", "doorscan.invalid", "doorscan.offline", "doorscan.not_certificate",
    "doorscan.valid_until", "doorscan.no_end", "doorscan.offline_signature",
    "doorscan.offline_checked", "colour.green", "colour.yellow", "colour.red",
    "colour.black",
)  # fmt: skip


def page_messages(request: Request, keys: tuple[str, ...]) -> dict[str, str]:
    """The ``keys`` translated for the page's script, keyed by their name after the dot."""
    t = translator(language(request))
    return {key: t(key) for key in keys}


async def scan_page(request: Request) -> Response:
    """The scanner. A visitor arriving without the cookie gets one here, so the scanner's
    check-ins and wallet additions belong to a visitor from the first scan (also offline)."""
    state = request.app.state
    new_token = None
    if optional_visitor_id(request) is None:
        visitor = await create_visitor(state.db, state.personal_keys, state.clock.now())
        new_token = visitor_token(state.personal_keys, visitor.id)
    response = render(
        request,
        "scan.html",
        messages=page_messages(request, SCAN_MESSAGES),
        base_url=state.settings.base_url,
    )
    if new_token:
        remember_visitor(response, request, new_token)
    return response


async def door_page(request: Request) -> Response:
    """Door staff scan a visitor's certificate QR and see colour, initials and validity."""
    return render(request, "door_scan.html", messages=page_messages(request, DOOR_MESSAGES))


def manifest(request: Request) -> dict[str, Any]:
    t = translator(language(request))
    icons = [
        {"src": f"/static/icons/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
        for size in (192, 512)
    ]
    maskable = {**icons[-1], "purpose": "maskable"}
    return {
        "name": "Singgah",
        "short_name": "Singgah",
        "description": t("app.description"),
        "lang": language(request),
        "start_url": "/scan",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "icons": [*icons, maskable],
    }


async def manifest_file(request: Request) -> Response:
    return JSONResponse(manifest(request), media_type="application/manifest+json")


routes = [
    Route("/scan", scan_page, methods=["GET"]),
    Route("/door", door_page, methods=["GET"]),
    Route("/manifest.webmanifest", manifest_file, methods=["GET"]),
]
