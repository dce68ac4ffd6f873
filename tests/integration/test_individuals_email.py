"""The credentials email: queued from the log, sent through a real SMTP server (aiosmtpd),
retried until the server takes it, carrying a one-time set-password link and no password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from adapters.smtp import CredentialsDeliverer, SmtpSender, SmtpServer
from composition.runtime import Runtime
from tests.conftest import eventually
from tests.e2e.mailbox import Mailbox
from tests.e2e.processes import free_port
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

H = dict[str, str]
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
LINK_BASE = "https://portal.example/set-password"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


def _deliverer(runtime: Runtime, port: int) -> CredentialsDeliverer:
    server = SmtpServer("127.0.0.1", port, sender="portal@panda.example", timeout=2)
    return CredentialsDeliverer(
        runtime.db, runtime.secrets, SmtpSender(server), LINK_BASE, (5, 60), runtime.clock
    )


def _adam(client: TestClient, admin: H, clock: FileClock) -> dict[str, Any]:
    clock.set(START)
    role = create(
        client, admin, "roles", name="Operations manager", permissions={"billing": "modify"}
    )
    customer = create(client, admin, "customers", name="ABC", currency="USD", time_zone="UTC")
    client.put(
        f"/v1/customers/{customer['id']}/allowed-roles",
        json={"role_ids": [role["id"]]},
        headers=admin,
    )
    made = client.post(
        f"/v1/customers/{customer['id']}/individuals",
        json={
            "login": "adam",
            "password": "chosen-by-bob-1",
            "email": "adam@abc.example",
            "role_id": role["id"],
            "time_zone": "Europe/Kyiv",
            "activation_date": "2026-04-20",
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def _body(message: Any) -> str:
    return message.get_payload(decode=True).decode()  # type: ignore[no-any-return]


def _token(message: Any) -> str:
    body = _body(message)
    (link,) = re.findall(r"https://portal\.example/set-password\?\S+", body)
    return parse_qs(urlparse(link).query)["token"][0]


def test_the_email_carries_a_one_time_link_and_when_access_starts_never_a_password(
    client: TestClient, admin: H, runtime: Runtime, clock: FileClock, mailbox: Mailbox
) -> None:
    adam = _adam(client, admin, clock)
    deliverer = _deliverer(runtime, mailbox.port)
    assert deliverer.run_once() == 1
    (message,) = mailbox.received()
    assert message["To"] == "adam@abc.example"
    assert message["From"] == "portal@panda.example"
    body = _body(message)
    assert "adam" in body
    assert "starts on 2026-04-20 (Europe/Kyiv)" in body
    assert "chosen-by-bob-1" not in body
    assert deliverer.run_once() == 0  # sent once, never again
    with runtime.db.transaction(readonly=True) as tx:
        row = tx.fetchone(
            "SELECT * FROM credentials_emails WHERE individual_id = %s", (adam["id"],)
        )
    assert row is not None and row["status"] == "sent" and row["token"] is None

    token = _token(message)
    used = client.post("/v1/auth/set-password", json={"token": token, "password": "adams-own-1"})
    assert used.status_code == 204, used.text
    again = client.post("/v1/auth/set-password", json={"token": token, "password": "adams-own-2"})
    assert_problem(again, 400, "invalid_link")
    forged = client.post(
        "/v1/auth/set-password", json={"token": f"{adam['id']}.guess", "password": "adams-own-3"}
    )
    assert_problem(forged, 400, "invalid_link")
    clock.set(datetime(2026, 4, 20, tzinfo=UTC))
    assert login(client, "adam", "adams-own-1")
    old = client.post("/v1/auth/token", data={"username": "adam", "password": "chosen-by-bob-1"})
    assert_problem(old, 401, "unauthenticated")

    def password_set() -> dict[str, Any] | None:
        # set-password answers without waiting for the audit read model
        trail = client.get("/v1/audit", params={"subject": adam["id"]}, headers=admin).json()
        kinds = (e for e in trail["items"] if e["type"] == "directory.Individual.PasswordSet")
        return next(kinds, None)

    set_by = eventually(password_set, timeout=10)
    assert set_by["actor"]["individual_id"] == adam["id"]


def test_an_email_the_server_refuses_is_retried_until_it_is_taken(
    client: TestClient, admin: H, runtime: Runtime, clock: FileClock
) -> None:
    _adam(client, admin, clock)
    port = free_port()  # nothing listens there yet
    deliverer = _deliverer(runtime, port)
    assert deliverer.run_once() == 1
    with runtime.db.transaction(readonly=True) as tx:
        row = tx.fetchone("SELECT * FROM credentials_emails")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"]
    assert deliverer.run_once() == 0  # not due before the retry delay
    box = Mailbox(port).start()
    try:
        clock.set(START + timedelta(seconds=5))
        assert deliverer.run_once() == 1
        assert len(box.received()) == 1
    finally:
        box.stop()


def test_the_link_expires_a_week_after_access_starts(
    client: TestClient, admin: H, runtime: Runtime, clock: FileClock, mailbox: Mailbox
) -> None:
    _adam(client, admin, clock)
    _deliverer(runtime, mailbox.port).run_once()
    token = _token(mailbox.received()[0])
    # Access starts 2026-04-20 00:00 in Kyiv (21:00 UTC the day before); a week later:
    clock.set(datetime(2026, 4, 26, 21, 0, tzinfo=UTC))
    late = client.post("/v1/auth/set-password", json={"token": token, "password": "too-late-1"})
    assert_problem(late, 400, "invalid_link")


def test_an_individual_closed_before_its_email_went_gets_none(
    client: TestClient, admin: H, runtime: Runtime, clock: FileClock, mailbox: Mailbox
) -> None:
    adam = _adam(client, admin, clock)
    assert client.post(f"/v1/individuals/{adam['id']}/close", headers=admin).status_code == 200
    runtime.runner.catch_up()
    assert _deliverer(runtime, mailbox.port).run_once() == 0
    assert mailbox.received() == []
