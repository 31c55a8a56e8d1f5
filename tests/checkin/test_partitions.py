"""Visits by day on PostgreSQL (migration 0014, checkin/partitions.py): partitions are there
before the rows that need them, a row of a day without one is never refused, the purge drops a
day only when all of it is past retention, and an existing database upgrades in place. On
SQLite the same calls leave the plain table alone and the rows come out the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import web.migrations
from checkin.partitions import (
    DAY_SECONDS,
    ensure_visit_partitions,
    partition_name,
    visit_partitions,
)
from checkin.retention import delete_visits_before
from checkin.tables import travellers, visitors, visits
from checkin.visits import CheckinRules, check_in, delete_visit
from tests.conftest import _postgres_admin, _postgres_url
from tests.factories import START, make_venue
from venues.regions import seed_regions_if_empty
from web.database import Database, open_database
from web.keyring import venue_key_encryption_key
from web.migrations import load_migrations, migrate
from web.settings import Settings


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


async def visitor(db: Database, name: str) -> str:
    await db.execute(
        sa.insert(visitors).values(id=name, kind="device", created_at=at("2026-11-01"))
    )
    return name


async def add_visit(db: Database, visitor_id: str, venue_id: int, start: str, end: str) -> int:
    return await db.fetch_val(
        sa.insert(visits)
        .values(
            visitor_id=visitor_id, venue_id=venue_id, checked_in_at=at(start), ends_at=at(end),
            ended_by="visitor", offline=False, source="scan", recorded_at=at(start),
        )
        .returning(visits.c.id)
    )  # fmt: skip


async def home_of(db: Database, visit_id: int) -> str:
    """The partition a visit is stored in (``visits`` itself on SQLite)."""
    if db.engine == "sqlite":
        return "visits"
    query = "SELECT tableoid::regclass::text FROM visits WHERE id = :id"
    return await db.fetch_val(query, {"id": visit_id})


async def names(db: Database) -> list[str]:
    return [p.name for p in await visit_partitions(db)] if db.engine == "postgresql" else []


async def test_migrating_makes_the_retention_window_and_days_ahead(db: Database) -> None:
    if db.engine == "sqlite":
        assert await ensure_visit_partitions(db, START) == []
        return
    first = int(START.timestamp()) // DAY_SECONDS * DAY_SECONDS - 14 * DAY_SECONDS
    wanted = [partition_name(first + day * DAY_SECONDS) for day in range(14 + 1 + 3)]
    assert await names(db) == wanted
    assert await ensure_visit_partitions(db, START) == []  # nothing missing: nothing made


async def test_an_offline_scan_of_a_past_day_lands_in_that_days_partition(
    db: Database, settings: Settings
) -> None:
    venue = await make_venue(db, venue_key_encryption_key(settings))
    scanned = START - timedelta(days=13, hours=5)
    result = await check_in(
        db, visitor_id=await visitor(db, "v1"), venue=venue, now=START,
        rules=CheckinRules(), scanned_at=scanned,
    )  # fmt: skip
    assert result.created and result.visit.offline
    wanted = "visits" if db.engine == "sqlite" else partition_name(int(scanned.timestamp()))
    assert await home_of(db, result.visit.id) == wanted


async def test_a_day_without_a_partition_is_taken_by_default_then_moved_to_its_own(
    db: Database, settings: Settings
) -> None:
    venue = await make_venue(db, venue_key_encryption_key(settings))
    who = await visitor(db, "v1")
    later = START + timedelta(days=30)  # the job did not run for a month: no partition yet
    visit_id = await add_visit(db, who, venue.id, "2026-12-22T10:00", "2026-12-22T11:00")
    if db.engine == "postgresql":
        assert await home_of(db, visit_id) == "visits_default"
    made = await ensure_visit_partitions(db, later, days_back=14)
    if db.engine == "postgresql":
        assert partition_name(at("2026-12-22")) in made
        assert await home_of(db, visit_id) == partition_name(at("2026-12-22"))
        assert await db.fetch_val("SELECT count(*) FROM visits_default") == 0
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(visits)) == 1


async def test_purge_drops_days_wholly_past_retention_and_keeps_every_row_within(
    db: Database, settings: Settings
) -> None:
    """now 2026-12-08 09:00, 14 days' retention: the cutoff is 2026-11-24 09:00."""
    venue = await make_venue(db, venue_key_encryption_key(settings))
    who = await visitor(db, "v1")
    now = START + timedelta(days=16)
    cutoff = now - timedelta(days=14)
    assert cutoff == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    await ensure_visit_partitions(db, now)
    planted = {
        "old day": ("2026-11-10T10:00", "2026-11-10T11:00"),
        "day before cutoff": ("2026-11-22T10:00", "2026-11-22T11:00"),
        # The 23rd ends before the cutoff, but this visit of it ends after: the day stays.
        "across midnight": ("2026-11-23T23:30", "2026-11-24T09:30"),
        "23rd, over": ("2026-11-23T08:00", "2026-11-23T09:00"),
        "cutoff day, over": ("2026-11-24T08:00", "2026-11-24T08:59:59"),
        "ends at cutoff": ("2026-11-24T08:30", "2026-11-24T09:00"),
    }
    ids = {label: await add_visit(db, who, venue.id, *span) for label, span in planted.items()}
    assert await delete_visits_before(db, cutoff) == 4
    kept = await db.fetch_all(sa.select(visits.c.id).order_by(visits.c.id))
    assert [row[0] for row in kept] == [ids["across midnight"], ids["ends at cutoff"]]
    if db.engine == "postgresql":
        remaining = await names(db)
        assert remaining[0] == "visits_20261123"  # every day before it is gone, as a table
        assert "visits_20261122" not in remaining and "visits_20261110" not in remaining
        assert remaining[-1] == partition_name(int(now.timestamp()) + 3 * DAY_SECONDS)
    assert await delete_visits_before(db, cutoff) == 0  # nothing left to purge
    await add_visit(db, who, venue.id, "2026-11-24T09:00", "2026-11-24T10:00")  # still insertable


async def test_deleting_a_visit_clears_the_traveller_registration_made_with_it(
    db: Database, settings: Settings
) -> None:
    """No foreign key does it on PostgreSQL (visits' key is (id, checked_in_at)): the code does."""
    venue = await make_venue(db, venue_key_encryption_key(settings))
    who = await visitor(db, "v1")
    visit_id = await add_visit(db, who, venue.id, "2026-11-22T08:00", "2026-11-22T09:00")
    await db.execute(
        sa.insert(travellers).values(
            visitor_id=who, visit_id=visit_id, checkpoint_id=venue.id,
            destination_region_code="16.71", mode="road", details_sealed=b"x",
            details_key_id="k", registered_at=at("2026-11-22T08:00"),
        )
    )  # fmt: skip
    await delete_visit(db, who, visit_id)
    assert await db.fetch_val(sa.select(travellers.c.visit_id)) is None


@pytest.fixture
def empty_database_url(engine: str, tmp_path: Path) -> Iterator[str]:
    """A database with no table at all, to migrate step by step."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"singgah_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f"CREATE DATABASE {name}"))
    try:
        yield _postgres_url(name)
    finally:
        asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def test_an_existing_populated_database_upgrades_in_place(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    migrations = load_migrations()
    (partitioning,) = [m.version for m in migrations if m.name == "visits_by_day"]
    before = [m for m in migrations if m.version < partitioning]
    db = open_database(empty_database_url)
    await db.connect()
    try:
        with monkeypatch.context() as patch:  # the schema as it was before 0014
            patch.setattr(web.migrations, "load_migrations", lambda: before)
            await migrate(db, START)
        await seed_regions_if_empty(db)
        venue = await make_venue(db, b"k" * 32)
        who = await visitor(db, "v1")
        old = [
            await add_visit(db, who, venue.id, f"2026-11-{day}T10:00", f"2026-11-{day}T11:00")
            for day in (12, 20, 21)
        ]
        await db.execute(
            sa.insert(travellers).values(
                visitor_id=who, visit_id=old[2], checkpoint_id=venue.id,
                destination_region_code="16.71", mode="road", details_sealed=b"x",
                details_key_id="k", registered_at=at("2026-11-21T10:00"),
            )
        )  # fmt: skip
        applied = await migrate(db, START)
        assert [m.version for m in applied] == [m.version for m in migrations[len(before) :]]
        assert applied[0].name == "visits_by_day"
        rows = await db.fetch_all(sa.select(visits.c.id, visits.c.checked_in_at).order_by("id"))
        assert [row[0] for row in rows] == old
        assert await db.fetch_val(sa.select(travellers.c.visit_id)) == old[2]
        new = await add_visit(db, who, venue.id, "2026-11-22T10:00", "2026-11-22T11:00")
        assert new > max(old)  # the identity carries on after the converted rows
        if db.engine == "postgresql":
            converted = (await visit_partitions(db))[0]
            assert (converted.name, converted.lower) == ("visits_before_partitioning", None)
            assert converted.upper == at("2026-11-22")  # the day after the latest check-in
            assert await home_of(db, old[0]) == "visits_before_partitioning"
            assert await home_of(db, new) == "visits_20261122"
        # The converted table goes as a whole once its last visit is past retention.
        assert await delete_visits_before(db, datetime(2026, 11, 22, tzinfo=UTC)) == 3
        assert "visits_before_partitioning" not in await names(db)
        assert await db.fetch_val(sa.select(sa.func.count()).select_from(travellers)) == 0
    finally:
        await db.disconnect()
