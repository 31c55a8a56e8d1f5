"""Fixtures shared by the whole suite.

Every database test runs on SQLite (a fresh file per test, copied from a migrated template) and,
where ``SINGGAH_TEST_POSTGRES_URL`` is set, on PostgreSQL too (a fresh database per test created
from a migrated template database). Requests go through the app in-process with
``httpx.AsyncClient(transport=httpx.ASGITransport(app))``.

Under CI (``CI`` set) a skipped test is a failure: CI has PostgreSQL, ``../shared/`` and
Chromium, so nothing may quietly not run there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from tests.factories import START
from venues.keys import ensure_signing_key
from venues.regions import seed_regions_if_empty
from web.app import create_app
from web.database import Database, open_database
from web.keyring import venue_key_encryption_key
from web.migrations import migrate
from web.settings import Secret, Settings

POSTGRES_URL = os.environ.get("SINGGAH_TEST_POSTGRES_URL", "")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


class FrozenClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


def is_browser_test(item: pytest.Item) -> bool:
    return "tests/browser/" in item.path.as_posix()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last, each marked: see tests/browser/conftest.py."""
    for item in items:
        if is_browser_test(item):
            item.add_marker(pytest.mark.browser)
    items.sort(key=is_browser_test)


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # An expected failure is reported as skipped with `wasxfail`: it ran, so it counts as run.
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _skipped and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"CI: {len(_skipped)} tests were skipped; CI must run them all:")
            for nodeid in _skipped[:20]:
                reporter.write_line(f"  {nodeid}")
        session.exitstatus = 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _migrated(url: str) -> None:
    db = open_database(url)
    await db.connect()
    try:
        await migrate(db, START)
        await seed_regions_if_empty(db)
    finally:
        await db.disconnect()


def _postgres_url(database: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrated(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"singgah_tpl_{os.getpid()}"
    asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {name}"))
    asyncio.run(_postgres_admin(f"CREATE DATABASE {name}"))
    asyncio.run(_migrated(_postgres_url(name)))
    yield name
    asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


ENGINES = ["sqlite", "postgresql"]


def require_engine(engine: str) -> str:
    if engine == "postgresql" and not POSTGRES_URL:
        pytest.skip("SINGGAH_TEST_POSTGRES_URL is not set: PostgreSQL tests need a server")
    return engine


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return require_engine(request.param)


def template_of(engine: str, request: pytest.FixtureRequest) -> str:
    """The migrated template: a SQLite file's path or a PostgreSQL database's name."""
    if engine == "sqlite":
        return str(request.getfixturevalue("sqlite_template"))
    return request.getfixturevalue("postgres_template")


@contextlib.contextmanager
def database_copy(engine: str, template: str, folder: Path) -> Iterator[str]:
    """The URL of a fresh copy of ``template`` (see `template_of`), dropped afterwards."""
    name = f"singgah_t_{uuid.uuid4().hex[:12]}"
    if engine == "sqlite":
        path = folder / f"{name}.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    asyncio.run(_postgres_admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield _postgres_url(name)
    finally:
        asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def database_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    with database_copy(engine, template_of(engine, request), tmp_path) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    await database.connect()
    yield database
    await database.disconnect()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def settings_for(folder: Path, database_url: str, **overrides: Any) -> Settings:
    """The tests' settings (each test its own folder and database), with ``overrides``."""
    defaults: dict[str, Any] = {
        "data_dir": folder / "data",
        "database_url": database_url,
        "base_url": "http://testserver",
        "secret_key": Secret("test-secret-key-" + "x" * 32),
    }
    return Settings(**{**defaults, **overrides})


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path, database_url)


@pytest.fixture
def kek(settings: Settings) -> bytes:
    """The key that seals poster signing keys, as the app derives it."""
    return venue_key_encryption_key(settings)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock, db: Database, kek: bytes) -> Starlette:
    """The app as `singgah serve` starts it: migrated, with a poster signing key."""
    await ensure_signing_key(db, START, kek)
    return create_app(settings, clock=clock, database=db)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
