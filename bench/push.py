"""Push fan-out: notifications per second end to end, beside encryption alone (the ceiling).

N visitors each with one device and one queued exposure alert; a local push service in its own
process on loopback (tests/pushservice.py's lean receiver: it checks each POST's VAPID JWT,
content encoding and TTL, does not decrypt, answers 201) receives them. End to end is the
sender's fan-out, claims, RFC 8291 encryption, HTTP POSTs and recorded states, on SQLite or
PostgreSQL; encryption alone is `PushEncoder.request` in a loop, measured in the same run just
before and just after the end-to-end part (the ceiling is their mean: the host is shared).

    python -m bench.push [--notifications 20000] [--concurrency 64] [--batch 1000]
                         [--database URL] [--loop uvloop|asyncio] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from exposure.outbox import Sender, push_payload, queue_notifications
from exposure.push import PushEncoder, Subscription, VapidKeys
from exposure.runs import insert_rows
from exposure.tables import push_deliveries, push_subscriptions
from tests.live import free_port
from tests.pushservice import Device
from web.database import Database, open_database
from web.migrations import migrate

ENCRYPT_SAMPLE = 5000


async def no_venues(db: Database, kind: str, recipient: str) -> list[tuple[str, str]]:
    return []  # visitors' devices are joined by the sender itself


def start_push_service() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.pushservice", str(port)])
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(origin + "/")
            return process, origin
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the push service did not start")


def accepted_by(origin: str) -> int:
    """How many pushes the push service accepted (201), by its own count."""
    return httpx.get(origin + "/stats").json()["accepted"]


async def seed(db: Database, count: int, origin: str, keys: dict[str, str], now: int) -> None:
    await insert_rows(
        db,
        push_subscriptions,
        [
            {
                "owner_kind": "visitor",
                "owner_id": f"v{n}",
                "endpoint": f"{origin}/push/d{n}",
                "created_at": now,
                **keys,
            }
            for n in range(count)
        ],
    )
    payload = {"kind": "exposure_alert", "venue_name": "Pasar 16 Ilir", "exposed_from": now}
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": "visitor",
                "recipient_id": f"v{n}",
                "kind": "exposure_alert",
                "payload": json.dumps(payload),
                "dedupe_key": f"bench:{n}",
                "created_at": now,
            }
            for n in range(count)
        ],
    )


def encryption_rate(encoder: PushEncoder, origin: str, keys: dict[str, str], count: int) -> float:
    payload = push_payload("exposure_alert", json.dumps({"venue_name": "Pasar 16 Ilir"}), 1)
    targets = [
        Subscription(n, f"{origin}/push/d{n}", keys["p256dh"], keys["auth"]) for n in range(count)
    ]
    began = time.perf_counter()
    for target in targets:
        encoder.request(payload, target, ttl=86400, urgency="high")
    return count / (time.perf_counter() - began)


async def run(count: int, concurrency: int, database: str | None, batch: int) -> dict[str, object]:
    process, origin = start_push_service()
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = database or f"sqlite:///{Path(folder) / 'bench.db'}"
            db = open_database(url)
            await db.connect()
            try:
                now = datetime.now(UTC)
                await migrate(db, now)
                keys = Device("bench", origin).keys()
                await seed(db, count, origin, keys, int(now.timestamp()))
                encoder = PushEncoder(VapidKeys.generate(), "mailto:bench@singgah.example")
                sample = min(count, ENCRYPT_SAMPLE)
                before = encryption_rate(encoder, origin, keys, sample)
                sender = Sender(
                    db, encoder, no_venues, lambda: datetime.now(UTC), concurrency=concurrency
                )
                began = time.perf_counter()
                try:
                    counts = await sender.run_until_idle(limit=batch)
                finally:
                    await sender.aclose()
                elapsed = time.perf_counter() - began
                after = encryption_rate(encoder, origin, keys, sample)
                accepted = await asyncio.to_thread(accepted_by, origin)
                delivered = await db.fetch_val(
                    sa.select(sa.func.count())
                    .select_from(push_deliveries)
                    .where(push_deliveries.c.state == "delivered")
                )
            finally:
                await db.disconnect()
    finally:
        process.terminate()
        process.wait(10)
    end_to_end = delivered / elapsed
    ceiling = (before + after) / 2
    return {
        "notifications": count,
        "delivered": delivered,
        "accepted_by_push_service": accepted,
        "outcomes": counts,
        "engine": url.split(":")[0],
        "concurrency": concurrency,
        "batch": batch,
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "seconds": round(elapsed, 1),
        "end_to_end_per_s": round(end_to_end),
        "encryption_only_per_s": round(ceiling),
        "encryption_before_after": [round(before), round(after)],
        "ratio": round(end_to_end / ceiling, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database", help="an empty database URL (default: a temporary SQLite)")
    parser.add_argument("--batch", type=int, default=1000, help="deliveries claimed per round")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the sender's event loop (default: uvloop, as in serve and singgah worker)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = run(args.notifications, args.concurrency, args.database, args.batch)
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(work)
    else:
        result = asyncio.run(work)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
