"""Isolation pages: the visitor's daily form and emergency button, the officials' watch list."""

from tests.exposure.test_isolation import isolated_case
from tests.factories import csrf_from, login, make_user
from web.accounts import Role


async def test_a_visitor_reports_and_the_official_sees_the_flag(client, db) -> None:
    person, _, _ = await isolated_case(client, db)
    client.cookies.set("singgah_visitor", person["token"])
    page = await client.get("/me/isolation")
    assert page.status_code == 200
    assert 'href="tel:119"' in page.text and 'data-testid="isolation-period"' in page.text
    sent = await client.post(
        "/me/isolation/report",
        data={"csrf_token": csrf_from(page.text), "symptom": ["cough", "shortness_of_breath"],
              "temperature": "38,5", "spo2": "", "at_home": "yes", "need": "medicine"},
    )  # fmt: skip
    assert sent.status_code == 303 and sent.headers["location"] == "/me/isolation?sent=danger"
    done = await client.get("/me/isolation?sent=danger")
    assert 'data-testid="reported-today"' in done.text
    emergency = await client.post(
        "/me/isolation/emergency", data={"csrf_token": csrf_from(done.text)}
    )
    assert emergency.headers["location"] == "/me/isolation?sent=emergency"
    bad = await client.post(
        "/me/isolation/report", data={"csrf_token": csrf_from(done.text), "spo2": "lots"}
    )
    assert bad.status_code == 422

    user = await make_user(db, Role.HEALTH_OFFICIAL, region="16.71")
    await login(client, user.email)
    watch = await client.get("/isolation")
    assert watch.status_code == 200
    assert 'data-testid="flag-danger"' in watch.text
    assert watch.text.count('data-testid="isolation-alert"') == 2
    assert "+6281234567890" in watch.text
    alert_id = watch.text.split('action="/isolation/alerts/')[1].split('"')[0]
    resolved = await client.post(
        f"/isolation/alerts/{alert_id}",
        data={"csrf_token": csrf_from(watch.text), "action": "resolve"},
    )
    assert resolved.status_code == 303
    assert (await client.get("/isolation")).text.count('data-testid="isolation-alert"') == 1


async def test_officials_set_health_contacts_that_visitors_then_see(client, db) -> None:
    person, _, _ = await isolated_case(client, db)
    user = await make_user(db, Role.HEALTH_OFFICIAL, region="16")
    await login(client, user.email)
    page = await client.get("/health-contacts")
    saved = await client.post(
        "/health-contacts",
        data={"csrf_token": csrf_from(page.text), "region_code": "16.71",
              "name": "Puskesmas Demo", "phone": "0711000111", "hours": "08-16"},
    )  # fmt: skip
    assert saved.status_code == 303
    outside = await client.post(
        "/health-contacts",
        data={"csrf_token": csrf_from(page.text), "region_code": "31",
              "name": "X", "phone": "0211", "hours": ""},
    )  # fmt: skip
    assert outside.status_code == 422
    client.cookies.set("singgah_visitor", person["token"])
    assert "Puskesmas Demo" in (await client.get("/me/isolation")).text
    assert "Puskesmas Demo" in (await client.get("/alerts")).text


async def test_no_isolation_still_shows_the_emergency_number(client) -> None:
    page = await client.get("/me/isolation")
    assert 'href="tel:119"' in page.text and 'data-testid="no-isolation"' in page.text
