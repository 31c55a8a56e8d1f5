"""The visitor app's server side: venue by short code, the door check, the scanner and door
pages, the manifest and the app shell's static files."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from certificates.issuers import find_issued, revoke_certificate
from tests.certificates.support import issue_to_rina, pcr_entry, vaccination_entry
from tests.factories import START, make_venue, make_visitor
from web.visitors import VISITOR_COOKIE

STATIC = resources.files("web").joinpath("static")


async def test_a_typed_venue_code_gives_the_poster_token_that_checks_in(client, db, kek) -> None:
    venue = await make_venue(db, kek, name="Pasar 16 Ilir")
    found = await client.get(f"/api/venues/by-code/{venue.code.lower()}")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["venue"]["name"] == "Pasar 16 Ilir" and body["venue"]["code"] == venue.code
    assert body["checkin_url"].endswith("/c/" + body["token"])
    visitor = await make_visitor(client)
    checked_in = await client.post(
        "/api/checkins", json={"token": body["token"]}, headers=visitor["headers"]
    )
    assert checked_in.status_code == 201 and checked_in.json()["venue"]["id"] == venue.id


async def test_an_unknown_venue_code_is_a_404_problem(client) -> None:
    found = await client.get("/api/venues/by-code/PAL-0000")
    assert found.status_code == 404
    assert found.headers["content-type"].startswith("application/problem+json")


async def test_the_door_sees_colour_initials_and_validity_of_a_certificate(
    client, db, settings
) -> None:
    booster = await issue_to_rina(db, settings, vaccination_entry(3, 3), "v", days=200)
    checked = (await client.post("/api/door/check", json={"hc1": booster.hc1})).json()
    assert checked == {
        "valid": True,
        "problem": None,
        "colour": "green",
        "reason": "booster dose",
        "initials": "RS",
        "valid_until": "2027-06-10T09:00:00Z",  # the HC1's expiry: a booster has no end
    }
    test = await issue_to_rina(db, settings, pcr_entry(sampled="2026-11-22T08:00:00Z"), "t")
    checked = (await client.post("/api/door/check", json={"hc1": test.hc1})).json()
    assert (checked["colour"], checked["valid_until"]) == ("green", "2026-11-25T08:00:00Z")


async def test_the_door_refuses_a_revoked_or_broken_certificate(client, db, settings) -> None:
    issued = await issue_to_rina(db, settings, vaccination_entry(3, 3), "v")
    await revoke_certificate(
        db, await find_issued(db, issued.record.id), now=START, reason="issued in error"
    )
    revoked = (await client.post("/api/door/check", json={"hc1": issued.hc1})).json()
    assert revoked["valid"] is False and "revocation" in revoked["problem"]
    assert revoked["colour"] is None and revoked["initials"] is None
    broken = (await client.post("/api/door/check", json={"hc1": "HC1:NOT-A-CERTIFICATE"})).json()
    assert broken["valid"] is False and broken["problem"]


async def test_the_scanner_page_makes_a_visitor_and_carries_its_messages(client) -> None:
    page = await client.get("/scan")
    assert page.status_code == 200
    assert VISITOR_COOKIE in page.cookies
    assert '<meta name="csrf-token" content="' in page.text
    assert 'src="/static/vendor/jsQR.js"' in page.text
    blob = re.search(r'id="page-messages">(.*?)</script>', page.text, re.S)
    assert blob and json.loads(blob[1])["scan.offline_kept"].startswith("Tidak ada koneksi")
    again = await client.get("/scan")
    assert VISITOR_COOKIE not in again.cookies  # the same visitor from then on


async def test_the_door_page_speaks_english_when_asked(client) -> None:
    page = await client.get("/door", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Door check" in page.text
    assert 'src="/static/door.js"' in page.text


async def test_the_app_is_installable(client) -> None:
    found = await client.get("/manifest.webmanifest")
    assert found.headers["content-type"].startswith("application/manifest+json")
    manifest = found.json()
    assert manifest["name"] == "Singgah" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "/scan" and manifest["theme_color"] == "#0b5d3b"
    for icon in manifest["icons"]:
        served = await client.get(icon["src"])
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert served.content[16:24] == bytes.fromhex(  # the PNG's width and height
            "{0:08x}{0:08x}".format(int(icon["sizes"].split("x")[0]))
        )
    home = (await client.get("/")).text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in home
    assert 'rel="apple-touch-icon"' in home


@pytest.mark.parametrize("template", ["scan.html", "door_scan.html"])
def test_the_service_worker_caches_every_script_the_pages_load(template: str) -> None:
    shell = STATIC.joinpath("sw-offline.js").read_text()
    page = resources.files("web").joinpath("templates", template).read_text()
    scripts = re.findall(r'src="(/static/[^"]+)"', page)
    assert len(scripts) >= 3
    for script in scripts:
        assert f'"{script}"' in shell, script
        assert STATIC.joinpath(script.removeprefix("/static/")).is_file()
