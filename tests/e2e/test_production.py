"""The README's production deployment, started as written: PostgreSQL, Kafka, relays,
Kafka-fed projectors, a webhook deliverer and `serve`, each its own process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from adapters.tansu import TansuBroker
from bench.deployments import Deployment, production, summary, write_latencies
from tests.conftest import eventually, fresh_postgres_database
from tests.e2e.receiver import Receiver


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_server_url: str, kafka_broker: TansuBroker
) -> Iterator[Deployment]:
    store = fresh_postgres_database(postgres_server_url)
    with production(tmp_path, store, kafka_broker.bootstrap) as running:
        yield running


def _client(deployment: Deployment) -> httpx.Client:
    headers = {"Authorization": f"Bearer {deployment.token()}"}
    return httpx.Client(base_url=deployment.url, headers=headers, timeout=30)


def _timeouts(deployment: Deployment) -> float:
    """Answers that stopped waiting for their read model (the warm-up may have had some)."""
    text = httpx.get(f"{deployment.url}/metrics").text
    found = re.search(
        r'^switchlog_read_your_writes_timeouts_total\{read_model="directory"\} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_writes_answer_fast_and_are_read_back_at_once(deployment: Deployment) -> None:
    timeouts = _timeouts(deployment)
    took = write_latencies(deployment, 8)  # each write is read back right after it
    print(f"production write latency: {summary(took)}")
    assert max(took) < 1.0, summary(took)
    with _client(deployment) as client:
        created = client.post(
            "/v1/customers", json={"name": "Patched", "currency": "EUR", "time_zone": "UTC"}
        ).json()
        changed = client.patch(
            f"/v1/customers/{created['id']}",
            json={"time_zone": "Europe/Rome"},
            headers={"If-Match": f'"{created["version"]}"'},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["time_zone"] == "Europe/Rome"
        read = client.get(f"/v1/customers/{created['id']}")
        assert read.json()["time_zone"] == "Europe/Rome"
        assert read.headers["etag"] == changed.headers["etag"]
        metrics = client.get("/metrics").text
    assert "switchlog_read_your_writes_timeouts_total" in metrics
    # The relay, a process of its own, serves its metrics on the configured port.
    relay_metrics = httpx.get(f"http://127.0.0.1:{deployment.metrics_port}/metrics").text
    assert "switchlog_relay_lag_events" in relay_metrics
    assert _timeouts(deployment) == timeouts


def test_a_registered_webhook_receives_every_event_signed(
    deployment: Deployment, receiver: Receiver
) -> None:
    with _client(deployment) as client:
        hook = client.post("/v1/webhooks", json={"url": f"{receiver.url}/ok"})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        expected = set()
        for i in range(8):
            response = client.post(
                "/v1/customers", json={"name": f"Hooked {i}", "currency": "EUR", "time_zone": "UTC"}
            )
            assert response.status_code == 201, response.text
            expected.add(f"msg_{response.json()['id'].replace('-', '')}_1")

    def received() -> set[str]:
        return {r["headers"]["webhook-id"] for r in receiver.to("/ok")} & expected

    eventually(lambda: received() == expected, timeout=60)
    verifier = Webhook(secret)
    for request in receiver.to("/ok"):
        payload: Any = verifier.verify(request["body"], request["headers"])
        envelope = json.loads(request["body"])
        assert payload["id"] == envelope["id"]
    created = [json.loads(r["body"]) for r in receiver.to("/ok")]
    assert {e["type"] for e in created} >= {"directory.Customer.Created"}
    assert all(e["data"].get("secret") in (None, "***") for e in created)
