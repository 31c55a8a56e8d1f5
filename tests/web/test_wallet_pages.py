"""The visitor's wallet page and door screen: plain forms, the visitor in the cookie."""

from __future__ import annotations

from tests.certificates.support import issue_to_rina, vaccination_entry
from tests.factories import csrf_from, make_venue, poster_token
from web.visitors import VISITOR_COOKIE


async def test_a_visitor_adds_a_certificate_from_the_form_and_shows_the_door(
    client, db, kek, settings
) -> None:
    page = await client.get("/me/certificates")
    assert page.status_code == 200 and 'name="hc1"' in page.text
    booster = await issue_to_rina(db, settings, vaccination_entry(3, 3), "v", days=30)
    added = await client.post(
        "/me/certificates", data={"hc1": booster.hc1, "csrf_token": csrf_from(page.text)}
    )
    assert added.status_code == 303 and added.headers["location"] == "/me/certificates"
    assert client.cookies.get(VISITOR_COOKIE, "").startswith("sgv_")
    wallet = await client.get("/me/certificates")
    assert "Vaksinasi" in wallet.text and "dosis 3/3" in wallet.text
    assert "RS · berlaku" in wallet.text

    status = await client.get("/me/status")
    assert 'data-colour="green"' in status.text and "Tidak ada kunjungan" in status.text
    assert "2026-12-22 09:00 UTC" in status.text and "door-verdict" not in status.text

    venue = await make_venue(db, kek, name="Pasar 16 Ilir", entry_policy=("green",))
    checked_in = await client.post(
        "/api/checkins",
        json={"token": await poster_token(db, kek, venue)},
        headers={"X-CSRF-Token": csrf_from(wallet.text)},
    )
    assert checked_in.json()["door"]["allowed"] is True
    door = await client.get("/me/status")
    assert "Pasar 16 Ilir" in door.text and "Boleh masuk" in door.text
    assert ">RS<" in door.text and "2026-11-22 09:00 UTC" in door.text


async def test_a_refused_certificate_is_explained_and_a_visitor_without_one_is_refused(
    client, db, kek
) -> None:
    page = await client.get("/me/certificates")
    refused = await client.post(
        "/me/certificates", data={"hc1": "HC1:NOT-A-CERT", "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert "base45" in refused.text
    # The failed attempt still made this phone a visitor: it can check in, and is refused.
    venue = await make_venue(db, kek, name="Mal Demo", entry_policy=("green", "yellow"))
    await client.post(
        "/api/checkins",
        json={"token": await poster_token(db, kek, venue)},
        headers={"X-CSRF-Token": csrf_from(refused.text)},
    )
    door = await client.get("/me/status")
    assert 'data-colour="red"' in door.text and "Tidak boleh masuk" in door.text
    assert "Tempat ini menerima:" in door.text and "Hijau, Kuning" in door.text


async def test_a_visitor_deletes_a_certificate_from_the_page(client, db, settings) -> None:
    page = await client.get("/me/certificates")
    booster = await issue_to_rina(db, settings, vaccination_entry(3, 3), "v")
    await client.post(
        "/me/certificates", data={"hc1": booster.hc1, "csrf_token": csrf_from(page.text)}
    )
    wallet = await client.get("/me/certificates")
    action = wallet.text.split('action="/me/certificates/', 1)[1].split('"', 1)[0]
    deleted = await client.post(
        f"/me/certificates/{action}", data={"csrf_token": csrf_from(wallet.text)}
    )
    assert deleted.status_code == 303
    assert "Belum ada sertifikat" in (await client.get("/me/certificates")).text


async def test_the_door_screen_without_a_visitor_points_to_the_wallet(client) -> None:
    page = await client.get("/me/status")
    assert page.status_code == 200 and 'href="/me/certificates"' in page.text
    assert 'data-testid="door"' not in page.text
