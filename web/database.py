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
import typing
from urllib.parse import urlsplit

import aiosqlite
import databases
from databases.backends.sqlite import SQLiteBackend, SQLiteConnection, SQLiteTransaction
from databases.core import DatabaseURL

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
            connection = await aiosqlite.connect(self._path, isolation_level=None)
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


class PooledSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: DatabaseURL | str, **options: typing.Any) -> None:
        pool_size = int(options.pop("pool_size", 4))
        super().__init__(database_url, **options)
        self._pool = SQLiteConnectionPool(DatabaseURL(database_url).database, pool_size)

    async def connect(self) -> None:
        await self._pool.open()

    async def disconnect(self) -> None:
        await self._pool.close()

    def connection(self) -> PooledSQLiteConnection:
        return PooledSQLiteConnection(self._pool, self._dialect)


class PooledSQLiteConnection(SQLiteConnection):
    _pool: SQLiteConnectionPool

    def transaction(self) -> ImmediateTransaction:
        return ImmediateTransaction(self)


class ImmediateTransaction(SQLiteTransaction):
    _connection: PooledSQLiteConnection

    async def start(self, is_root: bool, extra_options: dict[typing.Any, typing.Any]) -> None:
        if not is_root:
            await super().start(is_root, extra_options)
            return
        self._is_root = True
        await self._connection._pool.write_lock.acquire()
        try:
            await self._raw().execute("BEGIN IMMEDIATE")
        except BaseException:
            self._connection._pool.write_lock.release()
            raise

    async def commit(self) -> None:
        try:
            await super().commit()
        finally:
            self._release_write_lock()

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            self._release_write_lock()

    def _raw(self) -> aiosqlite.Connection:
        raw = self._connection._connection
        assert raw is not None, "Connection is not acquired"
        return raw

    def _release_write_lock(self) -> None:
        if self._is_root:
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
