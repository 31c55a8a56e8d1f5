"""The database: `databases` on PostgreSQL (asyncpg) and on SQLite through a pooled backend.

`databases` 0.9's own SQLite backend opens a new aiosqlite connection (and thread) for every
task that asks for one, losing per-connection PRAGMAs, and starts transactions with a plain
``BEGIN`` so concurrent read-then-write transactions fail with "database is locked". The
backend here fixes both at the root:

- a fixed pool of long-lived connections, opened on ``connect()`` with WAL, a busy timeout,
  ``synchronous=NORMAL`` and foreign keys applied to each;
- root transactions start with ``BEGIN IMMEDIATE`` (the write lock is taken first) and are
  serialised in-process by an asyncio lock, so writers queue on the event loop instead of
  sleeping in SQLite's busy handler.

Reads outside transactions run in parallel on the other pooled connections (WAL readers do not
block the writer). ``bench/db_backend.py`` measures the difference.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import typing
import uuid
from urllib.parse import urlsplit

import aiosqlite
import databases
import sqlalchemy as sa
from databases.backends.common.records import Record, Row, create_column_maps
from databases.backends.sqlite import (
    CompilationContext,
    SQLiteBackend,
    SQLiteConnection,
    SQLiteTransaction,
)
from databases.core import DatabaseURL
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.ddl import DDLElement

T = typing.TypeVar("T")
CompiledStatement = tuple[str, list[typing.Any], typing.Any, CompilationContext]

SQLITE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
)


class SQLiteConnectionPool:
    """A fixed set of long-lived aiosqlite connections handed out one task at a time.

    Fair: a released connection goes straight to the longest-waiting task. (An
    `asyncio.Queue` lets a task that is already running take it first, which starved some
    requests for seconds under load.)
    """

    def __init__(self, path: str, size: int) -> None:
        self._path = path
        self._size = size
        self._idle: collections.deque[aiosqlite.Connection] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[aiosqlite.Connection]] = collections.deque()
        self._all: list[aiosqlite.Connection] = []
        self.write_lock = asyncio.Lock()

    async def open(self) -> None:
        for _ in range(self._size):
            # check_same_thread off: a write transaction's statements run on the event loop's
            # thread (see PooledSQLiteConnection); one task uses a connection at a time.
            connection = await aiosqlite.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            for pragma in SQLITE_PRAGMAS:
                await connection.execute(pragma)
            self._all.append(connection)
            self._idle.append(connection)

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()
        self._all.clear()
        self._idle.clear()

    async def acquire(self) -> aiosqlite.Connection:
        if not self._all:
            raise RuntimeError("the SQLite database is not connected")
        if self._idle and not self._waiters:
            return self._idle.popleft()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._hand_over(waiter.result())  # it was handed to us as we were cancelled
            raise

    async def release(self, connection: aiosqlite.Connection) -> None:
        if connection.in_transaction:  # a task died mid-transaction: never leak its writes
            await connection.rollback()
        self._hand_over(connection)

    def _hand_over(self, connection: aiosqlite.Connection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)


class StatementCache:
    """SQL compiled once per statement shape, keyed by SQLAlchemy's own cache key.

    `databases` compiles every statement on every call (a few hundred microseconds for a
    select, more than SQLite takes to run it). SQLAlchemy's engines avoid that with a cache
    keyed by ``_generate_cache_key()``, whose bound values are extracted and re-applied with
    ``construct_params(extracted_parameters=...)``; this does the same. Statements with an
    expanding ``IN`` list render the list into the SQL, so they are compiled every time.
    """

    MAX_ENTRIES = 2000

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._entries: dict[tuple[typing.Any, ...], tuple[Compiled, CompilationContext]] = {}

    def compile(self, query: ClauseElement) -> CompiledStatement | None:
        """(sql, positional args, result columns, context), or None when not cacheable."""
        if isinstance(query, DDLElement):
            return None
        key = query._generate_cache_key()
        if key is None or any(b.expanding or b.literal_execute for b in key.bindparams):
            return None
        entry = self._entries.get(key.key)
        if entry is None:
            compiled = query.compile(dialect=self._dialect, cache_key=key)
            context = self._dialect.execution_ctx_cls()
            context.dialect = self._dialect
            context.result_column_struct = (
                compiled._result_columns,
                compiled._ordered_columns,
                compiled._textual_ordered_columns,
                compiled._ad_hoc_textual,
                compiled._loose_column_name_matching,
            )
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            entry = self._entries[key.key] = (compiled, CompilationContext(context))
        compiled, context = entry
        params = compiled.construct_params(extracted_parameters=key.bindparams)
        processors = compiled._bind_processors
        args = [
            processors[name](params[name]) if name in processors else params[name]
            for name in compiled.positiontup or ()
        ]
        return compiled.string, args, compiled._result_columns, context


class PooledSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: DatabaseURL | str, **options: typing.Any) -> None:
        pool_size = int(options.pop("pool_size", 4))
        super().__init__(database_url, **options)
        self._pool = SQLiteConnectionPool(DatabaseURL(database_url).database, pool_size)
        self._statements = StatementCache(self._dialect)

    async def connect(self) -> None:
        await self._pool.open()

    async def disconnect(self) -> None:
        await self._pool.close()

    def connection(self) -> PooledSQLiteConnection:
        return PooledSQLiteConnection(self._pool, self._dialect, self._statements)


def _fetch(
    connection: sqlite3.Connection, sql: str, args: list[typing.Any], limit: int | None
) -> tuple[list[typing.Any], typing.Any]:
    cursor = connection.execute(sql, args)
    try:
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        return rows, cursor.description
    finally:
        cursor.close()


def _execute(connection: sqlite3.Connection, sql: str, args: list[typing.Any]) -> int:
    cursor = connection.execute(sql, args)
    try:  # what databases' SQLite backend returns: the new row id, else the rows changed
        return cursor.lastrowid or cursor.rowcount
    finally:
        cursor.close()


class PooledSQLiteConnection(SQLiteConnection):
    """One thread hop per statement (the stock connection takes two or three: execute, fetch,
    close), and statements compiled once (`StatementCache`).

    The hop runs a function in the aiosqlite connection's own thread through its
    ``_execute``, the primitive every public aiosqlite method is built on.
    """

    _pool: SQLiteConnectionPool

    def __init__(
        self, pool: SQLiteConnectionPool, dialect: Dialect, statements: StatementCache
    ) -> None:
        super().__init__(pool, dialect)  # type: ignore[arg-type]
        self._statements = statements
        self._writing = False

    def transaction(self) -> ImmediateTransaction:
        return ImmediateTransaction(self)

    def _compile(self, query: ClauseElement) -> typing.Any:
        return self._statements.compile(query) or super()._compile(query)

    async def _run(self, function: typing.Callable[..., T], *args: typing.Any) -> T:
        raw = self._connection
        assert raw is not None, "Connection is not acquired"
        if self._writing:  # we hold the write lock: nothing to wait for, so no thread hop
            return function(raw._conn, *args)
        return await raw._execute(function, raw._conn, *args)

    async def _records(self, query: ClauseElement, limit: int | None) -> list[Record]:
        sql, args, result_columns, context = self._compile(query)
        rows, description = await self._run(_fetch, sql, args, limit)
        if not rows:
            return []
        metadata = CursorResultMetaData(context, description)
        column_maps = create_column_maps(result_columns)
        return [
            Record(
                Row(metadata, metadata._processors, metadata._keymap, row),
                result_columns,
                self._dialect,
                column_maps,
            )
            for row in rows
        ]

    async def fetch_all(self, query: ClauseElement) -> list[Record]:
        return await self._records(query, None)

    async def fetch_one(self, query: ClauseElement) -> Record | None:
        records = await self._records(query, 1)
        return records[0] if records else None

    async def execute(self, query: ClauseElement) -> typing.Any:
        sql, args, _, _ = self._compile(query)
        return await self._run(_execute, sql, args)

    async def fetch_rows(self, query: ClauseElement) -> list[tuple[typing.Any, ...]]:
        """The rows as the sqlite3 module returns them: tuples, no `Record` built per row."""
        sql, args, _, _ = self._compile(query)
        rows, _ = await self._run(_fetch, sql, args, None)
        return rows


def _statement(connection: sqlite3.Connection, sql: str) -> None:
    connection.execute(sql).close()


class ImmediateTransaction(SQLiteTransaction):
    """Root transactions take the write lock first (``BEGIN IMMEDIATE``, in the pool thread,
    where waiting for another process's lock blocks nothing else); savepoints nest in them."""

    _connection: PooledSQLiteConnection

    async def start(self, is_root: bool, extra_options: dict[typing.Any, typing.Any]) -> None:
        self._is_root = is_root
        if not is_root:
            self._savepoint_name = f"SAVEPOINT_{uuid.uuid4().hex}"
            await self._connection._run(_statement, f"SAVEPOINT {self._savepoint_name}")
            return
        await self._connection._pool.write_lock.acquire()
        try:
            await self._connection._run(_statement, "BEGIN IMMEDIATE")
        except BaseException:
            self._connection._pool.write_lock.release()
            raise
        self._connection._writing = True

    async def commit(self) -> None:
        await self._end("COMMIT", f"RELEASE SAVEPOINT {self._savepoint_name}")

    async def rollback(self) -> None:
        await self._end("ROLLBACK", f"ROLLBACK TO SAVEPOINT {self._savepoint_name}")

    async def _end(self, root_sql: str, savepoint_sql: str) -> None:
        if not self._is_root:
            await self._connection._run(_statement, savepoint_sql)
            return
        try:
            await self._connection._run(_statement, root_sql)
        finally:
            self._connection._writing = False
            self._connection._pool.write_lock.release()


class Database(databases.Database):
    SUPPORTED_BACKENDS: typing.ClassVar[dict[str, str]] = {
        **databases.Database.SUPPORTED_BACKENDS,
        "sqlite": "web.database:PooledSQLiteBackend",
    }

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``: the few queries that differ branch on this."""
        return self.url.dialect

    async def fetch_rows(
        self, query: ClauseElement | str, values: dict[str, typing.Any] | None = None
    ) -> list[typing.Sequence[typing.Any]]:
        """The rows of a query as the driver returns them (sqlite3 tuples, asyncpg records).

        For hot queries that return many rows of plain integers and text: `fetch_all` builds a
        `Record` for each row (about 1.7 us on SQLite: 0.13 s for the 75,000 contacts of a large
        exposure run) and applies result type processors, which this skips. The query runs on
        the task's connection, inside its transaction if one is open, like `fetch_all`.
        """
        built = sa.text(query).bindparams(**(values or {})) if isinstance(query, str) else query
        async with self.connection() as connection, connection._query_lock:
            backend = connection._connection
            if isinstance(backend, PooledSQLiteConnection):
                return await backend.fetch_rows(built)
            sql, args, _ = backend._compile(built)
            return await backend.raw_connection.fetch(sql, *args)


def open_database(url: str, sqlite_pool_size: int = 4) -> Database:
    """A `Database` for the URL; SQLite URLs get the pooled backend."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        if url in {"sqlite://", "sqlite:///:memory:"}:
            raise ValueError("in-memory SQLite loses its tables between connections; use a file")
        return Database(url, pool_size=sqlite_pool_size)
    if scheme in {"postgresql", "postgres"}:
        return Database(url)
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite or postgresql")
