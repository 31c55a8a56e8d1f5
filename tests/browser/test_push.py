"""Issue 7 in a real browser: after a check-in the visit page offers alerts; a confirmed case puts
an exposure alert in the contact's in-app inbox, and the running server pushes it to the
contact's device (a push service on loopback that decrypts it)."""

import time

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_exposure import open_alerts, phone_checks_in
from tests.live import LiveServer
from tests.pushservice import PushService


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


def test_the_inbox_receives_an_exposure_alert_and_it_is_pushed(
    browser: Browser, server: LiveServer
) -> None:
    case = phone_checks_in(browser, server)
    contact = phone_checks_in(browser, server)
    expect(contact.get_by_role("button", name="Nyalakan peringatan")).to_be_visible()
    with PushService() as service:
        device = service.device("contact-phone")
        subscribed = contact.request.post(
            server.url + "/api/push/subscriptions",
            data=device.subscription(),
            headers={"X-CSRF-Token": csrf_of(contact)},
        )
        assert subscribed.status == 201, subscribed.text()

        email, password = server.credentials()["health_official"]
        official = browser.new_context(locale="id-ID").new_page()
        official.goto(server.url + "/login?next=/cases")
        official.get_by_label("Email").fill(email)
        official.get_by_label("Kata sandi").fill(password)
        official.get_by_role("button", name="Masuk").click()
        saved = case.request.put(
            server.url + "/api/me/profile",
            data={"phone": "081298765400"},
            headers={"X-CSRF-Token": csrf_of(case)},
        )
        assert saved.ok, saved.text()
        headers = {"X-CSRF-Token": csrf_of(official)}
        today = official.get_by_label("Tanggal hasil positif").get_attribute("max") or ""
        created = official.request.post(
            server.url + "/api/cases",
            data={"phone": "081298765400", "positive_on": today},
            headers=headers,
        )
        assert created.status == 201, created.text()
        run = official.request.post(
            server.url + "/api/exposure-runs",
            data={"case_ids": [created.json()["id"]], "dry_run": False},
            headers=headers,
        )
        assert run.status == 201, run.text()

        expect(open_alerts(contact, server)).to_have_count(1, timeout=15_000)
        inbox = contact.request.get(server.url + "/api/me/notifications").json()
        # They overlapped for minutes, not 15: a low-risk contact, warned about the venue.
        assert [n["kind"] for n in inbox] == ["venue_alert"]
        assert inbox[0]["title"].startswith("Kasus positif mengunjungi Kantor Camat")

        deadline = time.monotonic() + 20
        while not service.payloads("contact-phone") and time.monotonic() < deadline:
            time.sleep(0.2)
        [pushed] = service.payloads("contact-phone")
        assert pushed["kind"] == "venue_alert" and pushed["url"] == "/alerts"
        assert pushed["id"] == inbox[0]["id"]
        assert service.rejected == []
