"""Webhook registration: SSRF refusals and bad input change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import assert_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
    ],
)
def test_internal_targets_are_refused(
    client: TestClient, admin: dict[str, str], log_size: Callable[[], int], url: str
) -> None:
    before = log_size()
    response = client.post("/v1/webhooks", json={"url": url}, headers=admin)
    assert_problem(response, 422, "forbidden_target")
    assert log_size() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "ftp://example.com/x"}, 422, "validation_error"),
        ({"url": "https://8.8.8.8/x", "event_types": ["Nope.Nope"]}, 400, "invalid_filter"),
        ({"url": "https://8.8.8.8/x", "colour": "red"}, 422, "validation_error"),
    ],
)
def test_bad_registrations_are_refused(
    client: TestClient,
    admin: dict[str, str],
    log_size: Callable[[], int],
    body: dict[str, object],
    status: int,
    code: str,
) -> None:
    before = log_size()
    assert_problem(client.post("/v1/webhooks", json=body, headers=admin), status, code)
    assert log_size() == before


def test_unknown_or_foreign_webhook_is_404(client: TestClient, admin: dict[str, str]) -> None:
    missing = client.get("/v1/webhooks/00000000-0000-0000-0000-000000000000", headers=admin)
    assert_problem(missing, 404, "not_found")
