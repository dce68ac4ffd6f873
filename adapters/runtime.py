"""The composition root: builds stores, services, read models and projections from settings."""

from __future__ import annotations

import logging
import secrets
import threading

from adapters.settings import Settings
from adapters.sql import open_database
from adapters.store import NotificationLogSource, store_env
from domain.directory.application import LOGIN, DirectoryService
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import ConflictError, DuplicateError
from projections.audit import AuditProjection, AuditQueries
from projections.directory import DirectoryProjection, DirectoryQueries
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)


class Runtime:
    """Everything one process needs; nothing connects until this is constructed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory = DirectoryService(env=store_env(settings.store_url))
        self.db = open_database(settings.effective_read_model_url)
        self.source = NotificationLogSource(self.directory)
        self.runner = ProjectionRunner(
            self.source,
            self.db,
            [DirectoryProjection(), AuditProjection()],
            batch_size=settings.projection_batch_size,
        )
        self.runner.setup()
        self.directory_queries = DirectoryQueries(self.db)
        self.audit = AuditQueries(self.db)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_projections(self) -> None:
        """Follow the log in a background thread (the embedded default)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.runner.run, args=(self._stop,), name="projections", daemon=True
            )
            self._thread.start()

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until read models include every event appended so far (read-your-writes)."""
        self.runner.wake()
        return self.runner.wait_for(self.source.max_position(), timeout)

    def bootstrap_admin(self) -> str | None:
        """Create the first admin; returns a generated password to show once, if any."""
        context = CommandContext(Actor.system("bootstrap"))
        login = self.settings.admin_login or "admin"
        configured = self.settings.admin_password
        try:
            if configured is not None:
                if self.directory.holder_of(LOGIN, login) is None:
                    self.directory.create_admin(context, login, configured.get_secret_value())
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
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.db.close()
        self.directory.close()
