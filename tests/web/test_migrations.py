from certificates.tables import metadata as certificates_metadata
from checkin.tables import metadata as checkin_metadata
from tests.factories import START
from venues.tables import metadata as venues_metadata
from web.database import Database
from web.migrations import load_migrations, migrate
from web.tables import metadata as web_metadata

PACKAGE_METADATA = (web_metadata, venues_metadata, certificates_metadata, checkin_metadata)


def test_migrations_are_numbered_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.name for m in migrations)


async def test_migrating_again_applies_nothing(db: Database) -> None:
    assert await migrate(db, START) == []
    count = await db.fetch_val("SELECT count(*) FROM schema_migrations")
    assert count == len(load_migrations())


async def _columns(db: Database, table: str) -> set[str]:
    if db.engine == "sqlite":
        rows = await db.fetch_all("SELECT name FROM pragma_table_info(:t)", {"t": table})
    else:
        rows = await db.fetch_all(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t",
            {"t": table},
        )
    return {row[0] for row in rows}


async def test_migrated_schema_matches_every_package_table(db: Database) -> None:
    for metadata in PACKAGE_METADATA:
        for table in metadata.tables.values():
            columns = await _columns(db, table.name)
            assert columns == {c.name for c in table.columns}, table.name


async def test_concurrent_migrations_do_not_collide(database_url: str) -> None:
    import anyio

    from web.database import open_database

    databases = [open_database(database_url) for _ in range(3)]
    for database in databases:
        await database.connect()
    try:
        async with anyio.create_task_group() as group:
            for database in databases:
                group.start_soon(migrate, database, START)
        count = await databases[0].fetch_val("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations())
    finally:
        for database in databases:
            await database.disconnect()
