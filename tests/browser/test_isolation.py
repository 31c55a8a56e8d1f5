"""Issue 11 in a real browser: a close contact is placed in isolation, fills the daily check-in
with a danger sign, and the official sees the flag. Takes the screenshots in docs/isolation.md
(written there with SINGGAH_UPDATE_SCREENSHOTS=1)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from tests.live import LiveServer


def visited_an_hour_ago(browser: Browser, server: LiveServer, phone: str) -> Page:
    """A phone that checked in at the demo venue an hour ago (an offline scan sent now)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="id-ID")
    visitor = context.request.post(server.url + "/api/visitors").json()
    bearer = {"Authorization": "Bearer " + visitor["token"]}
    token = server.demo_checkin_url().rsplit("/", 1)[1]
    scanned = (datetime.now(UTC) - timedelta(minutes=60)).isoformat()
    saved = context.request.put(
        server.url + "/api/me/profile", data={"phone": phone}, headers=bearer
    )
    assert saved.ok, saved.text()
    checked = context.request.post(
        server.url + "/api/checkins", data={"token": token, "scanned_at": scanned}, headers=bearer
    )
    assert checked.ok, checked.text()
    context.add_cookies([{"name": "singgah_visitor", "value": visitor["token"], "url": server.url}])
    return context.new_page()


def signed_in(browser: Browser, server: LiveServer, target: str) -> Page:
    email, password = server.credentials()["health_official"]
    page = browser.new_context(locale="id-ID", viewport={"width": 1100, "height": 900}).new_page()
    page.goto(server.url + "/login?next=" + target)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    return page


def test_a_contact_checks_in_daily_and_the_official_sees_the_flag(
    browser: Browser, server: LiveServer, shoot: Callable[[Page, str], None]
) -> None:
    visited_an_hour_ago(browser, server, "081211112222")
    contact = visited_an_hour_ago(browser, server, "081233334444")

    official = signed_in(browser, server, "/cases")
    official.get_by_label("Nomor telepon").fill("081211112222")
    official.get_by_label("Tanggal hasil positif").fill(
        official.get_by_label("Tanggal hasil positif").get_attribute("max") or ""
    )
    official.get_by_role("button", name="Daftarkan").click()
    official.get_by_role("button", name="Pratinjau kontak").click()
    expect(official.get_by_test_id("close-contacts")).to_have_text("1")
    official.get_by_role("button", name="Konfirmasi dan kirim peringatan").click()
    expect(official.get_by_role("status")).to_contain_text("Peringatan sudah diantrekan")
    run_id = official.url.rsplit("/", 1)[1]

    official.goto(server.url + "/health-contacts")
    official.get_by_label("Kode wilayah").fill("16.71")
    official.get_by_label("Dokter atau puskesmas").fill("Puskesmas 23 Ilir")
    official.get_by_label("Telepon").fill("0711 350 123")
    official.get_by_label("Jam layanan").fill("Senin–Sabtu 08.00–14.00")
    official.get_by_role("button", name="Simpan").click()
    official.goto(server.url + "/isolation")
    official.get_by_label("Dari").select_option("run_id")
    official.get_by_label("Nomor", exact=True).fill(run_id)
    official.get_by_role("button", name="Tetapkan").click()
    expect(official.get_by_test_id("isolating")).to_have_count(1)
    expect(official.get_by_test_id("flags")).to_contain_text("belum lapor hari ini")

    contact.goto(server.url + "/alerts")
    expect(contact.get_by_test_id("health-contact")).to_contain_text("Puskesmas 23 Ilir")
    contact.get_by_role("link", name="Isolasi", exact=True).click()
    expect(contact.get_by_test_id("emergency-call")).to_have_attribute("href", "tel:119")
    contact.get_by_label("Sesak napas").check()
    contact.get_by_label("Batuk").check()
    contact.get_by_label("Suhu tubuh (°C)").fill("38.6")
    contact.get_by_label("Obat").check()
    shoot(contact, "isolation-daily-form")
    contact.get_by_role("button", name="Kirim laporan").click()
    expect(contact.get_by_test_id("sent")).to_contain_text("tanda bahaya")
    expect(contact.get_by_test_id("reported-today")).to_be_visible()
    shoot(contact, "isolation-danger-sent")

    official.reload()
    expect(official.get_by_test_id("flag-danger")).to_be_visible()
    expect(official.get_by_test_id("isolation-alert")).to_contain_text("sesak napas")
    shoot(official, "isolation-official")
    official.get_by_role("button", name="Tandai ditangani").click()
    official.get_by_role("button", name="Selesai").click()
    expect(official.get_by_test_id("no-isolation-alerts")).to_be_visible()
