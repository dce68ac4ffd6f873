"""Integration fixtures: a runtime on the parametrised store, and an API client on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from adapters.settings import Settings
from api.app import create_app
from composition.runtime import Runtime
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, JWT_SECRET


def make_settings(store_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        store_url=store_url,
        var_dir=tmp_path / "var",
        jwt_secret=JWT_SECRET,
        admin_login=ADMIN_LOGIN,
        admin_password=ADMIN_PASSWORD,
        **overrides,
    )


@pytest.fixture
def clock(tmp_path: Path) -> FileClock:
    """The runtime's clock: the system's until a test sets a time (then it stays there)."""
    return FileClock(tmp_path / "clock")


@pytest.fixture
def settings(store_url: str, tmp_path: Path, clock: FileClock) -> Settings:
    return make_settings(store_url, tmp_path, test_clock_file=clock.path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    rt.bootstrap_admin()
    yield rt
    rt.close()


@pytest.fixture
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return login(client, ADMIN_LOGIN, ADMIN_PASSWORD)


@pytest.fixture
def log_size(runtime: Runtime) -> Callable[[], int]:
    return runtime.source.max_position
