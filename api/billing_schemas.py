"""Request and response models of billing: money is a decimal string, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.schemas import PRINTABLE, Name, Strict

Money = Annotated[
    str,
    StringConstraints(max_length=18, pattern=r"^[0-9]{1,7}(\.[0-9]{1,10})?$"),
    Field(examples=["0.10"], description="A decimal string (never a JSON number)"),
]
Precision = Annotated[int, Field(ge=0, le=6, description="Decimals, 0 to 6")]
Seconds = Annotated[int, Field(ge=1, le=86_400)]
Rounding = Literal["away_from_zero", "half_away_from_zero", "malaysian"]
AccessCode = Literal["outgoing", "incoming"]


class CustomerClassCreate(Strict):
    name: Name
    rounding: Rounding = "away_from_zero"
    invoice_precision: Precision = 2
    usage_precision: Precision = 2


class CustomerClassEdit(Strict):
    """The fields given change; a rounding or precision change needs a reason."""

    name: Name | None = None
    rounding: Rounding | None = None
    invoice_precision: Precision | None = None
    usage_precision: Precision | None = None
    reason: (
        Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=PRINTABLE)] | None
    ) = Field(None, examples=["the regulator requires half away from zero"])


class CustomerClassPublic(BaseModel):
    id: UUID
    name: str
    rounding: str
    invoice_precision: int
    usage_precision: int
    version: int
    created_at: datetime


class RateIn(Strict):
    prefix: Annotated[str, StringConstraints(min_length=1, max_length=15)] = Field(
        examples=["4420"], description="Destination prefix, E.164 digits (longest match wins)"
    )
    price_per_minute: Money
    first_interval: Seconds = Field(examples=[60])
    next_interval: Seconds = Field(examples=[60])
    connection_fee: Money | None = None
    free_seconds: Annotated[int, Field(ge=0, le=86_400)] | None = None
    off_peak_price_per_minute: Money | None = None
    access_code: AccessCode | None = None
    effective_from: AwareDatetime | None = None
    effective_to: AwareDatetime | None = None


class RatePublic(BaseModel):
    prefix: str
    access_code: str
    price_per_minute: str
    first_interval: int
    next_interval: int
    connection_fee: str
    free_seconds: int
    off_peak_price_per_minute: str | None
    effective_from: str | None
    effective_to: str | None


class PeakPeriod(Strict):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        min_length=1, max_length=7
    )
    from_: Annotated[str, StringConstraints(pattern=r"^\d\d:\d\d$")] = Field(
        alias="from", examples=["08:00"]
    )
    to: Annotated[str, StringConstraints(pattern=r"^\d\d:\d\d$")] = Field(examples=["18:00"])

    model_config = {"extra": "forbid", "populate_by_name": True}


class TariffCreate(Strict):
    name: Name
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] = Field(
        examples=["EUR"]
    )
    precision: Precision = 2
    rates: list[RateIn] = Field(default_factory=list, max_length=1000)
    peak_periods: list[PeakPeriod] = Field(default_factory=list, max_length=50)


class TariffPublic(BaseModel):
    id: UUID
    name: str
    currency: str
    precision: int
    peak_periods: list[dict[str, Any]]
    rates: int = Field(description="How many rates it holds")
    version: int
    created_at: datetime
    updated_at: datetime


class RatesChange(Strict):
    rates: list[RateIn] = Field(min_length=1, max_length=1000)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=PRINTABLE)]


class RatesChanged(BaseModel):
    tariff_id: UUID
    change_id: str
    rates: int = Field(description="Rates added or replaced")
    events: int = Field(description="Events it took (at most 1,000 rates each)")


class UsageCreate(Strict):
    account_id: UUID
    service: Literal["voice", "measured", "did"]
    cli: Annotated[str, StringConstraints(max_length=64, pattern=PRINTABLE)] = Field(
        examples=["442071234567"]
    )
    cld: Annotated[str, StringConstraints(min_length=1, max_length=21)] = Field(
        examples=["4420712345678"], description="E.164 digits"
    )
    connect_time: AwareDatetime = Field(description="With a UTC offset")
    duration_seconds: Annotated[int, Field(ge=0, le=7 * 86_400)]
    record_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)] | None
    ) = Field(None, description="The same record_id for the same account records once")
    quantity: Money | None = None
    unit: (
        Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=PRINTABLE)] | None
    ) = None
    direction: AccessCode = Field(
        "outgoing",
        description="incoming: rated by the tariff's incoming rates (a callback's legs, seed 001)",
    )


class XdrPublic(BaseModel):
    """A rated leg at one level (customer, or the reseller's price from the operator)."""

    id: UUID
    leg_id: UUID
    level: str
    account_id: UUID
    customer_id: UUID
    reseller_id: UUID | None
    service: str
    direction: str
    access_code: str
    cli: str
    cld: str
    connect_time: datetime
    disconnect_time: datetime
    duration_seconds: int
    charged_seconds: int | None
    quantity: str | None
    unit: str | None
    status: Literal["rated", "unrated"]
    reason: str | None
    tariff_id: UUID | None
    rate_prefix: str | None
    rate: dict[str, Any] | None
    period: str | None
    amount: str | None = Field(description="A decimal string, rounded once")
    currency: str | None
    rounding: str
    precision: int
    tracking_id: str | None
    previous_tracking_id: str | None
    rated_at: datetime


class UsagePending(BaseModel):
    """Recorded; the rater has not rated it yet: its xDR shows at `location` later."""

    leg_id: UUID
    status: Literal["pending"]
    location: str
