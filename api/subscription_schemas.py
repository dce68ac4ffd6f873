"""Request and response models of subscriptions: money is a decimal string, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.billing_schemas import Money, Precision
from api.schemas import PRINTABLE, Currency, Name, Strict

Condition = Literal["expired", "blocked", "suspended", "no_funds"]
AdjustmentKind = Literal[
    "relative_discount", "relative_upcharge", "fixed_discount", "fixed_upcharge"
]
Percent = Annotated[
    str,
    StringConstraints(max_length=18, pattern=r"^[0-9]{1,7}(\.[0-9]{1,6})?$"),
    Field(examples=["10"], description="A decimal string: percent or an amount"),
]


class PlanCreate(Strict):
    name: Name
    product_id: UUID
    level: Literal["account", "reseller"] = Field(
        "account",
        description="account: charges the customer per account; reseller: charges the"
        " reseller per account, on the reseller's own billing period and zone",
    )
    fee: Money
    currency: Currency = Field(examples=["USD"])
    period: Literal["monthly", "weekly", "daily"] = "monthly"
    charged: Literal["in_advance", "in_arrears"] = "in_advance"
    prorate: bool = Field(True, description="Charge started/stopped periods by whole days")
    activation: Literal["start_date", "first_usage"] = "start_date"
    multiple: bool = Field(False, description="Can be applied more than once to an account")
    managed_by: UUID | None = Field(None, description="A reseller managing it (None: admin)")
    shared_with_resellers: bool = True
    progressive: bool = Field(
        False, description="Charged progressively (keep total charge only): no fixed adjustment"
    )
    prepaid_months: Annotated[int, Field(ge=1, le=36)] = Field(
        1, description="More than 1: a multi-month prepaid plan, which takes no adjustment"
    )
    precision: Precision = 2
    credit_conditions: list[Condition] = Field(
        default_factory=lambda: ["expired", "blocked", "suspended", "no_funds"],
        max_length=4,
        description="Credit a day without service when one of these held all day",
    )


class FeeChangePublic(BaseModel):
    fee: str
    effective: datetime
    reason: str
    actor: str | None


class PlanPublic(BaseModel):
    id: UUID
    name: str
    product_id: UUID
    level: str
    fee: str
    currency: str
    period: str
    charged: str
    prorate: bool
    activation: str
    multiple: bool
    managed_by: UUID | None
    shared_with_resellers: bool
    progressive: bool
    prepaid_months: int
    precision: int
    credit_conditions: list[str]
    status: str
    version: int
    created_at: datetime
    fee_changes: list[FeeChangePublic] = Field(
        default_factory=list, description="Each fee change: the new fee, from when, and why"
    )


Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=PRINTABLE)]


class PlanEdit(Strict):
    """What an edit may change; `reason` is recorded with it."""

    fee: Money | None = Field(None, description="The fee from `effective` on")
    effective: AwareDatetime | None = Field(
        None, description="When the fee changes (default now; not earlier than now)"
    )
    name: Name | None = None
    credit_conditions: list[Condition] | None = Field(None, max_length=4)
    reason: Reason


class SubscriptionCreate(Strict):
    plan_id: UUID
    start: AwareDatetime | None = Field(None, description="Default: now")


class SubscriptionPublic(BaseModel):
    id: UUID
    plan_id: UUID
    product_id: UUID
    level: str
    account_id: UUID
    customer_id: UUID
    reseller_id: UUID | None
    start: datetime
    period: str
    zone: str
    adjustment_kind: str | None
    adjustment_value: str | None
    ended_at: datetime | None
    end_reason: str | None
    version: int
    created_at: datetime


class AdjustmentSet(Strict):
    kind: AdjustmentKind
    value: Percent


class SubscriptionEnd(Strict):
    end: AwareDatetime | None = Field(None, description="Default: now")


class OutageCreate(Strict):
    customer_id: UUID
    account_id: UUID | None = Field(None, description="None: every account of the customer")
    condition: Literal["expired", "suspended", "blocked", "no_funds"]
    start: AwareDatetime
    end: AwareDatetime | None = None


class OutageEnd(Strict):
    end: AwareDatetime


class OutagePublic(BaseModel):
    id: UUID
