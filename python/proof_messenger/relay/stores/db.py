"""The SQL dialect seam under the relay's stores.

Stores (keys, clients, nonces) write plain SQL with ``?`` placeholders and
``ON CONFLICT`` clauses that SQLite (>= 3.24) and PostgreSQL both accept.
Everything engine-specific lives here: connection setup, placeholders and
transactions. A PostgreSQL backend implements :class:`Database` (for example
with psycopg, translating ``?`` to ``%s``); the stores do not change.

>>> db = SqliteDatabase(":memory:")
>>> db.executescript("CREATE TABLE t (x INTEGER PRIMARY KEY)")
>>> with db.transaction() as tx:
...     tx.execute("INSERT INTO t (x) VALUES (?)", (1,)).rowcount
1
>>> db.query_one("SELECT count(*) FROM t")
(1,)
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Cursor: ...


class Database(Protocol):
    """What a store needs from an SQL engine."""

    def executescript(self, sql: str) -> None: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...
    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def query_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
    def transaction(self) -> Any: ...  # context manager yielding a Transaction
    def checkpoint(self) -> None: ...  # engine housekeeping, called every second (may do nothing)
    def close(self) -> None: ...


class SqliteDatabase:
    """SQLite in WAL mode, one connection per thread.

    ``synchronous="normal"`` makes every commit survive a process crash
    (SIGKILL) — the WAL is in the OS page cache; ``"full"`` also survives power
    loss at the price of one fsync per commit.
    """

    AUTOCHECKPOINT_PAGES = 20_000  # ~80 MB of WAL

    def __init__(self, path: str | Path, *, synchronous: str = "normal", busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.RLock()
        self._memory_conn: sqlite3.Connection | None = None
        if self.path == ":memory:":
            # One shared connection: each :memory: connection would be its own database.
            self._memory_conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            # Checkpoints (which fsync the database file) run off the request path
            # (:meth:`checkpoint`, every second by the app); this is only the backstop.
            conn.execute(f"PRAGMA wal_autocheckpoint = {self.AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        with self._lock:
            self._all.append(conn)
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._memory_conn is not None:
            return self._memory_conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def executescript(self, sql: str) -> None:
        self.conn.executescript(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self._memory_conn is not None:
            with self._lock:
                return self._memory_conn.execute(sql, params)
        return self.conn.execute(sql, params)

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def query_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so a
        read-then-write inside cannot interleave with another process."""
        conn = self.conn
        if self._memory_conn is not None:
            with self._lock:
                yield from self._run(conn)
        else:
            yield from self._run(conn)

    @staticmethod
    def _run(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def checkpoint(self) -> None:
        """Copies the WAL into the database without blocking writers (PASSIVE)."""
        if self._memory_conn is None:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass


# SQLite limits host parameters per statement (32766 since 3.32); lookups by many keys are cut.
IN_CHUNK = 500


def query_in(db: Database, sql: str, values: Sequence[Any], *, chunk: int = IN_CHUNK) -> list[Any]:
    """All rows of ``sql`` whose ``{marks}`` stands for ``?`` placeholders, one per value,
    run for ``values`` in chunks (``... WHERE subject IN ({marks})``)."""
    rows: list[Any] = []
    for i in range(0, len(values), chunk):
        part = tuple(values[i : i + chunk])
        rows += db.query_all(sql.replace("{marks}", ", ".join("?" * len(part))), part)
    return rows


def open_database(data_dir: Path, *, synchronous: str = "normal") -> SqliteDatabase:
    """The relay's embedded database: ``<data_dir>/relay.sqlite3``, owner-only (0600).

    Created here rather than by SQLite, which would apply the process umask: an embedded
    verifier runs under its host service's umask, not the relay's 077. SQLite gives the
    ``-wal`` and ``-shm`` files the database file's mode."""
    path = data_dir / "relay.sqlite3"
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)  # an older relay's file
    return SqliteDatabase(path, synchronous=synchronous)
