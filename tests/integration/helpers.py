"""Small helpers shared by integration tests."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient


def create(
    client: TestClient, headers: dict[str, str], resource: str, **body: Any
) -> dict[str, Any]:
    response = client.post(f"/v1/{resource}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()


def store_v1_customer_created(runtime: Any, name: str = "Legacy Ltd") -> UUID:
    """A `Customer.Created` as version 1 stored it (before customers had a time zone)."""
    customer_id = uuid4()
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-01T00:00:00+00:00"},
        "originator_topic": "domain.directory.aggregates:Customer",
        "actor": {"_type_": "actor", "_data_": {"id": "legacy", "realm": "system", "role": "x"}},
        "correlation_id": "legacy-import",
        "causation_id": None,
        "name": name,
        "currency": "EUR",
        "reseller_id": None,
        "login": None,
        "password_hash": None,
    }
    runtime.directory.recorder.insert_events(
        [
            StoredEvent(
                originator_id=customer_id,
                originator_version=1,
                topic="domain.directory.aggregates:Customer.Created",
                state=json.dumps(v1_state).encode(),
            )
        ]
    )
    return customer_id
