from playwright.sync_api import Page, expect

from tests.live import LiveServer


def test_staff_log_in_with_the_demo_credentials_and_see_their_dashboard(
    phone: Page, server: LiveServer
) -> None:
    email, password = server.credentials()["health_official"]
    phone.goto(server.url + "/dashboard")
    expect(phone).to_have_url(server.url + "/login?next=/dashboard")
    phone.get_by_label("Email").fill(email)
    phone.get_by_label("Kata sandi").fill(password)
    phone.get_by_role("button", name="Masuk").click()
    expect(phone).to_have_url(server.url + "/dashboard")
    expect(phone.get_by_test_id("whoami")).to_contain_text("Petugas kesehatan")
    expect(phone.get_by_text("Kasus positif")).to_be_visible()
    phone.get_by_role("button", name="Keluar").click()
    expect(phone.get_by_role("link", name="Masuk").first).to_be_visible()


def test_a_wrong_password_shows_a_readable_error(phone: Page, server: LiveServer) -> None:
    phone.goto(server.url + "/login")
    phone.get_by_label("Email").fill("admin@demo.singgah.id")
    phone.get_by_label("Kata sandi").fill("certainly wrong")
    phone.get_by_role("button", name="Masuk").click()
    expect(phone.get_by_role("alert")).to_contain_text("wrong")
