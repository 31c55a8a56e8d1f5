"""Least privilege: every route of the app (API and pages) against every role.

``EXPECTED`` has a rule for each (method, path); a route without one fails the test, so a new
endpoint cannot ship without its access rule. A rule is one letter per role, in ``ROLES``
order: ``o`` allowed (any answer but 401, 403, 404 or a redirect to the login page), ``d``
denied (401 or 403, or a page's redirect to login), ``n`` not found (out of scope: its
existence is not revealed). Bodies are empty, so an allowed write usually ends in 422: the
check is who gets past authorization and scope, not what the endpoint does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message

from tests.web.world import World, make_world
from web.app import all_routes
from web.auth import CSRF_COOKIE
from web.database import Database
from web.settings import Settings

ROLES = (
    "anonymous",
    "visitor",
    "admin",
    "official_16",
    "official_31",
    "manager_own",
    "manager_other",
    "checkpoint_officer",
    "issuer",
)
#          columns: anonymous, visitor, admin, official 16, official 31, manager of the venue,
#          manager of another venue, checkpoint officer, issuer
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/api/venues/by-code/{code}"): "ooooooooo",
    ("POST", "/api/door/check"): "ooooooooo",
    ("POST", "/api/isolations"): "ddooodddd",
    ("GET", "/api/isolations"): "ddooodddd",
    ("GET", "/api/isolations.csv"): "ddooodddd",
    ("GET", "/api/isolation-alerts"): "ddooodddd",
    ("POST", "/api/isolation-alerts/{alert_id:int}/acknowledge"): "ddoondddd",
    ("POST", "/api/isolation-alerts/{alert_id:int}/resolve"): "ddoondddd",
    ("GET", "/api/health-contacts"): "ddooodddd",
    ("PUT", "/api/health-contacts/{region_code}"): "ddooodddd",
    ("DELETE", "/api/health-contacts/{region_code}"): "ddnnddddd",  # 16.71 has none: 404 in scope
    ("GET", "/api/me/isolation"): "doddddddd",
    ("POST", "/api/me/isolation/reports"): "doddddddd",
    ("POST", "/api/me/isolation/emergency"): "dnddddddd",
    ("GET", "/api/push/vapid-public-key"): "ooooooooo",
    ("POST", "/api/push/subscriptions"): "doooooooo",
    ("DELETE", "/api/push/subscriptions"): "doooooooo",
    ("POST", "/api/me/notifications/{id:int}/read"): "donnnnnnn",
    ("GET", "/api/staff/notifications"): "ddooooooo",
    ("GET", "/scan"): "ooooooooo",
    ("GET", "/door"): "ooooooooo",
    ("GET", "/manifest.webmanifest"): "ooooooooo",
    ("GET", "/me/isolation"): "ooooooooo",
    ("POST", "/me/isolation/report"): "ooooooooo",
    ("POST", "/me/isolation/emergency"): "ooooooooo",
    ("GET", "/isolation"): "ddooodddd",
    ("POST", "/isolation"): "ddooodddd",
    ("POST", "/isolation/alerts/{alert_id:int}"): "ddoondddd",
    ("GET", "/health-contacts"): "ddooodddd",
    ("POST", "/health-contacts"): "ddooodddd",
    ("GET", "/sw.js"): "ooooooooo",
    ("GET", "/healthz"): "ooooooooo",
    ("GET", "/api/openapi.json"): "ooooooooo",
    ("GET", "/api/me"): "ddooooooo",
    ("GET", "/api/users"): "ddodddddd",
    ("POST", "/api/users"): "ddodddddd",
    ("PATCH", "/api/users/{user_id:int}"): "ddodddddd",
    ("POST", "/api/tokens"): "ddooooooo",
    ("GET", "/api/regions"): "ooooooooo",
    ("GET", "/api/audit"): "ddodddddd",
    ("POST", "/api/venues"): "ddoddoodd",
    ("GET", "/api/venues"): "ddooooodd",
    ("GET", "/api/venues/{venue_id:int}"): "ddoonondd",
    ("PATCH", "/api/venues/{venue_id:int}"): "ddoddondd",
    ("POST", "/api/venues/{venue_id:int}/managers"): "ddoddondd",
    ("GET", "/api/venues/{venue_id:int}/poster.{format}"): "ddoonondd",
    ("POST", "/api/qr/verify"): "ooooooooo",
    ("GET", "/.well-known/singgah/keys.json"): "ooooooooo",
    ("GET", "/api/keys"): "ddodddddd",
    ("POST", "/api/keys/rotate"): "ddodddddd",
    ("POST", "/api/keys/{kid}/retire"): "ddodddddd",
    ("POST", "/api/visitors"): "ooooooooo",
    ("GET", "/api/me/profile"): "doddddddd",
    ("PUT", "/api/me/profile"): "doddddddd",
    ("POST", "/api/me/dependants"): "doddddddd",
    ("POST", "/api/checkins"): "doddddddd",
    ("POST", "/api/checkins/{visit_id:int}/checkout"): "doddddddd",
    ("GET", "/api/me/visits"): "doddddddd",
    ("DELETE", "/api/me/visits/{visit_id:int}"): "doddddddd",
    ("GET", "/api/venues/{venue_id:int}/occupancy"): "ddoonondd",
    ("GET", "/api/venues/{venue_id:int}/occupancy/stream"): "ddoonondd",
    ("GET", "/api/venues/{venue_id:int}/occupancy/history"): "ddoonondd",
    ("POST", "/api/venues/{venue_id:int}/checkout-all"): "ddoddondd",
    ("POST", "/api/cases"): "ddooodddd",
    ("GET", "/api/cases"): "ddooodddd",
    ("GET", "/api/cases/{case_id:int}"): "ddoondddd",
    ("POST", "/api/cases/{case_id:int}/confirm"): "ddoondddd",
    ("POST", "/api/exposure-runs"): "ddooodddd",
    ("GET", "/api/exposure-runs/{run_id:int}"): "ddoondddd",
    ("GET", "/api/exposure-runs/{run_id:int}/contacts"): "ddooodddd",
    ("GET", "/api/exposure-runs/{run_id:int}/contacts.csv"): "ddooodddd",
    ("GET", "/api/me/notifications"): "doooooooo",
    ("POST", "/api/venues/{venue_id:int}/assisted-checkins"): "ddoddonod",
    ("POST", "/api/venues/{venue_id:int}/travellers"): "ddoddonod",
    ("GET", "/api/arrivals"): "ddooodddd",
    ("GET", "/api/arrivals.csv"): "ddooodddd",
    ("GET", "/api/issuers"): "ddodddddd",
    ("POST", "/api/issuers"): "ddodddddd",
    ("GET", "/api/issuers/{issuer_id:int}/signing-certificates"): "ddodddddd",
    ("POST", "/api/issuers/{issuer_id:int}/signing-certificates"): "ddodddddd",
    ("GET", "/api/certificates"): "ddodddddo",
    ("POST", "/api/certificates"): "ddddddddo",
    ("POST", "/api/certificates/{certificate_id:int}/revoke"): "ddodddddo",
    ("POST", "/api/certificates/verify"): "ooooooooo",
    ("GET", "/api/trust-list"): "ooooooooo",
    ("GET", "/api/me/certificates"): "doddddddd",
    ("POST", "/api/me/certificates"): "doddddddd",
    ("DELETE", "/api/me/certificates/{certificate_id:int}"): "dnddddddd",
    ("GET", "/api/me/status"): "doddddddd",
    ("GET", "/"): "ooooooooo",
    ("GET", "/login"): "ooooooooo",
    ("POST", "/login"): "dddddoooo",
    ("POST", "/logout"): "ooooooooo",
    ("GET", "/dashboard"): "ddooooooo",
    ("GET", "/lang/{language}"): "ooooooooo",
    ("GET", "/venues"): "ddooooodd",
    ("GET", "/venues/new"): "ddoddoodd",
    ("POST", "/venues/new"): "ddoddoodd",
    ("GET", "/venues/{venue_id:int}"): "ddoonondd",
    ("POST", "/venues/{venue_id:int}"): "ddoddondd",
    ("GET", "/admin/keys"): "ddodddddd",
    ("POST", "/admin/keys/rotate"): "ddodddddd",
    ("POST", "/admin/keys/{kid}/retire"): "ddodddddd",
    ("GET", "/certificates/issue"): "ddddddddo",
    ("POST", "/certificates/issue"): "ddddddddo",
    ("GET", "/c/{token}"): "ooooooooo",
    ("POST", "/c/{token}"): "ooooooooo",
    ("GET", "/visits/{visit_id:int}"): "doddddddd",
    ("POST", "/visits/{visit_id:int}/checkout"): "doddddddd",
    ("GET", "/me"): "ooooooooo",
    ("POST", "/me/visits/{visit_id:int}/delete"): "doddddddd",
    ("GET", "/venues/{venue_id:int}/live"): "ddoonondd",
    ("POST", "/venues/{venue_id:int}/checkout-all"): "ddoddondd",
    ("GET", "/cases"): "ddooodddd",
    ("POST", "/cases"): "ddooodddd",
    ("GET", "/cases/{case_id:int}"): "ddoondddd",
    ("POST", "/cases/{case_id:int}/confirm"): "ddoondddd",
    ("POST", "/exposure-runs"): "ddooodddd",
    ("GET", "/exposure-runs/{run_id:int}"): "ddoondddd",
    ("GET", "/alerts"): "ooooooooo",
    ("GET", "/assisted"): "ddoddoood",
    ("POST", "/assisted"): "ddnddnnnd",
    ("GET", "/travellers"): "ddoddoood",
    ("POST", "/travellers"): "ddnddnnnd",
    ("GET", "/arrivals"): "ddooodddd",
    ("GET", "/me/certificates"): "ooooooooo",
    ("POST", "/me/certificates"): "ooooooooo",
    ("POST", "/me/certificates/{certificate_id:int}/delete"): "dnddddddd",
    ("GET", "/me/status"): "ooooooooo",
}


def concrete(path: str, ids: dict[str, str]) -> str:
    """The path with the world's ids; every parameter must have one, or the route would not
    even match and every role would see a meaningless 404."""
    for name, value in ids.items():
        path = path.replace(f"{{{name}:int}}", value).replace(f"{{{name}}}", value)
    assert "{" not in path, f"the world has no id for a parameter of {path}"
    return path


def every_route() -> list[tuple[str, str]]:
    found = []
    for route in all_routes():
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        found += [
            (method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"
        ]
    return found


def outcome(status: int, location: str) -> str:
    if status in (401, 403) or (status in (302, 303) and "/login" in location):
        return "d"
    if status == 404:
        return "n"
    assert status < 500, f"server error {status}"
    return "o"


async def answer(app: ASGIApp, method: str, url: str, headers: dict[str, str], body: bytes) -> str:
    """The outcome letter of one request, called on the ASGI app directly: the client
    disconnects once the response has started, so an event stream ends too."""
    started = asyncio.Event()
    start: dict[str, Any] = {}

    async def receive() -> Message:
        if not start.get("body_sent"):
            start["body_sent"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            started.set()

    path, _, query = url.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    await app(scope, receive, send)
    response_headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return outcome(start["status"], response_headers.get("location", ""))


async def observed(app: ASGIApp, settings: Settings, world: World, method: str, path: str) -> str:
    """The rule string the app shows today for one route."""
    url = concrete(path, world.ids)
    cookie = "matrix"
    csrf = hmac.new(settings.secret(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()
    letters = ""
    for role in ROLES:
        headers = {
            **world.headers[role],
            "X-CSRF-Token": csrf,
            "Cookie": f"{CSRF_COOKIE}={cookie}",
            "Host": "testserver",
        }
        body = b""
        if method != "GET" and url.startswith("/api/"):
            headers["Content-Type"] = "application/json"
            body = b"{}"
        elif method != "GET":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = f"csrf_token={csrf}".encode()
        headers["Content-Length"] = str(len(body))
        letters += await answer(app, method, url, headers, body)
    return letters


def test_every_route_has_a_rule() -> None:
    missing = [
        f"{method} {path}" for method, path in every_route() if (method, path) not in EXPECTED
    ]
    stale = [f"{method} {path}" for method, path in EXPECTED if (method, path) not in every_route()]
    assert not missing, f"routes without an access rule in EXPECTED: {missing}"
    assert not stale, f"rules for routes that no longer exist: {stale}"


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
async def test_each_role_gets_what_the_rule_says(
    app: Starlette, client: httpx.AsyncClient, db: Database, kek: bytes, settings: Settings,
    method: str, path: str,
) -> None:  # fmt: skip
    world = await make_world(db, client, kek)
    assert await observed(app, settings, world, method, path) == EXPECTED[(method, path)]
