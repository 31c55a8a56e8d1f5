"""`singgah worker --once`: the sender as its own process delivers what the outbox holds."""

import asyncio
import json

from exposure.outbox import queue_notifications, subscribe
from tests.pushservice import PushService
from tests.web.test_cli import singgah
from web.database import open_database


async def queue_one(url: str, endpoint: str, keys: dict[str, str]) -> None:
    db = open_database(url)
    await db.connect()
    try:
        await subscribe(db, "visitor", "v1", endpoint, keys["p256dh"], keys["auth"], 1)
        notice = {"kind": "venue_alert", "venue_name": "Pasar 16 Ilir"}
        await queue_notifications(
            db,
            [
                {
                    "recipient_kind": "visitor",
                    "recipient_id": "v1",
                    "kind": "venue_alert",
                    "payload": json.dumps(notice),
                    "dedupe_key": "cli",
                    "created_at": 1,
                }
            ],
        )
    finally:
        await db.disconnect()


def test_worker_once_sends_the_due_notifications(tmp_path) -> None:
    data_dir = tmp_path / "data"
    assert singgah(data_dir, "migrate").returncode == 0
    with PushService() as service:
        device = service.device("cli")
        asyncio.run(
            queue_one(f"sqlite:///{data_dir / 'singgah.db'}", device.endpoint, device.keys())
        )
        done = singgah(data_dir, "worker", "--once")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1]) == {"delivered": 1}
        [payload] = service.payloads("cli")
    assert payload["kind"] == "venue_alert" and payload["venue_name"] == "Pasar 16 Ilir"
    assert (data_dir / "vapid_private.pem").stat().st_mode & 0o077 == 0
