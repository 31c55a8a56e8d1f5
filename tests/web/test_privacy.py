"""Retention and encryption at rest: the purge deletes what is past its period and nothing
else, rotation re-seals, and no test person's phone or NIK is in the database in clear."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from checkin.assisted import sealing_context
from checkin.rotation import reseal_personal_data
from checkin.tables import occupancy_alerts, travellers, visitors, visits
from checkin.visitors import Profile, create_visitor, find_by_nik, read_profile, seal_json
from exposure.tables import (
    case_people,
    cases,
    exposure_runs,
    exposures,
    hotspots,
    notifications,
    push_deliveries,
    push_subscriptions,
)
from tests.factories import START, make_venue
from tests.web.test_cli import singgah
from web.database import Database
from web.keyring import add_data_key, load_personal_data_keys, personal_data_keys
from web.privacy import purge
from web.settings import Settings

# Two people, one whose data is 13 days old and one whose data is 15 days old.
PEOPLE = {
    13: Profile("Fresh Person", "+6281234500013", "1671014101900013"),
    15: Profile("Stale Person", "+6281234500015", "1671014101900015"),
}
PURGED_TABLES = (visits, travellers, exposures, hotspots, notifications, occupancy_alerts)


async def plant(db: Database, settings: Settings, venue_id: int, age_days: int) -> str:
    """A person with a sealed profile, a visit, a traveller registration, a case, an exposure,
    a hotspot, a notification pushed to their device and an occupancy alert, all ``age_days``
    old."""
    keys = personal_data_keys(settings)
    moment = START - timedelta(days=age_days)
    seconds = int(moment.timestamp())
    person = await create_visitor(db, keys, moment, kind="assisted", profile=PEOPLE[age_days])
    visit_id = await db.execute(
        sa.insert(visits).values(
            visitor_id=person.id, venue_id=venue_id, checked_in_at=seconds - 3600,
            ends_at=seconds, ended_by="visitor", offline=age_days == 15, source="scan",
            recorded_at=seconds,
        )
    )  # fmt: skip
    await db.execute(
        sa.insert(travellers).values(
            visitor_id=person.id, visit_id=visit_id, checkpoint_id=venue_id,
            destination_region_code="16.71", mode="road", details_key_id=keys.key_id,
            details_sealed=seal_json(
                keys, sealing_context(person.id, "16.71", seconds), {"origin": "Kampung Ujicoba"}
            ),
            registered_at=seconds,
        )
    )  # fmt: skip
    case_id = await db.execute(
        sa.insert(cases).values(
            region_code="16.71", positive_on="2026-11-01", window_start=seconds - 86400,
            window_end=seconds, status="confirmed", source="official", created_at=seconds,
        )
    )  # fmt: skip
    await db.execute(sa.insert(case_people).values(case_id=case_id, visitor_id=person.id))
    run_id = await db.execute(
        sa.insert(exposure_runs).values(
            dry_run=False, case_ids=str(case_id), parameters="{}", created_at=seconds,
            duration_ms=1, close_contacts=1, low_contacts=0, venues=1,
        )
    )  # fmt: skip
    await db.execute(
        sa.insert(exposures).values(
            run_id=run_id, case_id=case_id, visitor_id=person.id, venue_id=venue_id,
            risk="close", overlap_seconds=3600, exposed_from=seconds - 3600,
            exposed_until=seconds, last_exposed_at=seconds,
        )
    )  # fmt: skip
    await db.execute(
        sa.insert(hotspots).values(
            run_id=run_id, case_id=case_id, venue_id=venue_id, hot_from=seconds - 3600,
            hot_until=seconds,
        )
    )  # fmt: skip
    notification_id = await db.execute(
        sa.insert(notifications).values(
            recipient_kind="visitor", recipient_id=person.id, kind="exposure_alert",
            payload="{}", dedupe_key=f"planted-{age_days}", created_at=seconds,
        )
    )  # fmt: skip
    subscription_id = await db.execute(
        sa.insert(push_subscriptions).values(
            owner_kind="visitor", owner_id=person.id, endpoint=f"https://push.test/{age_days}",
            p256dh="key", auth="secret", created_at=seconds,
        )
    )  # fmt: skip
    await db.execute(
        sa.insert(push_deliveries).values(
            notification_id=notification_id, subscription_id=subscription_id, state="pending",
            attempts=0, next_attempt_at=seconds, updated_at=seconds,
        )
    )  # fmt: skip
    await db.execute(
        sa.insert(occupancy_alerts).values(
            venue_id=venue_id, level=100, occupancy=50, capacity=50, at=seconds
        )
    )
    return person.id


async def count(db: Database, table: sa.Table) -> int:
    return await db.fetch_val(sa.select(sa.func.count()).select_from(table))


async def test_purge_deletes_15_day_old_data_and_keeps_13_day_old(
    db: Database, settings: Settings, kek: bytes
) -> None:
    venue = await make_venue(db, kek)
    fresh = await plant(db, settings, venue.id, 13)
    stale = await plant(db, settings, venue.id, 15)
    keys = personal_data_keys(settings)

    counts = await purge(db, settings, START)

    for table in PURGED_TABLES:
        assert await count(db, table) == 1, table.name
        assert counts[table.name] == 1, table.name
    assert counts["cases"] == 1 and counts["visitors"] == 1
    assert counts["push_subscriptions"] == 1  # the stale person's device, gone with them
    deliveries = await db.fetch_all(sa.select(push_deliveries.c.notification_id))
    assert len(deliveries) == 1 and await count(db, push_subscriptions) == 1
    remaining = await db.fetch_all(sa.select(visitors.c.id, visitors.c.nik_hash))
    assert [row["id"] for row in remaining] == [fresh]
    assert await find_by_nik(db, keys, PEOPLE[15].nik) is None  # the hash went with the row
    assert (await find_by_nik(db, keys, PEOPLE[13].nik)).id == fresh
    assert await read_profile(db, keys, fresh) == PEOPLE[13]
    assert await db.fetch_val(sa.select(sa.func.count()).where(visits.c.visitor_id == stale)) == 0
    assert await purge(db, settings, START) == dict.fromkeys(counts, 0)  # nothing left to do


async def test_rotation_reseals_every_profile_and_lookups_keep_working(
    db: Database, settings: Settings, kek: bytes
) -> None:
    venue = await make_venue(db, kek)
    person = await plant(db, settings, venue.id, 13)

    rotated = await add_data_key(db, settings, START)
    counts = await reseal_personal_data(db, rotated)

    assert rotated.key_id == "k2" and counts == {
        "visitors": 1,
        "travellers": 1,
        "wallet_certificates": 0,
    }
    assert (await load_personal_data_keys(db, settings)).key_id == "k2"
    only_new = personal_data_keys(settings, ["k2"])  # k1 can no longer be needed
    assert await read_profile(db, only_new, person) == PEOPLE[13]
    assert (await find_by_nik(db, only_new, PEOPLE[13].nik)).id == person
    key_ids = await db.fetch_all(sa.select(travellers.c.details_key_id))
    assert {row[0] for row in key_ids} == {"k2"}
    with pytest.raises(InvalidTag):
        await read_profile(db, personal_data_keys(settings, ["k1"]), person)
    assert await reseal_personal_data(db, rotated) == dict.fromkeys(counts, 0)


def database_bytes(engine: str, database_url: str) -> bytes:
    """Everything the database holds on disk: the SQLite file, or a PostgreSQL dump."""
    if engine == "sqlite":
        return Path(database_url.removeprefix("sqlite:///")).read_bytes()
    dump = ["pg_dump", "--data-only", "--username", "root", "--dbname", database_url]
    return subprocess.run(dump, capture_output=True, check=True, timeout=60).stdout


async def test_no_phone_number_or_nik_is_stored_in_clear(
    db: Database, settings: Settings, kek: bytes, engine: str, database_url: str
) -> None:
    venue = await make_venue(db, kek)
    for age in PEOPLE:
        await plant(db, settings, venue.id, age)
    if engine == "sqlite":
        await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    stored = database_bytes(engine, database_url)

    assert b"Ujicoba" not in stored
    for profile in PEOPLE.values():
        for value in (profile.name, profile.phone, profile.phone.lstrip("+"), profile.nik):
            assert value.encode() not in stored, value
    assert len(stored) > 10_000  # the dump or file really was read


async def test_the_cli_purges_and_rotates(
    db: Database, settings: Settings, kek: bytes, database_url: str, tmp_path: Path
) -> None:
    venue = await make_venue(db, kek)
    await plant(db, settings, venue.id, 15)  # 15 days before START, which is in the past
    env = {"SINGGAH_SECRET_KEY": settings.secret().decode()}

    purged = singgah(tmp_path, "purge", database_url=database_url, env=env)
    rotated = singgah(tmp_path, "keys", "rotate-data-key", database_url=database_url, env=env)

    assert purged.returncode == 0, purged.stderr
    assert "visits: 1 deleted" in purged.stdout and "visitors: 1 deleted" in purged.stdout
    assert rotated.returncode == 0, rotated.stderr
    assert "new personal-data key k2" in rotated.stdout
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(visitors)) == 0
