"""The runtime: stores, services, read models and projections built from settings and the
contexts' list."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.persistence import Recording

from adapters.clock import FileClock
from adapters.kafka_consumer import KafkaProjector, read_window
from adapters.kafka_relay import PUBLISHERS, Relay
from adapters.locks import single_active_lock
from adapters.observability import EVENTS_APPENDED, READ_YOUR_WRITES_TIMEOUTS
from adapters.secrets import SecretAsCiphertext, SecretBox
from adapters.settings import Settings
from adapters.sql import open_database, sqlite_path
from adapters.store import NotificationLogSource, store_env
from adapters.webhook_delivery import WebhookDeliverer
from composition.contexts import CONTEXTS
from domain.directory.application import LOGIN, DirectoryService
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import event_type
from domain.shared.application import SwitchlogApplication, last_saved_position
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.errors import ConflictError, DuplicateError
from domain.webhooks.application import WebhookService
from projections.audit import AuditQueries
from projections.base import Projection
from projections.directory import DirectoryQueries
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

T = TypeVar("T")


class Runtime:
    """Everything one process needs, derived from the contexts' list; nothing connects
    until this is constructed."""

    def __init__(self, settings: Settings) -> None:
        self.contexts = CONTEXTS
        self.settings = settings
        self.clock: Clock = (
            FileClock(settings.test_clock_file) if settings.test_clock_file else SYSTEM_CLOCK
        )
        self.secrets = SecretBox(settings.secrets_key_value())
        self._relay: Relay | None = None
        self._rater: Any = None
        self.on_append: list[Callable[[], None]] = []
        self.services = self._services(settings)
        self.db = open_database(settings.effective_read_model_url)
        self.source = NotificationLogSource(next(iter(self.services.values())))
        self.runner = ProjectionRunner(
            self.source,
            self.db,
            self._projections(),
            batch_size=settings.projection_batch_size,
            clock=self.clock,
        )
        # Read models built with another schema version rebuild themselves from the log.
        self.rebuilding = self.runner.setup()
        self.directory_queries = DirectoryQueries(self.db)
        self.audit = AuditQueries(self.db)
        self.store_db = (
            self.db
            if settings.effective_read_model_url == settings.store_url
            else open_database(settings.store_url)
        )
        self._projecting = False  # does this process's runner follow the log?
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closing: list[Callable[[], None]] = []

    def _start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def start_projections(self) -> None:
        """Follow the log in a background thread (the embedded default)."""
        self._projecting = True
        self._start("projections", self.runner.run)

    def relay(self) -> Relay:
        """The Kafka relay for the configured store and topic (not yet running)."""
        if self._relay is None:
            s = self.settings
            if not s.kafka_bootstrap:
                raise RuntimeError("SWITCHLOG_KAFKA_BOOTSTRAP is not set")
            self._relay = Relay(
                self.source,
                self.store_db,
                PUBLISHERS[s.relay_client](s.kafka_bootstrap, s.kafka_topic, s.kafka_partitions),
                single_active_lock(s.store_url, "relay"),
                s.kafka_topic,
                s.relay_batch_size,
            )
            self._relay.setup()
        return self._relay

    def start_relay(self) -> None:
        self._start("relay", self.relay().run)

    def kafka_projectors(self) -> list[KafkaProjector]:
        """The Kafka consumer feeding every read model (decoding each record once); each
        read model keeps offsets of its own."""
        s = self.settings
        if not s.kafka_bootstrap:
            raise RuntimeError("SWITCHLOG_KAFKA_BOOTSTRAP is not set")
        projector = KafkaProjector(
            s.kafka_bootstrap,
            s.kafka_topic,
            s.kafka_group,
            self.db,
            list(self.runner.projections.values()),
            self.source.mapper,
            s.projection_batch_size,
            self.clock,
        )
        projector.setup()
        return [projector]

    def run_kafka_projectors(self, stop: threading.Event) -> None:
        """Follow Kafka with every read model until `stop` is set."""
        threads = [
            threading.Thread(target=p.run, args=(stop,), name=f"kafka-{p.group}", daemon=True)
            for p in self.kafka_projectors()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def replay(
        self, since: datetime, until: datetime, into_url: str, from_kafka: bool
    ) -> dict[str, int]:
        """Project the events of [since, until) into a scratch database; rows per table.

        A scratch SQLite file this call creates is removed again when the replay fails, so a
        failed attempt leaves nothing that looks like a (wrong, empty) result.
        """
        path = Path(sqlite_path(into_url)) if into_url.startswith("sqlite:") else None
        created = path if path is not None and not path.exists() else None
        scratch = open_database(into_url)
        projections = [p for p in self._projections() if p.replay_safe]
        try:
            with scratch.transaction() as tx:
                for projection in projections:
                    projection.drop(tx)
                    projection.create(tx)
            for batch in self._window(since, until, from_kafka):
                with scratch.transaction() as tx:
                    for projection in projections:
                        projection.apply_batch(tx, batch)
            with scratch.transaction(readonly=True) as tx:
                counts = {
                    table: int(tx.fetchone(f"SELECT COUNT(*) AS n FROM {table}")["n"])  # type: ignore[index]
                    for projection in projections
                    for table in projection.tables
                }
        except BaseException:
            scratch.close()
            if created is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{created}{suffix}").unlink(missing_ok=True)
            raise
        scratch.close()
        return counts

    def _window(self, since: datetime, until: datetime, from_kafka: bool) -> Iterator[list[Any]]:
        if from_kafka:
            s = self.settings
            if not s.kafka_bootstrap:
                raise RuntimeError("SWITCHLOG_KAFKA_BOOTSTRAP is not set")
            yield from read_window(
                s.kafka_bootstrap, s.kafka_topic, self.source.mapper, since, until
            )
            return
        position = 0
        while batch := self.source.read(position, 2000):
            position = batch[-1].position
            yield [e for e in batch if since <= e.event.timestamp < until]

    def deliverer(self) -> WebhookDeliverer:
        s = self.settings
        return WebhookDeliverer(
            self.db,
            self.webhooks,
            self.secrets,
            s.webhook_retry_schedule,
            s.webhook_timeout_seconds,
            s.webhooks_allow_private_networks,
            self.clock,
        )

    def start_webhooks(self) -> None:
        deliverer = self.deliverer()
        self._closing.append(deliverer.close)
        self._start("webhooks", deliverer.run)

    def rater(self) -> Any:
        """Billing's rater (adapters/rater.py): finished legs into xDRs, not yet running."""
        if self._rater is None:
            from adapters.rater import Rater
            from composition.billing import service

            self._rater = Rater(service(self), self.db, clock=self.clock)
            self._rater.setup()
            self.on_append.append(self._rater.wake)
        return self._rater

    def start_rater(self) -> None:
        self._start("billing-rater", self.rater().run)

    def context_for(self, actor: Actor, correlation_id: str | None = None) -> CommandContext:
        """A command's context for `actor`: its role's permissions per section, resolved
        from the access read model (one indexed query, no store read); admins and
        resellers get None, no limit. Every edge (HTTP, WebSocket) asks here."""
        from projections.access import AccessQueries

        return CommandContext(
            actor=actor,
            correlation_id=correlation_id or str(uuid4()),
            permissions=AccessQueries(self.db).permissions(actor),
        )

    def read_your_writes(self, read_model: str, shown: Callable[[], T | None]) -> T | None:
        """Wait, bounded, until `shown` finds a write in `read_model`; None if it never did.

        Works whichever source feeds the read model (this process's runner, a `project`
        process on the store, or Kafka): it asks the read model itself, not a position.
        """
        timeout = self.settings.read_your_writes_timeout_seconds
        deadline = time.monotonic() + timeout
        written = last_saved_position()
        if written and self._projecting:
            # Projected here: wait for the runner to pass the write, not by asking the
            # read model again and again (32 waiters polling took the runner's GIL).
            self.runner.wait_applied(written, timeout)
        pause = 0.001
        seen = self.runner.generation  # read before asking: a batch committed meanwhile counts
        while (found := shown()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                READ_YOUR_WRITES_TIMEOUTS.labels(read_model).inc()
                log.warning(
                    "read-your-writes: the %s read model did not show a write within %.1f s;"
                    " answering without it (is its projector running?)",
                    read_model,
                    timeout,
                )
                return None
            seen = self.runner.wait_advanced(min(pause, remaining), seen)
            pause = min(pause * 2, 0.05)
        return found

    def _saved(self, recordings: Sequence[Recording[UUID]]) -> None:
        """After every append: count it, and wake whatever follows the log here."""
        for kind, count in Counter(event_type(r.domain_event) for r in recordings).items():
            EVENTS_APPENDED.labels(kind).inc(count)
        if self._relay is not None:
            self._relay.wake()
        self.runner.wake()
        for listener in self.on_append:
            listener()

    def bootstrap_admin(self, warn: Callable[[str], None] = log.warning) -> str | None:
        """Create the first admin; returns a generated password to show once, if any.

        SWITCHLOG_ADMIN_PASSWORD only ever sets the first password: when its login exists
        already, `warn` says that it is ignored and how to change the password instead.
        """
        context = CommandContext(Actor.system("bootstrap"))
        login = self.settings.admin_login or "admin"
        configured = self.settings.admin_password
        try:
            if configured is not None:
                if self.directory.holder_of(LOGIN, login) is None:
                    self.directory.create_admin(context, login, configured.get_secret_value())
                else:
                    warn(
                        f"SWITCHLOG_ADMIN_PASSWORD is ignored: the login {login!r} exists already"
                        " (the variable only sets the first admin's password). To change it,"
                        f" run: switchlog admin reset-password --login {login}"
                    )
                return None
            if self.source.max_position() > 0:
                return None
            password = secrets.token_urlsafe(12)
            self.directory.create_admin(context, login, password)
            return password
        except (ConflictError, DuplicateError):
            log.info("another process bootstrapped the admin first")
            return None

    def close(self) -> None:
        self._stop.set()
        self.runner.wake()
        if self._relay is not None:
            self._relay.wake()
        for thread in self._threads:
            thread.join(timeout=10)
        for close in self._closing:
            close()
        if self._relay is not None:
            self._relay.publisher.close()
        if self.store_db is not self.db:
            self.store_db.close()
        self.db.close()
        for service in self.services.values():
            service.close()

    def _services(self, settings: Settings) -> dict[str, SwitchlogApplication]:
        """One application service per context that has one, all on one store and pool."""
        transcodings = [SecretAsCiphertext(self.secrets)]
        services: dict[str, SwitchlogApplication] = {}
        for context in self.contexts:
            if context.service is None:
                continue
            first = next(iter(services.values()), None)
            service = context.service(
                store_env(settings.store_url),
                transcodings,
                share_store_with=first,
                clock=self.clock,
            )
            service.on_saved.append(self._saved)
            # A change made by another process reaches the hot path's cache within the bound.
            service.current_max_age = settings.read_your_writes_timeout_seconds
            services[context.name] = service
        return services

    @property
    def directory(self) -> DirectoryService:
        service = self.services["directory"]
        assert isinstance(service, DirectoryService)
        return service

    @property
    def webhooks(self) -> WebhookService:
        service = self.services["webhooks"]
        assert isinstance(service, WebhookService)
        return service

    def _projections(self) -> list[Projection]:
        return [p for context in self.contexts for p in context.projections(self)]
