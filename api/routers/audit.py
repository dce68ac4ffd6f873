"""The audit trail: who changed what, and what a subject looked like at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query

from api.deps import RuntimeDep, ScopeDep
from api.openapi import problems
from api.routing import ProblemRoute
from api.schemas import MAX_BIGINT, PRINTABLE, AuditItem, Page, SubjectState
from domain.directory.access import sees_event
from domain.shared.actor import Realm
from domain.shared.aggregate import as_utc
from domain.shared.errors import NotFoundError
from projections.audit import AuditFilter

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=ProblemRoute)


@router.get("", response_model=Page[AuditItem], responses=problems(400, 403))
def search_audit(
    runtime: RuntimeDep,
    scope: ScopeDep,
    subject: Annotated[
        str | None,
        Query(max_length=100, pattern=PRINTABLE, description="Aggregate id, or a name/login"),
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=100, pattern=PRINTABLE, description="Actor id or login")
    ] = None,
    realm: Realm | None = None,
    type: Annotated[
        str | None,
        Query(max_length=100, pattern=PRINTABLE, description="Event type, e.g. Customer.Updated"),
    ] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_BIGINT, description="A `next` from the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Literal["desc", "asc"] = "desc",
) -> dict[str, Any]:
    """Search the log: filter by subject, actor, realm, type and time; page by position.

    Each realm sees the events it may see (admins all; a reseller its own and its
    customers'; a customer its own and its accounts'; an account its own)."""
    query = AuditFilter(
        subject=subject,
        actor=actor,
        realm=realm.value if realm else None,
        type=type,
        since=as_utc(since),
        until=as_utc(until),
        after=after,
        limit=limit,
        newest_first=order == "desc",
        visible_to=scope,
    )
    items, next_position = runtime.audit.search(query)
    return {"items": items, "next": next_position}


@router.get("/subjects/{subject}", response_model=SubjectState, responses=problems(403, 404))
def subject_as_of(
    subject: Annotated[
        str, Path(max_length=100, pattern=PRINTABLE, description="Aggregate id, or a name/login")
    ],
    runtime: RuntimeDep,
    scope: ScopeDep,
    as_of: Annotated[datetime | None, Query(description="Defaults to now")] = None,
) -> dict[str, Any]:
    """A subject's state as it was at `as_of` (time travel over the log)."""
    subject_id = runtime.audit.subject_id(subject)
    if subject_id is None or not sees_event(scope, runtime.directory.owners_of(UUID(subject_id))):
        raise NotFoundError(f"no single subject is known as {subject!r}")
    moment = as_utc(as_of) or runtime.clock.now()
    found = runtime.directory.state_as_of(UUID(subject_id), moment)
    return {"subject": subject_id, "as_of": moment, **found}
