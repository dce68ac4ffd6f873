"""Request and response models of products, agreements, extensions and auto attendants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.contributions import with_contributions
from api.schemas import MAX_BIGINT, Name, Strict

ProductIds = Annotated[list[UUID], Field(max_length=50, description="Product ids")]
Did = Annotated[str, StringConstraints(min_length=1, max_length=20)]
UNSET: Any = None


class ProductCreate(Strict):
    name: Name = Field(examples=["Hosted IP PBX"])
    kind: Literal["main", "add_on"]


class ProductOwnFields(BaseModel):
    id: UUID
    name: str
    kind: str
    version: int
    created_at: datetime


class ProductOwnUpdate(Strict):
    """A product's own fields are fixed; other contexts' fields (billing's tariff) change."""


# Other contexts add fields to products (billing's `tariff_id`): see api/contributions.py.
ProductPublic = with_contributions(ProductOwnFields, "products", "ProductPublic")
ProductUpdate = with_contributions(ProductOwnUpdate, "products", "ProductUpdate", "update")


class AgreementItem(Strict):
    product_id: UUID
    quantity: int = Field(ge=0, le=MAX_BIGINT, description="Accounts it may go to; 0: any")


class AgreementSet(Strict):
    products: list[AgreementItem] = Field(max_length=500)


class AgreementLine(BaseModel):
    product_id: UUID
    name: str
    kind: str
    quantity: int = Field(description="0: unlimited")
    used: int = Field(description="Accounts that hold it now")


class AgreementPublic(BaseModel):
    customer_id: UUID
    products: list[AgreementLine]


class ExtensionCreate(Strict):
    extension: Annotated[str, StringConstraints(min_length=1, max_length=15)] = Field(
        examples=["466"], description="1 to 15 digits"
    )
    products: ProductIds = Field(default_factory=list)


class ExtensionUpdate(Strict):
    extension: Annotated[str, StringConstraints(min_length=1, max_length=15)] = UNSET
    products: ProductIds = UNSET


class AutoAttendantCreate(Strict):
    products: ProductIds = Field(default_factory=list)


class AutoAttendantUpdate(Strict):
    products: ProductIds


class DidAdd(Strict):
    did: Did = Field(examples=["12094555948"], description="E.164 digits")


class EndpointPublic(BaseModel):
    """An extension or auto attendant, with its account's products and block."""

    id: UUID
    customer_id: UUID
    kind: Literal["extension", "auto_attendant"]
    extension: str | None = Field(None, description="Extensions only")
    number: int | None = Field(None, description="Auto attendants only: n in ph{number}aa{n}")
    account_id: UUID
    account_login: str = Field(examples=["ph46170x466"])
    product_id: UUID | None = Field(description="The main product")
    products: list[UUID]
    dids: list[str]
    blocked: bool
    blocked_by: str | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointPublic):
    sip_password: str = Field(description="Shown only in this answer; stored encrypted")
