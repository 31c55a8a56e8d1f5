"""Micro-benchmark: `databases` 0.9's own SQLite backend against Singgah's pooled backend.

The same workload on each, in one run: many concurrent tasks, each like a check-in request
(one indexed read, then one insert in a transaction). Reports requests/s, p50/p99 latency and
failed requests ("database is locked"), then the ratio pooled / stock.

    python -m bench.db_backend [--requests 3000] [--concurrency 50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import databases

from web.database import open_database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS venues (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, venue_id INTEGER NOT NULL, "
    "visitor TEXT NOT NULL, at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS visits_venue ON visits (venue_id, at)",
)


async def prepare(db: databases.Database) -> None:
    for statement in SCHEMA:
        await db.execute(statement)
    await db.execute("PRAGMA journal_mode=WAL")
    for venue in range(100):
        await db.execute("INSERT INTO venues (id, name) VALUES (:i, :n)", {"i": venue, "n": "v"})


async def one_request(db: databases.Database, n: int) -> None:
    async with db.transaction():
        await db.fetch_one("SELECT name FROM venues WHERE id = :i", {"i": n % 100})
        await db.execute(
            "INSERT INTO visits (venue_id, visitor, at) VALUES (:v, :p, :t)",
            {"v": n % 100, "p": f"visitor-{n}", "t": n},
        )


async def drive(db: databases.Database, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            n = queue.get_nowait()
            began = time.perf_counter()
            try:
                await one_request(db, n)
            except Exception:  # the stock backend fails with "database is locked"
                failures += 1
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests_per_s": round((requests - failures) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "failed": failures,
    }


async def measure(kind: str, folder: Path, requests: int, concurrency: int) -> dict[str, float]:
    url = f"sqlite:///{folder / (kind + '.db')}"
    db = databases.Database(url) if kind == "stock" else open_database(url)
    await db.connect()
    try:
        await prepare(db)
        return await drive(db, requests, concurrency)
    finally:
        await db.disconnect()


async def main_async(requests: int, concurrency: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        stock = await measure("stock", Path(folder), requests, concurrency)
        pooled = await measure("pooled", Path(folder), requests, concurrency)
    return {
        "workload": {"requests": requests, "concurrency": concurrency},
        "stock": stock,
        "pooled": pooled,
        "throughput_ratio": round(pooled["requests_per_s"] / max(stock["requests_per_s"], 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    result = asyncio.run(main_async(args.requests, args.concurrency))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'backend':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for kind in ("stock", "pooled"):
        row = result[kind]
        print(
            f"{kind:<8} {row['requests_per_s']:>9} {row['p50_ms']:>8} {row['p99_ms']:>8} "
            f"{row['failed']:>7}"
        )
    print(f"pooled / stock throughput: {result['throughput_ratio']}x")


if __name__ == "__main__":
    main()
