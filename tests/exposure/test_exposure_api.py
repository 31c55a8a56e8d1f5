"""The exposure API: cases, preview and confirm, no alert twice, officials' regions."""

import sqlalchemy as sa

from exposure.tables import notifications
from tests.factories import bearer_for, make_user, make_venue, make_visitor, poster_token
from web.accounts import Role, audit_entries


async def world(client, db, kek, clock):
    """A case and a close contact (Palembang), a low contact, and a stranger in Jakarta."""
    venue = await make_venue(db, kek, name="Pasar 16 Ilir", region_code="16.71")
    jakarta = await make_venue(db, kek, region_code="31.71")
    token, far = await poster_token(db, kek, venue), await poster_token(db, kek, jakarta)
    case, close, low, stranger = [await make_visitor(client) for _ in range(4)]
    await client.put("/api/me/profile", headers=close["headers"], json={"phone": "081234567890"})
    for person in (case, close, stranger):
        target = far if person is stranger else token
        await client.post("/api/checkins", json={"token": target}, headers=person["headers"])
    clock.advance(minutes=50)
    await client.post("/api/checkins", json={"token": token}, headers=low["headers"])
    clock.advance(minutes=5)
    for person in (case, close, low, stranger):
        visits = (await client.get("/api/me/visits", headers=person["headers"])).json()
        await client.post(f"/api/checkins/{visits[0]['id']}/checkout", headers=person["headers"])
    clock.advance(hours=30)
    return {"case": case, "close": close, "low": low, "stranger": stranger, "venue": venue}


async def test_register_preview_confirm_and_never_alert_twice(client, db, kek, clock) -> None:
    people = await world(client, db, kek, clock)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    created = await client.post(
        "/api/cases",
        headers=official,
        json={"visitor_id": people["case"]["visitor_id"], "positive_on": "2026-11-23"},
    )
    assert created.status_code == 201
    case = created.json()
    assert case["status"] == "confirmed" and case["people"] == 1
    assert case["window"] == {"start": "2026-11-20T17:00:00Z", "end": "2026-11-23T15:55:00Z"}

    preview = await client.post(
        "/api/exposure-runs", headers=official, json={"case_ids": [case["id"]], "dry_run": True}
    )
    assert preview.status_code == 201
    assert preview.json()["contacts"] == {"close": 1, "low": 1}
    assert preview.json()["venues"][0]["name"] == "Pasar 16 Ilir"
    assert preview.json()["regions"] == [{"region_code": "16.71", "close": 1, "low": 1}]
    alerts = sa.select(sa.func.count()).where(notifications.c.kind != "case_status")
    assert await db.fetch_val(alerts) == 0  # a preview alerts nobody

    run = (
        await client.post(
            "/api/exposure-runs",
            headers=official,
            json={"case_ids": [case["id"]], "dry_run": False},
        )
    ).json()
    assert run["contacts"] == {"close": 1, "low": 1}
    close_inbox = (
        await client.get("/api/me/notifications", headers=people["close"]["headers"])
    ).json()
    assert [n["kind"] for n in close_inbox] == ["exposure_alert"]
    assert close_inbox[0]["payload"]["venue_name"] == "Pasar 16 Ilir"
    low_inbox = (await client.get("/api/me/notifications", headers=people["low"]["headers"])).json()
    assert [n["kind"] for n in low_inbox] == ["venue_alert"]
    assert (
        await client.get("/api/me/notifications", headers=people["stranger"]["headers"])
    ).json() == []

    again = await client.post(
        "/api/exposure-runs", headers=official, json={"case_ids": [case["id"]], "dry_run": False}
    )
    assert again.json()["contacts"] == {"close": 1, "low": 1}
    assert (
        len((await client.get("/api/me/notifications", headers=people["close"]["headers"])).json())
        == 1
    )
    kinds = [n[0] for n in await db.fetch_all(sa.select(notifications.c.kind))]
    assert sorted(kinds) == ["case_status", "exposure_alert", "hotspot_venue", "venue_alert"]

    contacts = (
        await client.get(f"/api/exposure-runs/{run['id']}/contacts", headers=official)
    ).json()
    assert [(c["risk"], c["phone"]) for c in contacts] == [
        ("close", "+6281234567890"),
        ("low", None),
    ]
    assert contacts[0]["overlap_minutes"] >= 55
    csv_text = (
        await client.get(f"/api/exposure-runs/{run['id']}/contacts.csv", headers=official)
    ).text
    assert csv_text.splitlines()[0].startswith("visitor_id,risk,overlap_minutes")
    assert len(csv_text.splitlines()) == 3
    actions = [entry["action"] for entry in await audit_entries(db)]
    assert {
        "case_registered",
        "exposure_preview",
        "exposure_run",
        "contacts_viewed",
        "contacts_exported",
    } <= set(actions)
    assert "081234567890" not in str(await audit_entries(db))


async def test_officials_of_another_region_see_nothing(client, db, kek, clock) -> None:
    people = await world(client, db, kek, clock)
    palembang = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16.71"))
    jakarta = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="31"))
    case = (
        await client.post(
            "/api/cases",
            headers=palembang,
            json={"visitor_id": people["case"]["visitor_id"], "positive_on": "2026-11-23"},
        )
    ).json()
    assert (await client.get(f"/api/cases/{case['id']}", headers=jakarta)).status_code == 404
    assert (await client.get("/api/cases", headers=jakarta)).json() == []
    refused = await client.post(
        "/api/exposure-runs", headers=jakarta, json={"case_ids": [case["id"]], "dry_run": True}
    )
    assert refused.status_code == 404
    run = (
        await client.post(
            "/api/exposure-runs",
            headers=palembang,
            json={"case_ids": [case["id"]], "dry_run": False},
        )
    ).json()
    assert (
        await client.get(f"/api/exposure-runs/{run['id']}/contacts", headers=jakarta)
    ).json() == []
    # The run's record (its counts) only to officials of a region one of its cases is in.
    shown = await client.get(f"/api/exposure-runs/{run['id']}", headers=palembang)
    assert shown.json()["case_ids"] == [case["id"]]
    assert (await client.get(f"/api/exposure-runs/{run['id']}", headers=jakarta)).status_code == 404
    outside = await client.post(
        "/api/cases",
        headers=jakarta,
        json={
            "visitor_id": people["case"]["visitor_id"],
            "positive_on": "2026-11-23",
            "region_code": "16.71",
        },
    )
    assert outside.status_code == 403


async def test_bad_cases_are_problems(client, db) -> None:
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    me = await make_visitor(client)
    cases = [
        ({"visitor_id": me["visitor_id"], "positive_on": "2026-12-30"}, "invalid-case"),
        ({"visitor_id": me["visitor_id"], "positive_on": "2026-10-01"}, "invalid-case"),
        ({"visitor_id": me["visitor_id"], "positive_on": "yesterday"}, "validation-failed"),
        ({"positive_on": "2026-11-22"}, "validation-failed"),
        (
            {"nik": "1671014501900003", "phone": "0812", "positive_on": "2026-11-22"},
            "validation-failed",
        ),
        ({"visitor_id": "nobody", "positive_on": "2026-11-22"}, "invalid-visitor-token"),
    ]
    for body, slug in cases:
        response = await client.post("/api/cases", headers=official, json=body)
        assert response.json().get("type") == f"/problems/{slug}", (body, response.text)
    manager = await bearer_for(db, await make_user(db, Role.VENUE_MANAGER))
    assert (
        await client.post(
            "/api/cases",
            headers=manager,
            json={"visitor_id": me["visitor_id"], "positive_on": "2026-11-22"},
        )
    ).status_code == 403


async def test_a_case_by_nik_finds_the_person_and_their_region(client, db) -> None:
    me = await make_visitor(client)
    await client.put("/api/me/profile", headers=me["headers"], json={"nik": "1671014501900003"})
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case = (
        await client.post(
            "/api/cases",
            headers=official,
            json={"nik": "1671014501900003", "positive_on": "2026-11-21", "onset_on": "2026-11-19"},
        )
    ).json()
    assert case["people"] == 1 and case["region_code"] == "16.71"
    assert case["window"]["start"] == "2026-11-16T17:00:00Z"  # onset - 2 days, WIB midnight


async def test_close_contacts_and_cases_are_black_at_the_door(client, db, kek, clock) -> None:
    people = await world(client, db, kek, clock)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case = (
        await client.post(
            "/api/cases",
            headers=official,
            json={"visitor_id": people["case"]["visitor_id"], "positive_on": "2026-11-23"},
        )
    ).json()
    before = (await client.get("/api/me/status", headers=people["close"]["headers"])).json()
    assert before["colour"] != "black"
    await client.post(
        "/api/exposure-runs", headers=official, json={"case_ids": [case["id"]], "dry_run": False}
    )
    for who in ("close", "case"):
        status = (await client.get("/api/me/status", headers=people[who]["headers"])).json()
        assert status["colour"] == "black", who
    assert (await client.get("/api/me/status", headers=people["low"]["headers"])).json()[
        "colour"
    ] != "black"
    token = await poster_token(db, kek, people["venue"])
    door = (
        await client.post(
            "/api/checkins", json={"token": token}, headers=people["close"]["headers"]
        )
    ).json()["door"]
    assert (door["colour"], door["allowed"]) == ("black", False)
