"""The pooled SQLite backend: long-lived connections with their PRAGMAs, safe write transactions."""

import asyncio
import os
import sqlite3
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
import sqlalchemy as sa

from venues.tables import regions
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
            pages = await (await raw.execute("PRAGMA wal_autocheckpoint")).fetchone()
            seen.append((id(raw), mode[0], busy[0], keys[0], pages[0]))
            await anyio.sleep(0.01)  # hold it so the others take other connections

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(probe)
    # no automatic checkpoint: a COMMIT never copies the WAL back (`WalCheckpointer` does)
    assert {entry[1:] for entry in seen} == {("wal", 10000, 1, 0)}
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


async def test_the_connection_released_last_is_handed_out_next(sqlite_db) -> None:
    """Most recently used first: the writer keeps taking the connection whose page cache
    its own commits kept valid (any other connection's is dropped by another's commit)."""
    pool = sqlite_db._pool
    first, second = await pool.acquire(), await pool.acquire()
    await pool.release(first)
    await pool.release(second)
    assert await pool.acquire() is second
    assert await pool.acquire() is first


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


async def test_group_commit_shares_one_transaction_and_isolates_failures(sqlite_db) -> None:
    commits = []
    connections = set()

    async def add(n: int) -> int:
        connections.add(sqlite_db._writing_backend().raw_connection)  # the group's
        await sqlite_db.execute("UPDATE counter SET n = n + :n WHERE id = 1", {"n": n})
        if n == 13:
            raise ValueError("unlucky")
        return await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1")

    async def caller(n: int) -> None:
        try:
            commits.append((n, await sqlite_db.group_commit(lambda: add(n))))
        except ValueError:
            commits.append((n, "failed"))

    async with anyio.create_task_group() as group:
        for n in (1, 13, 2, 3):
            group.start_soon(caller, n)
    # One after the other on one connection; the failed one's update alone is undone.
    assert sorted(commits) == [(1, 1), (2, 3), (3, 6), (13, "failed")]
    (connection,) = connections
    assert not connection.in_transaction
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 6


async def run_group(db, works) -> list:
    """Each work through ``db.group_commit`` at once, in one group; each caller's result or
    exception, in order."""
    results: list = [None] * len(works)

    async def caller(index: int) -> None:
        try:
            results[index] = await db.group_commit(works[index])
        except ValueError as exc:
            results[index] = exc

    async with anyio.create_task_group() as group:
        for index in range(len(works)):
            group.start_soon(caller, index)
    return results


@pytest.mark.parametrize("writes_first", [False, True], ids=["before", "after writing"])
async def test_a_failing_work_reruns_the_group_only_if_it_had_written(
    sqlite_db, writes_first: bool
) -> None:
    runs = {"a": 0, "bad": 0, "b": 0}

    def work(name: str, n: int):
        async def run() -> int:
            runs[name] += 1
            if name == "bad" and not writes_first:
                raise ValueError("refused before any write")
            await sqlite_db.execute("UPDATE counter SET n = n + :n WHERE id = 1", {"n": n})
            if name == "bad":
                raise ValueError("failed after a write")
            return await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1")

        return run

    a, bad, b = await run_group(sqlite_db, [work("a", 1), work("bad", 100), work("b", 10)])
    assert (a, b) == (1, 11)
    assert isinstance(bad, ValueError)
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 11
    # Without writes of its own a failure undoes nothing: one pass, no savepoints. After a
    # write the pass stops there, and the group is rolled back and run again, each work in a
    # savepoint.
    assert runs == ({"a": 2, "bad": 2, "b": 1} if writes_first else {"a": 1, "bad": 1, "b": 1})


async def test_group_commit_answers_only_after_the_commit(sqlite_db, tmp_path: Path) -> None:
    import sqlite3

    async def write() -> None:
        await sqlite_db.execute("UPDATE counter SET n = 7 WHERE id = 1")

    await sqlite_db.group_commit(write)
    # Another connection (as another process would) sees the write at once.
    with sqlite3.connect(tmp_path / "pool.db") as other:
        assert other.execute("SELECT n FROM counter WHERE id = 1").fetchone() == (7,)


async def test_the_checkpointer_keeps_the_wal_bounded_under_continuous_writes(
    sqlite_db, tmp_path: Path
) -> None:
    """Writers never stop for long enough to leave SQLite a moment to restart the WAL by
    itself: the checkpointer copies it back beside them and holds them for the rest."""
    await sqlite_db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    wal = tmp_path / "pool.db-wal"
    row_bytes, rows_per_writer, writers = 8_192, 120, 50  # 48 MB, 12,000 pages and more
    largest = 0

    async def insert() -> None:
        query = "INSERT INTO filler (data) VALUES (:data)"
        await sqlite_db.execute(query, {"data": os.urandom(row_bytes)})

    async def writer() -> None:
        nonlocal largest
        for _ in range(rows_per_writer):
            await sqlite_db.group_commit(insert)
            largest = max(largest, wal.stat().st_size)

    async with anyio.create_task_group() as group:
        for _ in range(writers):
            group.start_soon(writer)
    written = row_bytes * rows_per_writer * writers
    assert await sqlite_db.fetch_val("SELECT count(*) FROM filler") == rows_per_writer * writers
    # a WAL never restarted holds it all (measured: 10-12 MB at 80 MB written a second)
    assert largest < written / 3, (largest, written)
    assert (tmp_path / "pool.db").stat().st_size > written / 2  # copied back to the file


class CountingLock(asyncio.Lock):
    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    async def acquire(self) -> bool:
        self.taken += 1
        return await super().acquire()


async def test_a_reader_on_old_pages_never_makes_the_checkpointer_hold_writers(
    sqlite_db, tmp_path: Path
) -> None:
    """While a reader's snapshot needs pages the WAL holds, no checkpoint can finish, so holding
    the writers for one would only stall them; once the reader is done, it does again. (The
    writes here are statements of their own, outside a transaction: they count as commits.)"""
    checkpointer = sqlite_db._pool.checkpointer
    checkpointer._write_lock = lock = CountingLock()  # the writers keep the pool's own lock
    await sqlite_db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")

    async def fill(rows: int) -> None:
        for _ in range(rows):
            query = "INSERT INTO filler (data) VALUES (:data)"
            await sqlite_db.execute(query, {"data": os.urandom(8_192)})
            await anyio.sleep(0.001)  # let the checkpointer run between them

    reader = sqlite3.connect(tmp_path / "pool.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM filler").fetchone() == (0,)
    await fill(1_000)  # 2,000 pages and more
    assert lock.taken == 0
    reader.execute("COMMIT")
    reader.close()
    await fill(100)
    await anyio.sleep(0.3)
    assert lock.taken > 0


async def test_group_commit_runs_in_a_transaction_of_its_own_elsewhere(db) -> None:
    async def fails() -> None:
        await db.execute(sa.insert(regions).values(code="99.99", name="Nowhere", level=2))
        raise ValueError("undo")

    with pytest.raises(ValueError, match="undo"):
        await db.group_commit(fails)
    found = await db.fetch_val(sa.select(sa.func.count()).where(regions.c.code == "99.99"))
    assert found == 0


REGION_NAMED = sa.select(regions.c.name).where(regions.c.code == sa.bindparam("code"))
RENAME_REGION = (
    sa.update(regions)
    .where(regions.c.code == sa.bindparam("code"))
    .values(name=sa.bindparam("name"))
)


async def test_statements_built_once_take_values_per_call(db) -> None:
    await db.execute(RENAME_REGION, {"code": "16.71", "name": "Kota Palembang (renamed)"})
    assert await db.fetch_val(REGION_NAMED, {"code": "16.71"}) == "Kota Palembang (renamed)"
    assert await db.fetch_val(REGION_NAMED, {"code": "16"}) != "Kota Palembang (renamed)"
    assert await db.fetch_one(REGION_NAMED, {"code": "00.00"}) is None
    # A statement without parameters of its own keeps `databases`' meaning of values.
    await db.execute(sa.update(regions).where(regions.c.code == "16.71"), {"name": "Palembang"})
    assert await db.fetch_val(REGION_NAMED, {"code": "16.71"}) == "Palembang"


async def test_statements_are_compiled_once_per_shape_on_both_engines(db) -> None:
    """`databases` compiles every statement on every call; both our backends compile a shape
    once (a statement built once, or one built per call with other values)."""
    statements = db._backend._statements
    for code in ("16.71", "16", "00.00"):
        await db.fetch_val(REGION_NAMED, {"code": code})
        await db.fetch_all(sa.select(regions.c.name).where(regions.c.code == code))
    cached = [entry.statement for entry in statements._entries.values()]
    assert sum(statement is REGION_NAMED for statement in cached) == 1
    assert len([s for s in cached if s is not REGION_NAMED and "regions" in str(s)]) == 1
    found = await db.fetch_all(sa.select(regions.c.name).where(regions.c.code == "16.71"))
    assert [row["name"] for row in found] == [await db.fetch_val(REGION_NAMED, {"code": "16.71"})]


def test_statements_built_once_get_the_args_sqlalchemy_would_give() -> None:
    """`Prepared.bound_args` skips `construct_params` on the hot path: the same args, in the
    same order, bind processors applied and the statement's own fixed values kept."""
    from sqlalchemy.dialects import sqlite

    from checkin.visits import INSERT_VISIT, PRESENT_AND_OPEN_VISITS
    from checkin.wallet import PROFILE_AND_CERTIFICATES
    from exposure.cases import CASE_STATUS
    from venues.registry import KEY_AND_VENUE
    from web.database import Prepared

    visit = {
        "visitor_id": "v", "venue_id": 7, "checked_in_at": 1, "ends_at": 2, "ended_by": None,
        "offline": True, "source": "scan", "recorded_at": 1,
    }  # fmt: skip
    calls = [
        (PRESENT_AND_OPEN_VISITS, {"venue_id": 7, "visitor_id": "v", "now": 5}),
        (INSERT_VISIT, visit),  # `offline` has a bind processor
        (CASE_STATUS, {"visitor_id": "v", "since": 3}),  # holds fixed values ('confirmed')
        (PROFILE_AND_CERTIFICATES, {"visitor_id": "v"}),
        (KEY_AND_VENUE, {"kid": b"abcd", "venue_id": 7}),
        (REGION_NAMED, {"code": "16.71"}),
    ]
    dialect = sqlite.dialect()
    for statement, values in calls:
        compiled = statement.compile(dialect=dialect)
        prepared = Prepared(statement, compiled, dialect)
        expected = prepared.args(compiled.construct_params(values))
        assert prepared.bound_args(values) == expected, statement
        assert prepared.positions, f"{statement} took the slow path"


async def test_a_nested_transaction_rolls_back_alone(sqlite_db) -> None:
    async with sqlite_db.transaction():
        await sqlite_db.execute("UPDATE counter SET n = 1 WHERE id = 1")
        with pytest.raises(RuntimeError):
            async with sqlite_db.transaction():
                await sqlite_db.execute("UPDATE counter SET n = 50 WHERE id = 1")
                raise RuntimeError("undo the inner one")
        async with sqlite_db.transaction():
            await sqlite_db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 2


async def test_savepoints_nested_three_deep_undo_only_their_own_writes(sqlite_db) -> None:
    # Every savepoint has the same name: each RELEASE or ROLLBACK TO must reach the newest.
    async def add(n: int) -> None:
        await sqlite_db.execute("UPDATE counter SET n = n + :n WHERE id = 1", {"n": n})

    async with sqlite_db.transaction():
        await add(1)
        async with sqlite_db.transaction():
            await add(10)
            with pytest.raises(RuntimeError):
                async with sqlite_db.transaction():
                    await add(100)
                    raise RuntimeError("undo 100 only")
            async with sqlite_db.transaction():
                await add(1000)
        with pytest.raises(RuntimeError):
            async with sqlite_db.transaction():
                await add(10_000)
                async with sqlite_db.transaction():
                    await add(100_000)
                raise RuntimeError("undo 10,000 and the 100,000 released inside it")
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 1011


async def test_a_block_without_savepoint_joins_the_write_transaction_around_it(sqlite_db) -> None:
    async def add(n: int) -> None:
        await sqlite_db.execute("UPDATE counter SET n = n + :n WHERE id = 1", {"n": n})

    async with sqlite_db.transaction():
        await add(1)
        with pytest.raises(RuntimeError):
            async with sqlite_db.transaction(savepoint=False):
                await add(10)
                raise RuntimeError("not undone here: the enclosing transaction decides")
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 11
    # Outside a write transaction it is a transaction of its own.
    with pytest.raises(RuntimeError):
        async with sqlite_db.transaction(savepoint=False):
            await add(100)
            raise RuntimeError("undone")
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 11


async def test_a_writer_waits_for_another_process_holding_the_write_lock(
    sqlite_db, tmp_path: Path
) -> None:
    import sqlite3

    other = sqlite3.connect(tmp_path / "pool.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE counter SET n = 10 WHERE id = 1")

    async def write() -> None:
        async with sqlite_db.transaction():
            await sqlite_db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")

    async with anyio.create_task_group() as group:
        group.start_soon(write)
        await anyio.sleep(0.2)  # the writer waits (in the pool thread, not the loop)
        other.execute("COMMIT")
    other.close()
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 11


async def test_insert_gives_the_new_rows_id_on_both_engines(db) -> None:
    """`Database.insert`: SQLite's last row id (no RETURNING), PostgreSQL's RETURNING; in a
    group commit (the write-lock holder's path on SQLite) and outside one."""
    from web.tables import login_failures

    insert = sa.insert(login_failures).values(
        account_key=sa.bindparam("account_key"), at=sa.bindparam("at")
    )
    first = await db.insert(insert, {"account_key": "a", "at": 1})

    async def second() -> int:
        return await db.insert(insert, {"account_key": "b", "at": 2})

    ids = [
        first,
        await db.group_commit(second),
        await db.insert(insert, {"account_key": "c", "at": 3}),
    ]
    rows = await db.fetch_all(
        sa.select(login_failures.c.id, login_failures.c.account_key).order_by(login_failures.c.id)
    )
    assert [(row["id"], row["account_key"]) for row in rows] == list(zip(ids, "abc", strict=True))
    assert len(set(ids)) == 3


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


async def test_group_commit_inside_a_write_transaction_is_a_savepoint_of_it(sqlite_db) -> None:
    async def bump() -> int:
        await sqlite_db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        return await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1")

    with anyio.fail_after(5):  # the group must not wait for the lock this task holds
        async with sqlite_db.transaction():
            assert await sqlite_db.group_commit(bump) == 1
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 1


async def test_a_group_commits_work_reads_and_nests_on_the_groups_connection(sqlite_db) -> None:
    """Inside a group commit's work, `fetch_rows` sees the group's uncommitted writes, and a
    group commit of its own is a savepoint of the group (run once, undone alone)."""

    async def fails() -> None:
        await sqlite_db.execute("UPDATE counter SET n = n + 100 WHERE id = 1")
        raise ValueError("undone alone")

    async def work() -> list[tuple[int, ...]]:
        await sqlite_db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        with pytest.raises(ValueError, match="undone alone"):
            await sqlite_db.group_commit(fails)
        return [tuple(row) for row in await sqlite_db.fetch_rows("SELECT n FROM counter")]

    with anyio.fail_after(5):  # another pooled connection would wait for the group's lock
        assert await sqlite_db.group_commit(work) == [(1,)]
    assert await sqlite_db.fetch_val("SELECT n FROM counter WHERE id = 1") == 1


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_a_group_commit_chosen_as_a_deadlocks_victim_runs_again(db, database_url) -> None:
    """Two transactions take two rows in opposite orders. PostgreSQL aborts the one whose
    deadlock check runs first (the one that waited first: the group commit's); its work runs
    again once the other has committed, and its caller gets the result, not an error."""
    other = open_database(database_url)
    await other.connect()
    for code in ("99.01", "99.02"):
        await db.execute(sa.insert(regions).values(code=code, name=code, level=2))
    first_taken, second_taken = anyio.Event(), anyio.Event()
    runs = 0

    async def rename(code: str, name: str, database) -> None:
        await database.execute(RENAME_REGION, {"code": code, "name": name})

    async def work() -> str:
        nonlocal runs
        runs += 1
        await rename("99.01", "group", db)
        first_taken.set()
        await second_taken.wait()
        await rename("99.02", "group", db)  # waits for the other: its deadlock timer starts
        return "committed"

    async def crossing() -> None:
        async with other.transaction():
            await first_taken.wait()
            await rename("99.02", "other", other)
            second_taken.set()
            await anyio.sleep(0.3)  # so the group commit's wait is the older one
            await rename("99.01", "other", other)  # the cycle; the group commit is aborted

    outcome: list[object] = []

    async def committing() -> None:
        try:
            outcome.append(await db.group_commit(work))
        except Exception as exc:  # the assertion below shows it
            outcome.append(exc)

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(crossing)
                tasks.start_soon(committing)
    finally:
        await other.disconnect()
    assert outcome == ["committed"] and runs == 2
    names = [await db.fetch_val(REGION_NAMED, {"code": c}) for c in ("99.01", "99.02")]
    assert names == ["group", "group"]  # the retry ran after the other had committed
