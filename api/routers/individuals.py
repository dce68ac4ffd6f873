"""Customer individuals: employees' self-care logins, each with a role and access dates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StringConstraints

from api.deps import ContextDep, ExpectedVersionDep, RuntimeDep, ScopeDep
from api.openapi import created, link, problems
from api.routers.common import ACCEPTED, EDIT_RESPONSES, Limit, Offset
from api.routers.roles import access, fresh
from api.routing import ProblemRoute
from api.schemas import Name, Page, Password, Strict, TimeZone
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.errors import NotFoundError
from domain.shared.permissions import Access, Section

router = APIRouter(tags=["individuals"], route_class=ProblemRoute)
ITEM = "/v1/individuals/{individual_id}"
BY_ID = {"individual_id": "$response.body#/id"}
Day = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$", max_length=10),
    Field(examples=["2026-04-20"]),
]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]
UNSET: Any = None


class IndividualCreate(Strict):
    login: Name
    password: Password
    email: Email = Field(examples=["bob@abc.example"])
    role_id: UUID
    time_zone: TimeZone = Field(examples=["Europe/Kyiv"])
    activation_date: Day | None = Field(
        None, description="First day of access (inclusive, in time_zone); null: at once"
    )
    expiration_date: Day | None = Field(
        None, description="Last day of access (inclusive, in time_zone); null: no end"
    )


class IndividualUpdate(Strict):
    login: Name = UNSET
    password: Password = UNSET
    email: Email = UNSET
    role_id: UUID = UNSET
    time_zone: TimeZone = UNSET
    activation_date: Day | None = None
    expiration_date: Day | None = None


class IndividualPublic(BaseModel):
    id: UUID
    customer_id: UUID
    reseller_id: UUID | None
    login: str
    email: str
    role_id: UUID
    time_zone: str
    activation_date: str | None
    expiration_date: str | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


def _row(runtime: Runtime, scope: Scope, individual_id: UUID) -> dict[str, Any]:
    row = access(runtime).individual(scope, str(individual_id))
    if row is None:
        raise NotFoundError(f"individual {individual_id} not found")
    return row


@router.post(
    "/v1/customers/{customer_id}/individuals",
    status_code=201,
    response_model=IndividualPublic,
    responses={
        **ACCEPTED,
        **created(
            403,
            404,
            409,
            422,
            GetIndividual=link("get", ITEM, **BY_ID),
            UpdateIndividual=link("patch", ITEM, **BY_ID),
            CloseIndividual=link("post", f"{ITEM}/close", **BY_ID),
        ),
    },
)
def create_individual(
    customer_id: UUID,
    body: IndividualCreate,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    response: Response,
) -> Any:
    """Give an employee of the customer a login with a role; a credentials email with a
    one-time set-password link follows (admins, or a role with Modify on individuals)."""
    ttl = timedelta(seconds=runtime.settings.set_password_link_ttl_seconds)
    individual_id = runtime.directory.create_individual(
        ctx, customer_id, **body.model_dump(), link_ttl=ttl
    )
    location = f"/v1/individuals/{individual_id}"
    row = fresh(runtime, lambda: access(runtime).individual(scope, str(individual_id)), 1, location)
    response.headers["Location"] = location
    return row


@router.get(
    "/v1/customers/{customer_id}/individuals",
    response_model=Page[IndividualPublic],
    responses=problems(403, 404),
)
def list_individuals(
    customer_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The customer's individuals (Read on individuals)."""
    if runtime.directory_queries.get("customers", scope, str(customer_id)) is None:
        raise NotFoundError(f"customer {customer_id} not found")
    ctx.require(Section.INDIVIDUALS, Access.READ)
    items, next_offset = access(runtime).individuals(scope, str(customer_id), limit, offset)
    return {"items": items, "next": next_offset}


@router.get(ITEM, response_model=IndividualPublic, responses=problems(403, 404))
def get_individual(
    individual_id: UUID, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """One individual (Read on individuals; an individual may always read itself)."""
    row = _row(runtime, scope, individual_id)
    if ctx.actor.individual_id != str(individual_id):
        ctx.require(Section.INDIVIDUALS, Access.READ)
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


@router.patch(
    ITEM, response_model=IndividualPublic, responses={**EDIT_RESPONSES, **problems(412, 422)}
)
def update_individual(
    individual_id: UUID,
    body: IndividualUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> Any:
    """Change an individual's role, email, time zone, dates, login or password (Modify on
    individuals; an individual may change its own password)."""
    fields = body.model_dump(exclude_unset=True)
    version = runtime.directory.update_individual(ctx, individual_id, expected, **fields)
    response.headers["ETag"] = f'"{version}"'
    return fresh(
        runtime,
        lambda: access(runtime).individual(scope, str(individual_id)),
        version,
        f"/v1/individuals/{individual_id}",
    )


@router.post(f"{ITEM}/close", response_model=IndividualPublic, responses=EDIT_RESPONSES)
def close_individual(
    individual_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> Any:
    """Close an individual: its login and tokens stop working, a pending email is dropped."""
    version = runtime.directory.close_individual(ctx, individual_id, expected)
    response.headers["ETag"] = f'"{version}"'
    return fresh(
        runtime,
        lambda: access(runtime).individual(scope, str(individual_id)),
        version,
        f"/v1/individuals/{individual_id}",
    )
