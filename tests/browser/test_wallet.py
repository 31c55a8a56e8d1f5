"""Issue 5, done when: a visitor adds a certificate, checks in at a venue whose policy requires
green, and sees the door decision; a visitor without a certificate is refused."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PHONE
from tests.factories import csrf_from
from tests.live import LiveServer
from web.visitors import VISITOR_COOKIE

VENUE = "Mal Palembang Icon (hanya hijau)"
CHECK_IN = """async ([token, bearer]) => {
    const headers = {"Content-Type": "application/json"};
    if (bearer) headers["Authorization"] = "Bearer " + bearer;
    else headers["X-CSRF-Token"] = document.querySelector("input[name=csrf_token]").value;
    const response = await fetch("/api/checkins", {
        method: "POST", headers, body: JSON.stringify({token}),
    });
    return [response.status, await response.json()];
}"""


def staff_headers(server: LiveServer, email: str, password: str) -> dict[str, str]:
    """An API token for a staff account, got the way a person would: sign in, make a token."""
    with httpx.Client(base_url=server.url) as browser:
        login = browser.get("/login")
        browser.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_from(login.text)},
        )
        csrf = csrf_from(browser.get("/dashboard").text)
        made = browser.post(
            "/api/tokens", json={"name": "browser test"}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 201, made.text
        return {"Authorization": f"Bearer {made.json()['token']}"}


def green_only_venue_and_a_booster(server: LiveServer) -> tuple[str, str]:
    """As the demo admin: a venue admitting green only and a lab with a signer; as that lab's
    staff: a booster certificate for Rina Siregar. Returns (poster token, HC1)."""
    admin = staff_headers(server, *server.credentials()["admin"])
    with httpx.Client(base_url=server.url, headers=admin) as api:
        venue = api.post(
            "/api/venues",
            json={"name": VENUE, "kind": "mall", "region_code": "16.71", "entry_policy": ["green"]},
        )
        assert venue.status_code == 201, venue.text
        lab = api.post("/api/issuers", json={"name": "Labkesda Palembang", "kind": "lab"}).json()
        signer = api.post(
            f"/api/issuers/{lab['id']}/signing-certificates", json={"certificate_types": ["v"]}
        )
        assert signer.status_code == 201, signer.text
        staff = {"email": "lab@labkesda.test", "role": "issuer", "password": "a long lab password"}
        created = api.post("/api/users", json={**staff, "issuer_id": lab["id"]})
        assert created.status_code == 201, created.text
    issuer = staff_headers(server, staff["email"], staff["password"])
    booster = {
        "nam": {"fn": "Siregar", "gn": "Rina"},
        "dob": "1990-04-01",
        "v": {
            "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
            "dn": 3, "sd": 3, "dt": "2026-01-10",
        },
    }  # fmt: skip
    issued = httpx.post(server.url + "/api/certificates", json=booster, headers=issuer)
    assert issued.status_code == 201, issued.text
    return venue.json()["checkin_url"].rsplit("/c/", 1)[1], issued.json()["hc1"]


def test_a_visitor_adds_a_certificate_checks_in_and_sees_the_door_decision(
    phone: Page, browser: Browser, server: LiveServer
) -> None:
    token, hc1 = green_only_venue_and_a_booster(server)

    phone.goto(server.url + "/me/certificates")
    phone.get_by_label("Teks sertifikat (HC1)").fill(hc1)
    phone.get_by_role("button", name="Tambahkan").click()
    expect(phone).to_have_url(server.url + "/me/certificates")
    expect(phone.get_by_test_id("wallet-certificate")).to_contain_text("Vaksinasi")
    expect(phone.get_by_test_id("wallet-certificate")).to_contain_text("dosis 3/3")

    status, body = phone.evaluate(CHECK_IN, [token, None])
    assert status == 201 and body["door"]["allowed"] is True, body
    phone.goto(server.url + "/me/status")
    door = phone.get_by_test_id("door")
    expect(door).to_have_attribute("data-colour", "green")
    expect(phone.get_by_test_id("door-colour")).to_have_text("Hijau")
    expect(phone.get_by_test_id("door-verdict")).to_have_text("Boleh masuk")
    expect(phone.get_by_test_id("door-initials")).to_have_text("RS")
    expect(phone.get_by_test_id("door-venue")).to_have_text(VENUE)
    expect(phone.get_by_test_id("door-until")).to_contain_text(
        re.compile(r"Berlaku sampai 20\d\d-")
    )
    assert door.bounding_box()["width"] > 0.8 * PHONE["width"]  # large: most of the screen

    # A second visitor, with no certificate, checks in from another phone and is refused.
    other = browser.new_context(viewport=PHONE, locale="id-ID", is_mobile=True, has_touch=True)
    try:
        # The cookie is set before any page loads: the service worker a first page registers
        # precaches /scan, which gives a phone without the cookie a visitor of its own (and
        # that answer's cookie, arriving late, would replace this one).
        visitor = other.request.post(server.url + "/api/visitors").json()
        other.add_cookies([{"name": VISITOR_COOKIE, "value": visitor["token"], "url": server.url}])
        second = other.new_page()
        second.goto(server.url + "/me/status")
        status, body = second.evaluate(CHECK_IN, [token, visitor["token"]])
        assert status == 201 and body["door"]["allowed"] is False, body
        second.goto(server.url + "/me/status")
        expect(second.get_by_test_id("door")).to_have_attribute("data-colour", "red")
        expect(second.get_by_test_id("door-verdict")).to_have_text("Tidak boleh masuk")
        expect(second.get_by_test_id("door-venue")).to_have_text(VENUE)
    finally:
        other.close()
