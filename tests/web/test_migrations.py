from certificates.tables import metadata as certificates_metadata
from checkin.tables import metadata as checkin_metadata
from exposure.tables import metadata as exposure_metadata
from tests.factories import START
from venues.tables import metadata as venues_metadata
from web.database import Database
from web.migrations import load_migrations, migrate
from web.tables import metadata as web_metadata

PACKAGE_METADATA = (
    web_metadata,
    venues_metadata,
    certificates_metadata,
    checkin_metadata,
    exposure_metadata,
)


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


async def _index_columns(db: Database) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every index of our tables: its name -> (table, its columns in order)."""
    if db.engine == "sqlite":
        rows = await db.fetch_all(
            "SELECT m.name, il.name, ii.seqno, ii.name FROM sqlite_master m,"
            " pragma_index_list(m.name) il, pragma_index_info(il.name) ii"
            " WHERE m.type = 'table'"
        )
    else:
        rows = await db.fetch_all(
            "SELECT t.relname, i.relname, array_position(x.indkey::int2[], a.attnum), a.attname"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)"
        )
    found: dict[str, tuple[str, list[tuple[int, str]]]] = {}
    for row in rows:
        table, index, position, column = row[0], row[1], row[2], row[3]
        found.setdefault(index, (table, []))[1].append((position, column))
    return {
        index: (table, tuple(c for _, c in sorted(cols))) for index, (table, cols) in found.items()
    }


async def test_no_two_indexes_cover_the_same_columns(db: Database) -> None:
    indexes = await _index_columns(db)
    assert ("travellers", ("registered_at",)) in indexes.values()
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    twins = []
    for index, key in sorted(indexes.items()):
        if key in seen:
            twins.append(f"{seen[key]} and {index} both index {key}")
        seen.setdefault(key, index)
    assert not twins, twins


def test_an_engine_only_migration_runs_on_its_engine_and_keeps_do_blocks_whole() -> None:
    from web.migrations import Migration

    sql = (
        "-- engine: postgresql\nCREATE TABLE t (id {{id}});\n"
        "DO $$\nBEGIN\n    PERFORM 1;\n    PERFORM 2;\nEND $$;\nDROP TABLE t;\n"
    )
    migration = Migration(99, "only_postgresql", sql)
    assert migration.statements("sqlite") == []
    statements = migration.statements("postgresql")
    assert len(statements) == 3
    assert statements[1] == "DO $$\nBEGIN\n    PERFORM 1;\n    PERFORM 2;\nEND $$"
