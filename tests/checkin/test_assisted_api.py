"""Staff-assisted check-in, traveller registration at border checkpoints, and arrivals."""

import csv
import io

import sqlalchemy as sa

from checkin.tables import travellers, visitors, visits
from tests.factories import bearer_for, make_user, make_venue, make_visitor
from venues.registry import VenueKind
from web.accounts import Role, audit_entries
from web.scopes import assign_manager

NIK = "1671014501900001"  # Palembang, born 5 January 1990 (a woman: day + 40)
OTHER_NIK = "1371011203850002"
NAME = "Siti Rahmawati"


async def door_staff(db, venue):
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    return await bearer_for(db, manager)


async def officer(db):
    return await bearer_for(db, await make_user(db, Role.CHECKPOINT_OFFICER))


async def checkpoint(db, kek, **fields):
    return await make_venue(db, kek, kind=VenueKind.BORDER_CHECKPOINT, **fields)


def traveller(destination, nik=NIK, name=NAME, **fields):
    return {
        "nik": nik,
        "name": name,
        "phone": "0812 3456 7890",
        "origin": "13.71",
        "destination_region_code": destination,
        "mode": "land",
        "travel_history": "Padang, Bukittinggi",
        **fields,
    }


async def test_a_person_is_checked_in_by_nik_and_found_again_by_it(client, db, kek) -> None:
    first, second = await make_venue(db, kek, capacity=10), await make_venue(db, kek)
    manager = await make_user(db, Role.VENUE_MANAGER)
    for venue in (first, second):
        await assign_manager(db, manager, venue.id)
    headers = await bearer_for(db, manager)
    created = await client.post(
        f"/api/venues/{first.id}/assisted-checkins", json={"nik": NIK}, headers=headers
    )
    assert created.status_code == 201
    assert created.json()["occupancy"] == {"current": 1, "capacity": 10, "full": False}
    again = await client.post(
        f"/api/venues/{first.id}/assisted-checkins", json={"nik": NIK}, headers=headers
    )
    assert again.status_code == 200 and again.json()["visit"] == created.json()["visit"]
    moved = await client.post(
        f"/api/venues/{second.id}/assisted-checkins",
        json={"nik": NIK, "name": NAME, "phone": "081234567890"},
        headers=headers,
    )
    assert moved.status_code == 201
    rows = await db.fetch_all(sa.select(visits.c.visitor_id, visits.c.source, visits.c.ended_by))
    assert {row["visitor_id"] for row in rows} == {rows[0]["visitor_id"]}
    assert sorted((row["source"], str(row["ended_by"])) for row in rows) == [
        ("assisted", "None"),
        ("assisted", "switch"),
    ]
    kinds = await db.fetch_all(sa.select(visitors.c.kind))
    assert [row["kind"] for row in kinds] == ["assisted"]


async def test_a_visitor_who_gave_their_nik_on_the_phone_is_the_same_person(
    client, db, kek
) -> None:
    venue = await make_venue(db, kek)
    me = await make_visitor(client)
    profile = {"nik": NIK, "name": NAME, "phone": None}
    await client.put("/api/me/profile", json=profile, headers=me["headers"])
    response = await client.post(
        f"/api/venues/{venue.id}/assisted-checkins",
        json={"nik": NIK, "name": "Someone Else", "phone": "081234567890"},
        headers=await door_staff(db, venue),
    )
    assert response.status_code == 201
    assert (await client.get("/api/me/visits", headers=me["headers"])).json()[0]["id"] == (
        response.json()["visit"]["id"]
    )
    mine = (await client.get("/api/me/profile", headers=me["headers"])).json()["profile"]
    assert mine == {"name": NAME, "phone": "+6281234567890", "nik": NIK}  # completed, kept


async def test_a_bad_nik_is_a_problem(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    headers = await door_staff(db, venue)
    url = f"/api/venues/{venue.id}/assisted-checkins"
    for body, slug in (
        ({"nik": "12345"}, "validation-failed"),
        ({"nik": "0071014501900001"}, "invalid-nik"),  # no province 00
        ({"nik": "1671019913900001"}, "invalid-nik"),  # month 13
        ({"nik": NIK, "phone": "call me"}, "invalid-nik"),
        ({"name": NAME}, "validation-failed"),
    ):
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == f"/problems/{slug}", body
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(visitors)) == 0


async def test_who_may_check_people_in_where(client, db, kek) -> None:
    mall, border = await make_venue(db, kek), await checkpoint(db, kek)
    other_manager = await door_staff(db, border)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    body = {"nik": NIK}
    for venue, headers, status in (
        (mall, other_manager, 404),  # manages another venue
        (mall, await officer(db), 404),  # officers assist at border checkpoints only
        (mall, official, 403),  # officials read, they do not check people in
        (mall, {}, 401),
        (border, await officer(db), 201),
        (mall, await door_staff(db, mall), 201),
    ):
        url = f"/api/venues/{venue.id}/assisted-checkins"
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == status, (venue.name, headers, response.text)


async def test_an_inactive_venue_takes_nobody(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    headers = await door_staff(db, venue)
    await client.patch(f"/api/venues/{venue.id}", json={"is_active": False}, headers=headers)
    response = await client.post(
        f"/api/venues/{venue.id}/assisted-checkins", json={"nik": NIK}, headers=headers
    )
    assert (response.status_code, response.json()["type"]) == (409, "/problems/venue-inactive")


async def test_assisted_checkins_are_audited_without_personal_data(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    body = {"nik": NIK, "name": NAME, "phone": "081234567890"}
    response = await client.post(
        f"/api/venues/{venue.id}/assisted-checkins", json=body, headers=await door_staff(db, venue)
    )
    entry = (await audit_entries(db))[0]
    assert (entry["action"], entry["object_id"]) == (
        "assisted_checkin",
        str(response.json()["visit"]["id"]),
    )
    assert entry["details"] == {"venue_id": venue.id, "new_visitor": True, "via": "api"}


async def test_an_officer_registers_a_traveller_at_a_checkpoint(client, db, kek) -> None:
    border = await checkpoint(db, kek, region_code="16")
    response = await client.post(
        f"/api/venues/{border.id}/travellers",
        json=traveller("16.71"),
        headers=await officer(db),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["traveller"] | {"id": 0} == {
        "id": 0,
        "checkpoint_id": border.id,
        "destination_region_code": "16.71",
        "mode": "land",
        "registered_at": "2026-11-22T09:00:00Z",
    }
    assert body["occupancy"]["current"] == 1
    row = await db.fetch_one(sa.select(travellers))
    assert row["visit_id"] == body["visit"]["id"]
    assert await db.fetch_val(sa.select(visits.c.source)) == "assisted"
    entry = (await audit_entries(db))[0]
    assert entry["action"] == "traveller_registered"
    assert entry["details"]["destination"] == "16.71"
    assert NIK not in str(entry) and NAME not in str(entry)


async def test_a_traveller_registration_is_checked(client, db, kek) -> None:
    border, mall = await checkpoint(db, kek), await make_venue(db, kek)
    headers = await officer(db)
    url = f"/api/venues/{border.id}/travellers"
    for body, status, slug in (
        (traveller("99.99"), 422, "unknown-region"),
        (traveller("16.71.x"), 422, "invalid-region-code"),
        (traveller("16.71", mode="rail"), 422, "validation-failed"),
        (traveller("16.71", origin=" "), 422, "invalid-traveller"),
        (traveller("16.71", name=" "), 422, "invalid-traveller"),
        (traveller("16.71", nik="1671014501900000"), 422, "invalid-nik"),
    ):
        response = await client.post(url, json=body, headers=headers)
        assert (response.status_code, response.json()["type"]) == (status, f"/problems/{slug}")
    response = await client.post(
        f"/api/venues/{mall.id}/travellers",
        json=traveller("16.71"),
        headers=await door_staff(db, mall),
    )
    assert (response.status_code, response.json()["type"]) == (409, "/problems/not-a-checkpoint")
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(travellers)) == 0


async def test_personal_data_is_sealed_at_rest(client, db, kek) -> None:
    border = await checkpoint(db, kek)
    await client.post(
        f"/api/venues/{border.id}/travellers",
        json=traveller("16.71", travel_history="Bukittinggi market"),
        headers=await officer(db),
    )
    for table in (visitors, travellers):
        row = await db.fetch_one(sa.select(table))
        stored = repr(dict(row._mapping)).encode() + b"".join(
            bytes(value) for value in row if isinstance(value, bytes | memoryview)
        )
        for secret in (NIK, NAME, "81234567890", "Bukittinggi", "13.71"):
            assert secret.encode() not in stored, (table.name, secret)


async def register(client, headers, border, destination, nik):
    response = await client.post(
        f"/api/venues/{border.id}/travellers",
        json=traveller(destination, nik=nik, name=f"Traveller {destination}"),
        headers=headers,
    )
    assert response.status_code == 201, response.text


async def test_officials_see_the_arrivals_of_their_region_only(client, db, kek, clock) -> None:
    border, headers = await checkpoint(db, kek), await officer(db)
    await register(client, headers, border, "16", "1671014501900001")
    await register(client, headers, border, "16.71", "1671014501900002")
    await register(client, headers, border, "13.71", "1671014501900003")
    clock.advance(days=1)

    async def seen(role, region=None, since=""):
        user = await make_user(db, role, region=region)
        query = f"?since={since}" if since else ""
        response = await client.get(f"/api/arrivals{query}", headers=await bearer_for(db, user))
        assert response.status_code == 200, response.text
        return sorted(a["destination"]["code"] for a in response.json()["arrivals"])

    assert await seen(Role.HEALTH_OFFICIAL, "16") == ["16", "16.71"]
    assert await seen(Role.HEALTH_OFFICIAL, "16.71") == ["16.71"]
    assert await seen(Role.HEALTH_OFFICIAL, "13") == ["13.71"]
    assert await seen(Role.HEALTH_OFFICIAL, "31") == []
    assert await seen(Role.HEALTH_OFFICIAL, "16.71", since="2026-11-22T09:00:01Z") == []
    assert await seen(Role.ADMIN) == ["13.71", "16", "16.71"]
    officer_view = await client.get("/api/arrivals", headers=headers)
    assert officer_view.status_code == 403


async def test_an_arrival_shows_what_the_official_needs(client, db, kek) -> None:
    border, headers = await checkpoint(db, kek), await officer(db)
    await register(client, headers, border, "16.71", NIK)
    official = await make_user(db, Role.HEALTH_OFFICIAL, region="16.71")
    body = (await client.get("/api/arrivals", headers=await bearer_for(db, official))).json()
    (arrival,) = body["arrivals"]
    assert body["region"] == "16.71"
    assert arrival | {"id": 0} == {
        "id": 0,
        "registered_at": "2026-11-22T09:00:00Z",
        "checkpoint": {"id": border.id, "name": border.name},
        "destination": {"code": "16.71", "name": "Kota Palembang"},
        "mode": "land",
        "nik": NIK,
        "name": "Traveller 16.71",
        "phone": "+6281234567890",
        "origin": "13.71",
        "travel_history": "Padang, Bukittinggi",
    }
    entry = (await audit_entries(db))[0]
    assert (entry["action"], entry["actor_user_id"], entry["object_id"]) == (
        "arrivals_viewed",
        official.id,
        "16.71",
    )
    assert entry["details"]["count"] == 1 and NIK not in str(entry)
    bad = await client.get("/api/arrivals?since=soon", headers=await bearer_for(db, official))
    assert (bad.status_code, bad.json()["type"]) == (422, "/problems/validation-failed")


async def test_the_csv_export_has_the_regions_rows_and_is_audited(client, db, kek) -> None:
    border, headers = await checkpoint(db, kek), await officer(db)
    await register(client, headers, border, "16.71", "1671014501900001")
    await register(client, headers, border, "13.71", "1671014501900002")
    await client.post(
        f"/api/venues/{border.id}/travellers",
        json=traveller("16.72", nik="1671014501900003", name="=HYPERLINK(1)"),
        headers=headers,
    )
    official = await make_user(db, Role.HEALTH_OFFICIAL, region="16")
    response = await client.get("/api/arrivals.csv", headers=await bearer_for(db, official))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="arrivals-16-2026-11-08.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "registered_at",
        "checkpoint",
        "destination_code",
        "destination",
        "mode",
        "nik",
        "name",
        "phone",
        "origin",
        "travel_history",
    ]
    assert sorted((row[2], row[5], row[6]) for row in rows[1:]) == [
        ("16.71", "1671014501900001", "Traveller 16.71"),
        ("16.72", "1671014501900003", "'=HYPERLINK(1)"),  # never a formula in a spreadsheet
    ]
    entry = (await audit_entries(db))[0]
    assert (entry["action"], entry["object_id"]) == ("arrivals_viewed", "16")
    assert entry["details"] | {"since": ""} == {"since": "", "count": 2, "format": "csv"}
