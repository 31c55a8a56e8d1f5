"""The sender against a real push service on loopback (tests/pushservice.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from databases import Database

from exposure.errors import PayloadTooLarge
from exposure.outbox import Backoff, Sender, queue_notifications, subscribe
from exposure.push import PushEncoder, Subscription, VapidKeys
from exposure.tables import push_deliveries, push_subscriptions
from tests.conftest import FrozenClock
from tests.pushservice import STALL, Device, PushService

NOW = 1_700_000_000


@pytest.fixture
def service() -> Iterator[PushService]:
    with PushService() as running:
        yield running


@pytest.fixture(scope="module")
def encoder() -> PushEncoder:
    return PushEncoder(VapidKeys.generate(), "mailto:ops@singgah.example")


async def no_venues(db: Database, kind: str, recipient: str) -> list[tuple[str, str]]:
    return []


def make_sender(db: Database, encoder: PushEncoder, clock: FrozenClock, **options) -> Sender:
    return Sender(db, encoder, no_venues, clock.now, **options)


async def subscribed(db: Database, service: PushService, visitor: str, name: str) -> Device:
    device = service.device(name)
    keys = device.keys()
    await subscribe(db, "visitor", visitor, device.endpoint, keys["p256dh"], keys["auth"], NOW)
    return device


async def alert(db: Database, visitor: str, key: str, kind: str = "exposure_alert") -> None:
    payload = {"kind": kind, "venue_name": "Pasar 16 Ilir", "exposed_from": NOW, "risk": "close"}
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": "visitor",
                "recipient_id": visitor,
                "kind": kind,
                "payload": json.dumps(payload),
                "dedupe_key": key,
                "created_at": NOW,
            }
        ],
    )


async def states(db: Database) -> list[tuple[str, int]]:
    rows = await db.fetch_all(
        sa.select(push_deliveries.c.state, push_deliveries.c.attempts).order_by(
            push_deliveries.c.id
        )
    )
    return [(row[0], row[1]) for row in rows]


async def test_a_delivered_alert_decrypts_to_the_expected_json(db, clock, service, encoder):
    await subscribed(db, service, "v-deliver", "deliver")
    await alert(db, "v-deliver", "k-deliver")
    sender = make_sender(db, encoder, clock)
    try:
        assert await sender.run_until_idle() == {"delivered": 1}
    finally:
        await sender.aclose()
    [payload] = service.payloads("deliver")
    assert payload == {
        "id": payload["id"],
        "kind": "exposure_alert",
        "url": "/alerts",
        "venue_name": "Pasar 16 Ilir",
        "exposed_from": NOW,
        "risk": "close",
    }
    [received] = [r for r in service.received if r.device == "deliver"]
    assert received.headers["urgency"] == "high"
    assert int(received.headers["ttl"]) > 0
    assert received.claims["aud"] == service.origin  # the port is kept (RFC 8292)
    assert await states(db) == [("delivered", 1)]


async def test_every_device_of_the_person_gets_it(db, clock, service, encoder):
    await subscribed(db, service, "v-two", "phone")
    await subscribed(db, service, "v-two", "laptop")
    await alert(db, "v-two", "k-two", kind="venue_alert")
    sender = make_sender(db, encoder, clock)
    try:
        assert await sender.run_until_idle() == {"delivered": 2}
    finally:
        await sender.aclose()
    assert service.payloads("phone")[0]["kind"] == "venue_alert"
    assert len(service.payloads("laptop")) == 1


async def test_410_and_404_remove_the_subscription(db, clock, service, encoder):
    await subscribed(db, service, "v-gone", "gone")
    await subscribed(db, service, "v-gone", "unknown")
    await subscribed(db, service, "v-gone", "kept")
    service.answer("gone", 410)
    service.answer("unknown", 404)
    await alert(db, "v-gone", "k-gone")
    sender = make_sender(db, encoder, clock)
    try:
        assert await sender.run_until_idle() == {"gone": 2, "delivered": 1}
    finally:
        await sender.aclose()
    left = await db.fetch_all(sa.select(push_subscriptions.c.endpoint))
    assert [row[0] for row in left] == [service.devices["kept"].endpoint]
    assert await states(db) == [("delivered", 1)]  # the forgotten devices' deliveries went too


async def test_500_and_429_are_retried_with_backoff_and_end_delivered(db, clock, service, encoder):
    await subscribed(db, service, "v-retry", "retry")
    service.answer("retry", 500, 429)
    await alert(db, "v-retry", "k-retry")
    sender = make_sender(db, encoder, clock, backoff=Backoff(base_seconds=30, cap_seconds=600))
    try:
        assert await sender.run_until_idle() == {"pending": 1}
        assert await sender.run_until_idle() == {}  # not due before the backoff
        clock.advance(seconds=30)
        assert await sender.run_until_idle() == {"pending": 1}  # 429 with Retry-After: 60
        clock.advance(seconds=59)
        assert await sender.run_until_idle() == {}
        clock.advance(seconds=1)
        assert await sender.run_until_idle() == {"delivered": 1}
    finally:
        await sender.aclose()
    assert await states(db) == [("delivered", 3)]


def test_backoff_doubles_up_to_its_cap():
    backoff = Backoff(base_seconds=30, cap_seconds=600)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, 600]
    assert backoff.delay(1, retry_after=90) == 90


async def test_a_sender_killed_before_recording_does_not_lose_the_alert(
    db, clock, service, encoder
):
    await subscribed(db, service, "v-killed", "killed")
    await alert(db, "v-killed", "k-killed")
    doomed = make_sender(db, encoder, clock, lease_seconds=120)
    survivor = make_sender(db, encoder, clock, lease_seconds=120)
    try:
        await doomed.fan_out()
        [item] = await doomed.claim(10)
        assert await doomed.send(item) == (201, None)  # ... and dies before recording
        assert await survivor.run_until_idle() == {}  # the lease still holds
        clock.advance(seconds=121)
        assert await survivor.run_until_idle() == {"delivered": 1}
    finally:
        await doomed.aclose()
        await survivor.aclose()
    assert len(service.payloads("killed")) == 2  # at least once: sent again, not lost


async def test_two_senders_deliver_each_notification_once(db, clock, service, encoder):
    devices = [await subscribed(db, service, f"v-pair-{n}", f"pair-{n}") for n in range(60)]
    for n in range(60):
        await alert(db, f"v-pair-{n}", f"k-pair-{n}")
    first = make_sender(db, encoder, clock)
    second = make_sender(db, encoder, clock)
    try:
        results = await asyncio.gather(first.run_until_idle(20), second.run_until_idle(20))
    finally:
        await first.aclose()
        await second.aclose()
    assert sum(r.get("delivered", 0) for r in results) == 60
    assert all(len(service.payloads(device.name)) == 1 for device in devices)


async def test_a_stalled_push_service_does_not_hold_up_the_others(db, clock, service, encoder):
    await subscribed(db, service, "v-slow", "slow")
    await subscribed(db, service, "v-fast", "fast")
    service.answer("slow", STALL)
    await alert(db, "v-slow", "k-slow")
    await alert(db, "v-fast", "k-fast")
    sender = make_sender(db, encoder, clock, timeout_seconds=0.5)
    started = time.monotonic()
    try:
        assert await sender.run_once() == {"delivered": 1, "pending": 1}
    finally:
        await sender.aclose()
    assert time.monotonic() - started < 5
    assert len(service.payloads("fast")) == 1


async def test_a_notification_too_large_to_push_fails_alone(db, clock, service, encoder):
    await subscribed(db, service, "v-big", "big")
    await subscribed(db, service, "v-fine", "fine")
    too_large = {"kind": "venue_alert", "venue_name": "x" * 5000}
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": "visitor",
                "recipient_id": "v-big",
                "kind": "venue_alert",
                "payload": json.dumps(too_large),
                "dedupe_key": "k-big",
                "created_at": NOW,
            }
        ],
    )
    await alert(db, "v-fine", "k-fine")
    sender = make_sender(db, encoder, clock)
    try:
        assert await sender.run_until_idle() == {"failed": 1, "delivered": 1}
    finally:
        await sender.aclose()
    assert await states(db) == [("failed", 1), ("delivered", 1)]
    assert (service.payloads("big"), len(service.payloads("fine"))) == ([], 1)


def test_payloads_over_4096_bytes_are_refused_before_encrypting(service, encoder):
    device = service.device("big")
    keys = device.keys()
    target = Subscription(1, device.endpoint, keys["p256dh"], keys["auth"])
    with pytest.raises(PayloadTooLarge):
        encoder.encrypt(b"x" * 4097, target)
    assert len(encoder.encrypt(b"x" * 4096, target)) > 4096


def test_the_vapid_key_is_made_once_and_kept(tmp_path):
    path = tmp_path / "data" / "vapid_private.pem"
    first = VapidKeys.load_or_create(path)
    again = VapidKeys.load_or_create(path)
    assert first.application_server_key() == again.application_server_key()
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["vapid_private.pem"]
