"""Two real `singgah serve` processes on one PostgreSQL database (as two hosts would run):
occupancy is one truth, live streams hear the other process at once, and when one process is
killed mid-load nothing it acknowledged is lost and the survivor keeps serving and running jobs.
A `singgah worker` process leaves alone what another sender has claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from checkin.tables import visits
from exposure.outbox import queue_notifications, subscribe
from tests.conftest import database_copy, require_engine, settings_for, template_of
from tests.factories import bearer_for, make_user, make_venue, poster_token
from tests.live import ROOT, LiveServer, live_server
from tests.pushservice import Device, PushService
from web.accounts import Role
from web.clock import SystemClock
from web.database import open_database
from web.keyring import venue_key_encryption_key
from web.push import build_sender
from web.routes_checkin import STREAM_REFRESH_SECONDS
from web.scopes import assign_manager

# Without a notice from the other process, a stream sees a change only at its next periodic
# re-read, up to STREAM_REFRESH_SECONDS after its last read: checking in right after an
# event, that is nearly the whole period. A notice brings it in well under half of it.
PROMPT_SECONDS = STREAM_REFRESH_SECONDS / 2


@dataclass
class Venue:
    id: int
    token: str
    manager: dict[str, str]


@pytest.fixture
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    require_engine("postgresql")
    with database_copy("postgresql", template_of("postgresql", request), tmp_path) as url:
        yield url


@pytest.fixture
def secret(tmp_path: Path, shared_database: str) -> str:
    return settings_for(tmp_path, shared_database).secret_key.reveal()


async def seeded_venue(url: str, secret: str, tmp_path: Path) -> Venue:
    """A venue with a poster token and a manager's API headers, written to the database the
    servers share (before they start: they find its signing key)."""
    db = open_database(url)
    await db.connect()
    try:
        kek = venue_key_encryption_key(settings_for(tmp_path, url))
        venue = await make_venue(db, kek, capacity=1000)
        manager = await make_user(db, Role.VENUE_MANAGER)
        await assign_manager(db, manager, venue.id)
        return Venue(venue.id, await poster_token(db, kek, venue), await bearer_for(db, manager))
    finally:
        await db.disconnect()


@contextlib.contextmanager
def two_servers(
    tmp_path: Path, url: str, secret: str, **settings: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two `singgah serve` processes, each with its own data folder (as on two hosts), one
    secret key and one database."""
    env = {
        "SINGGAH_SECRET_KEY": secret,
        "SINGGAH_RATE_LIMIT_IP_PER_MINUTE": "100000",
        "SINGGAH_RATE_LIMIT_VISITOR_PER_MINUTE": "100000",
        **settings,
    }
    with (
        live_server(tmp_path / "data-a", url, demo=False, env=env) as a,
        live_server(tmp_path / "data-b", url, demo=False, env=env) as b,
    ):
        yield a, b


async def open_visits(url: str, venue_id: int) -> int:
    """Open visits at the venue, counted in the database itself."""
    db = open_database(url)
    await db.connect()
    try:
        now = int(time.time())
        return await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(visits)
            .where(
                visits.c.venue_id == venue_id,
                visits.c.ended_by.is_(None),
                visits.c.ends_at > now,
                visits.c.checked_in_at <= now,
            )
        )
    finally:
        await db.disconnect()


async def new_visitor(http: httpx.AsyncClient, server: LiveServer) -> dict[str, str]:
    created = await http.post(f"{server.url}/api/visitors")
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


async def check_in(
    http: httpx.AsyncClient, server: LiveServer, venue: Venue, visitor: dict[str, str]
) -> httpx.Response:
    return await http.post(
        f"{server.url}/api/checkins", json={"token": venue.token}, headers=visitor
    )


async def occupancy_events(response: httpx.Response) -> AsyncIterator[dict]:
    """The data of each ``occupancy`` Server-Sent Event, as it arrives."""
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "occupancy":
            yield json.loads(line.removeprefix("data: "))


async def current(http: httpx.AsyncClient, server: LiveServer, venue: Venue) -> int:
    answer = await http.get(f"{server.url}/api/venues/{venue.id}/occupancy", headers=venue.manager)
    assert answer.status_code == 200, answer.text
    return answer.json()["current"]


def test_a_stream_on_one_process_follows_check_ins_through_the_other(
    tmp_path: Path, shared_database: str, secret: str
) -> None:
    venue = asyncio.run(seeded_venue(shared_database, secret, tmp_path))
    with two_servers(tmp_path, shared_database, secret) as (a, b):

        async def scenario() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                for server in (a, b, a):
                    answer = await check_in(http, server, venue, await new_visitor(http, server))
                    assert answer.status_code == 201, answer.text
                assert await current(http, a, venue) == await current(http, b, venue) == 3
                assert await open_visits(shared_database, venue.id) == 3

                # Made first: each check-in follows a stream event at once (PROMPT_SECONDS).
                people = [await new_visitor(http, b) for _ in range(3)]
                stream_url = f"{a.url}/api/venues/{venue.id}/occupancy/stream"
                async with http.stream("GET", stream_url, headers=venue.manager) as stream:
                    events = occupancy_events(stream)
                    assert (await anext(events))["current"] == 3
                    checked_in = []
                    for expected, visitor in zip((4, 5, 6), people, strict=True):
                        started = time.monotonic()
                        answer = await check_in(http, b, venue, visitor)
                        assert answer.status_code == 201, answer.text
                        checked_in.append((visitor, answer.json()["visit"]["id"]))
                        event = await asyncio.wait_for(anext(events), STREAM_REFRESH_SECONDS * 2)
                        assert event["current"] == expected
                        assert time.monotonic() - started < PROMPT_SECONDS
                    # A check-out and closing time through B reach A's stream as promptly.
                    visitor, visit_id = checked_in[0]
                    started = time.monotonic()
                    out = await http.post(
                        f"{b.url}/api/checkins/{visit_id}/checkout", headers=visitor
                    )
                    assert out.status_code == 200, out.text
                    event = await asyncio.wait_for(anext(events), STREAM_REFRESH_SECONDS * 2)
                    assert event["current"] == 5
                    assert time.monotonic() - started < PROMPT_SECONDS
                    assert await current(http, a, venue) == await current(http, b, venue) == 5
                    assert await open_visits(shared_database, venue.id) == 5
                    started = time.monotonic()
                    closed = await http.post(
                        f"{b.url}/api/venues/{venue.id}/checkout-all", headers=venue.manager
                    )
                    assert closed.json() == {"checked_out": 5}
                    event = await asyncio.wait_for(anext(events), STREAM_REFRESH_SECONDS * 2)
                    assert event["current"] == 0
                    assert time.monotonic() - started < PROMPT_SECONDS
                    await events.aclose()
                assert await current(http, a, venue) == await current(http, b, venue) == 0
                assert await open_visits(shared_database, venue.id) == 0

        asyncio.run(scenario())


async def expired_visit(url: str, visitor_id: str, venue_id: int) -> int:
    """A visit whose time ran out an hour ago and that no job has marked yet."""
    db = open_database(url)
    await db.connect()
    try:
        now = int(time.time())
        return await db.fetch_val(
            sa.insert(visits)
            .values(
                visitor_id=visitor_id,
                venue_id=venue_id,
                checked_in_at=now - 7200,
                ends_at=now - 3600,
                ended_by=None,
                offline=False,
                source="scan",
                recorded_at=now - 7200,
            )
            .returning(visits.c.id)
        )
    finally:
        await db.disconnect()


async def ended_by(url: str, visit_id: int) -> str | None:
    db = open_database(url)
    await db.connect()
    try:
        return await db.fetch_val(sa.select(visits.c.ended_by).where(visits.c.id == visit_id))
    finally:
        await db.disconnect()


async def visits_at(url: str, venue_id: int) -> list[tuple[int, str]]:
    db = open_database(url)
    await db.connect()
    try:
        rows = await db.fetch_all(
            sa.select(visits.c.id, visits.c.visitor_id).where(visits.c.venue_id == venue_id)
        )
        return [(row["id"], row["visitor_id"]) for row in rows]
    finally:
        await db.disconnect()


def test_killing_one_process_mid_load_loses_nothing_acknowledged_and_jobs_go_on(
    tmp_path: Path, shared_database: str, secret: str
) -> None:
    venue = asyncio.run(seeded_venue(shared_database, secret, tmp_path))
    people = 120
    with two_servers(tmp_path, shared_database, secret, SINGGAH_JOB_INTERVAL_SECONDS="1") as (
        a,
        b,
    ):

        async def scenario() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                visitors = await asyncio.gather(*(new_visitor(http, a) for _ in range(people)))
                acknowledged: dict[int, int] = {}  # person: the visit they were answered
                refused_by_b = 0
                queue = iter(range(people))
                a_third_in, killed = asyncio.Event(), asyncio.Event()

                async def person(n: int) -> None:
                    nonlocal refused_by_b
                    # Half go to B; when B is gone they try again at A, as a phone would.
                    for server in (b, a) if n % 2 else (a,):
                        if server is b and killed.is_set():
                            continue
                        try:
                            answer = await check_in(http, server, venue, visitors[n])
                        except httpx.TransportError:
                            refused_by_b += 1
                            continue
                        assert answer.status_code in (200, 201), answer.text
                        acknowledged[n] = answer.json()["visit"]["id"]
                        if len(acknowledged) >= people // 3:
                            a_third_in.set()
                        return

                async def load() -> None:
                    for n in queue:
                        await person(n)

                async def killer() -> None:
                    await a_third_in.wait()
                    os.kill(b.process.pid, signal.SIGKILL)
                    b.process.wait()
                    killed.set()

                await asyncio.gather(killer(), *(load() for _ in range(8)))
                assert b.process.returncode == -signal.SIGKILL
                assert len(acknowledged) == people  # each got an answer, from B or else A
                assert refused_by_b > 0  # B died with requests in flight
                rows = await visits_at(shared_database, venue.id)
                # Nothing acknowledged is lost, and nobody is in twice (a check-in that B
                # committed but could not answer is the same visit when sent again to A).
                assert set(acknowledged.values()) <= {visit_id for visit_id, _ in rows}
                assert len({visitor for _, visitor in rows}) == len(rows) == people
                assert await current(http, a, venue) == people
                assert await open_visits(shared_database, venue.id) == people

                # The survivor runs the jobs alone now: an expired visit is marked at once.
                someone = (await http.post(f"{a.url}/api/visitors")).json()["visitor_id"]
                visit_id = await expired_visit(shared_database, someone, venue.id)
                for _ in range(100):
                    if await ended_by(shared_database, visit_id) == "auto":
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the survivor's jobs did not auto-check-out the visit")

        asyncio.run(scenario())


async def queue_alerts(url: str, devices: list[Device]) -> None:
    """One notification for each device's owner."""
    db = open_database(url)
    await db.connect()
    try:
        for n, device in enumerate(devices):
            keys = device.keys()
            await subscribe(
                db, "visitor", f"v{n}", device.endpoint, keys["p256dh"], keys["auth"], 1
            )
        notice = json.dumps({"kind": "venue_alert", "venue_name": "Pasar 16 Ilir"})
        rows = [
            {
                "recipient_kind": "visitor",
                "recipient_id": f"v{n}",
                "kind": "venue_alert",
                "payload": notice,
                "dedupe_key": f"alert-{n}",
                "created_at": 1,
            }
            for n in range(len(devices))
        ]
        await queue_notifications(db, rows)
    finally:
        await db.disconnect()


def worker_once(url: str, secret: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SINGGAH_DATABASE_URL": url,
        "SINGGAH_SECRET_KEY": secret,
        "SINGGAH_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "worker", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_sender_process_leaves_alone_what_another_has_claimed(
    tmp_path: Path, shared_database: str, secret: str
) -> None:
    async def scenario(service: PushService) -> None:
        devices = [service.device(f"phone-{n}") for n in range(40)]
        await queue_alerts(shared_database, devices)
        db = open_database(shared_database)
        await db.connect()
        sender = build_sender(db, settings_for(tmp_path, shared_database), SystemClock().now)
        try:
            # This process claims half, and is still sending when another sender starts.
            await sender.fan_out()
            claimed = await sender.claim(20)
            second = await asyncio.to_thread(
                worker_once, shared_database, secret, tmp_path / "data-worker"
            )
            assert second.returncode == 0, second.stderr
            assert json.loads(second.stdout.splitlines()[-1]) == {"delivered": 20}
            mine = {item.subscription.endpoint for item in claimed}
            for device in devices:
                assert len(service.payloads(device.name)) == (device.endpoint not in mine)
            for item in claimed:  # this sender sends its own: one push for everyone
                assert (await sender.send(item))[0] == 201
            assert all(len(service.payloads(device.name)) == 1 for device in devices)
        finally:
            await sender.aclose()
            await db.disconnect()

    with PushService() as service:
        asyncio.run(scenario(service))
