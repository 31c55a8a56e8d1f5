"""The web shell: language negotiation, security headers, health, OpenAPI."""

import json
import re
from importlib import resources

import httpx
import pytest

from tests.conftest import FrozenClock, settings_for
from tests.factories import login, make_user
from web.accounts import Role
from web.app import create_app
from web.openapi import api_routes, openapi_path


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "Masuk petugas"),
        ("en-GB,en;q=0.9", "Staff sign in"),
        ("fr,en;q=0.5,id;q=0.9", "Masuk petugas"),
        ("fr", "Masuk petugas"),
    ],
)
async def test_language_follows_accept_language_with_indonesian_default(
    client, accept, expected
) -> None:
    headers = {"accept-language": accept} if accept else {}
    assert expected in (await client.get("/login", headers=headers)).text


async def test_language_switch_overrides_the_browser(client) -> None:
    switched = await client.get("/lang/en?next=/login")
    assert switched.headers["location"] == "/login"
    page = await client.get("/login", headers={"accept-language": "id"})
    assert "Staff sign in" in page.text and 'lang="en"' in page.text


def test_both_languages_have_the_same_messages() -> None:
    catalogs = {
        lang: json.loads(resources.files("web").joinpath(f"locales/{lang}.json").read_text())
        for lang in ("id", "en")
    }
    assert catalogs["id"].keys() == catalogs["en"].keys()


async def test_pages_carry_security_headers_and_no_inline_script(client) -> None:
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text


async def test_api_answers_get_a_csp_that_allows_nothing(client) -> None:
    """JSON, CSV and downloads are data: opened as a document they may load and run nothing;
    the other security headers are the pages' ones."""
    page = await client.get("/")
    answers = [await client.get(path) for path in ("/api/openapi.json", "/api/nowhere", "/healthz")]
    for response in answers:
        csp = response.headers["content-security-policy"]
        assert csp == "default-src 'none'; frame-ancestors 'none'", response.url
        for name in ("x-content-type-options", "referrer-policy", "x-frame-options"):
            assert response.headers[name] == page.headers[name]
    assert page.headers["content-security-policy"] != csp


def test_no_template_has_inline_script_style_or_handlers() -> None:
    """The CSP forbids them (no 'unsafe-inline'), so any would be dead or a hole."""
    templates = resources.files("web").joinpath("templates")
    for template in templates.iterdir():
        html = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html), template.name


@pytest.mark.parametrize(("base_url", "tls"), [("https://singgah.example.id", True), ("", False)])
async def test_cookies_are_httponly_samesite_and_secure_with_hsts_behind_tls(
    db, tmp_path, database_url, base_url, tls
) -> None:
    settings = settings_for(tmp_path, database_url, **({"base_url": base_url} if tls else {}))
    app = create_app(settings, clock=FrozenClock(), database=db)
    transport = httpx.ASGITransport(app=app)
    origin = settings.base_url
    async with httpx.AsyncClient(transport=transport, base_url=origin) as client:
        manager = await make_user(db, Role.VENUE_MANAGER)
        page = await client.get("/login")
        responses = [page, await login(client, manager.email), await client.get("/lang/en")]
    cookies = [c for r in responses for c in r.headers.get_list("set-cookie")]
    assert {c.split("=")[0] for c in cookies} == {"singgah_csrf", "singgah_session", "lang"}
    for cookie in cookies:
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower(), cookie
        assert ("Secure" in cookie) is tls, cookie
    assert ("strict-transport-security" in page.headers) is tls
    assert page.headers["referrer-policy"] == "same-origin"


async def test_healthz_reports_the_database(client, db) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "database": db.engine}


async def test_healthz_is_503_when_the_database_is_gone(client, db) -> None:
    await db.disconnect()
    try:
        response = await client.get("/healthz")
    finally:
        await db.connect()
    assert response.status_code == 503


async def test_openapi_describes_every_api_route(client, app) -> None:
    document = (await client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    for route in api_routes(app.routes):
        path = openapi_path(route)
        for method in route.methods - {"HEAD"}:
            operation = document["paths"][path][method.lower()]
            assert operation["x-singgah-auth"] == route.doc.auth
    assert "requestBody" in document["paths"]["/api/users"]["post"]


async def test_static_css_is_served(client) -> None:
    response = await client.get("/static/app.css")
    assert response.status_code == 200 and "--green" in response.text


async def test_the_service_worker_is_served_from_the_root(client) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "importScripts" in response.text
    assert 'src="/static/register-sw.js"' in (await client.get("/")).text
