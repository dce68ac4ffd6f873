"""The OpenAPI document: every error as problem+json with its stable codes, and links from
each created resource to the operations on it."""

from __future__ import annotations

import http
from typing import Any

from fastapi import FastAPI

from api.problems import MEDIA_TYPE, Problem, codes_by_status

_REF = "#/components/schemas/"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the problems a route's use case may answer with (403, 404, 409...)."""
    return {status: {} for status in statuses}


def link(method: str, path: str, **parameters: str) -> dict[str, Any]:
    """A link to the operation `method path`, its parameters taken from the response."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": parameters}


def body_link(method: str, path: str, **fields: str) -> dict[str, Any]:
    """A link to an operation whose request body carries values from the response."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method}", "requestBody": fields}


def created(*statuses: int, **links: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a create: its problems, and links from the 201 to what can follow."""
    return {**problems(*statuses), 201: {"links": links}}


def install(app: FastAPI) -> None:
    """Build the document once with FastAPI, then make every 4xx answer a Problem."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            _use_problem_schema(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_problem_schema(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    problem = Problem.model_json_schema(ref_template=_REF + "{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    codes = codes_by_status()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            for status, response in responses.items():
                if status.isdigit() and 400 <= int(status) < 500:
                    response["description"] = _describe(int(status), codes.get(int(status), []))
                    response["content"] = {MEDIA_TYPE: {"schema": {"$ref": _REF + "Problem"}}}
            operation["responses"] = dict(sorted(responses.items()))
    document["info"]["description"] = _codes_table(codes)


def _describe(status: int, codes: list[str]) -> str:
    phrase = http.HTTPStatus(status).phrase
    return f"{phrase}: " + ", ".join(f"`{code}`" for code in codes) if codes else phrase


def _codes_table(codes: dict[int, list[str]]) -> str:
    rows = "\n".join(
        f"| {status} | {', '.join(f'`{c}`' for c in each)} |" for status, each in codes.items()
    )
    return (
        "Every error is an RFC 9457 `application/problem+json` body (schema `Problem`) whose"
        " `code` is stable and machine-readable:\n\n| status | code |\n| --- | --- |\n" + rows
    )
