"""A clock a test moves from outside the process (test-only: SWITCHLOG_TEST_CLOCK_FILE)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from domain.shared.aggregate import as_utc
from domain.shared.clock import SYSTEM_CLOCK


class FileClock:
    """The time written in a file (ISO 8601), or the system's while the file is empty.

    End-to-end tests write the file to move every process that shares it (serve, project,
    the deliverer) at once: expiry, scheduled closes and retries without waiting.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            text = ""
        if not text:
            return SYSTEM_CLOCK.now()
        moment = as_utc(datetime.fromisoformat(text))
        assert moment is not None
        return moment

    def set(self, moment: datetime) -> None:
        self.path.write_text(moment.isoformat())
