"""Exposure matching over a synthetic city: the engine against a hand-written single query.

Builds the city directly in the database after migrating it: ``--visits`` visits (5 million by
default) over 14 days at 20,000 venues whose popularity follows Zipf's law (weight 1/rank^s,
``--zipf`` s = 1 by default), by 1 million visitors; visit lengths are log-normal (median
45 min), capped at 12 hours as check-in caps them, and the visits still running are open (no
``ended_by``). Then for 100 and 1,000 random visitors registered as confirmed cases it times,
in the same run:

- ``baseline``: one plain SQL query that computes every contact and its longest overlap;
- ``match``: ``exposure.matching.match_contacts``;
- ``preview``: ``exposure.runs.run_exposures(..., dry_run=True)`` (matching, hotspots, venue
  facts and the run record).

and checks that the engine's contacts (visitor, risk, overlap) equal the baseline's, and the
preview's counts by risk the baseline's. Every query returns plain rows (``fetch_rows``).

    python -m bench.exposure [--visits 5000000] [--postgres URL] [--json]

The generated SQLite file is cached under ``bench/.cache/`` keyed by the parameters; a PostgreSQL
database is reused when it holds the same parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import random
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from exposure.cases import CaseRules, infectious_window
from exposure.matching import AEROSOL_TAIL_CAP_SECONDS, MatchRules, match_contacts
from exposure.runs import run_exposures
from web.database import Database, open_database
from web.migrations import migrate

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # fixed, so a cached city stays valid
CACHE = Path(__file__).parent / ".cache"
REGION = "16.71"
MEDIAN_VISIT_SECONDS = 45 * 60
MIN_VISIT_SECONDS = 5 * 60
MAX_VISIT_SECONDS = 12 * 3600  # SINGGAH_MAX_VISIT_HOURS' default
# The app's rules with the default settings: 15 min close, aerosol tail on, visits <= 12 h.
RULES = MatchRules(max_visit_seconds=MAX_VISIT_SECONDS)


@dataclass(frozen=True)
class City:
    visits: int
    venues: int
    visitors: int
    days: int
    seed: int
    zipf: float = 1.0

    @property
    def key(self) -> str:
        return (
            f"v{self.visits}-p{self.venues}-w{self.visitors}-d{self.days}-s{self.seed}"
            f"-z{self.zipf:g}"
        )


def visitor_id(n: int) -> str:
    return f"bench-{n:07d}"


def generate_visits(city: City) -> list[tuple]:
    """(visitor_id, venue_id, checked_in_at, ends_at, ended_by, offline, source, recorded_at),
    in check-in order."""
    rng = random.Random(city.seed)
    weights = (rank**-city.zipf for rank in range(1, city.venues + 1))
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    venue_of_rank = list(range(1, city.venues + 1))
    rng.shuffle(venue_of_rank)  # popular venues are not the first ids
    now = int(NOW.timestamp())
    first = now - city.days * 86400
    mu = math.log(MEDIAN_VISIT_SECONDS)
    rows = []
    for _ in range(city.visits):
        venue = venue_of_rank[bisect.bisect_left(cumulative, rng.random() * total)]
        start = rng.randrange(first, now)
        length = round(rng.lognormvariate(mu, 0.8))
        end = start + min(max(length, MIN_VISIT_SECONDS), MAX_VISIT_SECONDS)
        ended_by = None if end > now else "visitor"
        visitor = visitor_id(rng.randrange(city.visitors))
        rows.append((visitor, venue, start, end, ended_by, False, "scan", start))
    rows.sort(key=lambda row: row[2])
    return rows


def venue_rows(city: City) -> list[tuple]:
    created = int(NOW.timestamp()) - 365 * 86400
    return [
        (n, f"BENCH{n:05d}", f"Venue {n}", "shop", REGION, 30, "open", created, created)
        for n in range(1, city.venues + 1)
    ]


def visitor_rows(city: City) -> list[tuple]:
    created = int(NOW.timestamp()) - 365 * 86400
    return [(visitor_id(n), "device", created) for n in range(city.visitors)]


VENUE_COLUMNS = (
    "id, code, name, kind, region_code, default_visit_minutes, entry_policy, created_at, updated_at"
)
VISIT_COLUMNS = (
    "visitor_id, venue_id, checked_in_at, ends_at, ended_by, offline, source, recorded_at"
)
REGION_ROWS = [("16", "Sumatera Selatan", 1, None), (REGION, "Kota Palembang", 2, "16")]


async def migrated(url: str) -> None:
    db = open_database(url)
    await db.connect()
    try:
        await migrate(db, NOW)
    finally:
        await db.disconnect()


def build_sqlite(city: City, path: Path) -> None:
    """Migrate a fresh file and bulk-load the city (indexes dropped during the load)."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    asyncio.run(migrated(f"sqlite:///{partial}"))
    with sqlite3.connect(partial) as raw:
        raw.execute("PRAGMA journal_mode=OFF")
        raw.execute("PRAGMA synchronous=OFF")
        raw.executemany("INSERT INTO regions VALUES (?, ?, ?, ?)", REGION_ROWS)
        raw.executemany(
            f"INSERT INTO venues ({VENUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            venue_rows(city),
        )
        raw.executemany(
            "INSERT INTO visitors (id, kind, created_at) VALUES (?, ?, ?)", visitor_rows(city)
        )
        indexes = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'visits' "
            "AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            raw.execute(f"DROP INDEX {name}")
        raw.executemany(
            f"INSERT INTO visits ({VISIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            generate_visits(city),
        )
        for _, sql in indexes:
            raw.execute(sql)
    partial.rename(path)


async def build_postgres(city: City, url: str) -> None:
    """Migrate, then COPY the city in; indexes and foreign keys of visits are dropped during the
    load and rebuilt after it, then the database is vacuumed. A marker table remembers the
    parameters."""
    import asyncpg

    await migrated(url)
    raw = await asyncpg.connect(url)
    try:
        await raw.execute("CREATE TABLE IF NOT EXISTS bench_city (key TEXT NOT NULL)")
        if await raw.fetchval("SELECT key FROM bench_city") == city.key:
            return
        await raw.execute(
            "TRUNCATE bench_city, notifications, hotspots, exposures, exposure_runs, "
            "case_people, cases, visits, visitors, venues, regions CASCADE"
        )
        await raw.copy_records_to_table(
            "regions", records=REGION_ROWS, columns=["code", "name", "level", "parent_code"]
        )
        await raw.copy_records_to_table(
            "venues", records=venue_rows(city), columns=VENUE_COLUMNS.split(", ")
        )
        await raw.copy_records_to_table(
            "visitors", records=visitor_rows(city), columns=["id", "kind", "created_at"]
        )
        indexes = await raw.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'visits' "
            "AND indexname NOT LIKE '%pkey'"
        )
        keys = await raw.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE conrelid = 'visits'::regclass AND contype = 'f'"
        )
        for index in indexes:
            await raw.execute(f"DROP INDEX {index['indexname']}")
        for key in keys:
            await raw.execute(f"ALTER TABLE visits DROP CONSTRAINT {key['conname']}")
        await raw.copy_records_to_table(
            "visits", records=generate_visits(city), columns=VISIT_COLUMNS.split(", ")
        )
        for index in indexes:  # a partitioned table's definition says ON ONLY: not its days
            await raw.execute(index["indexdef"].replace(" ON ONLY ", " ON "))
        for key in keys:
            await raw.execute(
                f"ALTER TABLE visits ADD CONSTRAINT {key['conname']} {key['definition']}"
            )
        # VACUUM sets the visibility map, without which the covering index's "index-only"
        # scans fetch every heap row (1.8 s instead of 0.55 s for the 1,000-case baseline).
        # Autovacuum does the same for a live table, an insert-only one included.
        await raw.execute("VACUUM (ANALYZE)")
        await raw.execute("INSERT INTO bench_city VALUES ($1)", city.key)
    finally:
        await raw.close()


async def register_cases(db: Database, city: City, count: int, seed: int) -> list[int]:
    """``count`` random visitors as confirmed cases, positive on a random day of the last 12,
    with the app's infectious window; earlier bench cases are removed first."""
    rng = random.Random(seed)
    for table in ("exposure_runs", "case_people", "cases"):
        await db.execute(f"DELETE FROM {table}")
    today = NOW.date()
    case_ids = []
    for n in rng.sample(range(city.visitors), count):
        positive_on = today - timedelta(days=rng.randrange(12))
        start, end = infectious_window(positive_on, None, NOW, CaseRules())
        case_id = await db.fetch_val(
            "INSERT INTO cases (region_code, positive_on, window_start, window_end, status, "
            "source, created_at) VALUES (:region, :positive, :start, :end, 'confirmed', "
            "'official', :now) RETURNING id",
            {
                "region": REGION,
                "positive": date.isoformat(positive_on),
                "start": start,
                "end": end,
                "now": int(NOW.timestamp()),
            },
        )
        await db.execute(
            "INSERT INTO case_people (case_id, visitor_id) VALUES (:case, :visitor)",
            {"case": case_id, "visitor": visitor_id(n)},
        )
        case_ids.append(case_id)
    return case_ids


def earlier(a: str, b: str) -> str:
    return f"CASE WHEN {a} < {b} THEN {a} ELSE {b} END"


def later(a: str, b: str) -> str:
    return f"CASE WHEN {a} > {b} THEN {a} ELSE {b} END"


# The baseline, written by hand: each case visit's presence (clamped to the window and to now)
# with its aerosol tail, then every other visit at the venue that starts less than a maximal
# visit before the presence and before its end, and each visitor's longest overlap.
BASELINE = f"""
WITH presence AS MATERIALIZED (
    SELECT v.venue_id,
           {later("v.checked_in_at", "c.window_start")} AS p_from,
           {earlier(earlier("v.ends_at", ":now"), "c.window_end")} AS p_left
    FROM cases c
    JOIN case_people cp ON cp.case_id = c.id
    JOIN visits v ON v.visitor_id = cp.visitor_id
    WHERE c.id IN ({{ids}}) AND v.checked_in_at < c.window_end AND v.ends_at > c.window_start
      AND v.checked_in_at > c.window_start - :max_visit
),
extended AS MATERIALIZED (
    SELECT venue_id, p_from, p_left + {earlier("p_left - p_from", ":tail")} AS p_until
    FROM presence WHERE p_left > p_from
),
pairs AS (
    SELECT o.visitor_id,
           {earlier(earlier("o.ends_at", ":now"), "e.p_until")}
             - {later("o.checked_in_at", "e.p_from")} AS overlap
    FROM extended e
    JOIN visits o ON o.venue_id = e.venue_id
     AND o.checked_in_at > e.p_from - :max_visit AND o.checked_in_at < e.p_until
    WHERE o.visitor_id NOT IN (SELECT visitor_id FROM case_people WHERE case_id IN ({{ids}}))
)
SELECT visitor_id, MAX(overlap) AS overlap FROM pairs WHERE overlap > 0 GROUP BY visitor_id
"""


async def baseline(db: Database, case_ids: list[int]) -> set[tuple[str, str, int]]:
    ids = ", ".join(str(int(n)) for n in case_ids)
    # Plain rows, as the engine fetches its contacts: the ratio compares queries, not fetching.
    rows = await db.fetch_rows(
        BASELINE.replace("{ids}", ids),
        {
            "now": int(NOW.timestamp()),
            "max_visit": RULES.max_visit_seconds,
            "tail": AEROSOL_TAIL_CAP_SECONDS if RULES.aerosol_tail else 0,
        },
    )
    return {(row[0], "close" if row[1] >= RULES.close_seconds else "low", row[1]) for row in rows}


async def engine(db: Database, case_ids: list[int]) -> set[tuple[str, str, int]]:
    found = await match_contacts(db, case_ids, NOW, RULES)
    return {(c.visitor_id, c.risk, c.overlap_seconds) for c in found}


async def preview(db: Database, case_ids: list[int]) -> dict[str, int]:
    result = await run_exposures(
        db, case_ids, now=NOW, rules=RULES, dry_run=True, triggered_by=None
    )
    return result.counts()


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` runs after one warm-up run, and the last result."""
    result = await work()
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = await work()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), result


async def measure(url: str, city: City, sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    db = open_database(url)
    await db.connect()
    figures = []
    try:
        for size in sizes:
            case_ids = await register_cases(db, city, size, city.seed + size)
            base_s, expected = await timed(lambda ids=case_ids: baseline(db, ids), repeat)
            match_s, found = await timed(lambda ids=case_ids: engine(db, ids), repeat)
            preview_s, counted = await timed(lambda ids=case_ids: preview(db, ids), repeat)
            expected_counts = {
                risk: sum(1 for c in expected if c[1] == risk) for risk in ("close", "low")
            }
            figures.append(
                {
                    "engine": db.engine,
                    "cases": size,
                    "close": sum(1 for c in found if c[1] == "close"),
                    "low": sum(1 for c in found if c[1] == "low"),
                    "same_contacts": found == expected and counted == expected_counts,
                    "baseline_s": round(base_s, 3),
                    "match_s": round(match_s, 3),
                    "preview_s": round(preview_s, 3),
                    "preview_over_baseline": round(preview_s / base_s, 2),
                }
            )
    finally:
        await db.disconnect()
    return figures


def sqlite_city(city: City) -> str:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"exposure-{city.key}.sqlite"
    if not path.exists():
        began = time.perf_counter()
        build_sqlite(city, path)
        print(f"built {path} in {time.perf_counter() - began:.0f} s")
    url = f"sqlite:///{path}"
    asyncio.run(migrated(url))  # a cached city gets the migrations added since it was built
    return url


def report(figures: list[dict[str, Any]]) -> None:
    print(
        f"{'engine':<10} {'cases':>5} {'close':>7} {'low':>7} {'same':>5} "
        f"{'baseline':>9} {'match':>7} {'preview':>8} {'ratio':>6}"
    )
    for f in figures:
        print(
            f"{f['engine']:<10} {f['cases']:>5} {f['close']:>7} {f['low']:>7} "
            f"{'yes' if f['same_contacts'] else 'NO':>5} {f['baseline_s']:>8.3f}s "
            f"{f['match_s']:>6.3f}s {f['preview_s']:>7.3f}s {f['preview_over_baseline']:>5.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visits", type=int, default=5_000_000)
    parser.add_argument("--venues", type=int, default=20_000)
    parser.add_argument("--visitors", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--zipf", type=float, default=1.0, help="venue popularity ~ 1/rank^s")
    parser.add_argument("--cases", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="also measure on this (disposable) PostgreSQL URL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    city = City(args.visits, args.venues, args.visitors, args.days, args.seed, args.zipf)
    figures = asyncio.run(measure(sqlite_city(city), city, args.cases, args.repeat))
    if args.postgres:
        began = time.perf_counter()
        asyncio.run(build_postgres(city, args.postgres))
        print(f"PostgreSQL city ready in {time.perf_counter() - began:.0f} s")
        figures += asyncio.run(measure(args.postgres, city, args.cases, args.repeat))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)


if __name__ == "__main__":
    main()
