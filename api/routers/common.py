"""Shared pieces of the directory routers: query parameters and read-your-writes rows."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query, Response

from adapters.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.errors import NotFoundError

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip; use the `next` of a page")]
Status = Literal["open", "closed"]


def visible_row(
    runtime: Runtime, table: str, scope: Scope, row_id: UUID, response: Response
) -> dict[str, Any]:
    """The read-model row, if the scope may see it; its version becomes the ETag."""
    row = runtime.directory_queries.get(table, scope, str(row_id))
    if row is None:
        raise NotFoundError(f"{table[:-1]} {row_id} not found")
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


def fresh_row(
    runtime: Runtime, table: str, scope: Scope, row_id: UUID, response: Response
) -> dict[str, Any]:
    """The row after a command: waits for read models to include it first."""
    runtime.settle()
    return visible_row(runtime, table, scope, row_id, response)


def page(rows: list[dict[str, Any]], next_offset: int | None) -> dict[str, Any]:
    return {"items": rows, "next": next_offset}
