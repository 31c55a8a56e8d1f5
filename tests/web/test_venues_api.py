"""Venues over HTTP: the contract, who may see and change what, verification, keys, pages."""

import pytest

from tests.factories import bearer_for, csrf_from, login, make_user, make_venue
from web.accounts import Role
from web.scopes import managed_venue_ids

NEW = {
    "name": "Mal Palembang Indah",
    "kind": "mall",
    "region_code": "16.71",
    "capacity": 300,
    "default_visit_minutes": 5,
    "entry_policy": ["green"],
}


async def as_role(db, role: Role, region: str | None = None) -> dict[str, str]:
    return await bearer_for(db, await make_user(db, role, region=region))


async def test_a_manager_registers_a_venue_and_manages_it(client, db) -> None:
    manager = await make_user(db, Role.VENUE_MANAGER)
    response = await client.post("/api/venues", json=NEW, headers=await bearer_for(db, manager))
    assert response.status_code == 201
    venue = response.json()
    assert venue["code"].startswith("PAL-")
    assert venue["default_visit_minutes"] == 15
    assert venue["checkin_url"].startswith("http://testserver/c/")
    assert await managed_venue_ids(db, manager) == {venue["id"]}


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({**NEW, "region_code": "99.99"}, 422, "unknown-region"),
        ({**NEW, "entry_policy": ["black"]}, 422, "invalid-venue"),
        ({**NEW, "kind": "casino"}, 422, "validation-failed"),
        ({**NEW, "colour": "green"}, 422, "validation-failed"),
        ({**NEW, "capacity": "many"}, 422, "validation-failed"),
    ],
)
async def test_bad_venues_are_problems(client, db, body, status, slug) -> None:
    response = await client.post("/api/venues", json=body, headers=await as_role(db, Role.ADMIN))
    assert response.status_code == status
    assert response.json()["type"] == f"/problems/{slug}"


async def test_scopes_decide_who_sees_and_changes_a_venue(client, db, kek) -> None:
    mine = await make_venue(db, kek, region_code="16.71")
    other = await make_venue(db, kek, region_code="31.71")
    manager = await make_user(db, Role.VENUE_MANAGER)
    from web.scopes import assign_manager

    await assign_manager(db, manager, mine.id)
    manager_h = await bearer_for(db, manager)
    official_h = await as_role(db, Role.HEALTH_OFFICIAL, "16")
    jakarta_h = await as_role(db, Role.HEALTH_OFFICIAL, "31")
    officer_h = await as_role(db, Role.CHECKPOINT_OFFICER)

    assert [v["id"] for v in (await client.get("/api/venues", headers=manager_h)).json()] == [
        mine.id
    ]
    assert [v["id"] for v in (await client.get("/api/venues", headers=official_h)).json()] == [
        mine.id
    ]
    assert (await client.get(f"/api/venues/{other.id}", headers=manager_h)).status_code == 404
    assert (await client.get(f"/api/venues/{other.id}", headers=official_h)).status_code == 404
    assert (await client.get(f"/api/venues/{mine.id}", headers=jakarta_h)).status_code == 404
    assert (await client.get(f"/api/venues/{mine.id}", headers=official_h)).status_code == 200
    assert (await client.get("/api/venues?region=31", headers=official_h)).status_code == 403
    assert (await client.get("/api/venues", headers=officer_h)).status_code == 403

    patch = {"capacity": 10}
    assert (await client.patch(f"/api/venues/{mine.id}", json=patch, headers=manager_h)).json()[
        "capacity"
    ] == 10
    assert (
        await client.patch(f"/api/venues/{mine.id}", json=patch, headers=official_h)
    ).status_code == 403
    assert (
        await client.patch(f"/api/venues/{other.id}", json=patch, headers=manager_h)
    ).status_code == 404


async def test_verify_by_token_or_url_with_a_problem_for_each_failure(client, db, kek) -> None:
    admin_h = await as_role(db, Role.ADMIN)
    venue = (await client.post("/api/venues", json=NEW, headers=admin_h)).json()
    url = venue["checkin_url"]
    token = url.rsplit("/", 1)[1]
    by_url = await client.post("/api/qr/verify", json={"url": url})
    assert by_url.json()["venue"] == {
        "id": venue["id"],
        "code": venue["code"],
        "name": NEW["name"],
        "kind": "mall",
        "region_code": "16.71",
        "capacity": 300,
        "status": "active",
    }
    assert (await client.post("/api/qr/verify", json={"token": token})).status_code == 200

    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    cases = [
        ({"token": tampered}, 422, "token-bad-signature"),
        ({"token": "short"}, 400, "token-malformed"),
        ({"url": "https://elsewhere.id/menu"}, 400, "token-malformed"),
        ({}, 422, "validation-failed"),
        ({"token": token, "url": url}, 422, "validation-failed"),
    ]
    for body, status, slug in cases:
        response = await client.post("/api/qr/verify", json=body)
        assert (response.status_code, response.json()["type"]) == (status, f"/problems/{slug}")

    await client.patch(f"/api/venues/{venue['id']}", json={"is_active": False}, headers=admin_h)
    gone = await client.post("/api/qr/verify", json={"token": token})
    assert (gone.status_code, gone.json()["type"]) == (410, "/problems/token-venue-inactive")


async def test_key_rotation_over_the_api(client, db, kek) -> None:
    admin_h = await as_role(db, Role.ADMIN)
    venue = await make_venue(db, kek)
    old_url = (await client.get(f"/api/venues/{venue.id}", headers=admin_h)).json()["checkin_url"]
    old_kid = (await client.get("/api/keys", headers=admin_h)).json()[0]["kid"]
    rotated = await client.post("/api/keys/rotate", headers=admin_h)
    assert rotated.status_code == 201 and "private" not in rotated.text
    new_url = (await client.get(f"/api/venues/{venue.id}", headers=admin_h)).json()["checkin_url"]
    assert new_url != old_url
    refused = await client.post(f"/api/keys/{rotated.json()['kid']}/retire", headers=admin_h)
    assert refused.status_code == 409
    assert (await client.post(f"/api/keys/{old_kid}/retire", headers=admin_h)).status_code == 200
    retired = await client.post("/api/qr/verify", json={"url": old_url})
    assert retired.json()["type"] == "/problems/token-key-retired"
    assert (await client.post("/api/qr/verify", json={"url": new_url})).status_code == 200
    assert (
        await client.post("/api/keys/rotate", headers=await as_role(db, Role.VENUE_MANAGER))
    ).status_code == 403


async def test_no_endpoint_returns_private_key_material(client, db, kek) -> None:
    admin_h = await as_role(db, Role.ADMIN)
    venue = await make_venue(db, kek)
    bodies = [
        await client.get(path, headers=admin_h)
        for path in ("/api/keys", "/.well-known/singgah/keys.json", f"/api/venues/{venue.id}")
    ]
    assert all("sealed" not in b.text and '"d"' not in b.text for b in bodies)


async def test_manager_pages_create_edit_and_show_a_venue(client, db) -> None:
    manager = await make_user(db, Role.VENUE_MANAGER)
    await login(client, manager.email)
    form_page = await client.get("/venues/new")
    assert "Daftarkan tempat" in form_page.text
    token = csrf_from(form_page.text)
    created = await client.post(
        "/venues/new",
        data={
            "csrf_token": token,
            "name": "Gereja Siloam",
            "kind": "worship",
            "region_code": "16.71",
            "capacity": "120",
            "default_visit_minutes": "90",
            "entry_policy": ["green", "yellow"],
        },
    )
    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    assert "Gereja Siloam" in page.text and "/c/" in page.text
    bad = await client.post(
        "/venues/new",
        data={
            "csrf_token": token,
            "name": "X",
            "kind": "worship",
            "region_code": "16.71",
            "capacity": "lots",
        },
    )
    assert bad.status_code == 422 and "not a number" in bad.text
    listing = await client.get("/venues")
    assert "Gereja Siloam" in listing.text


async def test_the_poster_url_opens_a_page_naming_the_venue(client, db, kek) -> None:
    admin_h = await as_role(db, Role.ADMIN)
    venue = (await client.post("/api/venues", json=NEW, headers=admin_h)).json()
    page = await client.get(venue["checkin_url"].replace("http://testserver", ""))
    assert page.status_code == 200 and NEW["name"] in page.text
    forged = await client.get("/c/" + "A" * 108)
    assert forged.status_code in {400, 422} and "text/html" in forged.headers["content-type"]


async def test_admin_keys_page_rotates(client, db, kek) -> None:
    await make_venue(db, kek)
    admin = await make_user(db)
    await login(client, admin.email)
    page = await client.get("/admin/keys")
    await client.post("/admin/keys/rotate", data={"csrf_token": csrf_from(page.text)})
    assert (await client.get("/admin/keys")).text.count("<code>") == 2
