"""Abuse limits: per IP and per visitor, 429 with Retry-After, problem+json or a page."""

from __future__ import annotations

import dataclasses

import httpx
from starlette.applications import Starlette

from tests.factories import make_visitor
from web.app import create_app
from web.database import Database
from web.ratelimit import TokenBuckets, is_limited
from web.settings import Settings


async def limited_client(settings: Settings, db: Database, **limits: int) -> httpx.AsyncClient:
    app: Starlette = create_app(dataclasses.replace(settings, **limits), database=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def test_a_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(2, clock=lambda: now[0])
    assert [buckets.take("a"), buckets.take("a"), buckets.take("b")] == [0, 0, 0]
    assert buckets.take("a") == 30  # one token comes back every 30 s
    now[0] = 30.0
    assert buckets.take("a") == 0


def test_the_buckets_of_idle_keys_are_forgotten_as_new_keys_arrive() -> None:
    """Every visitor is a key of its own: the table must not grow with every visitor ever seen
    while none of them is refused (8 million check-ins a day), nor walk itself per request
    when more keys than its bound are active."""
    now = [0.0]
    buckets = TokenBuckets(2, clock=lambda: now[0], max_buckets=100)
    assert [buckets.take("kept"), buckets.take("kept")] == [0, 0]
    largest = 0
    for n in range(5_000):
        now[0] = n * 0.1  # ten new keys a second; a bucket is full again after 60 s
        assert buckets.take(f"visitor {n}") == 0
        largest = max(largest, len(buckets.buckets))
    assert largest <= 2 * 60 * 10 + 1  # twice the 600 keys of the last minute, not 5,000
    assert "kept" not in buckets.buckets  # forgotten once full
    now[0] = 500.0
    assert [buckets.take("kept"), buckets.take("kept"), buckets.take("kept")] == [0, 0, 30]

    walks = []
    walk = buckets.forget_idle
    buckets.forget_idle = lambda moment: (walks.append(moment), walk(moment))[1]
    for n in range(5_000):
        now[0] = 500 + n * 0.001  # 1,000 new keys a second: all active, far above the bound
        buckets.take(f"busy {n}")
    assert len(walks) <= 5  # the table doubles between walks: not one walk per new key
    now[0] = 505.0  # still within its minute: its empty bucket was kept (a sixth of a token)
    assert buckets.take("kept") == 25


def test_only_the_abusable_endpoints_are_limited() -> None:
    assert is_limited("POST", "/api/checkins") and is_limited("POST", "/c/abc")
    assert is_limited("POST", "/login") and is_limited("POST", "/api/certificates/verify")
    assert not is_limited("GET", "/login") and not is_limited("GET", "/api/me/visits")


async def test_one_ip_gets_429_with_retry_after_as_problem_json(
    settings: Settings, db: Database
) -> None:
    async with await limited_client(settings, db, rate_limit_ip_per_minute=2) as client:
        statuses = [(await client.post("/api/qr/verify", json={})).status_code for _ in range(2)]
        refused = await client.post("/api/qr/verify", json={})

    assert 429 not in statuses
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "/problems/too-many-requests"


async def test_the_browser_gets_a_page(settings: Settings, db: Database) -> None:
    async with await limited_client(settings, db, rate_limit_ip_per_minute=1) as client:
        await client.post("/login", data={})
        refused = await client.post("/login", data={})

    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert refused.headers["content-type"].startswith("text/html")


async def test_one_visitor_is_limited_apart_from_others(settings: Settings, db: Database) -> None:
    async with await limited_client(settings, db, rate_limit_visitor_per_minute=1) as client:
        first, second = await make_visitor(client), await make_visitor(client)
        body = {"token": "x"}
        allowed = await client.post("/api/checkins", json=body, headers=first["headers"])
        refused = await client.post("/api/checkins", json=body, headers=first["headers"])
        other = await client.post("/api/checkins", json=body, headers=second["headers"])

    assert allowed.status_code != 429 and other.status_code != 429
    assert refused.status_code == 429
