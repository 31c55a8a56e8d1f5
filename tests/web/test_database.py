"""The pooled SQLite backend: long-lived connections with their PRAGMAs, safe write transactions."""

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from web.database import open_database


@pytest.fixture
async def sqlite_db(tmp_path: Path):
    db = open_database(f"sqlite:///{tmp_path / 'pool.db'}", sqlite_pool_size=3)
    await db.connect()
    await db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    await db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
    yield db
    await db.disconnect()


async def test_every_pooled_connection_has_the_pragmas(sqlite_db) -> None:
    seen = []

    async def probe() -> None:
        async with sqlite_db.connection() as connection:
            raw = connection.raw_connection
            mode = await (await raw.execute("PRAGMA journal_mode")).fetchone()
            busy = await (await raw.execute("PRAGMA busy_timeout")).fetchone()
            keys = await (await raw.execute("PRAGMA foreign_keys")).fetchone()
            seen.append((id(raw), mode[0], busy[0], keys[0]))
            await anyio.sleep(0.01)  # hold it so the others take other connections

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(probe)
    assert {entry[1:] for entry in seen} == {("wal", 10000, 1)}
    assert len({entry[0] for entry in seen}) == 3


async def test_connections_are_reused_not_reopened(sqlite_db) -> None:
    raw_ids = set()

    async def query() -> None:
        async with sqlite_db.connection() as connection:
            raw_ids.add(id(connection.raw_connection))

    for _ in range(20):
        async with anyio.create_task_group() as group:
            group.start_soon(query)
    assert len(raw_ids) <= 3


async def test_concurrent_read_then_write_transactions_all_succeed(sqlite_db) -> None:
    async def increment() -> None:
        async with sqlite_db.transaction():
            n = await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1")
            await anyio.lowlevel.checkpoint()
            await sqlite_db.execute("UPDATE counter SET n = :n WHERE id = 1", {"n": n + 1})

    async with anyio.create_task_group() as group:
        for _ in range(30):
            group.start_soon(increment)
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 30


async def test_a_failed_transaction_rolls_back_and_frees_the_writer(sqlite_db) -> None:
    with pytest.raises(RuntimeError):
        async with sqlite_db.transaction():
            await sqlite_db.execute("UPDATE counter SET n = 99 WHERE id = 1")
            raise RuntimeError("boom")
    async with sqlite_db.transaction():
        await sqlite_db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 1


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        open_database("sqlite://")


async def test_fetch_rows_returns_plain_rows_on_the_tasks_connection(db) -> None:
    """`fetch_rows` (no Record per row) on both engines: values as the driver returns them,
    bound parameters, and the rows of the transaction it runs in."""
    import sqlalchemy as sa

    from checkin.tables import visitors

    query = sa.select(visitors.c.id, visitors.c.created_at).order_by(visitors.c.id)
    async with db.transaction(force_rollback=True):
        await db.execute(sa.insert(visitors).values(id="b", kind="device", created_at=2))
        await db.execute(sa.insert(visitors).values(id="a", kind="device", created_at=1))
        assert [tuple(row) for row in await db.fetch_rows(query)] == [("a", 1), ("b", 2)]
        found = await db.fetch_rows("SELECT id FROM visitors WHERE created_at > :t", {"t": 1})
        assert [tuple(row) for row in found] == [("b",)]
    assert await db.fetch_rows(query) == []
