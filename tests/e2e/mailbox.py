"""A real SMTP server on loopback (aiosmtpd) that keeps every email it is given."""

from __future__ import annotations

import email
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.e2e.processes import free_port


class Mailbox:
    """aiosmtpd in a thread; `messages` are the emails received, parsed."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def received(self) -> list[Message]:
        with self._lock:
            return list(self.messages)
