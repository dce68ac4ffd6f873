"""Fields other contexts contribute to an API resource (composition/contexts.py says which).

A resource's schemas gain the fields; its GET shows them (one read per page) and its PATCH
hands them to the contributing context's command, whose events are that context's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, create_model

from composition.contexts import contributions
from composition.provisioning import retry_conflicts
from composition.runtime import Runtime
from domain.shared.actor import CommandContext


def with_contributions(
    model: type[BaseModel], resource: str, name: str, use: str = "read"
) -> type[BaseModel]:
    """`model` plus the fields contributed to `resource` (optional: absent means unchanged);
    `use` "update" takes the writable ones, "create" the ones a creation takes."""
    extra: dict[str, Any] = {
        c.field: (c.annotation, Field(None, description=c.description))
        for c in contributions(resource)
        if use == "read"
        or (use == "update" and c.write is not None)
        or (use == "create" and c.create is not None)
    }
    return create_model(name, __base__=model, **extra) if extra else model


def attach(runtime: Runtime, resource: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each contributed field's value to the rows, one read per contribution."""
    ids = [str(row["id"]) for row in rows]
    for contribution in contributions(resource):
        values = contribution.read(runtime, ids)
        for row in rows:
            row[contribution.field] = values.get(str(row["id"]))
    return rows


def split(resource: str, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resource's own fields, and the contributed ones."""
    contributed = {c.field for c in contributions(resource)}
    own = {k: v for k, v in fields.items() if k not in contributed}
    return own, {k: v for k, v in fields.items() if k in contributed}


def edit(
    runtime: Runtime,
    ctx: CommandContext,
    resource: str,
    row_id: UUID,
    fields: dict[str, Any],
    own: Callable[[dict[str, Any]], int],
) -> int:
    """Change the resource's own fields (`own` runs its context's command) and the
    contributed ones (each contributing context's command), all in one transaction: the
    edit applies whole or not at all. Then wait, bounded, for the contributed read models.
    Returns the version `own` answered."""
    own_fields, contributed = split(resource, fields)
    shown: list[tuple[str, Callable[[], bool]]] = []
    with runtime.directory.one_transaction():
        version = own(own_fields)
        for contribution in contributions(resource):
            if contribution.field in contributed and contribution.write is not None:
                value = contributed[contribution.field]
                check = contribution.write(runtime, ctx, row_id, value)
                shown.append((f"{resource}.{contribution.field}", check))
    for read_model, check in shown:
        runtime.read_your_writes(read_model, lambda c=check: True if c() else None)
    return version


def create(
    runtime: Runtime,
    ctx: CommandContext,
    resource: str,
    fields: dict[str, Any],
    own: Callable[[dict[str, Any]], UUID],
) -> UUID:
    """Create a row (`own` runs its context's command) and let every contributing context
    add its part (a customer's number) in the same transaction; a lost race with another
    writer is retried. Then wait, bounded, for the contributed read models."""
    own_fields, contributed = split(resource, fields)
    shown: list[tuple[str, Callable[[], bool]]] = []

    def attempt() -> UUID:
        shown.clear()
        with runtime.directory.one_transaction():
            row_id = own(own_fields)
            for contribution in contributions(resource):
                if contribution.create is not None:
                    value = contributed.get(contribution.field)
                    check = contribution.create(runtime, ctx, row_id, value, own_fields)
                    shown.append((f"{resource}.{contribution.field}", check))
        return row_id

    row_id = retry_conflicts(attempt)
    for read_model, check in shown:
        runtime.read_your_writes(read_model, lambda c=check: True if c() else None)
    return row_id
