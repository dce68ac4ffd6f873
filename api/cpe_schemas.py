"""Request and response bodies of the IP phone (CPE) inventory API."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas import Name

DeviceName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MacText = Annotated[
    str,
    StringConstraints(min_length=12, max_length=17),
    Field(description="Any common notation: 00:14:20:FF:3C:52, 00-14-20-FF-3C-52, 001420FF3C52"),
]
Port = Annotated[int, Field(ge=1, le=64)]


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    ports: Port


class ModelPublic(BaseModel):
    id: UUID
    name: str
    ports: int


class ProfileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class ProfilePublic(BaseModel):
    id: UUID
    name: str


class PhoneCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DeviceName = Field(description="The device id")
    model_id: UUID
    mac: MacText
    profile_id: UUID | None = None
    managed_by: UUID | None = Field(
        None, description="The reseller that manages it (a reseller's phones: itself)"
    )
    shared: bool = Field(False, description="Shared with every reseller (admins only)")
    customer_id: UUID | None = Field(None, description="Allocate it to this customer at once")


class PortPublic(BaseModel):
    port: int
    account_id: UUID | None = Field(description="The extension's account on it; null: free")
    account_login: str | None


class PhonePublic(BaseModel):
    id: UUID
    name: str
    model_id: UUID
    model: str | None
    mac: str = Field(description="Lowercase colon form, 00:14:20:ff:3c:52")
    profile_id: UUID | None
    profile: str | None
    managed_by: UUID | None
    managed_by_name: str | None
    shared: bool
    inventory_id: int
    customer_id: UUID | None
    customer_name: str | None
    ports_total: int
    ports_free: int
    ports: list[PortPublic]
    version: int


class PhonesAllocate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    macs: list[MacText] = Field(min_length=1, max_length=1000)
    customer_id: UUID | None = Field(description="The customer; null gives them back to stock")


class PhoneList(BaseModel):
    items: list[PhonePublic]


class PortAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: UUID = Field(description="The extension's account (one of the customer's)")


class PortMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_id: UUID | None = Field(None, description="Another phone of the customer; default: this")
    port: Port


class UploadAccepted(BaseModel):
    id: UUID
    status: Literal["running", "done", "failed"]


class UploadError(BaseModel):
    row: int = Field(description="1-based, the header being row 1")
    column: str
    value: str
    reason: str


class UploadPublic(BaseModel):
    id: UUID
    filename: str
    status: Literal["running", "done", "failed"]
    reason: str | None = Field(description="Why a failed job stopped")
    rows_total: int
    rows_done: int
    rows_applied: int = Field(description="Rows that changed the inventory")
    rows_unchanged: int = Field(description="Rows identical to what the inventory holds")
    rows_failed: int
    errors: list[UploadError] = Field(description="The first 1000; errors.csv has every one")
    errors_total: int
