"""Read-model databases: one small interface over SQLite and PostgreSQL.

SQL is written once with `%s` placeholders and portable types (TEXT, BIGINT, upserts
with ON CONFLICT); the SQLite side rewrites placeholders to `?`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote
from uuid import uuid4

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Row = dict[str, Any]
SCHEMA_LOCK = 0x5317C4  # PostgreSQL advisory lock key held while a process creates tables


class Transaction(Protocol):
    def pipeline(self) -> Any: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The rows changed; -1 inside a PostgreSQL pipeline (not known until it syncs)."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class Database(Protocol):
    dialect: str

    def transaction(self, readonly: bool = False) -> Any: ...
    def schema_transaction(self) -> Any: ...
    def close(self) -> None: ...


class _SQLiteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._c = connection

    def pipeline(self) -> Any:
        return nullcontext()  # an in-process database has no round trips to save

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._c.execute(sql.replace("%s", "?"), params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._c.executemany(sql.replace("%s", "?"), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._c.execute(sql.replace("%s", "?"), params).fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self._c.execute(sql.replace("%s", "?"), params).fetchone()
        return dict(row) if row is not None else None


class SQLiteDatabase:
    """One connection per thread to a SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    @contextmanager
    def transaction(self, readonly: bool = False) -> Iterator[_SQLiteTransaction]:
        connection = self._connection()
        # A writer takes the lock up front, so it never fails half-way on a busy file.
        connection.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
        try:
            yield _SQLiteTransaction(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def schema_transaction(self) -> Any:
        return self.transaction()  # BEGIN IMMEDIATE already serializes writers

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()


class _PostgresTransaction:
    def __init__(self, connection: psycopg.Connection[Row]) -> None:
        self._c = connection

    def pipeline(self) -> Any:
        """Send statements without waiting for each answer (psycopg pipeline mode)."""
        return self._c.pipeline()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._c.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._c.cursor() as cursor:
            cursor.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._c.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._c.execute(sql, params).fetchone()


class PostgresDatabase:
    """A small psycopg pool; each transaction is one pooled connection."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=8,
            kwargs={"row_factory": dict_row},
            open=True,
        )

    @contextmanager
    def transaction(self, readonly: bool = False) -> Iterator[_PostgresTransaction]:
        with self._pool.connection() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    @contextmanager
    def schema_transaction(self) -> Iterator[_PostgresTransaction]:
        """A transaction that creates tables, one process at a time: concurrent
        CREATE … IF NOT EXISTS can still collide on PostgreSQL's catalog."""
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            yield tx

    def close(self) -> None:
        self._pool.close()


def sqlite_path(url: str) -> str:
    """sqlite:///relative/path or sqlite:////absolute/path to a file path."""
    return unquote(url.removeprefix("sqlite://")).removeprefix("/") or "switchlog.db"


def open_database(url: str) -> SQLiteDatabase | PostgresDatabase:
    if url.startswith("sqlite://"):
        return SQLiteDatabase(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise ValueError(f"unsupported database URL {url!r}")


def create_postgres_database(server_url: str, prefix: str = "switchlog") -> str:
    """A new, empty database on a PostgreSQL server; its URL (tests, benchmarks)."""
    name = f"{prefix}_{uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    base, _, query = server_url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return f"{base}?{query}" if query else base
