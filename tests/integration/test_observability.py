"""Metrics, loud failures and a bounded read-your-writes wait."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from adapters.settings import Settings
from api.app import create_app
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.e2e.processes import free_port
from tests.integration.conftest import login, make_settings

METRICS = (
    "switchlog_events_appended_total",
    "switchlog_command_duration_seconds",
    "switchlog_projection_lag_events",
    "switchlog_relay_lag_events",
    "switchlog_webhook_deliveries_total",
    "switchlog_stream_subscribers",
    "switchlog_read_your_writes_timeouts_total",
)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_answer_in_prometheus_text_with_every_name(
    client: TestClient, admin: dict[str, str]
) -> None:
    before = _sample("switchlog_events_appended_total", type="directory.Customer.Created")
    response = client.post(
        "/v1/customers",
        json={"name": "Metered", "currency": "EUR", "time_zone": "UTC"},
        headers={**admin, "X-Correlation-ID": "corr-metrics"},
    )
    assert response.status_code == 201
    assert response.headers["x-correlation-id"] == "corr-metrics"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in METRICS:
        assert f"# TYPE {name.removesuffix('_total')}" in metrics.text, name
    created = _sample("switchlog_events_appended_total", type="directory.Customer.Created")
    assert created == before + 1
    assert _sample("switchlog_command_duration_seconds_count", use_case="create_customer") >= 1


@pytest.fixture
def stalled(store_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    """An API whose read models nobody projects (the projector process is down)."""
    settings = make_settings(
        store_url,
        tmp_path,
        projections_in_process=False,
        read_your_writes_timeout_seconds=0.3,
    )
    runtime = Runtime(settings)
    runtime.bootstrap_admin()
    with TestClient(create_app(settings, runtime)) as client:
        yield client, runtime
    runtime.close()


def test_a_write_whose_read_model_lags_answers_202_counted_and_logged(
    stalled: tuple[TestClient, Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    client, runtime = stalled
    runtime.runner.catch_up()  # the admin exists in the read models; nothing after that
    headers = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    before = _sample("switchlog_read_your_writes_timeouts_total", read_model="directory")
    with caplog.at_level(logging.WARNING):
        response = client.post(
            "/v1/customers",
            json={"name": "Lagging", "currency": "EUR", "time_zone": "UTC"},
            headers=headers,
        )
    assert response.status_code == 202, response.text
    customer_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/customers/{customer_id}"
    after = _sample("switchlog_read_your_writes_timeouts_total", read_model="directory")
    assert after == before + 1
    assert any("did not show a write" in r.getMessage() for r in caplog.records)
    runtime.runner.catch_up()  # the projector comes back: the write was kept
    assert client.get(f"/v1/customers/{customer_id}", headers=headers).status_code == 200


def test_a_failing_delivery_is_logged_once_with_its_cause_and_counted(
    runtime: Runtime, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    dead_port = free_port()  # nothing listens there: every attempt is refused
    runtime.settings = settings.model_copy(
        update={"webhooks_allow_private_networks": True, "webhook_retry_schedule": (0, 0, 0, 0)}
    )
    ctx = CommandContext(Actor.system("test"))
    runtime.webhooks.register(ctx, f"http://127.0.0.1:{dead_port}/hook", [], None, None)
    runtime.directory.create_customer(ctx, "Undelivered", "EUR", "UTC")
    runtime.runner.catch_up()
    failed = _sample("switchlog_webhook_deliveries_total", outcome="failed")
    dead = _sample("switchlog_webhook_deliveries_total", outcome="dead")
    deliverer = runtime.deliverer()
    stop = threading.Event()
    worker = threading.Thread(target=deliverer.run, args=(stop, 0.01))
    with caplog.at_level(logging.WARNING, logger="adapters.webhook_delivery"):
        worker.start()
        eventually(lambda: _sample("switchlog_webhook_deliveries_total", outcome="dead") > dead)
        stop.set()
        worker.join()
    deliverer.close()
    assert _sample("switchlog_webhook_deliveries_total", outcome="failed") >= failed + 4
    warnings = [r for r in caplog.records if "failed: DeliveryFailedError" in r.getMessage()]
    # At least four failed attempts per message, reported once per endpoint and error.
    assert len(warnings) == len({r.getMessage().split(" failed:")[0] for r in warnings})
    assert warnings and "ConnectError" in warnings[0].getMessage()
    assert any("gave up after" in r.getMessage() for r in caplog.records)
