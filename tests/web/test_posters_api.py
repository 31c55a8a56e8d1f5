"""Posters over HTTP: every format decodes (zxing-cpp) to a URL that `/api/qr/verify` accepts."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from tests.factories import bearer_for, login, make_user, make_venue
from tests.venues.test_posters import (
    decoded_urls,
    normalised,
    pdf_pages,
    pdf_texts,
    png_image,
    svg_image,
)
from venues.tokens import parse_token, token_from_url
from web.accounts import Role
from web.scopes import assign_manager

FORMATS = {
    "png": lambda response: png_image(response.content),
    "pdf": lambda response: pdf_pages(response.content)[0],
    "svg": lambda response: svg_image(response.text),
}

MEDIA = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}


def poster_url(image: Image.Image) -> str:
    urls = decoded_urls(image)
    assert len(urls) == 1, f"expected one QR code, found {urls}"
    return urls[0]


async def fetch_poster_url(client: httpx.AsyncClient, venue_id: int, headers: dict) -> str:
    response = await client.get(f"/api/venues/{venue_id}/poster.png", headers=headers)
    assert response.status_code == 200
    return poster_url(png_image(response.content))


async def verified_venue_id(client: httpx.AsyncClient, url: str) -> int:
    response = await client.post("/api/qr/verify", json={"url": url})
    assert response.status_code == 200, response.text
    return response.json()["venue"]["id"]


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_each_poster_format_decodes_to_a_url_that_verifies(client, db, kek, fmt) -> None:
    venue = await make_venue(db, kek, name="Kantor Camat Ilir Barat I")
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))

    response = await client.get(f"/api/venues/{venue.id}/poster.{fmt}", headers=admin)

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == MEDIA[fmt]
    assert response.headers["content-disposition"] == (
        f'attachment; filename="singgah-poster-{venue.code}.{fmt}"'
    )
    assert response.headers["cache-control"] == "private, no-cache"
    url = poster_url(FORMATS[fmt](response))
    shown = (await client.get(f"/api/venues/{venue.id}", headers=admin)).json()
    assert normalised(url) == shown["checkin_url"]
    assert await verified_venue_id(client, url) == venue.id


async def test_the_pdf_poster_names_the_venue_and_its_region(client, db, kek) -> None:
    venue = await make_venue(db, kek, name="Masjid Agung Palembang", region_code="16.71")
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))
    response = await client.get(f"/api/venues/{venue.id}/poster.pdf", headers=admin)
    (text,) = pdf_texts(response.content)
    assert "Masjid Agung Palembang" in text
    assert "Kota Palembang" in text.title()
    assert venue.code in text


async def test_only_readers_of_the_venue_get_its_poster(client, db, kek) -> None:
    venue = await make_venue(db, kek, region_code="16.71")
    elsewhere = await make_venue(db, kek, region_code="31.71")
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    other_manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, other_manager, elsewhere.id)
    path = f"/api/venues/{venue.id}/poster.svg"

    async def status(role_user) -> int:
        return (await client.get(path, headers=await bearer_for(db, role_user))).status_code

    assert await status(manager) == 200
    assert await status(await make_user(db, Role.HEALTH_OFFICIAL, region="16")) == 200
    assert await status(other_manager) == 404
    assert await status(await make_user(db, Role.HEALTH_OFFICIAL, region="31")) == 404
    assert await status(await make_user(db, Role.CHECKPOINT_OFFICER)) == 403
    assert (await client.get(path)).status_code == 401


async def test_an_unknown_format_is_a_problem_not_a_poster(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))
    response = await client.get(f"/api/venues/{venue.id}/poster.gif", headers=admin)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_etag_revalidates_until_the_venue_changes(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))
    path = f"/api/venues/{venue.id}/poster.png"
    first = await client.get(path, headers=admin)
    etag = first.headers["etag"]

    again = await client.get(path, headers={**admin, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert (await client.get(f"/api/venues/{venue.id}/poster.pdf", headers=admin)).headers[
        "etag"
    ] != etag

    await client.patch(f"/api/venues/{venue.id}", json={"name": "Renamed"}, headers=admin)
    renamed = await client.get(path, headers={**admin, "If-None-Match": etag})
    assert renamed.status_code == 200 and renamed.headers["etag"] != etag


async def test_after_rotation_the_poster_uses_the_new_key_and_the_old_one_works_until_retired(
    client, db, kek
) -> None:
    venue = await make_venue(db, kek)
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))
    old_url = await fetch_poster_url(client, venue.id, admin)
    old_kid = parse_token(token_from_url(old_url))[0].kid

    rotated = await client.post("/api/keys/rotate", headers=admin)
    assert rotated.status_code == 201
    new_url = await fetch_poster_url(client, venue.id, admin)

    assert parse_token(token_from_url(new_url))[0].kid == rotated.json()["kid"] != old_kid
    assert await verified_venue_id(client, old_url) == venue.id
    assert await verified_venue_id(client, new_url) == venue.id

    retired = await client.post(f"/api/keys/{old_kid}/retire", headers=admin)
    assert retired.status_code == 200
    refused = await client.post("/api/qr/verify", json={"url": old_url})
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/token-key-retired"
    assert await verified_venue_id(client, new_url) == venue.id


async def test_the_venue_page_previews_the_poster_and_links_every_format(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    await login(client, manager.email)

    page = await client.get(f"/venues/{venue.id}")

    assert page.status_code == 200
    assert f'<img src="/api/venues/{venue.id}/poster.svg"' in page.text
    for fmt in FORMATS:
        link = f'href="/api/venues/{venue.id}/poster.{fmt}"'
        assert link in page.text
        # The signed-in browser fetches them with its session cookie alone.
        response = await client.get(f"/api/venues/{venue.id}/poster.{fmt}")
        assert response.status_code == 200
