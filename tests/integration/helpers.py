"""Small helpers shared by integration tests."""

from __future__ import annotations

from typing import Any

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
