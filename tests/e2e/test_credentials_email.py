"""Credentials emails through a real `switchlog serve` (or `switchlog individuals deliver`)
and a real SMTP server on loopback: Bob gets his link, chooses his password with it, logs
in, and adds Steve, who gets his own email."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.conftest import eventually
from tests.e2e.mailbox import Mailbox
from tests.e2e.processes import Server, base_env, switchlog_bin
from tests.e2e.streams import token

ENV = {
    "SWITCHLOG_ADMIN_LOGIN": "root",
    "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1",
    "SWITCHLOG_SMTP_HOST": "127.0.0.1",
    "SWITCHLOG_SMTP_FROM": "portal@panda.example",
    "SWITCHLOG_SET_PASSWORD_LINK_BASE": "https://portal.panda.example/set-password",
    "SWITCHLOG_CREDENTIALS_RETRY_SCHEDULE": "[0.2]",
}
H = dict[str, str]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


def _post(server: Server, path: str, headers: H, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def _abc(server: Server, admin: H) -> tuple[str, dict[str, str]]:
    everything = {
        "individuals": "modify",
        "extensions": "modify",
        "phones": "modify",
        "billing": "modify",
        "allowed_roles": "read",
    }
    roles = {
        "admin": _post(server, "/v1/roles", admin, name="Customer admin", permissions=everything),
        "pbx": _post(
            server, "/v1/roles", admin, name="PBX admin", permissions={"extensions": "modify"}
        ),
    }
    customer = _post(server, "/v1/customers", admin, name="ABC", currency="USD", time_zone="UTC")
    response = httpx.put(
        f"{server.url}/v1/customers/{customer['id']}/allowed-roles",
        json={"role_ids": [r["id"] for r in roles.values()]},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    return customer["id"], {name: role["id"] for name, role in roles.items()}


def _individual(server: Server, headers: H, customer_id: str, name: str, role_id: str) -> None:
    _post(
        server,
        f"/v1/customers/{customer_id}/individuals",
        headers,
        login=name,
        password=f"{name}-initial-1",
        email=f"{name}@abc.example",
        role_id=role_id,
        time_zone="UTC",
    )


def _link_token(mailbox: Mailbox, to: str) -> str:
    def arrived() -> Any:
        return next((m for m in mailbox.received() if m["To"] == to), None)

    message = eventually(arrived, timeout=20)
    body = message.get_payload(decode=True).decode()
    assert "initial-1" not in body  # never a password
    (link,) = re.findall(r"https://portal\.panda\.example/set-password\?\S+", body)
    return parse_qs(urlparse(link).query)["token"][0]  # type: ignore[no-any-return]


def test_bob_sets_his_password_from_the_email_and_adds_steve(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    server = Server({**base_env(), **ENV, "SWITCHLOG_SMTP_PORT": str(mailbox.port)}, tmp_path)
    try:
        admin = {"Authorization": f"Bearer {token(server.url, 'root', 'root-pass-1')}"}
        customer_id, roles = _abc(server, admin)
        _individual(server, admin, customer_id, "bob", roles["admin"])
        link = _link_token(mailbox, "bob@abc.example")
        chosen = httpx.post(
            f"{server.url}/v1/auth/set-password", json={"token": link, "password": "bobs-own-1"}
        )
        assert chosen.status_code == 204, chosen.text
        bob = {"Authorization": f"Bearer {token(server.url, 'bob', 'bobs-own-1')}"}
        _individual(server, bob, customer_id, "steve", roles["pbx"])
        assert _link_token(mailbox, "steve@abc.example")
        reused = httpx.post(
            f"{server.url}/v1/auth/set-password", json={"token": link, "password": "bobs-own-2"}
        )
        assert reused.status_code == 400
    finally:
        server.stop()


def test_the_deliverer_runs_as_its_own_process_and_retries_until_smtp_is_up(
    tmp_path: Path,
) -> None:
    box = Mailbox()  # its port is chosen, nothing listens yet
    env = {
        **base_env(),
        **ENV,
        "SWITCHLOG_SMTP_PORT": str(box.port),
        "SWITCHLOG_EMAILS_IN_PROCESS": "false",
    }
    server = Server(env, tmp_path)
    deliver = subprocess.Popen(
        [switchlog_bin(), "individuals", "deliver"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        admin = {"Authorization": f"Bearer {token(server.url, 'root', 'root-pass-1')}"}
        customer_id, roles = _abc(server, admin)
        _individual(server, admin, customer_id, "bob", roles["admin"])
        emails = [switchlog_bin(), "individuals", "emails", "--json"]

        def retried() -> bool:
            out = subprocess.run(emails, env=env, cwd=tmp_path, capture_output=True, text=True)
            return '"attempts": 0' not in out.stdout and '"status": "pending"' in out.stdout

        eventually(retried, timeout=30)  # the server was down: kept, not lost
        box.start()
        assert _link_token(box, "bob@abc.example")
    finally:
        deliver.send_signal(signal.SIGTERM)
        deliver.wait(10)
        server.stop()
        box.stop()
