"""Issue 8, done when: Chromium's fake camera, fed a video made from a rendered poster, lets the
in-app scanner check in; the same with an HC1 certificate into the wallet (and at the door);
with the network cut a scan is kept as pending and sent when it comes back, with its time.

Each test launches its own Chromium, because the fake camera's video is a launch flag. The
screenshots of the main visitor screens are taken here; they replace those in docs/screenshots/
(docs/visitor-app.md) when SINGGAH_UPDATE_SCREENSHOTS=1, so an ordinary run changes no file.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import segno
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import PHONE, launch_chromium
from tests.browser.test_wallet import VENUE, green_only_venue_and_a_booster, staff_headers
from tests.certificates.support import make_signer, sign, vaccination_dcc
from tests.live import LiveServer
from venues.posters import PosterContent, render_poster_png
from web.auth import CSRF_COOKIE

FRAME = (720, 960)  # a phone camera held upright; both even, as 4:2:0 needs


def y4m(picture: Image.Image, frames: int = 2) -> bytes:
    """A YUV4MPEG2 video showing ``picture`` centred on white, for Chromium's fake camera:
    a one-line header, then per frame ``FRAME`` and the Y, Cb and Cr planes (4:2:0)."""
    canvas = Image.new("RGB", FRAME, "white")
    picture = picture.convert("RGB")
    picture.thumbnail(FRAME)
    canvas.paste(picture, ((FRAME[0] - picture.width) // 2, (FRAME[1] - picture.height) // 2))
    luma, blue, red = canvas.convert("YCbCr").split()
    half = (FRAME[0] // 2, FRAME[1] // 2)
    planes = luma.tobytes() + blue.resize(half).tobytes() + red.resize(half).tobytes()
    header = f"YUV4MPEG2 W{FRAME[0]} H{FRAME[1]} F10:1 Ip A1:1 C420jpeg\n".encode()
    return header + (b"FRAME\n" + planes) * frames


def poster_picture(server: LiveServer, venue: dict) -> Image.Image:
    """The venue's poster, rendered as it is printed."""
    content = PosterContent(venue["name"], venue["code"], venue["checkin_url"], "Kota Palembang")
    return Image.open(io.BytesIO(render_poster_png(content)))


def qr_picture(text: str) -> Image.Image:
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=6, border=4)
    return Image.open(out)


@pytest.fixture(scope="module")
def venue_and_booster(server: LiveServer) -> tuple[dict, str]:
    """The green-only venue of the wallet test (as the API returns it) and Rina's booster."""
    _, hc1 = green_only_venue_and_a_booster(server)
    return venue_named(server, VENUE), hc1


def venue_named(server: LiveServer, name: str) -> dict:
    admin = staff_headers(server, *server.credentials()["admin"])
    with httpx.Client(base_url=server.url, headers=admin) as api:
        found = next(v for v in api.get("/api/venues").json() if v["name"] == name)
        return api.get(f"/api/venues/{found['id']}").json()


@pytest.fixture
def camera(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Image.Image], BrowserContext]]:
    """``camera(picture)``: a phone context in a Chromium whose camera films ``picture``."""
    opened: list[Browser] = []

    def phone_filming(picture: Image.Image) -> BrowserContext:
        folder = tmp_path_factory.mktemp("camera")
        video = folder / "camera.y4m"
        video.write_bytes(y4m(picture))
        flags = (
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        )
        launched = launch_chromium(browser.browser_type, folder / "home", flags)
        opened.append(launched)
        return launched.new_context(viewport=PHONE, locale="id-ID", is_mobile=True, has_touch=True)

    yield phone_filming
    for launched in opened:
        launched.close()


def my_visits(page: Page) -> list[dict]:
    return page.evaluate("async () => (await fetch('/api/me/visits')).json()")


def test_the_scanner_reads_a_poster_and_checks_in(
    camera, shoot, server: LiveServer, venue_and_booster
) -> None:
    venue, _ = venue_and_booster
    page = camera(poster_picture(server, venue)).new_page()
    page.goto(server.url + "/scan")
    result = page.get_by_test_id("scan-result")
    expect(result).to_contain_text("Berhasil check-in di " + VENUE, timeout=15000)
    expect(result).to_have_attribute("data-kind", "ok")
    shoot(page, "scan-checked-in")
    [visit] = my_visits(page)
    assert visit["venue_id"] == venue["id"] and visit["offline"] is False

    # Another venue, by the code printed under its QR: a second check-in in a row.
    admin = staff_headers(server, *server.credentials()["admin"])
    other = {"name": "Warung Kopi 16 Ilir", "kind": "other", "region_code": "16.71"}
    made = httpx.post(server.url + "/api/venues", json=other, headers=admin)
    assert made.status_code == 201, made.text
    code_field = page.get_by_label("Kode tempat (di bawah kode QR pada poster)")
    code_field.fill(made.json()["code"].lower())  # typed by hand: any case will do
    page.get_by_role("button", name="Check-in").click()
    expect(result).to_contain_text("Berhasil check-in di Warung Kopi 16 Ilir", timeout=10000)
    assert len(my_visits(page)) == 2

    code_field.fill("PAL-0000")
    page.get_by_role("button", name="Check-in").click()
    expect(result).to_contain_text("Tidak ada tempat dengan kode ini:")
    expect(result).to_contain_text("PAL-0000")


def test_a_foreign_qr_code_is_named_as_such(camera, server: LiveServer) -> None:
    page = camera(qr_picture("https://example.com/promo")).new_page()
    page.goto(server.url + "/scan")
    result = page.get_by_test_id("scan-result")
    expect(result).to_contain_text("dari situs lain", timeout=15000)
    expect(result).to_contain_text("example.com")
    assert my_visits(page) == []


def test_the_scanner_adds_a_certificate_and_the_door_reads_it(
    camera, shoot, server: LiveServer, venue_and_booster
) -> None:
    _, hc1 = venue_and_booster
    context = camera(qr_picture(hc1))
    page = context.new_page()
    page.goto(server.url + "/scan")
    result = page.get_by_test_id("scan-result")
    expect(result).to_contain_text("Sertifikat ditambahkan ke dompet Anda", timeout=15000)
    expect(result.locator("p").nth(1)).to_have_text("RS")
    page.goto(server.url + "/me/certificates")
    expect(page.get_by_test_id("wallet-certificate")).to_contain_text("dosis 3/3")
    shoot(page, "wallet")

    # Door staff point the door verifier at the same certificate.
    page.goto(server.url + "/door")
    door = page.get_by_test_id("door")
    expect(door).to_have_attribute("data-colour", "green", timeout=15000)
    expect(page.get_by_test_id("door-colour")).to_have_text("Hijau")
    expect(page.get_by_test_id("door-initials")).to_have_text("RS")
    expect(page.get_by_test_id("door-until")).to_contain_text("Berlaku sampai")
    shoot(page, "door-check")

    # Without a connection the door checks the signature against the trust list it kept.
    go_offline_on_a_cached_door(context, page)
    expect(door).to_have_attribute("data-colour", "offline", timeout=15000)
    expect(page.get_by_test_id("door-colour")).to_have_text("Tanda tangan sah (luring)")
    expect(page.get_by_test_id("door-initials")).to_have_text("RS")
    expect(page.get_by_test_id("door-until")).to_contain_text("Berlaku sampai")
    shoot(page, "door-check-offline")


def go_offline_on_a_cached_door(context: BrowserContext, page: Page) -> None:
    page.wait_for_function("async () => !!(await caches.match('/api/trust-list'))")
    context.set_offline(True)
    page.reload()  # from the service worker's cache


def test_the_door_offline_refuses_a_certificate_no_trusted_signer_made(
    camera, server: LiveServer, venue_and_booster
) -> None:
    key, untrusted = make_signer()
    forged = sign(vaccination_dcc(3, 3), key, untrusted, issued_at=datetime.now(UTC))
    context = camera(qr_picture(forged))
    page = context.new_page()
    page.goto(server.url + "/door")
    door = page.get_by_test_id("door")
    expect(door).to_have_attribute("data-colour", "invalid", timeout=15000)  # by the server
    go_offline_on_a_cached_door(context, page)
    expect(page.get_by_test_id("scan-status")).to_have_text("Tidak sah", timeout=15000)
    expect(door).to_have_attribute("data-colour", "invalid")
    expect(page.get_by_test_id("door-until")).to_contain_text("no trusted signer verifies it")


def test_a_scan_made_offline_is_kept_and_sent_with_its_time(
    camera, shoot, server: LiveServer, venue_and_booster
) -> None:
    venue, _ = venue_and_booster
    context = camera(poster_picture(server, venue))
    page = context.new_page()
    # Online once: the service worker installs and caches the app shell.
    page.goto(server.url + "/me/certificates")
    page.wait_for_function(
        "async () => (await navigator.serviceWorker.ready) && !!(await caches.match('/scan'))"
    )
    scanned = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    context.clock.set_fixed_time(scanned)  # the phone's clock at the scan
    context.set_offline(True)
    page.goto(server.url + "/scan")  # from the cache: there is no network
    result = page.get_by_test_id("scan-result")
    expect(result).to_have_attribute("data-kind", "pending", timeout=15000)
    expect(result).to_contain_text("Tidak ada koneksi: pindaian disimpan")
    expect(page.get_by_test_id("pending-scan")).to_have_count(1)
    shoot(page, "scan-offline-pending")

    # The browser was closed meanwhile: its session CSRF cookie is gone, the cached page's
    # token is stale, and the page renews it before sending.
    context.clear_cookies(name=CSRF_COOKIE)
    context.set_offline(False)
    expect(page.get_by_test_id("pending-scan")).to_have_count(0, timeout=20000)
    expect(result).to_contain_text("Terkirim: check-in di " + VENUE)
    [visit] = my_visits(page)
    assert visit["offline"] is True
    assert visit["checked_in_at"] == scanned.isoformat().replace("+00:00", "Z")
