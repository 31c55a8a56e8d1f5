"""The officer's forms (assisted check-in, traveller registration) and the arrivals page."""

import sqlalchemy as sa

from checkin.tables import travellers, visits
from tests.factories import csrf_from, login, make_user, make_venue
from venues.registry import VenueKind
from web.accounts import Role, audit_entries
from web.scopes import assign_manager

NIK = "1671014501900001"


async def test_an_officer_registers_a_traveller_from_the_form(client, db, kek) -> None:
    border = await make_venue(db, kek, kind=VenueKind.BORDER_CHECKPOINT, name="Pos Lubuklinggau")
    mall = await make_venue(db, kek, name="Mall Palembang")
    officer = await make_user(db, Role.CHECKPOINT_OFFICER)
    await login(client, officer.email)
    dashboard = await client.get("/dashboard")
    assert 'href="/assisted"' in dashboard.text and 'href="/travellers"' in dashboard.text
    page = await client.get("/travellers")
    assert page.status_code == 200
    assert border.name in page.text and mall.name not in page.text
    form = {
        "csrf_token": csrf_from(page.text),
        "venue_id": str(border.id),
        "nik": NIK,
        "name": "Budi Santoso",
        "phone": "",
        "origin": "Jambi",
        "destination_region_code": "16.71",
        "mode": "sea",
        "travel_history": "",
    }
    done = await client.post("/travellers", data=form)
    assert done.status_code == 201, done.text
    assert 'data-testid="traveller-done"' in done.text
    assert await db.fetch_val(sa.select(travellers.c.mode)) == "sea"
    assert (await audit_entries(db))[0]["details"]["via"] == "form"
    again = await client.post("/travellers", data=form | {"destination_region_code": "99"})
    assert again.status_code == 422 and 'role="alert"' in again.text
    assert 'value="Budi Santoso"' in again.text  # the officer does not type it all again
    elsewhere = await client.post("/travellers", data=form | {"venue_id": str(mall.id)})
    assert elsewhere.status_code == 404


async def test_door_staff_check_a_person_in_from_the_form(client, db, kek) -> None:
    venue = await make_venue(db, kek, capacity=5)
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    await login(client, manager.email)
    page = await client.get(f"/assisted?venue={venue.id}")
    assert f'value="{venue.id}" selected' in page.text
    form = {"csrf_token": csrf_from(page.text), "venue_id": str(venue.id), "nik": NIK}
    done = await client.post("/assisted", data=form)
    assert done.status_code == 201 and "1 / 5" in done.text
    bad = await client.post("/assisted", data=form | {"nik": "16710145019"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(visits)) == 1


async def test_the_arrivals_page_shows_the_officials_region(client, db, kek) -> None:
    border = await make_venue(db, kek, kind=VenueKind.BORDER_CHECKPOINT)
    officer = await make_user(db, Role.CHECKPOINT_OFFICER)
    await login(client, officer.email)
    page = await client.get("/travellers")
    for nik, name, destination in (
        (NIK, "Ani Palembang", "16.71"),
        (NIK[:-1] + "2", "Rudi Padang", "13.71"),
    ):
        response = await client.post(
            "/travellers",
            data={
                "csrf_token": csrf_from(page.text),
                "venue_id": str(border.id),
                "nik": nik,
                "name": name,
                "origin": "Jakarta",
                "destination_region_code": destination,
                "mode": "air",
            },
        )
        assert response.status_code == 201, response.text
    assert (await client.get("/arrivals")).status_code == 403
    official = await make_user(db, Role.HEALTH_OFFICIAL, region="16")
    client.cookies.clear()
    await login(client, official.email)
    assert 'href="/arrivals"' in (await client.get("/dashboard")).text
    arrivals = await client.get("/arrivals")
    assert arrivals.status_code == 200
    assert "Ani Palembang" in arrivals.text and "Rudi Padang" not in arrivals.text
    assert (await audit_entries(db))[0]["details"]["format"] == "page"
