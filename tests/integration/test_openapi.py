"""The OpenAPI document tells the truth about errors, bounds and links; /docs works offline."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_error_response_is_a_problem_document(spec: dict[str, Any]) -> None:
    errors = [
        (path, method, status, response)
        for path, method, operation in _operations(spec)
        for status, response in operation["responses"].items()
        if status.startswith("4")
    ]
    assert errors
    for path, method, status, response in errors:
        assert response["content"] == PROBLEM, (method, path, status)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"type", "title", "status", "detail", "code"} <= set(schemas["Problem"]["required"])
    assert "errors" in schemas["Problem"]["properties"]


def test_each_operation_documents_the_problems_its_requests_can_meet(
    spec: dict[str, Any],
) -> None:
    for path, method, operation in _operations(spec):
        documented = set(operation["responses"])
        where = f"{method} {path}"
        if operation.get("security"):
            assert "401" in documented, where
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in documented, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= documented, where
        if any(p["name"] == "If-Match" for p in operation.get("parameters", [])):
            assert "412" in documented, where
        if "{" in path:
            assert "404" in documented, where


def test_stable_codes_are_documented(spec: dict[str, Any]) -> None:
    described = spec["info"]["description"]
    for code in ("precondition_failed", "unsupported_media_type", "invalid_filter", "duplicate"):
        assert f"`{code}`" in described
    patch = spec["paths"]["/v1/customers/{customer_id}"]["patch"]["responses"]
    assert "`precondition_failed`" in patch["412"]["description"]
    assert "`closed`" in patch["409"]["description"]


def test_integers_strings_and_lists_have_bounds(spec: dict[str, Any]) -> None:
    def unbounded(schema: dict[str, Any]) -> bool:
        kinds = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
        return any(
            (k.get("type") == "integer" and "maximum" not in k)
            or (
                k.get("type") == "string"
                and "maxLength" not in k
                and "enum" not in k
                and k.get("format") not in ("uuid", "date-time")
            )
            or (k.get("type") == "array" and "maxItems" not in k)
            for k in kinds
        )

    found = [
        (method, path, parameter["name"])
        for path, method, operation in _operations(spec)
        for parameter in operation.get("parameters", [])
        if unbounded(parameter["schema"])
    ]
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith(("Create", "Update")) or name.startswith("Body_"):
            found += [
                ("body", name, field)
                for field, each in schema["properties"].items()
                if unbounded(each)
            ]
    assert found == []


def test_create_operations_link_to_what_can_follow(spec: dict[str, Any]) -> None:
    for path in ("/v1/resellers", "/v1/customers", "/v1/accounts", "/v1/webhooks"):
        links = spec["paths"][path]["post"]["responses"]["201"]["links"]
        assert links, path
        for name, link in links.items():
            pointer = link["operationRef"].removeprefix("#/paths/")
            target_path, method = pointer.rsplit("/", 1)
            target_path = target_path.replace("~1", "/").replace("~0", "~")
            target = spec["paths"][target_path][method]
            names = {p["name"] for p in target.get("parameters", [])}
            assert set(link.get("parameters", {})) <= names, name
            body_ref = target.get("requestBody", {}).get("content", {})
            if "requestBody" in link:
                schema = body_ref["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                fields = spec["components"]["schemas"][schema]["properties"]
                assert set(link["requestBody"]) <= set(fields), name


def test_swagger_ui_loads_nothing_from_other_hosts(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert re.findall(r"https?://", page.text) == []
    assets = re.findall(r"""(?:href|src)=["']([^"']+)["']""", page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/docs/oauth2-redirect").status_code == 200
