"""Bad input gets problem+json and leaves the log exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import assert_problem, create

VALID = {"name": "Acme", "currency": "EUR", "time_zone": "Europe/Paris"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**VALID, "colour": "red"}, 422, "validation_error"),
        ({**VALID, "currency": 978}, 422, "validation_error"),
        ({**VALID, "name": ["Acme"]}, 422, "validation_error"),
        ({**VALID, "reseller_id": "not-a-uuid"}, 422, "validation_error"),
        ({"name": "Acme"}, 422, "validation_error"),
        ({**VALID, "time_zone": "Mars/Olympus_Mons"}, 422, "invalid_value"),
        ({**VALID, "currency": "XYZ"}, 422, "invalid_value"),
        ({**VALID, "name": " padded "}, 422, "invalid_value"),
    ],
    ids=[
        "unknown-field",
        "wrong-type",
        "list-for-string",
        "bad-uuid",
        "missing-fields",
        "unknown-time-zone",
        "unknown-currency",
        "padded-name",
    ],
)
def test_invalid_customer_is_refused_and_log_unchanged(
    client: TestClient,
    admin: dict[str, str],
    log_size: Callable[[], int],
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = log_size()
    assert_problem(client.post("/v1/customers", json=body, headers=admin), status, code)
    assert log_size() == before


def test_malformed_json_is_400_and_log_unchanged(
    client: TestClient, admin: dict[str, str], log_size: Callable[[], int]
) -> None:
    before = log_size()
    response = client.post(
        "/v1/customers",
        content=b'{"name": "Acme", ',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed_json")
    assert log_size() == before


def test_oversized_body_is_413_and_log_unchanged(
    client: TestClient, admin: dict[str, str], log_size: Callable[[], int]
) -> None:
    before = log_size()
    response = client.post("/v1/customers", json={**VALID, "name": "x" * 100_000}, headers=admin)
    assert_problem(response, 413, "payload_too_large")
    assert log_size() == before


def test_invalid_edit_changes_nothing(
    client: TestClient, admin: dict[str, str], log_size: Callable[[], int]
) -> None:
    customer = create(client, admin, "customers", **VALID)
    before = log_size()
    url = f"/v1/customers/{customer['id']}"
    assert_problem(client.patch(url, json={"currency": "ZZZ"}, headers=admin), 422, "invalid_value")
    assert_problem(client.patch(url, json={"name": None}, headers=admin), 422, "validation_error")
    bad_etag = client.patch(url, json={"name": "B"}, headers={**admin, "If-Match": "yesterday"})
    assert_problem(bad_etag, 422, "invalid_value")
    assert log_size() == before
    assert client.get(url, headers=admin).json()["currency"] == "EUR"


def test_unknown_subject_is_404(client: TestClient, admin: dict[str, str]) -> None:
    missing = client.get("/v1/customers/00000000-0000-0000-0000-000000000000", headers=admin)
    assert_problem(missing, 404, "not_found")
    assert_problem(client.get("/v1/customers/nope", headers=admin), 422, "validation_error")
