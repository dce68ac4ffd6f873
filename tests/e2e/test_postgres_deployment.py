"""The README's PostgreSQL deployment, started as written: `serve` beside `switchlog project`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.deployments import Deployment, postgres, summary, write_latencies
from tests.conftest import fresh_postgres_database
from tests.e2e.test_production import _timeouts


@pytest.fixture
def deployment(tmp_path: Path, postgres_server_url: str) -> Iterator[Deployment]:
    with postgres(tmp_path, fresh_postgres_database(postgres_server_url)) as running:
        yield running


def test_writes_projected_by_another_process_are_read_back_at_once(
    deployment: Deployment,
) -> None:
    timeouts = _timeouts(deployment)  # the warm-up may have waited out some
    took = write_latencies(deployment, 8)  # each write is read back right after it
    assert max(took) < 1.0, summary(took)
    headers = {"Authorization": f"Bearer {deployment.token()}"}
    with httpx.Client(base_url=deployment.url, headers=headers, timeout=30) as client:
        created = client.post(
            "/v1/customers", json={"name": "Projected", "currency": "EUR", "time_zone": "UTC"}
        )
        assert created.status_code == 201, created.text  # not 202: `project` kept up
        changed = client.patch(
            f"/v1/customers/{created.json()['id']}", json={"time_zone": "Asia/Tokyo"}
        )
        assert changed.status_code == 200 and changed.json()["time_zone"] == "Asia/Tokyo"
    assert _timeouts(deployment) == timeouts
