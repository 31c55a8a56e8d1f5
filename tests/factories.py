"""Small factories for domain objects, so tests state only what matters to them."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import httpx

from venues.keys import ensure_signing_key
from venues.registry import Venue, VenueFields, VenueKind, create_venue, venue_token
from web.accounts import Role, User, create_api_token, create_user
from web.database import Database

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


async def make_user(
    db: Database,
    role: Role = Role.ADMIN,
    *,
    region: str | None = None,
    email: str | None = None,
    password: str = PASSWORD,
    issuer_id: int | None = None,
) -> User:
    if role is Role.HEALTH_OFFICIAL and region is None:
        region = "16"
    return await create_user(
        db,
        email=email or f"{role.value}{next(_serial)}@example.test",
        role=role,
        password=password,
        now=START,
        region_prefix=region,
        issuer_id=issuer_id,
    )


async def bearer_for(db: Database, user: User) -> dict[str, str]:
    """Headers that authenticate as ``user`` with a fresh API token."""
    token = await create_api_token(db, user, "test", START)
    return {"Authorization": f"Bearer {token}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match[1]


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
    )


async def make_venue(db: Database, kek: bytes, **overrides: object) -> Venue:
    """A venue in Palembang (16.71) unless told otherwise; makes a signing key if none."""
    await ensure_signing_key(db, START, kek)
    fields = {
        "name": f"Venue {next(_serial)}",
        "kind": VenueKind.PUBLIC_OFFICE,
        "region_code": "16.71",
        "capacity": 50,
        **overrides,
    }
    return await create_venue(db, VenueFields(**fields), START)  # type: ignore[arg-type]


async def poster_token(db: Database, kek: bytes, venue: Venue) -> str:
    token, _ = await venue_token(db, venue, kek)
    return token


async def make_visitor(client: httpx.AsyncClient) -> dict[str, str]:
    """A new visitor through the API; returns ``{"visitor_id", "token", "headers"}``."""
    created = (await client.post("/api/visitors")).json()
    return {**created, "headers": {"Authorization": f"Bearer {created['token']}"}}
