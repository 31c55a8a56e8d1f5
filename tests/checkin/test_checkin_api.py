"""The check-in API contract the web app, integrations and tests rely on."""

import sqlalchemy as sa

from checkin.tables import visitors
from tests.factories import bearer_for, make_user, make_venue, make_visitor, poster_token
from web.accounts import Role
from web.scopes import assign_manager


async def test_visitor_checks_in_repeats_and_checks_out(client, db, kek, clock) -> None:
    venue = await make_venue(db, kek, capacity=2)
    token = await poster_token(db, kek, venue)
    me = await make_visitor(client)
    created = await client.post("/api/checkins", json={"token": token}, headers=me["headers"])
    assert created.status_code == 201
    body = created.json()
    assert body["venue"]["name"] == venue.name
    assert body["occupancy"] == {"current": 1, "capacity": 2, "full": False}
    assert body["visit"]["checkout_planned"] is True and body["visit"]["offline"] is False
    repeat = await client.post("/api/checkins", json={"token": token}, headers=me["headers"])
    assert repeat.status_code == 200 and repeat.json()["visit"]["id"] == body["visit"]["id"]
    clock.advance(minutes=25)
    out = await client.post(f"/api/checkins/{body['visit']['id']}/checkout", headers=me["headers"])
    assert out.json()["visit"]["checkout_planned"] is False
    assert out.json()["visit"]["checked_out_at"] == "2026-11-22T09:25:00Z"
    visits = (await client.get("/api/me/visits", headers=me["headers"])).json()
    assert [v["id"] for v in visits] == [body["visit"]["id"]]


async def test_a_full_venue_is_told(client, db, kek) -> None:
    venue = await make_venue(db, kek, capacity=1)
    token = await poster_token(db, kek, venue)
    for _ in range(2):
        me = await make_visitor(client)
        response = await client.post("/api/checkins", json={"token": token}, headers=me["headers"])
    assert response.json()["occupancy"]["full"] is True


async def test_an_offline_scan_is_marked_and_a_bad_one_is_a_problem(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    me = await make_visitor(client)
    ok = await client.post(
        "/api/checkins",
        headers=me["headers"],
        json={"token": token, "scanned_at": "2026-11-22T07:30:00Z"},
    )
    assert ok.status_code == 201 and ok.json()["visit"]["offline"] is True
    assert ok.json()["visit"]["checked_in_at"] == "2026-11-22T07:30:00Z"
    for when, slug in (
        ("2026-11-23T07:30:00Z", "offline-scan-refused"),
        ("2026-10-01T07:30:00Z", "offline-scan-refused"),
        ("yesterday", "validation-failed"),
        ("2026-11-22T07:30:00", "offline-scan-refused"),
    ):
        response = await client.post(
            "/api/checkins", headers=me["headers"], json={"token": token, "scanned_at": when}
        )
        assert response.json()["type"] == f"/problems/{slug}", when


async def test_bad_tokens_and_bad_visitors_are_refused(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    me = await make_visitor(client)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = await client.post("/api/checkins", json={"token": forged}, headers=me["headers"])
    assert response.json()["type"] == "/problems/token-bad-signature"
    stranger = {"Authorization": "Bearer sgv_" + "A" * 22 + ".forged"}
    response = await client.post("/api/checkins", json={"token": token}, headers=stranger)
    assert (response.status_code, response.json()["type"]) == (
        401,
        "/problems/invalid-visitor-token",
    )
    assert (await client.post("/api/checkins", json={"token": token})).status_code == 401


async def test_a_visitor_cannot_touch_another_visitors_visits(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    me, other = await make_visitor(client), await make_visitor(client)
    visit = (
        await client.post("/api/checkins", json={"token": token}, headers=me["headers"])
    ).json()["visit"]
    assert (
        await client.post(f"/api/checkins/{visit['id']}/checkout", headers=other["headers"])
    ).status_code == 404
    assert (
        await client.delete(f"/api/me/visits/{visit['id']}", headers=other["headers"])
    ).status_code == 404
    assert (await client.get("/api/me/visits", headers=other["headers"])).json() == []
    assert (
        await client.delete(f"/api/me/visits/{visit['id']}", headers=me["headers"])
    ).status_code == 204
    assert (await client.get("/api/me/visits", headers=me["headers"])).json() == []


async def test_dependants_check_in_with_their_guardian(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    me, other = await make_visitor(client), await make_visitor(client)
    child = (
        await client.post("/api/me/dependants", json={"name": "Adik"}, headers=me["headers"])
    ).json()["visitor_id"]
    together = await client.post(
        "/api/checkins", json={"token": token, "dependants": [child]}, headers=me["headers"]
    )
    assert together.json()["occupancy"]["current"] == 2
    assert len(together.json()["dependant_visits"]) == 1
    stolen = await client.post(
        "/api/checkins", json={"token": token, "dependants": [child]}, headers=other["headers"]
    )
    assert stolen.status_code == 422


async def test_profile_is_sealed_at_rest(client, db) -> None:
    me = await make_visitor(client)
    saved = await client.put(
        "/api/me/profile",
        headers=me["headers"],
        json={"name": "Siti Aminah", "phone": "0812-3456-7890", "nik": "1671014501900003"},
    )
    assert saved.status_code == 200
    row = await db.fetch_one(sa.select(visitors).where(visitors.c.id == me["visitor_id"]))
    stored = b"".join(
        bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
        for v in row._mapping.values()
        if v is not None
    )
    for secret in (b"Siti", b"1671014501900003", b"81234567890"):
        assert secret not in stored
    shown = (await client.get("/api/me/profile", headers=me["headers"])).json()
    assert shown["profile"] == {
        "name": "Siti Aminah",
        "phone": "+6281234567890",
        "nik": "1671014501900003",
    }
    bad = await client.put(
        "/api/me/profile", headers=me["headers"], json={"nik": "1671019901900003"}
    )
    assert bad.json()["type"] == "/problems/invalid-nik"


async def test_managers_see_occupancy_and_check_everyone_out(client, db, kek) -> None:
    venue = await make_venue(db, kek, capacity=10)
    token = await poster_token(db, kek, venue)
    for _ in range(3):
        me = await make_visitor(client)
        await client.post("/api/checkins", json={"token": token}, headers=me["headers"])
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    headers = await bearer_for(db, manager)
    assert (await client.get(f"/api/venues/{venue.id}/occupancy", headers=headers)).json() == {
        "current": 3,
        "capacity": 10,
        "full": False,
    }
    history = (
        await client.get(f"/api/venues/{venue.id}/occupancy/history", headers=headers)
    ).json()
    assert len(history) == 14 * 24 and history[-1]["present"] == 3
    outsider = await bearer_for(db, await make_user(db, Role.VENUE_MANAGER))
    assert (
        await client.post(f"/api/venues/{venue.id}/checkout-all", headers=outsider)
    ).status_code == 404
    done = await client.post(f"/api/venues/{venue.id}/checkout-all", headers=headers)
    assert done.json() == {"checked_out": 3}
    assert (await client.get(f"/api/venues/{venue.id}/occupancy", headers=headers)).json()[
        "current"
    ] == 0


async def test_concurrent_check_ins_each_get_their_own_answer(client, db, kek) -> None:
    """Sent at once (on SQLite they share group commits): every good check-in is recorded
    once and answered with its own visit, a refused one fails alone, occupancy is exact."""
    import anyio

    from checkin.tables import visits

    venues = [await make_venue(db, kek) for _ in range(2)]
    tokens = [await poster_token(db, kek, venue) for venue in venues]
    people = [await make_visitor(client) for _ in range(60)]
    forged = tokens[0][:-4] + ("AAAA" if not tokens[0].endswith("AAAA") else "BBBB")
    answers: dict[int, tuple[int, dict]] = {}

    async def scan(n: int) -> None:
        token = forged if n % 10 == 9 else tokens[n % 2]
        response = await client.post(
            "/api/checkins", json={"token": token}, headers=people[n]["headers"]
        )
        answers[n] = (response.status_code, response.json())

    async with anyio.create_task_group() as group:
        for n in range(60):
            group.start_soon(scan, n)
    refused = [n for n, (status, _) in answers.items() if status != 201]
    assert sorted(refused) == list(range(9, 60, 10))
    assert {answers[n][1]["type"] for n in refused} == {"/problems/token-bad-signature"}
    created = {n: body["visit"] for n, (status, body) in answers.items() if status == 201}
    assert len({visit["id"] for visit in created.values()}) == 54
    assert all(visit["venue_id"] == venues[n % 2].id for n, visit in created.items())
    rows = await db.fetch_all(sa.select(visits.c.id, visits.c.visitor_id))
    assert {row["id"] for row in rows} == {visit["id"] for visit in created.values()}
    for venue in venues:  # each answer's occupancy counts the check-ins before it, and itself
        open_here = [n for n, visit in created.items() if visit["venue_id"] == venue.id]
        assert max(answers[n][1]["occupancy"]["current"] for n in open_here) == len(open_here)
