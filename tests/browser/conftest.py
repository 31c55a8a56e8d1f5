"""Real headless Chromium (Debian's package) driven by Playwright for Python.

Never `playwright install`: the browser is /usr/bin/chromium. It gets its own HOME and XDG
folders under a temp folder so it writes nothing into the real home.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserType, Page, sync_playwright

from tests.live import LiveServer, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def shoot(tmp_path: Path) -> Callable[[Page, str], None]:
    """``shoot(page, name)``: a full-page screenshot, into the docs only when
    SINGGAH_UPDATE_SCREENSHOTS=1, so an ordinary run changes no file."""
    folder = DOCS_SCREENSHOTS if os.environ.get("SINGGAH_UPDATE_SCREENSHOTS") == "1" else tmp_path

    def screenshot(page: Page, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return screenshot


def launch_chromium(chromium: BrowserType, home: Path, extra_flags: Sequence[str] = ()) -> Browser:
    """Debian's Chromium with its own HOME and XDG folders under ``home``; ``extra_flags`` for
    a test that needs a differently started browser (a fake camera)."""
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    return chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, *extra_flags], env=env, headless=True
    )


# Module scope, and browser tests run last (tests/conftest.py): Playwright's sync API keeps an
# event loop running in the main thread while it is open, which async tests cannot share.
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright.chromium, tmp_path_factory.mktemp("browser-home"))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("live") / "data") as running:
        yield running


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, locale="id-ID", is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()
