"""The visitor's pages work without JavaScript: a cookie and form posts."""

from tests.factories import csrf_from, login, make_user, make_venue, poster_token
from web.accounts import Role
from web.scopes import assign_manager
from web.visitors import VISITOR_COOKIE


async def check_in_by_page(client, token: str):
    page = await client.get(f"/c/{token}")
    return await client.post(f"/c/{token}", data={"csrf_token": csrf_from(page.text)})


async def test_poster_page_checks_in_and_out_with_a_cookie(client, db, kek, clock) -> None:
    venue = await make_venue(db, kek, name="Puskesmas Dempo", default_visit_minutes=30)
    token = await poster_token(db, kek, venue)
    page = await client.get(f"/c/{token}")
    assert "Puskesmas Dempo" in page.text and "Check-in sekarang" in page.text
    done = await check_in_by_page(client, token)
    assert done.status_code == 303 and VISITOR_COOKIE in client.cookies
    visit = await client.get(done.headers["location"])
    assert "Anda sudah check-in" in visit.text and "22-11-2026 16:00 WIB" in visit.text
    again = await client.get(f"/c/{token}")
    assert "Anda sudah check-in di sini" in again.text  # no second visit on a re-open
    clock.advance(minutes=10)
    out = await client.post(
        done.headers["location"] + "/checkout", data={"csrf_token": csrf_from(visit.text)}
    )
    assert "Kunjungan selesai" in (await client.get(out.headers["location"])).text
    mine = await client.get("/me")
    assert mine.text.count('data-testid="visit"') == 1


async def test_a_visitor_deletes_a_visit_from_the_list(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    done = await check_in_by_page(client, await poster_token(db, kek, venue))
    visit_id = done.headers["location"].rsplit("/", 1)[1]
    mine = await client.get("/me")
    await client.post(f"/me/visits/{visit_id}/delete", data={"csrf_token": csrf_from(mine.text)})
    assert 'data-testid="visit"' not in (await client.get("/me")).text
    assert (await client.get(f"/visits/{visit_id}")).status_code == 404


async def test_someone_elses_visit_page_is_not_found(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    done = await check_in_by_page(client, await poster_token(db, kek, venue))
    client.cookies.clear()
    await check_in_by_page(client, await poster_token(db, kek, await make_venue(db, kek)))
    assert (await client.get(done.headers["location"])).status_code == 404


async def test_a_forged_poster_is_a_readable_page(client) -> None:
    page = await client.get("/c/" + "A" * 108)
    assert page.status_code == 400 and "<h1>Malformed venue token</h1>" in page.text


async def test_manager_live_page_and_closing_time(client, db, kek) -> None:
    venue = await make_venue(db, kek, capacity=1)
    await check_in_by_page(client, await poster_token(db, kek, venue))
    client.cookies.clear()
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    await login(client, manager.email)
    live = await client.get(f"/venues/{venue.id}/live")
    assert 'data-testid="occupancy" data-field="current">1<' in live.text
    assert "Penuh" in live.text
    await client.post(f"/venues/{venue.id}/checkout-all", data={"csrf_token": csrf_from(live.text)})
    live = await client.get(f"/venues/{venue.id}/live")
    assert 'data-field="current">0<' in live.text


async def test_pages_fetched_at_once_keep_each_others_forms_valid(client, db, kek) -> None:
    """The service worker fetches several pages at once: a visitor without a CSRF cookie must
    not get a different one from each, or the form on screen would be refused."""
    venue = await make_venue(db, kek)
    done = await check_in_by_page(client, await poster_token(db, kek, venue))
    visit_id = done.headers["location"].rsplit("/", 1)[1]
    client.cookies.delete("singgah_csrf")
    first = await client.get("/me")
    client.cookies.delete("singgah_csrf")  # the second page was asked for before the first came
    second = await client.get("/me/certificates")  # its cookie is the one the browser keeps
    assert first.cookies["singgah_csrf"] == second.cookies["singgah_csrf"]
    deleted = await client.post(
        f"/me/visits/{visit_id}/delete", data={"csrf_token": csrf_from(first.text)}
    )
    assert deleted.status_code == 303


async def test_browsers_without_an_identity_get_their_own_csrf_cookie(client) -> None:
    first = await client.get("/login")
    client.cookies.clear()
    second = await client.get("/login")
    assert first.cookies["singgah_csrf"] != second.cookies["singgah_csrf"]
