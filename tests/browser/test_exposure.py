"""Issue 6 in a real browser: an official registers a case, previews, confirms, and a contact's
alert page shows the alert."""

from playwright.sync_api import Browser, Locator, Page, expect

from tests.live import LiveServer


def phone_checks_in(browser: Browser, server: LiveServer) -> Page:
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="id-ID").new_page()
    page.goto(server.demo_checkin_url())
    page.get_by_role("button", name="Check-in sekarang").click()
    expect(page.get_by_test_id("checked-in")).to_be_visible()
    return page


def open_alerts(page: Page, server: LiveServer) -> Locator:
    """Follow the visit page's link to the alerts page and return its alerts, once it is shown."""
    page.get_by_role("link", name="Peringatan").click()
    # On a loaded machine the navigation can outlast expect's default 5 s: wait for the page.
    expect(page).to_have_url(server.url + "/alerts", timeout=30_000)
    return page.get_by_test_id("alert")


def test_an_official_runs_a_case_and_the_contact_is_alerted(
    browser: Browser, server: LiveServer
) -> None:
    case = phone_checks_in(browser, server)
    contact = phone_checks_in(browser, server)
    csrf = case.locator("input[name=csrf_token]").first.get_attribute("value")
    saved = case.request.put(
        server.url + "/api/me/profile",
        data={"phone": "081298765432"},
        headers={"X-CSRF-Token": csrf or ""},
    )
    assert saved.ok, saved.text()

    email, password = server.credentials()["health_official"]
    official = browser.new_context(locale="id-ID").new_page()
    official.goto(server.url + "/login?next=/cases")
    official.get_by_label("Email").fill(email)
    official.get_by_label("Kata sandi").fill(password)
    official.get_by_role("button", name="Masuk").click()
    official.get_by_label("Nomor telepon").fill("081298765432")
    official.get_by_label("Tanggal hasil positif").fill(
        official.get_by_label("Tanggal hasil positif").get_attribute("max") or ""
    )
    official.get_by_role("button", name="Daftarkan").click()
    expect(official.get_by_test_id("case-status")).to_have_text("terkonfirmasi")
    official.get_by_role("button", name="Pratinjau kontak").click()
    expect(official.get_by_text("Pratinjau: belum ada yang diberi tahu.")).to_be_visible()
    expect(official.get_by_test_id("low-contacts")).to_have_text("1")
    official.get_by_role("button", name="Konfirmasi dan kirim peringatan").click()
    expect(official.get_by_role("status")).to_contain_text("Peringatan sudah diantrekan")

    alerts = open_alerts(contact, server)
    expect(alerts).to_have_count(1, timeout=15_000)
    expect(alerts).to_contain_text("Kantor Camat Ilir Barat I (demo)")
    case.goto(server.url + "/alerts")
    # the case's own person is told the case status, and gets no contact alert
    expect(case.get_by_test_id("case-status-notice")).to_contain_text(
        "Petugas kesehatan mengonfirmasi kasus positif Anda"
    )
    expect(case.get_by_test_id("alert")).to_have_count(0)
