"""Bad input gets problem+json and leaves the log exactly as it was."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import expected_version
from domain.shared.errors import InvalidValueError
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


@pytest.mark.parametrize(
    "url",
    [
        "/v1/audit?after=71254174366365048852455620608",
        "/v1/audit?after=9223372036854775808",
        "/v1/customers?offset=10000000000000000001&limit=228",
        "/v1/resellers?offset=9223372036854775808",
        "/v1/accounts?offset=9223372036854775808",
    ],
    ids=[
        "audit-after-huge",
        "audit-after-bigint-plus-one",
        "customers-offset",
        "resellers",
        "accounts",
    ],
)
def test_position_or_offset_past_bigint_is_422_not_a_server_error(
    client: TestClient, admin: dict[str, str], url: str
) -> None:
    assert_problem(client.get(url, headers=admin), 422, "validation_error")


def test_largest_bigint_offset_is_an_empty_page(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/v1/customers", params={"offset": 2**63 - 1}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("get", "/v1/customers", {"params": {"name": "x" * 101}}),
        ("get", "/v1/accounts", {"params": {"login": "x" * 101}}),
        ("get", "/v1/audit", {"params": {"actor": "x" * 101}}),
        ("get", f"/v1/audit/subjects/{'x' * 101}", {}),
        (
            "patch",
            "/v1/customers/00000000-0000-0000-0000-000000000000",
            {"json": {}, "headers": {"If-Match": '"1' + "0" * 100 + '"'}},
        ),
        ("post", "/v1/webhooks", {"json": {"url": "https://8.8.8.8/" + "x" * 2048}}),
        (
            "post",
            "/v1/webhooks",
            {"json": {"url": "https://8.8.8.8/x", "event_types": ["Customer.Created"] * 101}},
        ),
    ],
    ids=[
        "name-filter",
        "login-filter",
        "audit-actor",
        "audit-subject-path",
        "if-match",
        "webhook-url",
        "webhook-types",
    ],
)
def test_over_long_strings_and_lists_are_422(
    client: TestClient, admin: dict[str, str], method: str, url: str, kwargs: dict[str, Any]
) -> None:
    rest = {key: value for key, value in kwargs.items() if key != "headers"}
    response = client.request(method, url, headers={**admin, **kwargs.get("headers", {})}, **rest)
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_json_body_in_another_media_type_is_415_naming_json(
    client: TestClient, admin: dict[str, str], log_size: Callable[[], int], content_type: str | None
) -> None:
    before = log_size()
    headers = {**admin, **({"Content-Type": content_type} if content_type else {})}
    response = client.post("/v1/customers", content=json.dumps(VALID).encode(), headers=headers)
    assert_problem(response, 415, "unsupported_media_type")
    assert "application/json" in response.json()["detail"]
    assert log_size() == before


def test_json_with_charset_or_a_json_suffix_is_accepted(
    client: TestClient, admin: dict[str, str]
) -> None:
    for i, content_type in enumerate(
        ["application/json; charset=utf-8", "application/merge-patch+json"]
    ):
        body = json.dumps({**VALID, "name": f"Acme {i}"}).encode()
        response = client.post(
            "/v1/customers", content=body, headers={**admin, "Content-Type": content_type}
        )
        assert response.status_code == 201, response.text


def test_token_form_keeps_its_form_media_types(client: TestClient) -> None:
    credentials = {"username": "root", "password": "root-password-1"}
    assert client.post("/v1/auth/token", data=credentials).status_code == 200
    multipart = client.post("/v1/auth/token", files={k: (None, v) for k, v in credentials.items()})
    assert multipart.status_code == 200, multipart.text
    as_json = client.post("/v1/auth/token", json=credentials)
    assert_problem(as_json, 415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in as_json.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/customers?name=%00",
        "/v1/resellers?name=a%00b",
        "/v1/accounts?login=%00",
        "/v1/audit?subject=%00",
        "/v1/audit?actor=a%00",
        "/v1/audit?type=%00",
        "/v1/audit/subjects/a%00",
    ],
)
def test_control_characters_in_search_text_are_422_not_a_database_error(
    client: TestClient, admin: dict[str, str], url: str
) -> None:
    assert_problem(client.get(url, headers=admin), 422, "validation_error")


@pytest.mark.parametrize(
    "params",
    [{"since": "0001-01-01T00:00:00+14:00"}, {"until": "9999-12-31T23:59:59-14:00"}],
    ids=["since-before-year-1-utc", "until-after-year-9999-utc"],
)
def test_audit_time_outside_utc_range_is_400_invalid_filter(
    client: TestClient, admin: dict[str, str], params: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/audit", params=params, headers=admin), 400, "invalid_filter")


def test_non_ascii_digits_are_not_versions_or_positions(
    client: TestClient, admin: dict[str, str]
) -> None:
    # "²".isdigit() is True but int("²") fails: these were 500s.
    with pytest.raises(InvalidValueError):
        asyncio.run(expected_version("\xb2"))
    stream = client.get("/v1/events/stream", params={"after": "\xb2"}, headers=admin)
    assert_problem(stream, 400, "invalid_filter")
    token = admin["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/v1/ws?token={token}") as ws:
        ws.send_json({"type": "subscribe", "id": "s", "after": "\xb2"})
        assert ws.receive_json()["code"] == "invalid_filter"
