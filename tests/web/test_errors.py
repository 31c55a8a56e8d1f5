"""Every error is RFC 9457 problem+json on the API and a readable page in the browser."""

import logging
import sqlite3

import asyncpg
import httpx
import pytest
from starlette.routing import Route

from tests.factories import bearer_for, make_user
from web.accounts import Role

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"] == f"/problems/{slug}"
    assert body["detail"]
    return body


@pytest.fixture
async def admin_headers(db) -> dict[str, str]:
    return await bearer_for(db, await make_user(db, Role.ADMIN))


async def test_unknown_api_path_is_a_problem(client) -> None:
    body = assert_problem(await client.get("/api/nothing-here"), 404, "not-found")
    assert body["instance"] == "/api/nothing-here"


async def test_unknown_page_is_an_html_page(client) -> None:
    response = await client.get("/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "Traceback" not in response.text


async def test_wrong_method_is_405(client) -> None:
    assert_problem(await client.delete("/api/regions"), 405, "method-not-allowed")


async def test_missing_credentials_are_401_and_wrong_role_403(client, db) -> None:
    assert_problem(await client.get("/api/users"), 401, "unauthenticated")
    official = await make_user(db, Role.HEALTH_OFFICIAL)
    response = await client.get("/api/users", headers=await bearer_for(db, official))
    assert_problem(response, 403, "forbidden")


async def test_unknown_token_is_401(client) -> None:
    response = await client.get("/api/me", headers={"Authorization": "Bearer sgk_forged"})
    assert_problem(response, 401, "unauthenticated")


async def test_malformed_json_is_400(client, admin_headers) -> None:
    response = await client.post(
        "/api/users",
        content=b'{"email": ',
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed-json")


async def test_wrong_content_type_is_415(client, admin_headers) -> None:
    response = await client.post(
        "/api/users",
        content=b"email=x",
        headers={**admin_headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email": "a@b.id", "role": "admin", "password": "long enough pw", "shoe": 42}, "#/"),
        ({"email": "a@b.id", "role": "emperor", "password": "long enough pw"}, "#/role"),
        ({"email": 7, "role": "admin", "password": "long enough pw"}, "#/email"),
        ({"role": "admin", "password": "long enough pw"}, "#/"),
    ],
    ids=["unknown-field", "bad-enum", "wrong-type", "missing-field"],
)
async def test_invalid_bodies_are_422_with_pointers(client, admin_headers, body, pointer) -> None:
    problem = assert_problem(
        await client.post("/api/users", json=body, headers=admin_headers), 422, "validation-failed"
    )
    assert pointer in {error["pointer"] for error in problem["errors"]}


@pytest.mark.parametrize(
    ("url", "pointer"),
    [("/api/cases?status=lost", "?status"), ("/api/regions?parent=", "?parent")],
)
async def test_invalid_query_parameters_are_422_with_pointers(
    client, admin_headers, url, pointer
) -> None:
    problem = assert_problem(await client.get(url, headers=admin_headers), 422, "validation-failed")
    assert [error["pointer"] for error in problem["errors"]] == [pointer]


async def test_numbers_beyond_64_bit_ids_are_4xx_not_500(client, admin_headers) -> None:
    huge = 2**64
    assert_problem(await client.get(f"/api/venues/{huge}", headers=admin_headers), 404, "not-found")
    assert (await client.get(f"/api/venues/{10**18 - 1}", headers=admin_headers)).status_code == 404
    problem = assert_problem(
        await client.post(
            "/api/exposure-runs", json={"case_ids": [huge], "dry_run": True}, headers=admin_headers
        ),
        422,
        "validation-failed",
    )
    assert problem["errors"][0]["pointer"] == "#/case_ids/0"
    venue = {"name": "Stadion", "kind": "event", "region_code": "16.71", "capacity": 2**40}
    problem = assert_problem(
        await client.post("/api/venues", json=venue, headers=admin_headers),
        422,
        "validation-failed",
    )
    assert problem["errors"][0]["pointer"] == "#/capacity"


async def test_oversized_headers_are_431(client, settings) -> None:
    pad = {"X-Pad": "a" * settings.max_header_bytes}
    assert_problem(await client.get("/healthz", headers=pad), 431, "headers-too-large")
    page = await client.get("/", headers=pad)
    assert page.status_code == 431 and "text/html" in page.headers["content-type"]
    assert (await client.get("/healthz", headers={"X-Pad": "a" * 4_000})).status_code == 200


async def test_nul_characters_are_4xx_not_500(client, admin_headers) -> None:
    """PostgreSQL text cannot hold NUL: a decoded %00 or a \\u0000 must not reach a query."""
    assert_problem(await client.get("/api/venues/by-code/%00"), 400, "bad-request")
    assert_problem(
        await client.post("/api/keys/a%00b/retire", headers=admin_headers), 400, "bad-request"
    )
    json_headers = {**admin_headers, "Content-Type": "application/json"}
    for body, pointer in [
        (b'{"name": "a\\u0000b"}', "#/name"),
        (b'{"name": "\\ud800"}', "#/name"),  # a lone surrogate: not UTF-8
        (b'{"n\\u0000": "x"}', "#"),
    ]:
        response = await client.post("/api/tokens", content=body, headers=json_headers)
        problem = assert_problem(response, 422, "validation-failed")
        assert problem["errors"][0]["pointer"] == pointer


async def test_oversized_body_is_413(client, admin_headers, settings) -> None:
    big = {"name": "x" * (settings.max_body_bytes + 10)}
    assert_problem(
        await client.post("/api/tokens", json=big, headers=admin_headers), 413, "payload-too-large"
    )


async def test_refusals_carry_the_security_headers(client, admin_headers, settings) -> None:
    """The guard refuses before the app runs (431) and inside it (413): both answers, and an
    answer that sets a header of its own, get the security headers exactly once."""
    pad = {"X-Pad": "a" * settings.max_header_bytes}
    big = {"name": "x" * (settings.max_body_bytes + 10)}
    for response in (
        await client.get("/healthz", headers=pad),
        await client.post("/api/tokens", json=big, headers=admin_headers),
        await client.get("/healthz"),
    ):
        for name in ("content-security-policy", "x-content-type-options", "x-frame-options"):
            assert len(response.headers.get_list(name)) == 1, (response.status_code, name)
        assert response.headers["referrer-policy"] == "same-origin"


async def test_domain_errors_render_as_problems(client) -> None:
    assert_problem(
        await client.post("/api/qr/verify", json={"token": "abc"}), 400, "token-malformed"
    )


async def test_a_database_refusal_is_503_with_retry_after_not_500(app, client, tmp_path) -> None:
    """A deadlock's victim (PostgreSQL) or SQLite's write lock held past the busy timeout by
    another process saved nothing: the client is told to send it again."""
    held = tmp_path / "held.db"
    holder = sqlite3.connect(held, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def deadlocked(request):
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")

    async def locked(request):
        sqlite3.connect(held, timeout=0, isolation_level=None).execute("BEGIN IMMEDIATE")

    async def broken(request):
        sqlite3.connect(held).execute("SELECT * FROM nowhere")

    for path, endpoint in (("deadlock", deadlocked), ("locked", locked), ("broken", broken)):
        app.router.routes.insert(0, Route(f"/api/{path}", endpoint, methods=["POST"]))
    for path in ("deadlock", "locked"):
        response = await client.post(f"/api/{path}")
        body = assert_problem(response, 503, "database-busy")
        assert response.headers["retry-after"] == "1" and body["retry_after"] == 1
    assert_problem(await client.post("/api/broken"), 500, "internal-error")  # not a refusal
    holder.rollback()


async def test_a_crash_is_500_logged_with_traceback_shown_without(app, client, caplog) -> None:
    async def explode(request):
        raise ZeroDivisionError("secret internals")

    app.router.routes.insert(0, Route("/api/explode", explode))
    app.router.routes.insert(0, Route("/explode", explode))
    with caplog.at_level(logging.ERROR, logger="singgah.errors"):
        body = assert_problem(await client.get("/api/explode"), 500, "internal-error")
        page = await client.get("/explode")
    assert "secret internals" not in body["detail"]
    assert page.status_code == 500 and "secret internals" not in page.text
    assert "Traceback" not in page.text
    assert any(record.exc_info for record in caplog.records)
