"""Exposure runs: preview (dry run) and confirm.

A preview counts contacts by risk, by venue and by region and notifies nobody. A confirmed run
records the exposures and hotspots and queues the notifications in the same transaction: close
contacts get an exposure alert, everyone else who overlapped a case gets a venue alert (NHS's
"warn and inform"), and each hotspot venue's managers are told. Notifications carry a dedupe key
per case and person, so re-running for the same case never alerts anyone twice.

A confirmed run streams its contacts: the matching query's rows go into ``exposures`` inside the
database (INSERT ... SELECT), the counts are a GROUP BY over them, and the notifications are
written ``batch_size`` contacts at a time (keyset pages over the run's exposures), so a run with
a million contacts holds one page in memory, on both engines.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql

from exposure.cases import in_region
from exposure.errors import RunNotFound
from exposure.matching import Hotspot, MatchRules, contacts_query, count_contacts, hotspots
from exposure.outbox import queue_notifications
from exposure.tables import cases, exposure_runs, exposures, notifications
from exposure.tables import hotspots as hotspot_table
from venues.tables import venues

INSERT_CHUNK = 400  # rows per multi-row INSERT: well under SQLite's bound-variable limit
CONTACT_BATCH = 5000  # contacts turned into notifications at a time: a run's memory bound


@dataclass(frozen=True)
class RunResult:
    """A run's outcome: the counts (``by_venue_risk``: contacts by venue and risk) and the
    hotspots; a confirmed run's contacts are in ``exposures`` (see `run_contacts`)."""

    id: int
    dry_run: bool
    case_ids: tuple[int, ...]
    by_venue_risk: dict[tuple[int, str], int]
    hotspots: list[Hotspot]
    venue_regions: dict[int, str] = field(default_factory=dict)
    venue_names: dict[int, str] = field(default_factory=dict)
    duration_ms: int = 0

    def counts(self) -> dict[str, int]:
        by_risk: Counter[str] = Counter()
        for (_, risk), count in self.by_venue_risk.items():
            by_risk[risk] += count
        return {"close": by_risk["close"], "low": by_risk["low"]}

    def by_venue(self) -> list[dict[str, Any]]:
        counts: dict[int, Counter[str]] = {spot.venue_id: Counter() for spot in self.hotspots}
        for (venue_id, risk), count in self.by_venue_risk.items():
            counts.setdefault(venue_id, Counter())[risk] += count
        return [
            {
                "venue_id": venue_id,
                "name": self.venue_names.get(venue_id, ""),
                "region_code": self.venue_regions.get(venue_id, ""),
                "close": found["close"],
                "low": found["low"],
            }
            for venue_id, found in sorted(counts.items())
        ]

    def by_region(self) -> list[dict[str, Any]]:
        counts: dict[str, Counter[str]] = {}
        for (venue_id, risk), count in self.by_venue_risk.items():
            region = self.venue_regions.get(venue_id, "")
            counts.setdefault(region, Counter())[risk] += count
        return [
            {"region_code": region, "close": found["close"], "low": found["low"]}
            for region, found in sorted(counts.items())
        ]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dry_run": self.dry_run,
            "case_ids": list(self.case_ids),
            "contacts": self.counts(),
            "venues": self.by_venue(),
            "regions": self.by_region(),
            "duration_ms": self.duration_ms,
        }


async def _venue_facts(db: Database, venue_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    if not venue_ids:
        return {}, {}
    rows = await db.fetch_rows(
        sa.select(venues.c.id, venues.c.region_code, venues.c.name).where(
            venues.c.id.in_(sorted(venue_ids))
        )
    )
    return {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}


async def insert_rows(db: Database, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        await db.execute(sa.insert(table).values(rows[start : start + INSERT_CHUNK]))


def _notice(
    kind: str, recipient_kind: str, recipient: str, key: str, now: int, **payload: Any
) -> dict[str, Any]:
    return {
        "recipient_kind": recipient_kind,
        "recipient_id": recipient,
        "kind": kind,
        "payload": json.dumps({"kind": kind, **payload}, sort_keys=True),
        "dedupe_key": key,
        "created_at": now,
    }


# A page of a run's contacts, as `_contact_notices` reads them.
PAGE_COLUMNS = (
    exposures.c.id,
    exposures.c.visitor_id,
    exposures.c.risk,
    exposures.c.case_id,
    exposures.c.venue_id,
    exposures.c.exposed_from,
    exposures.c.exposed_until,
)


async def contact_pages(db: Database, run_id: int, size: int) -> AsyncIterator[Sequence[Any]]:
    """The run's exposures, ``size`` rows at a time in id order (keyset: each page starts
    after the last id of the one before, along the (run_id, id) index)."""
    after = 0
    while True:
        page = await db.fetch_rows(
            sa.select(*PAGE_COLUMNS)
            .where(exposures.c.run_id == run_id, exposures.c.id > after)
            .order_by(exposures.c.id)
            .limit(size)
        )
        if page:
            yield page
        if len(page) < size:
            return
        after = page[-1][0]


def _contact_notices(result: RunResult, page: Sequence[Any], now: int) -> list[dict[str, Any]]:
    """Close contacts get an exposure alert, low ones a venue alert."""
    return [
        _notice(
            "exposure_alert" if risk == "close" else "venue_alert",
            "visitor",
            visitor_id,
            f"{risk}:{case_id}:{visitor_id}",
            now,
            venue_id=venue_id,
            venue_name=result.venue_names.get(venue_id, ""),
            risk=risk,
            exposed_from=exposed_from,
            exposed_until=exposed_until,
            region_code=result.venue_regions.get(venue_id, ""),
        )
        for _, visitor_id, risk, case_id, venue_id, exposed_from, exposed_until in page
    ]


def _hotspot_notices(result: RunResult, now: int) -> list[dict[str, Any]]:
    return [
        _notice(
            "hotspot_venue",
            "venue",
            str(h.venue_id),
            f"hotspot:{h.case_id}:{h.venue_id}",
            now,
            venue_id=h.venue_id,
            venue_name=result.venue_names.get(h.venue_id, ""),
            hot_from=h.hot_from,
            hot_until=h.hot_until,
        )
        for h in result.hotspots
    ]


async def _record_contacts(
    db: Database, run_id: int, case_ids: list[int], now: datetime, rules: MatchRules
) -> dict[tuple[int, str], int]:
    """The contacts into ``exposures`` in one INSERT ... SELECT; their counts by venue and risk."""
    found = contacts_query(case_ids, now, rules).subquery("found")
    columns = [column.name for column in found.c]
    await db.execute(
        sa.insert(exposures).from_select(
            ["run_id", *columns],
            sa.select(sa.literal(run_id, sa.BigInteger), *found.c).order_by(
                found.c.overlap_seconds.desc(), found.c.visitor_id
            ),
        )
    )
    rows = await db.fetch_rows(
        sa.select(exposures.c.venue_id, exposures.c.risk, sa.func.count())
        .where(exposures.c.run_id == run_id)
        .group_by(exposures.c.venue_id, exposures.c.risk)
    )
    return {(venue_id, risk): count for venue_id, risk, count in rows}


def _run_row(result: RunResult, rules: MatchRules, duration_ms: int) -> dict[str, Any]:
    counts = result.counts()
    return {
        "dry_run": result.dry_run,
        "case_ids": json.dumps(list(result.case_ids)),
        "parameters": json.dumps(asdict(rules)),
        "duration_ms": duration_ms,
        "venues": len(result.by_venue()),
        "close_contacts": counts["close"],
        "low_contacts": counts["low"],
    }


async def _with_venues(db: Database, result: RunResult) -> RunResult:
    found = {venue_id for venue_id, _ in result.by_venue_risk} | {
        h.venue_id for h in result.hotspots
    }
    regions, names = await _venue_facts(db, found)
    return replace(result, venue_regions=regions, venue_names=names)


async def run_exposures(
    db: Database,
    case_ids: list[int],
    *,
    now: datetime,
    rules: MatchRules,
    dry_run: bool,
    triggered_by: int | None,
    batch_size: int = CONTACT_BATCH,
) -> RunResult:
    """Preview (``dry_run``: counts only) or confirm a run; see the module's docstring."""
    began = time.perf_counter()
    moment = int(now.timestamp())
    spots = await hotspots(db, case_ids, now, rules)
    if dry_run:  # a preview shows counts: the contacts are counted in SQL, never fetched
        counted = await count_contacts(db, case_ids, now, rules)
        result = await _with_venues(db, RunResult(0, True, tuple(case_ids), counted, spots))
        duration = round((time.perf_counter() - began) * 1000)
        run_id = await db.fetch_val(
            sa.insert(exposure_runs)
            .values(
                triggered_by=triggered_by, created_at=moment, **_run_row(result, rules, duration)
            )
            .returning(exposure_runs.c.id)
        )
        return replace(result, id=run_id, duration_ms=duration)
    async with db.transaction():
        empty = RunResult(0, False, tuple(case_ids), {}, spots)
        run_id = await db.fetch_val(
            sa.insert(exposure_runs)
            .values(triggered_by=triggered_by, created_at=moment, **_run_row(empty, rules, 0))
            .returning(exposure_runs.c.id)
        )
        counted = await _record_contacts(db, run_id, case_ids, now, rules)
        result = await _with_venues(db, replace(empty, id=run_id, by_venue_risk=counted))
        await insert_rows(db, hotspot_table, [{"run_id": run_id, **asdict(h)} for h in spots])
        async for page in contact_pages(db, run_id, batch_size):
            await queue_notifications(db, _contact_notices(result, page, moment))
        await queue_notifications(db, _hotspot_notices(result, moment))
        duration = round((time.perf_counter() - began) * 1000)
        await db.execute(
            sa.update(exposure_runs)
            .where(exposure_runs.c.id == run_id)
            .values(**_run_row(result, rules, duration))
        )
    return replace(result, duration_ms=duration)


def _has_case_in_region(db: Database, prefix: str) -> sa.ColumnElement[bool]:
    """The run names a case inside ``prefix``: its ``case_ids`` JSON array, unnested in SQL."""
    listed = exposure_runs.c.case_ids
    if db.url.dialect == "postgresql":
        unnest = sa.func.json_array_elements_text(sa.cast(listed, postgresql.JSON))
    else:
        unnest = sa.func.json_each(listed)
    case_ids = unnest.table_valued("value")
    return sa.exists(
        sa.select(1)
        .select_from(case_ids)
        .join(cases, cases.c.id == sa.cast(case_ids.c.value, sa.BigInteger))
        .where(in_region(cases.c.region_code, prefix))
    )


async def find_run(db: Database, run_id: int, region_prefix: str | None) -> dict[str, Any]:
    """The run, if one of its cases is inside ``region_prefix`` (the official's scope, in the
    query; None: everywhere)."""
    query = sa.select(exposure_runs).where(exposure_runs.c.id == run_id)
    if region_prefix is not None:
        query = query.where(_has_case_in_region(db, region_prefix))
    row = await db.fetch_one(query)
    if row is None:
        raise RunNotFound(f"there is no exposure run {run_id} in your region")
    return {
        **dict(row._mapping),
        "case_ids": json.loads(row["case_ids"]),
        "parameters": json.loads(row["parameters"]),
    }


async def run_contacts(
    db: Database, run_id: int, region_prefix: str | None
) -> list[dict[str, Any]]:
    """The run's contacts at venues inside ``region_prefix`` (the official's scope, in SQL)."""
    rows = await db.fetch_all(
        sa.select(exposures, venues.c.name.label("venue_name"), venues.c.region_code)
        .select_from(exposures.join(venues, venues.c.id == exposures.c.venue_id))
        .where(exposures.c.run_id == run_id, in_region(venues.c.region_code, region_prefix))
        .order_by(exposures.c.risk, exposures.c.overlap_seconds.desc())
    )
    return [dict(row._mapping) for row in rows]


async def notifications_for(
    db: Database, recipient_kind: str, recipient_id: str
) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        sa.select(notifications)
        .where(
            notifications.c.recipient_kind == recipient_kind,
            notifications.c.recipient_id == recipient_id,
        )
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
    )
    return [{**dict(row._mapping), "payload": json.loads(row["payload"])} for row in rows]
