"""Hostile input: the whole API fuzzed from its own OpenAPI document with schemathesis.

Every operation of ``/api/openapi.json`` gets generated requests, valid and invalid (negative
mode), as each role of the access matrix world (tests/web/world.py) and as nobody. Checks: no
5xx; every status, content type, header and body is what the document says; invalid input is
refused. The document is built from the same JSON Schemas that validate the bodies, so a
mismatch is a bug in the code or in the document, not in this test.

The app runs in-process (no lifespan: no background jobs, no push sends) on a real seeded
database, on SQLite and on PostgreSQL (see `operation_database`). Requests are sent with httpx
in one event loop of our own (a blocking portal), where the database lives.

``SINGGAH_FUZZ_EXAMPLES`` sets the examples per operation (docs/security.md); under CI
Hypothesis derandomizes (its "ci" profile), so a run there is repeatable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.applications import Starlette

from tests.conftest import ENGINES, FrozenClock, database_copy, require_engine, settings_for
from tests.conftest import template_of as migrated_template
from tests.web.test_access_matrix import EXPECTED, ROLES
from tests.web.world import World, make_world
from venues.keys import ensure_signing_key
from web.app import all_routes, create_app
from web.database import open_database
from web.keyring import venue_key_encryption_key
from web.openapi import api_routes, openapi_document, openapi_path

BASE_URL = "http://testserver"
EXAMPLES = int(os.environ.get("SINGGAH_FUZZ_EXAMPLES", "20"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
# Only checks that judge the response in hand: the others send requests of their own, through
# schemathesis's transport, which would reach the network instead of our in-process app.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "generation": {"mode": "all", "max-examples": EXAMPLES},
    }
)
SCHEMA = schemathesis.openapi.from_dict(
    openapi_document(all_routes(), BASE_URL), config=CONFIG
).exclude(
    # An event stream never ends, so a client that waits for the whole body waits forever; its
    # inputs (a venue id and who asks) are those of .../occupancy, which is fuzzed.
    path_regex=r"/occupancy/stream$"
)
# The route (with its convertors) behind each documented operation, for its access rule.
ROUTE_PATHS = {openapi_path(route): route.path for route in api_routes(all_routes())}
# Generous limits: the fuzz is about input, and a 429 after 30 requests would hide the rest.
UNLIMITED = {"rate_limit_ip_per_minute": 1_000_000, "rate_limit_visitor_per_minute": 1_000_000}


@dataclass(frozen=True)
class Seeded:
    engine: str
    url: str
    world: World


@dataclass(frozen=True)
class Target:
    app: Starlette
    portal: BlockingPortal
    world: World


async def _seed(url: str, folder: Path) -> World:
    db = open_database(url)
    await db.connect()
    try:
        settings = settings_for(folder, url)
        kek = venue_key_encryption_key(settings)
        await ensure_signing_key(db, FrozenClock().now(), kek)
        app = create_app(settings, clock=FrozenClock(), database=db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as client:
            return await make_world(db, client, kek)
    finally:
        await db.disconnect()


@pytest.fixture(scope="module", params=ENGINES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    engine = require_engine(request.param)
    folder = tmp_path_factory.mktemp("fuzz")
    with database_copy(engine, migrated_template(engine, request), folder) as url:
        yield Seeded(engine, url, asyncio.run(_seed(url, folder)))


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as running:
        yield running


@contextlib.contextmanager
def operation_database(seeded: Seeded, folder: Path) -> Iterator[str]:
    """On SQLite a fresh copy of the seeded database for each operation, so one operation's
    fuzz cannot spoil the next one's world (a deactivated account, a retired key). On
    PostgreSQL, where a copy costs about half a second, the seeded database itself: the
    operations run in a fixed order, so the world each one meets is still repeatable."""
    if seeded.engine == "postgresql":
        yield seeded.url
        return
    with database_copy(seeded.engine, seeded.url.removeprefix("sqlite:///"), folder) as url:
        yield url


@pytest.fixture
def target(seeded: Seeded, portal: BlockingPortal, tmp_path: Path) -> Iterator[Target]:
    """The app, as `singgah serve` builds it, on the operation's database."""
    with operation_database(seeded, tmp_path) as url:
        settings = settings_for(tmp_path, url, **UNLIMITED)
        db = open_database(url, settings.sqlite_pool_size)
        portal.call(db.connect)
        try:
            yield Target(
                create_app(settings, clock=FrozenClock(), database=db), portal, seeded.world
            )
        finally:
            portal.call(db.disconnect)


def allowed_roles(method: str, path: str) -> list[str]:
    rule = EXPECTED[(method, ROUTE_PATHS[path])]
    return [role for role, letter in zip(ROLES, rule, strict=True) if letter == "o"] or ["admin"]


def with_world_ids(case: schemathesis.Case, world: World) -> None:
    """Point the path at the world's objects, so the fuzz reaches past "not found"."""
    for name in case.path_parameters or {}:
        if name in world.ids:
            value = world.ids[name]
            case.path_parameters[name] = int(value) if value.isdigit() else value


async def send(app: Starlette, request: dict[str, Any]) -> httpx.Response:
    # raise_app_exceptions=False: an unhandled error comes back as the 500 a client would see.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, cookies=request.get("cookies")) as client:
        response = await client.request(
            request["method"],
            request["url"],
            params=request.get("params"),
            headers=request.get("headers"),
            json=request.get("json"),
            content=request.get("data"),
        )
        await response.aread()
        return response


# One fresh database per operation, shared by that operation's examples: what we want here.
@SCHEMA.given(data=st.data())
@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_any_request_as_its_document_says(
    case: schemathesis.Case, data: st.DataObject, target: Target
) -> None:
    roles = allowed_roles(case.method, case.path)
    role = data.draw(st.sampled_from(roles) | st.sampled_from(ROLES), label="role")
    headers = target.world.headers[role]
    if headers:
        case.cookies = {}  # the role's token, not a generated session cookie, says who asks
    positive = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
    if positive and data.draw(st.booleans(), label="world ids"):
        with_world_ids(case, target.world)
    request = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    response = target.portal.call(send, target.app, request)
    case.validate_response(response, headers=request["headers"])
