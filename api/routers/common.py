"""Shared pieces of the directory routers: query parameters and read-your-writes rows."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from api.contributions import attach
from api.openapi import problems
from api.schemas import MAX_BIGINT, PRINTABLE, WriteAccepted
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.errors import NotFoundError

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_BIGINT, description="Rows to skip; use the `next` of a page")
]
NameFilter = Annotated[
    str | None, Query(max_length=100, pattern=PRINTABLE, description="Exact name")
]
LoginFilter = Annotated[
    str | None, Query(max_length=100, pattern=PRINTABLE, description="Exact login")
]
Status = Literal["open", "closed"]
# fresh_row's answer when the read model is too slow to show the write.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": WriteAccepted, "description": "Committed; the read model shows it later"}
}
EDIT_RESPONSES = {**ACCEPTED, **problems(403, 404, 409)}


def visible_row(
    runtime: Runtime, table: str, scope: Scope, row_id: UUID, response: Response
) -> dict[str, Any]:
    """The read-model row, if the scope may see it; its version becomes the ETag."""
    row = runtime.directory_queries.get(table, scope, str(row_id))
    if row is None:
        raise NotFoundError(f"{table[:-1]} {row_id} not found")
    response.headers["ETag"] = f'"{row["version"]}"'
    return attach(runtime, table, [row])[0]


def fresh_row(
    runtime: Runtime,
    table: str,
    scope: Scope,
    row_id: UUID,
    response: Response,
    version: int = 1,
) -> Any:
    """The row after a command, once the directory read model shows that version.

    The wait is bounded; when it runs out (counted and logged by the runtime) the write is
    still committed, so the answer is 202 Accepted pointing at the row instead of a stale one.
    """

    def shown() -> dict[str, Any] | None:
        row = runtime.directory_queries.get(table, scope, str(row_id))
        return row if row is not None and int(row["version"]) >= version else None

    row = runtime.read_your_writes("directory", shown)
    if row is None:
        location = f"/v1/{table}/{row_id}"
        return JSONResponse(
            {"id": str(row_id), "version": version, "location": location},
            status_code=202,
            headers={"Location": location, "ETag": f'"{version}"'},
        )
    response.headers["ETag"] = f'"{row["version"]}"'
    return attach(runtime, table, [row])[0]


def page(
    runtime: Runtime, table: str, rows: list[dict[str, Any]], next_offset: int | None
) -> dict[str, Any]:
    return {"items": attach(runtime, table, rows), "next": next_offset}
