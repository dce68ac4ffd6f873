"""Request and response models: strict, closed to unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.contributions import with_contributions

T = TypeVar("T")

MAX_BIGINT = 2**63 - 1  # positions and offsets meet BIGINT columns
# Search text reaches SQL: PostgreSQL text cannot hold NUL, and no name or id holds controls.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3)]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Update fields default to "not sent"; an explicit null is refused (except reseller_id).
UNSET: Any = None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: int | None = Field(None, description="Pass as `after`/`offset` for the next page")


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int


class ResellerCreate(Strict):
    name: Name
    login: Name | None = None
    password: Password | None = None


class ResellerOwnUpdate(Strict):
    name: Name = UNSET
    login: Name = UNSET
    password: Password = UNSET


class CustomerOwnCreate(Strict):
    name: Name
    currency: Currency = Field(examples=["EUR"])
    time_zone: TimeZone = Field(examples=["Europe/Paris"])
    reseller_id: UUID | None = None
    login: Name | None = None
    password: Password | None = None


class CustomerOwnUpdate(Strict):
    name: Name = UNSET
    currency: Currency = UNSET
    time_zone: TimeZone = UNSET
    reseller_id: UUID | None = None
    login: Name = UNSET
    password: Password = UNSET


class AccountCreate(Strict):
    customer_id: UUID
    login: Name = Field(examples=["ph46170x466"])
    password: Password | None = None


class AccountOwnUpdate(Strict):
    login: Name = UNSET
    password: Password = UNSET


class WriteAccepted(BaseModel):
    """A committed write its read model did not show in time: read `location` later."""

    id: UUID
    version: int
    location: str


class Record(BaseModel):
    id: UUID
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class ResellerOwnFields(Record):
    name: str
    login: str | None


class CustomerOwnFields(Record):
    name: str
    currency: str
    time_zone: str
    reseller_id: UUID | None
    login: str | None


class AccountOwnFields(Record):
    customer_id: UUID
    reseller_id: UUID | None
    login: str


class AuditActor(BaseModel):
    id: str
    realm: str
    role: str
    login: str | None
    individual_id: str | None = None


class AuditItem(BaseModel):
    position: int
    time: datetime
    type: str
    subject: str
    subject_type: str
    version: int
    actor: AuditActor
    correlation_id: str
    causation_id: str | None
    changes: dict[str, dict[str, Any]]


class SubjectState(BaseModel):
    subject: str
    type: str
    as_of: datetime
    state: dict[str, Any]


# Other contexts add fields to customers (provisioning's `number`): see api/contributions.py.
CustomerPublic = with_contributions(CustomerOwnFields, "customers", "CustomerPublic")
CustomerUpdate = with_contributions(CustomerOwnUpdate, "customers", "CustomerUpdate", "update")
CustomerCreate = with_contributions(CustomerOwnCreate, "customers", "CustomerCreate", "create")
# ... and to resellers (billing's `billing`: currency, zone, billing period, own tariff).
ResellerPublic = with_contributions(ResellerOwnFields, "resellers", "ResellerPublic")
ResellerUpdate = with_contributions(ResellerOwnUpdate, "resellers", "ResellerUpdate", "update")
# ... and to accounts (provisioning's `product_id`, `products`, `blocked`, `blocked_by`).
AccountPublic = with_contributions(AccountOwnFields, "accounts", "AccountPublic")
AccountUpdate = with_contributions(AccountOwnUpdate, "accounts", "AccountUpdate", "update")
