"""Credentials emails: the outbox (projections/access.py `CredentialsOutbox`) sent through
SMTP with smtplib, leased so several deliverers can share it, and retried until the server
takes each one: an email is never dropped, only retried less often.

The email carries a one-time set-password link, never a password, and says when access
starts (and ends). The link is `SWITCHLOG_SET_PASSWORD_LINK_BASE?token=...`; a portal
posts that token with the new password to `POST /v1/auth/set-password`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlencode

from adapters.observability import FailureLog
from adapters.secrets import SecretBox
from adapters.settings import Settings
from adapters.sql import Database, Row
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand emails over."""

    host: str
    port: int = 25
    sender: str = "switchlog@localhost"
    timeout: float = 10.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None


class SmtpSender:
    """One SMTP connection per batch of emails (smtplib)."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def send(self, messages: Sequence[EmailMessage]) -> list[str | None]:
        """Hand each message over; per message None (taken) or why the server refused it.
        A connection failure refuses them all."""
        s = self.server
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password or "")
                return [self._one(smtp, message) for message in messages]
        except (OSError, smtplib.SMTPException) as error:
            return [f"{type(error).__name__}: {error}"[:500]] * len(messages)

    @staticmethod
    def _one(smtp: smtplib.SMTP, message: EmailMessage) -> str | None:
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPException as error:
            return f"{type(error).__name__}: {error}"[:500]
        return f"refused: {refused}"[:500] if refused else None


def credentials_email(row: Row, link: str | None, sender: str) -> EmailMessage:
    """The email an individual gets: its login, the one-time link, when access starts."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row["recipient"]
    message["Subject"] = "Your self-care login"
    # One Message-ID per outbox row, so a receiver can drop a duplicate of a retried send.
    message["Message-ID"] = make_msgid(row["message_id"], "switchlog")
    starts = row["activation_date"]
    zone = row["time_zone"]
    lines = [
        "Hello,",
        "",
        f"A self-care login has been created for you: {row['login']}",
        "",
        f"Your access starts on {starts} ({zone})." if starts else "Your access starts now.",
    ]
    if row["expiration_date"]:
        lines.append(f"It ends after {row['expiration_date']} ({zone}).")
    lines.append("")
    if link:
        until = datetime.fromisoformat(row["link_expires_at"])
        lines += [
            "Choose your password here (the link works once):",
            link,
            f"The link expires on {format_datetime(until)}.",
        ]
    lines += ["", "This email never contains a password."]
    message.set_content("\n".join(lines) + "\n")
    return message


class CredentialsDeliverer:
    """Sends due outbox rows, records the outcome, and schedules retries."""

    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        sender: SmtpSender,
        link_base: str,
        schedule: Sequence[float],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.sender = sender
        self.link_base = link_base
        self.schedule = list(schedule) or [60.0]
        self.clock = clock
        self.failures = FailureLog(log, "credentials-emails")

    def claim(self, limit: int = 50) -> list[Row]:
        """Lease the due emails, so another deliverer leaves them alone meanwhile."""
        now = self.clock.now()
        with self.db.transaction() as tx:
            rows = tx.fetchall(
                "SELECT * FROM credentials_emails WHERE status = 'pending'"
                " AND next_attempt_at <= %s AND (lease_until IS NULL OR lease_until < %s)"
                " ORDER BY position LIMIT %s",
                (iso(now), iso(now), limit),
            )
            lease = iso(now + timedelta(seconds=self.sender.server.timeout * 2 + 30))
            for row in rows:
                tx.execute(
                    "UPDATE credentials_emails SET lease_until = %s WHERE message_id = %s",
                    (lease, row["message_id"]),
                )
        return rows

    def link(self, row: Row) -> str | None:
        if not row["token"]:
            return None
        token = self.secrets.open(row["token"])
        separator = "&" if "?" in self.link_base else "?"
        return f"{self.link_base}{separator}{urlencode({'token': token})}"

    def run_once(self) -> int:
        rows = self.claim()
        if not rows:
            return 0
        server = self.sender.server
        messages = [credentials_email(row, self.link(row), server.sender) for row in rows]
        for row, error in zip(rows, self.sender.send(messages), strict=True):
            self.record(row, error)
        return len(rows)

    def record(self, row: Row, error: str | None) -> None:
        now = self.clock.now()
        attempts = int(row["attempts"]) + 1
        if error is None:
            # Sent: the link's secret is no longer kept here.
            sql = (
                "UPDATE credentials_emails SET status = 'sent', attempts = %s, sent_at = %s,"
                " token = NULL, lease_until = NULL, last_error = NULL WHERE message_id = %s"
            )
            params: list[Any] = [attempts, iso(now), row["message_id"]]
        else:
            delay = self.schedule[min(attempts, len(self.schedule)) - 1]
            sql = (
                "UPDATE credentials_emails SET attempts = %s, next_attempt_at = %s,"
                " lease_until = NULL, last_error = %s WHERE message_id = %s"
            )
            params = [attempts, iso(now + timedelta(seconds=delay)), error, row["message_id"]]
            self.failures.failed(f"credentials email {row['message_id']}", RuntimeError(error))
        with self.db.transaction() as tx:
            tx.execute(sql, params)

    def run(self, stop: threading.Event, poll_seconds: float = 0.25) -> None:
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception as error:
                self.failures.failed("a delivery round", error)
            stop.wait(poll_seconds)


def smtp_server(settings: Settings) -> SmtpServer | None:
    """The configured SMTP server (None: no SWITCHLOG_SMTP_HOST)."""
    if not settings.smtp_host:
        return None
    return SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        timeout=settings.smtp_timeout_seconds,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
    )


def deliverer_for(
    settings: Settings, db: Database, secrets: SecretBox, clock: Clock
) -> CredentialsDeliverer:
    server = smtp_server(settings)
    if server is None:
        raise RuntimeError("SWITCHLOG_SMTP_HOST is not set")
    return CredentialsDeliverer(
        db,
        secrets,
        SmtpSender(server),
        settings.set_password_link_base,
        settings.credentials_retry_schedule,
        clock,
    )
