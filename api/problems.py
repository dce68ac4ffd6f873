"""RFC 9457 problem+json for every error, with a stable machine-readable `code`."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.shared import errors

MEDIA_TYPE = "application/problem+json"
# The most specific class in an error's MRO decides; anything unlisted is a 400.
_STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidFilterError: 400,
    errors.InvalidValueError: 422,
    errors.NotFoundError: 404,
    errors.ForbiddenError: 403,
    errors.ConflictError: 409,
    errors.PreconditionFailedError: 412,
    errors.DuplicateError: 409,
    errors.ClosedError: 409,
    errors.AuthenticationError: 401,
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


class ValidationIssue(BaseModel):
    """One way a request does not match its schema."""

    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem: `detail` is for people, `code` is stable, for programs."""

    type: str = Field(examples=["urn:switchlog:problem:not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(
        description="Stable machine-readable code; each response lists the codes it may carry",
        examples=["not_found"],
    )
    errors: list[ValidationIssue] | None = Field(
        None, description="For `validation_error`: every mismatch found"
    )


def status_of(kind: type[errors.DomainError]) -> int:
    return next((_STATUS[k] for k in kind.__mro__ if k in _STATUS), 400)


def codes_by_status() -> dict[int, list[str]]:
    """Every stable code, by the HTTP status it comes with."""
    found: dict[int, set[str]] = defaultdict(set)
    kinds = list(errors.DomainError.__subclasses__())
    while kinds:
        kind = kinds.pop()
        kinds += kind.__subclasses__()
        found[status_of(kind)].add(kind.code)
    for status, code in _HTTP_CODES.items():
        found[status].add(code)
    found[400].add("malformed_json")
    return {status: sorted(codes) for status, codes in sorted(found.items())}


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"urn:switchlog:problem:{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_of(type(exc))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, exc.code, exc.detail, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    if any(d["type"] == "json_invalid" for d in details):
        return problem(400, "malformed_json", "the request body is not valid JSON")
    return problem(422, "validation_error", "the request does not match the schema", errors=details)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class BodySizeLimit:
    """Refuses bodies over `max_bytes` (declared or streamed) before any handler runs.

    `streamed` names paths with a limit of their own (file uploads): their bodies are not
    buffered here but counted as the route reads them, and refused past that limit."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, streamed: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = dict(streamed or {})
        # A path with {parameters} matches any one segment there (/v1/tariffs/{id}/...).
        self._patterns = [
            (re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path))), limit)
            for path, limit in self.streamed.items()
            if "{" in path
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own_limit = self.streamed.get(scope["path"])
        if own_limit is None and self._patterns:
            own_limit = next(
                (limit for pattern, limit in self._patterns if pattern.fullmatch(scope["path"])),
                None,
            )
        if own_limit is not None:
            await self._streamed(own_limit, scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int = 0) -> None:
        limit = limit or self.max_bytes
        response = problem(413, "payload_too_large", f"request bodies are limited to {limit} bytes")
        await response(scope, receive, send)

    async def _streamed(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise StarletteHTTPException(413, f"request bodies are limited to {limit} bytes")
            return message

        await self.app(scope, counted, send)
