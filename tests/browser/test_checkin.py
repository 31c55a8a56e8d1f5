"""Issue 4 in a real browser: a phone opens a poster URL, checks in, sees the venue, checks out;
the venue manager's live page follows the count over Server-Sent Events."""

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PHONE
from tests.live import LiveServer


def signed_in_manager(browser: Browser, server: LiveServer) -> Page:
    email, password = server.credentials()["venue_manager"]
    page = browser.new_context(viewport={"width": 1024, "height": 768}, locale="id-ID").new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    return page


def test_a_phone_checks_in_from_the_poster_url_and_the_manager_sees_it(
    browser: Browser, phone: Page, server: LiveServer
) -> None:
    manager = signed_in_manager(browser, server)
    manager.goto(server.url + "/venues")
    manager.get_by_role("link", name="Kantor Camat Ilir Barat I (demo)").click()
    manager.get_by_role("link", name="Okupansi langsung").click()
    count = manager.get_by_test_id("occupancy")
    before = int(count.inner_text())

    phone.goto(server.demo_checkin_url())
    expect(phone.get_by_test_id("venue-name")).to_have_text("Kantor Camat Ilir Barat I (demo)")
    phone.get_by_role("button", name="Check-in sekarang").click()
    expect(phone.get_by_test_id("checked-in")).to_be_visible()
    expect(phone.get_by_test_id("venue-name")).to_have_text("Kantor Camat Ilir Barat I (demo)")
    assert phone.viewport_size == PHONE

    expect(count).to_have_text(str(before + 1), timeout=10_000)  # pushed, not reloaded

    phone.get_by_role("button", name="Check-out").click()
    expect(phone.get_by_test_id("checked-out")).to_be_visible()
    expect(count).to_have_text(str(before), timeout=10_000)
    phone.locator("#main").get_by_role("link", name="Kunjungan saya").click()
    expect(phone.get_by_test_id("visit")).to_have_count(1)
    manager.context.close()
