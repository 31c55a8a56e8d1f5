"""The database: `databases` on PostgreSQL (asyncpg) and on SQLite through a pooled backend.

`databases` 0.9's own SQLite backend opens a new aiosqlite connection (and thread) for every
task that asks for one, losing per-connection PRAGMAs, and starts transactions with a plain
``BEGIN`` so concurrent read-then-write transactions fail with "database is locked". The
backend here fixes both at the root:

- a fixed pool of long-lived connections, opened on ``connect()`` with WAL, a busy timeout,
  ``synchronous=NORMAL`` and foreign keys applied to each;
- root transactions start with ``BEGIN IMMEDIATE`` (the write lock is taken first) and are
  serialised in-process by an asyncio lock, so writers queue on the event loop instead of
  sleeping in SQLite's busy handler;
- the WAL is checkpointed beside the writers (`WalCheckpointer`), not inside a ``COMMIT``.

Reads outside transactions run in parallel on the other pooled connections (WAL readers do not
block the writer). ``bench/db_backend.py`` measures the difference.

For the check-in hot path, on every engine: statements built once and called with values
(`BindingConnection`; compiled once on SQLite) and ``Database.group_commit`` (on SQLite,
concurrent write transactions share one commit, `GroupCommit`). docs/architecture.md says why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import logging
import random
import sqlite3
import typing
from urllib.parse import urlsplit

import aiosqlite
import asyncpg
import databases
import sqlalchemy as sa
from databases.backends.common.records import Record, Row, create_column_maps
from databases.backends.postgres import PostgresBackend, PostgresConnection
from databases.backends.sqlite import (
    CompilationContext,
    SQLiteBackend,
    SQLiteConnection,
    SQLiteTransaction,
)
from databases.core import DatabaseURL
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.ddl import DDLElement
from sqlalchemy.sql.elements import BindParameter

T = typing.TypeVar("T")
logger = logging.getLogger("singgah.database")

BUSY_TIMEOUT_MS = 10_000

# What PostgreSQL refuses so that another transaction can go on: the victim of a deadlock (two
# transactions each waiting for a row the other holds), or one that could not be serialised.
# Nothing of it was written, so a transaction of its own can simply run again
# (`Database.group_commit` does); anything else answers 503 with Retry-After (web/errors.py),
# never 500.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)
TRANSACTION_ATTEMPTS = 3
RETRY_PAUSE_S = 0.05  # at most, times the attempt: the two sides should not meet again
SQLITE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    # Checkpoints are `WalCheckpointer`'s, not the COMMIT's: see there.
    "PRAGMA wal_autocheckpoint=0",
)
# The WAL's length (in pages) from which the checkpointer makes writers wait for the last of
# it to be copied, so that the next commit starts the WAL from its beginning: SQLite's own
# automatic checkpoint starts at this length too.
WAL_RESTART_PAGES = 1_000
CHECKPOINT_PAUSE_S = 0.02  # after a commit: the commits of that time share one checkpoint


class WalCheckpointer:
    """Copies the committed pages from the WAL back into the database file, on a connection
    and thread of its own, while writers go on.

    SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages:
    the write lock stays held while it copies the pages and syncs the file, and syncs wait for
    the disk. Under check-in load such a COMMIT held every writer for up to 233 ms in the pool
    thread (780 ms on the loop, with every request), and made it unfit for the loop's thread
    (see `ImmediateTransaction._end`). Here the copy runs beside the writers (a PASSIVE
    checkpoint), and only once the WAL is `WAL_RESTART_PAGES` long are writers held while what
    they added meanwhile is copied, so that the WAL restarts and stays bounded.
    """

    def __init__(self, path: str, write_lock: asyncio.Lock) -> None:
        self._path = path
        self._write_lock = write_lock
        self._connection: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._committed = asyncio.Event()

    async def open(self) -> None:
        self._connection = await aiosqlite.connect(self._path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await self._connection.execute(pragma)
        self._task = asyncio.create_task(self._run(), name="sqlite-wal-checkpointer")

    async def close(self) -> None:
        """Stop; the database's last connection to close checkpoints what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def committed(self) -> None:
        self._committed.set()

    async def _run(self) -> None:
        while True:
            await self._committed.wait()
            await asyncio.sleep(CHECKPOINT_PAUSE_S)
            self._committed.clear()
            try:
                length, copied = await self.checkpoint()
                # Held writers help only if everything up to this pass was copied; otherwise
                # a reader still needs older pages (or another process checkpoints).
                if length >= WAL_RESTART_PAGES and copied == length:
                    async with self._write_lock:
                        await self.checkpoint()
            except sqlite3.Error:  # the next commit tries again; writers are never held up
                logger.exception("WAL checkpoint failed")

    async def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: the WAL's length and how much of it is in the database file
        now, in pages (-1, -1 when there is no WAL or another checkpoint is running)."""
        assert self._connection is not None, "the checkpointer is not open"
        async with self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
            row = await cursor.fetchone()
        return (row[1], row[2]) if row is not None else (-1, -1)


class SQLiteConnectionPool:
    """A fixed set of long-lived aiosqlite connections handed out one task at a time.

    Fair: a released connection goes straight to the longest-waiting task. (An
    `asyncio.Queue` lets a task that is already running take it first, which starved some
    requests for seconds under load.) With none waiting, the idle connection used last is
    handed out first: in WAL mode a connection drops its page cache when another one has
    committed since its last transaction, so the writer keeps the cache its own commits left
    valid (a check-in's four statements, in process: 145 to 127 us of SQLite calls).
    """

    def __init__(self, path: str, size: int) -> None:
        self._path = path
        self._size = size
        self._idle: collections.deque[aiosqlite.Connection] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[aiosqlite.Connection]] = collections.deque()
        self._all: list[aiosqlite.Connection] = []
        self.write_lock = asyncio.Lock()
        self.checkpointer = WalCheckpointer(path, self.write_lock)

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
        await self.checkpointer.open()

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()
        self._all.clear()
        self._idle.clear()
        await self.checkpointer.close()

    async def acquire(self) -> aiosqlite.Connection:
        if not self._all:
            raise RuntimeError("the SQLite database is not connected")
        if self._idle and not self._waiters:
            return self._idle.pop()
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


class BoundStatement(typing.NamedTuple):
    """A statement built once (a module constant with ``sa.bindparam``s) and this call's
    values for its parameters: ``db.fetch_one(STATEMENT, {"visitor_id": ...})``. Its SQL is
    compiled once, so it must not hold an expanding ``IN`` parameter (a list per call)."""

    statement: ClauseElement
    values: dict[str, typing.Any]


def takes_values(statement: ClauseElement) -> bool:
    """Whether ``statement`` has parameters without a value, to be given with each call."""
    return any(
        isinstance(element, BindParameter) and element.required
        for element in visitors.iterate(statement)
    )


def with_values(statement: ClauseElement, values: dict[str, typing.Any]) -> ClauseElement:
    """A copy of ``statement`` with its parameters set, for backends that compile per call.
    (What ``Select.params()`` does; an insert's or update's ``params()`` refuses.)"""

    def set_value(bind: BindParameter[typing.Any]) -> None:
        if bind.key in values:
            bind.value = values[bind.key]
            bind.required = False

    options = {"maintain_key": True, "detect_subquery_cols": True}
    return visitors.cloned_traverse(statement, options, {"bindparam": set_value})


class SQLiteRecord(Record):
    """A row of the pooled SQLite backend: the sqlite3 tuple, read as `databases`' record reads
    it on SQLite (by column name, position or column; values unchanged, since it applies
    result processors on PostgreSQL only), a name found in one dictionary. SQLAlchemy's
    ``Row`` is built only when asked for (keys, iteration, ``record._mapping``): the check-in
    hot path builds about six records and reads about forty columns, by name."""

    __slots__ = ("_built", "_dialect_of", "_prepared", "_values")

    def __init__(
        self,
        values: tuple[typing.Any, ...],
        prepared: Prepared,
        metadata: CursorResultMetaData,
        dialect: Dialect,
    ) -> None:
        self._values = values
        self._prepared = prepared
        self._dialect_of = dialect
        self._built: CursorResultMetaData | Record = metadata  # until the record is built

    @property
    def _row(self) -> Row:  # type: ignore[override]
        return self._stock()._row

    def _stock(self) -> Record:
        """The record as `databases` builds it, for whatever reads more than a column."""
        built = self._built
        if not isinstance(built, Record):
            row = Row(built, built._processors, built._keymap, self._values)
            prepared = self._prepared
            built = self._built = Record(
                row, prepared.result_columns, self._dialect_of, prepared.column_maps
            )
        return built

    def __getitem__(self, key: typing.Any) -> typing.Any:
        if key.__class__ is str:
            index = self._prepared.index.get(key)
            if index is not None:
                return self._values[index]
        elif key.__class__ is int:
            return self._values[key]
        return self._stock()[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> typing.Iterator[typing.Any]:
        return iter(self._stock())

    @property
    def _mapping(self) -> typing.Mapping[str, typing.Any]:
        return self._stock()._mapping


class Prepared:
    """One statement shape compiled for SQLite, with what reading its rows needs."""

    __slots__ = (
        "column_maps", "compiled", "context", "fixed", "index", "metadata", "positions",
        "result_columns", "sql", "statement",
    )  # fmt: skip

    def __init__(self, statement: ClauseElement, compiled: Compiled, dialect: Dialect) -> None:
        self.statement = statement  # held, so an id() key cannot be reused while cached
        self.compiled = compiled
        self.sql = compiled.string
        self.result_columns = getattr(compiled, "_result_columns", [])  # DDL has none
        context = dialect.execution_ctx_cls()
        context.dialect = dialect
        if not isinstance(statement, DDLElement):
            context.result_column_struct = (
                compiled._result_columns,
                compiled._ordered_columns,
                compiled._textual_ordered_columns,
                compiled._ad_hoc_textual,
                compiled._loose_column_name_matching,
            )
        self.context = CompilationContext(context)
        self.column_maps = create_column_maps(self.result_columns)
        self.index = {name: index for name, (index, _) in self.column_maps[0].items()}
        self.metadata: CursorResultMetaData | None = None
        self.positions: list[tuple[str, typing.Any]] | None = None  # on the first call
        self.fixed: dict[str, typing.Any] = {}

    def args(self, params: dict[str, typing.Any]) -> list[typing.Any]:
        processors = self.compiled._bind_processors
        return [
            processors[name](params[name]) if name in processors else params[name]
            for name in self.compiled.positiontup or ()
        ]

    def bound_args(self, values: dict[str, typing.Any]) -> list[typing.Any]:
        """The positional args of a `BoundStatement` call: its values in SQL order, with
        the statement's own fixed values (``column == 5``) where the call gives none. The
        same as ``args(compiled.construct_params(values))`` without building the dictionary
        of every parameter each call (the check-in path makes about ten such calls)."""
        if self.positions is None:
            self.positions = self._positions()
        if not self.positions:
            return self.args(self.compiled.construct_params(values))
        fixed = self.fixed
        return [
            (value if process is None else process(value))
            for name, process in self.positions
            for value in (values[name] if name in values else fixed[name],)
        ]

    def _positions(self) -> list[tuple[str, typing.Any]]:
        """(name, bind processor) in SQL order; empty where a parameter needs SQLAlchemy's
        own handling (an escaped name, a callable value, a value given by a key other than
        its name)."""
        compiled = self.compiled
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        if compiled.escaped_bind_names or any(
            bind.callable is not None or (bind.required and bind.key != name)
            for name, bind in binds.items()
        ):
            return []
        self.fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
        processors = compiled._bind_processors
        return [(name, processors.get(name)) for name in compiled.positiontup or ()]

    def result_metadata(self, description: typing.Any) -> CursorResultMetaData:
        if self.metadata is None:  # the same SQL always describes the same columns
            self.metadata = CursorResultMetaData(self.context, description)
        return self.metadata


class StatementCache:
    """SQL compiled once per statement shape, as SQLAlchemy's own engines do.

    `databases` compiles every statement on every call (a few hundred microseconds for a
    select, more than SQLite takes to run it). Statements built per call are keyed by
    SQLAlchemy's ``_generate_cache_key()``, whose bound values are extracted and re-applied
    with ``construct_params(extracted_parameters=...)``. Statements built once and called
    with values (`BoundStatement`) are keyed by the statement object itself, which skips
    building the statement and its cache key on every call: the hot path's statements are
    module constants. Statements with an expanding ``IN`` list render the list into the
    SQL, so they are compiled every time.
    """

    MAX_ENTRIES = 2000

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._entries: dict[typing.Any, Prepared] = {}

    def _prepared(self, key: typing.Any, query: ClauseElement, cache_key: typing.Any) -> Prepared:
        entry = self._entries.get(key)
        if entry is None:
            compiled = query.compile(dialect=self._dialect, cache_key=cache_key)
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            entry = self._entries[key] = Prepared(query, compiled, self._dialect)
        return entry

    def bound(
        self, query: typing.Any, values: dict[str, typing.Any]
    ) -> tuple[Prepared, list[typing.Any]] | None:
        """`compile` of ``BoundStatement(query, values)`` in one lookup, once ``query`` has
        been compiled that way; None before (the caller then builds and compiles it)."""
        entry = self._entries.get(id(query))
        if entry is None or entry.statement is not query:
            return None
        return entry, entry.bound_args(values)

    def compile(self, query: ClauseElement | BoundStatement) -> tuple[Prepared, list[typing.Any]]:
        """The compiled statement and its positional args."""
        if isinstance(query, BoundStatement):
            entry = self._prepared(id(query.statement), query.statement, None)
            return entry, entry.bound_args(query.values)
        if isinstance(query, DDLElement):
            return Prepared(query, query.compile(dialect=self._dialect), self._dialect), []
        key = query._generate_cache_key()
        if key is None or any(b.expanding or b.literal_execute for b in key.bindparams):
            compiled = query.compile(
                dialect=self._dialect, compile_kwargs={"render_postcompile": True}
            )
            entry = Prepared(query, compiled, self._dialect)
            return entry, entry.args(compiled.construct_params())
        entry = self._prepared(key.key, query, key)
        params = entry.compiled.construct_params(extracted_parameters=key.bindparams)
        return entry, entry.args(params)


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
    connection: sqlite3.Connection,
    sql: str,
    args: list[typing.Any],
    limit: int | None,
    describe: bool = True,
) -> tuple[list[typing.Any], typing.Any]:
    """The rows, and the cursor's description if ``describe`` (None otherwise): sqlite3
    builds that tuple of tuples anew at each reading, 1.7 us for 15 columns, and a statement
    compiled once needs it once (`Prepared.result_metadata`)."""
    cursor = connection.execute(sql, args)
    try:
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        return rows, cursor.description if describe else None
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

    def total_changes(self) -> int:
        """Rows inserted, updated or deleted on this connection since it opened."""
        raw = self._connection
        assert raw is not None, "Connection is not acquired"
        return raw._conn.total_changes

    def _run_here(self, function: typing.Callable[..., T], *args: typing.Any) -> T:
        """Run on the event loop's thread: only for what cannot wait for a lock."""
        raw = self._connection
        assert raw is not None, "Connection is not acquired"
        return function(raw._conn, *args)

    async def _run(self, function: typing.Callable[..., T], *args: typing.Any) -> T:
        raw = self._connection
        assert raw is not None, "Connection is not acquired"
        if self._writing:  # we hold the write lock: nothing to wait for, so no thread hop
            return self._run_here(function, *args)
        changes = raw._conn.total_changes
        result = await raw._execute(function, raw._conn, *args)
        if raw._conn.total_changes != changes:  # a write of its own (autocommit) is committed
            self._pool.checkpointer.committed()
        return result

    def _prepare(self, query: ClauseElement | BoundStatement) -> tuple[Prepared, list[typing.Any]]:
        return self._statements.compile(query)

    async def _records(self, query: ClauseElement, limit: int | None) -> list[Record]:
        entry, args = self._prepare(query)
        described = entry.metadata is None
        rows, description = await self._run(_fetch, entry.sql, args, limit, described)
        return self._as_records(entry, rows, description)

    def _prepare_now(
        self, query: typing.Any, values: dict[str, typing.Any] | None
    ) -> tuple[Prepared, list[typing.Any]]:
        found = self._statements.bound(query, values) if values is not None else None
        return found or self._prepare(BindingConnection.built(query, values, self))

    def records_now(
        self, query: typing.Any, values: dict[str, typing.Any] | None, limit: int | None
    ) -> list[Record]:
        """`fetch_all` for the holder of the write lock: at once, on the loop's thread,
        without the coroutines of the general path (a check-in makes about ten calls), and a
        statement built once found in one lookup."""
        entry, args = self._prepare_now(query, values)
        described = entry.metadata is None
        return self._as_records(entry, *self._run_here(_fetch, entry.sql, args, limit, described))

    def execute_now(self, query: typing.Any, values: dict[str, typing.Any] | None) -> typing.Any:
        """`execute` for the holder of the write lock, as `records_now`."""
        entry, args = self._prepare_now(query, values)
        return self._run_here(_execute, entry.sql, args)

    def _as_records(
        self, entry: Prepared, rows: list[typing.Any], description: typing.Any
    ) -> list[Record]:
        if not rows:
            return []
        metadata, dialect = entry.result_metadata(description), self._dialect
        return [SQLiteRecord(row, entry, metadata, dialect) for row in rows]

    async def fetch_all(self, query: ClauseElement) -> list[Record]:
        return await self._records(query, None)

    async def fetch_one(self, query: ClauseElement) -> Record | None:
        records = await self._records(query, 1)
        return records[0] if records else None

    async def execute(self, query: ClauseElement) -> typing.Any:
        entry, args = self._prepare(query)
        return await self._run(_execute, entry.sql, args)

    async def fetch_rows(self, query: ClauseElement) -> list[tuple[typing.Any, ...]]:
        """The rows as the sqlite3 module returns them: tuples, no `Record` built per row."""
        entry, args = self._prepare(query)
        rows, _ = await self._run(_fetch, entry.sql, args, None, False)
        return rows


def _statement(connection: sqlite3.Connection, sql: str) -> None:
    connection.execute(sql).close()


def _begin_without_waiting(connection: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` unless another process holds the write lock (then False)."""
    connection.execute("PRAGMA busy_timeout=0").close()
    try:
        connection.execute("BEGIN IMMEDIATE").close()
        return True
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").close()


# One name for every savepoint: they nest strictly (each ends before the one around it), and
# SQLite's RELEASE and ROLLBACK TO act on the newest savepoint of a name, which is then the
# right one. One name is also one SQL text each, prepared once in sqlite3's statement cache;
# numbered names were parsed anew twice a check-in.
SAVEPOINT = "singgah"

# The pooled SQLite write transaction this task holds: (task, its loop, pool, connection), set
# when it begins and cleared when it ends. Found in one context-variable read (with the task
# compared: tasks started inside the transaction copy the variable but do not hold the
# transaction), where `databases`' connection of the task costs the task's lookup in a weak
# dictionary. The task is looked up on the loop kept here: `asyncio.current_task()` without
# one finds the running loop first, which in CPython 3.11 makes a getpid system call (0.25
# against 0.05 us, about a dozen times a check-in).
_WRITER: contextvars.ContextVar[
    tuple[
        asyncio.Task[typing.Any] | None,
        asyncio.AbstractEventLoop,
        SQLiteConnectionPool,
        PooledSQLiteConnection,
    ]
    | None
] = contextvars.ContextVar("singgah_sqlite_writer", default=None)


class ImmediateTransaction(SQLiteTransaction):
    """Root transactions take the write lock first (``BEGIN IMMEDIATE``, in the pool thread,
    where waiting for another process's lock blocks nothing else); savepoints nest in them."""

    _connection: PooledSQLiteConnection

    async def start(self, is_root: bool, extra_options: dict[typing.Any, typing.Any]) -> None:
        self._is_root = is_root
        if not is_root:
            await self._connection._run(_statement, f"SAVEPOINT {SAVEPOINT}")
            return
        await self._connection._pool.write_lock.acquire()
        try:
            # Nobody in this process writes now (the lock above), so the write lock is
            # usually free: take it here, on the loop, rather than pay a thread hop. If
            # another process holds it, wait for it in the pool thread.
            if not self._connection._run_here(_begin_without_waiting):
                await self._connection._run(_statement, "BEGIN IMMEDIATE")
        except BaseException:
            self._connection._pool.write_lock.release()
            raise
        self._connection._writing = True
        loop = asyncio.get_running_loop()
        _WRITER.set((asyncio.current_task(loop), loop, self._connection._pool, self._connection))

    async def commit(self) -> None:
        await self._end("COMMIT", f"RELEASE SAVEPOINT {SAVEPOINT}")
        if self._is_root:
            self._connection._pool.checkpointer.committed()

    async def rollback(self) -> None:
        await self._end("ROLLBACK", f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")

    async def _end(self, root_sql: str, savepoint_sql: str) -> None:
        if not self._is_root:
            await self._connection._run(_statement, savepoint_sql)
            return
        # The commit runs here, on the loop: it writes the pages to the WAL and syncs nothing
        # (synchronous=NORMAL, no automatic checkpoint), 0.2 ms for a group of 17 check-ins.
        # In the pool thread it took 5.9 ms (median) under load, most of it the thread waiting
        # for a core and the interpreter lock, with the write lock held all the while.
        self._connection._writing = False
        _WRITER.set(None)
        try:
            self._connection._run_here(_statement, root_sql)
        finally:
            self._connection._pool.write_lock.release()


class CachedPostgresBackend(PostgresBackend):
    """`databases`' asyncpg backend with statements compiled once per shape (`StatementCache`),
    as on SQLite. The stock backend compiles every statement on every call, which was about
    40% of a PostgreSQL check-in's CPU. The cache compiles for the same dialect with numbered
    ``$n`` parameters, asyncpg's own, so the SQL needs no rewriting per call."""

    def __init__(self, database_url: DatabaseURL | str, **options: typing.Any) -> None:
        super().__init__(database_url, **options)
        numbered = self._get_dialect()
        numbered.paramstyle, numbered.positional = "numeric_dollar", True
        numbered.identifier_preparer = numbered.preparer(numbered)  # no "%%" for a "%"
        self._statements = StatementCache(numbered)

    def connection(self) -> CachedPostgresConnection:
        return CachedPostgresConnection(self, self._dialect)


class CachedPostgresConnection(PostgresConnection):
    _database: CachedPostgresBackend

    def _compile(self, query: typing.Any) -> tuple[str, list[typing.Any], typing.Any]:
        if isinstance(query, DDLElement):
            return super()._compile(query)
        entry, args = self._database._statements.compile(query)
        return entry.sql, args, entry.result_columns


class BindingConnection(databases.core.Connection):
    """`databases`' connection, where a statement built once with ``sa.bindparam``s can be
    called with values: ``db.fetch_one(STATEMENT, {"name": value})``, as SQLAlchemy's own
    ``connection.execute(statement, parameters)``. (`databases` itself only applies values
    to raw SQL strings, or as ``.values()`` of an insert or update, which still holds for
    statements without parameters of their own.) On the pooled SQLite backend such a
    statement is compiled once (`BoundStatement`); elsewhere its parameters are set per call.
    """

    _TAKES_VALUES: typing.ClassVar[dict[int, tuple[ClauseElement, bool]]] = {}

    def _build_query(
        self, query: typing.Any, values: dict[str, typing.Any] | None = None
    ) -> typing.Any:
        return self.built(query, values, self._connection)

    @classmethod
    def built(
        cls, query: typing.Any, values: dict[str, typing.Any] | None, backend: typing.Any
    ) -> typing.Any:
        """``query`` with ``values`` applied, for ``backend`` (the driver-level connection)."""
        if values is None or isinstance(query, str) or not cls._takes_values(query):
            return databases.core.Connection._build_query(query, values)
        if isinstance(backend, PooledSQLiteConnection | CachedPostgresConnection):
            return BoundStatement(query, values)
        return with_values(query, values)

    @classmethod
    def _takes_values(cls, query: ClauseElement) -> bool:
        known = cls._TAKES_VALUES.get(id(query))
        if known is None or known[0] is not query:
            if len(cls._TAKES_VALUES) >= StatementCache.MAX_ENTRIES:
                cls._TAKES_VALUES.clear()
            known = cls._TAKES_VALUES[id(query)] = (query, takes_values(query))
        return known[1]


Work = typing.Callable[[], typing.Awaitable[T]]
Pending = tuple[Work[typing.Any], "asyncio.Future[typing.Any]"]
Outcome = tuple["asyncio.Future[typing.Any]", typing.Any, Exception | None]


class _WorkFailedAfterWriting(Exception):
    """A group-commit work failed with rows of its own changed: the group runs again."""


class GroupCommit:
    """Concurrent write transactions of one SQLite database run together in one transaction.

    An exception in one caller's work undoes that work alone and is raised to its caller; the
    others go on. Every caller gets its own result only after the ``COMMIT`` that holds its
    writes. The works first run one after the other without savepoints (two statements each
    less): a work that fails before it has changed a row has nothing to undo, which is how
    check-ins fail (a bad poster token, a deactivated venue, an offline scan out of bounds).
    Only if a work fails after changing rows is the whole group rolled back and run again,
    each work in a savepoint of its own (`_commit_isolated`), so works must be safe to run
    twice: database calls only, as on PostgreSQL (`Database.group_commit`). While one group
    runs (its ``BEGIN IMMEDIATE`` waits in the pool thread), the next group gathers; there is
    no timer, so a lone request is not delayed. The works run one after the other in the
    committer's task, on its connection (so ``db.fetch_one`` and friends inside them use it),
    on the event loop's thread: they must do database calls only, never wait for anything
    else.
    """

    def __init__(self, db: Database, backend: PooledSQLiteBackend) -> None:
        self._db = db
        self._backend = backend
        self._pending: list[Pending] = []
        self._committer: asyncio.Task[None] | None = None

    async def run(self, work: Work[T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_pending())
        return await future

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                await self._commit(group)
        finally:
            self._committer = None

    async def _commit(self, group: list[Pending]) -> None:
        try:
            try:
                outcomes = await self._commit_together(group)
            except _WorkFailedAfterWriting:
                outcomes = await self._commit_isolated(group)
        except BaseException as exc:
            self._fail_all(group, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._answer(outcomes)

    async def _commit_together(self, group: list[Pending]) -> list[Outcome]:
        """The works in one transaction, no savepoints; `_WorkFailedAfterWriting` (after
        which the transaction is rolled back) if one fails with rows of its own to undo."""
        outcomes: list[Outcome] = []
        async with GroupTransaction(self._backend) as connection:
            for work, future in group:
                if future.cancelled():  # the caller is gone: nobody wants this written
                    continue
                changes = connection.total_changes()
                try:
                    outcomes.append((future, await work(), None))
                except Exception as exc:
                    if connection.total_changes() != changes:
                        raise _WorkFailedAfterWriting from exc
                    outcomes.append((future, None, exc))
        return outcomes

    async def _commit_isolated(self, group: list[Pending]) -> list[Outcome]:
        """The works in one transaction, each in a savepoint of its own."""
        outcomes: list[Outcome] = []
        async with GroupTransaction(self._backend):
            for work, future in group:
                if future.cancelled():
                    continue
                try:
                    async with self._db.transaction():  # a `Savepoint` of its own
                        outcomes.append((future, await work(), None))
                except Exception as exc:
                    outcomes.append((future, None, exc))
        return outcomes

    @staticmethod
    def _fail_all(group: list[Pending], exc: BaseException) -> None:
        """The group could not commit: every caller hears why."""
        for _, future in group:
            if not future.done():
                future.set_exception(
                    exc if isinstance(exc, Exception) else RuntimeError("commit cancelled")
                )

    @staticmethod
    def _answer(outcomes: list[Outcome]) -> None:
        for future, result, error in outcomes:
            if future.done():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


class GroupTransaction:
    """A group commit's write transaction, on a pooled connection it holds from ``BEGIN`` to
    ``COMMIT``. Not `databases`' transaction: that one finds the task's connection (a task
    lookup in a weak dictionary) about twenty times between start and commit, and copies a
    dictionary of active transactions into a context variable twice, which cost more than a
    lone check-in's statements, and paid per group, a group of one under even arrivals. The
    works inside find this connection as every write-lock holder's is found (`_WRITER`)."""

    def __init__(self, backend: PooledSQLiteBackend) -> None:
        self._connection = backend.connection()
        self._transaction = self._connection.transaction()

    async def __aenter__(self) -> PooledSQLiteConnection:
        await self._connection.acquire()
        try:
            await self._transaction.start(is_root=True, extra_options={})
        except BaseException:
            await self._connection.release()
            raise
        return self._connection

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        finally:
            await self._connection.release()


class Savepoint:
    """A transaction nested in a write transaction on the pooled SQLite backend: a plain
    ``SAVEPOINT`` (released on success, rolled back to on an exception). `databases`' own
    nested transaction costs more than a check-in's statements: locks, a context variable
    holding a copied dictionary of active transactions, the connection counted in and out."""

    def __init__(self, connection: PooledSQLiteConnection) -> None:
        self._connection = connection

    async def __aenter__(self) -> Savepoint:
        await self._connection._run(_statement, f"SAVEPOINT {SAVEPOINT}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:
            await self._connection._run(_statement, f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        await self._connection._run(_statement, f"RELEASE SAVEPOINT {SAVEPOINT}")


@functools.cache
def _returning_id(query: sa.Insert) -> sa.Insert:
    """``query`` returning the new row's primary key, built once per statement."""
    return query.returning(*query.table.primary_key.columns)


class Database(databases.Database):
    SUPPORTED_BACKENDS: typing.ClassVar[dict[str, str]] = {
        **databases.Database.SUPPORTED_BACKENDS,
        "sqlite": "web.database:PooledSQLiteBackend",
        "postgresql": "web.database:CachedPostgresBackend",
        "postgres": "web.database:CachedPostgresBackend",
    }

    def __init__(self, url: str, **options: typing.Any) -> None:
        super().__init__(url, **options)
        self._group = (  # concurrent writes share a transaction on the pooled SQLite backend
            GroupCommit(self, self._backend)
            if isinstance(self._backend, PooledSQLiteBackend)
            else None
        )
        self._pool = getattr(self._backend, "_pool", None)  # the pooled SQLite backend's

    def connection(self) -> databases.core.Connection:
        if self._global_connection is not None:
            return self._global_connection
        if not self._connection:
            self._connection = BindingConnection(self, self._backend)
        return self._connection

    def transaction(
        self, *, force_rollback: bool = False, savepoint: bool = True, **kwargs: typing.Any
    ) -> databases.core.Transaction | Savepoint | contextlib.nullcontext[None]:
        """`databases`' transaction; nested in this task's SQLite write transaction, a
        `Savepoint` (the same meaning, for a fraction of the cost). With ``savepoint=False``
        it joins that write transaction instead (Django's ``atomic(savepoint=False)``): an
        exception then undoes whatever encloses the block, not the block alone. For blocks
        whose callers never go on after they fail (a check-in: two statements less)."""
        backend = self._writing_backend()
        if not force_rollback and backend is not None:
            return Savepoint(backend) if savepoint else contextlib.nullcontext()
        return super().transaction(force_rollback=force_rollback, **kwargs)

    def _writing_backend(self) -> PooledSQLiteConnection | None:
        """This task's pooled SQLite connection while it holds the write lock, else None."""
        writer = _WRITER.get()
        if writer is None or self._global_connection is not None:
            return None
        task, loop, pool, backend = writer
        if pool is not self._pool or not backend._writing or task is not asyncio.current_task(loop):
            return None
        return backend

    # The statements of a task holding the SQLite write lock run at once on the loop (the
    # `records_now` family), so `databases`' per-call locks and connection counting guard
    # nothing there, and cost more than the statement.

    async def fetch_all(
        self, query: typing.Any, values: dict[str, typing.Any] | None = None
    ) -> typing.Any:
        backend = self._writing_backend()
        if backend is None:
            return await super().fetch_all(query, values)
        return backend.records_now(query, values, None)

    async def fetch_one(
        self, query: typing.Any, values: dict[str, typing.Any] | None = None
    ) -> typing.Any:
        backend = self._writing_backend()
        if backend is None:
            return await super().fetch_one(query, values)
        records = backend.records_now(query, values, 1)
        return records[0] if records else None

    async def fetch_val(
        self, query: typing.Any, values: dict[str, typing.Any] | None = None, column: typing.Any = 0
    ) -> typing.Any:
        backend = self._writing_backend()
        if backend is None:
            return await super().fetch_val(query, values, column=column)
        records = backend.records_now(query, values, 1)
        return records[0][column] if records else None

    async def execute(
        self, query: typing.Any, values: dict[str, typing.Any] | None = None
    ) -> typing.Any:
        backend = self._writing_backend()
        if backend is None:
            return await super().execute(query, values)
        return backend.execute_now(query, values)

    async def insert(self, query: sa.Insert, values: dict[str, typing.Any]) -> int:
        """Insert the one row of ``query`` (built once, without RETURNING); its new id. SQLite
        gives the id of the row it just wrote (a RETURNING clause costs it a result table: a
        third of the visit insert on the raw connection, 16 of 42 us), PostgreSQL returns it."""
        if self.engine == "sqlite":
            return await self.execute(query, values)
        return await self.fetch_val(_returning_id(query), values)

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``: the few queries that differ branch on this."""
        return self.url.dialect

    async def group_commit(self, work: Work[T]) -> T:
        """``await work()`` in a write transaction; its result once that is committed.

        On SQLite (one writer at a time) concurrent calls share one transaction
        (`GroupCommit`): one lock, one thread hop and one commit for many writes, each
        isolated in a savepoint. ``work`` must only make calls on this database. Elsewhere
        (PostgreSQL, or a test's forced-rollback connection) it gets a transaction of its own,
        run again (up to `TRANSACTION_ATTEMPTS` times) when PostgreSQL refuses it to resolve
        a deadlock or a serialisation failure; so ``work`` must be safe to run twice (database
        calls only). A call made inside a transaction of this task gets a savepoint there,
        and is not run again (the group could not take the write lock this task holds).
        """
        if (
            self._group is not None
            and self._global_connection is None
            and self._writing_backend() is None
        ):
            return await self._group.run(work)
        # Nested in a transaction of this task, a refusal is the enclosing one's to handle.
        attempts = 1 if self._in_transaction() else TRANSACTION_ATTEMPTS
        for attempt in range(1, attempts):
            try:
                async with self.transaction():
                    return await work()
            except RETRYABLE_ERRORS:
                logger.warning("write transaction refused by the database, attempt %d", attempt)
                # Jitter, not a secret: the two sides should not meet again at once.
                await asyncio.sleep(random.uniform(0, RETRY_PAUSE_S) * attempt)  # noqa: S311
        async with self.transaction():  # the last (or only) attempt: a refusal now is the caller's
            return await work()

    def _in_transaction(self) -> bool:
        """Whether this task has a transaction open (a group commit's, too)."""
        if self._writing_backend() is not None:
            return True
        connection = self._global_connection or self._connection
        return connection is not None and bool(connection._transaction_stack)

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
        if (writing := self._writing_backend()) is not None:
            return await writing.fetch_rows(built)
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
