"""The xDR: a rated leg, `billing.Leg.Rated`, one per level (customer, and reseller when
the customer has one). Its id is `uuid5(leg_id, level)`, so a leg delivered twice is
never billed twice, even across restarts: the second append is an integrity conflict."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.owners import Owner

CUSTOMER, RESELLER = "customer", "reseller"
LEVELS = (CUSTOMER, RESELLER)
RATED, UNRATED = "rated", "unrated"
#: What a reprocess may change in an xDR (`Leg.Rerated`).
RERATED_FIELDS = (
    "status",
    "reason",
    "tariff_id",
    "rate_prefix",
    "rate",
    "period",
    "amount",
    "currency",
    "rounding",
    "precision",
    "charged_seconds",
)


def xdr_id(leg_id: UUID, level: str) -> UUID:
    return uuid5(leg_id, level)


class Leg(SwitchlogAggregate):
    """A leg as billed at one level (named `Leg` so its event is `billing.Leg.Rated`)."""

    context = "billing"

    @staticmethod
    def create_id(leg_id: UUID, level: str) -> UUID:
        return xdr_id(leg_id, level)

    class Rated(SwitchlogAggregate.Created):
        """The xDR. `amount` is rounded once, at its entity's precision; an unrated leg
        (no rate for its destination, no tariff...) has no amount and says why."""

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
        quantity: Decimal | None
        unit: str | None
        status: str
        reason: str | None
        tariff_id: UUID | None
        rate_prefix: str | None
        rate: dict[str, Any] | None
        period: str | None
        amount: Decimal | None
        currency: str | None
        rounding: str
        precision: int
        tracking_id: str | None
        previous_tracking_id: str | None

    def __init__(
        self,
        *,
        leg_id: Any,
        level: Any,
        account_id: Any,
        customer_id: Any,
        reseller_id: Any,
        service: Any,
        direction: Any,
        access_code: Any,
        cli: Any,
        cld: Any,
        connect_time: Any,
        disconnect_time: Any,
        duration_seconds: Any,
        charged_seconds: Any,
        quantity: Any,
        unit: Any,
        status: Any,
        reason: Any,
        tariff_id: Any,
        rate_prefix: Any,
        rate: Any,
        period: Any,
        amount: Any,
        currency: Any,
        rounding: Any,
        precision: Any,
        tracking_id: Any,
        previous_tracking_id: Any,
    ) -> None:
        self.leg_id = leg_id
        self.level = level
        self.account_id = account_id
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.service = service
        self.direction = direction
        self.access_code = access_code
        self.cli = cli
        self.cld = cld
        self.connect_time = connect_time
        self.disconnect_time = disconnect_time
        self.duration_seconds = duration_seconds
        self.charged_seconds = charged_seconds
        self.quantity = quantity
        self.unit = unit
        self.status = status
        self.reason = reason
        self.tariff_id = tariff_id
        self.rate_prefix = rate_prefix
        self.rate = rate
        self.period = period
        self.amount = amount
        self.currency = currency
        self.rounding = rounding
        self.precision = precision
        self.tracking_id = tracking_id
        self.previous_tracking_id = previous_tracking_id

    class Rerated(SwitchlogAggregate.Event):
        """Reprocessed (billing part 2): the xDR priced again against the catalogue of a
        later position (a tariff or rounding fix), with its old amount and the cause."""

        status: str
        reason: str | None
        tariff_id: UUID | None
        rate_prefix: str | None
        rate: dict[str, Any] | None
        period: str | None
        amount: Decimal | None
        currency: str | None
        rounding: str
        precision: int
        charged_seconds: int | None
        old_amount: Decimal | None
        cause: str
        reprocess_id: UUID

        def apply(self, aggregate: Any) -> None:
            for name in RERATED_FIELDS:
                setattr(aggregate, name, getattr(self, name))

    def rerate(
        self, fields: dict[str, Any], old_amount: Decimal | None, cause: str, reprocess_id: UUID
    ) -> None:
        self.trigger_event(
            self.Rerated,
            **{name: fields[name] for name in RERATED_FIELDS},
            old_amount=old_amount,
            cause=cause,
            reprocess_id=reprocess_id,
        )

    def owners(self) -> Sequence[Owner]:
        return self.created_owners(self.id, vars(self))

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        if fields["level"] == RESELLER:  # the operator's price to the reseller: not its customer's
            return (Owner(reseller_id=fields["reseller_id"]),)
        return (Owner(fields["reseller_id"], fields["customer_id"], fields["account_id"]),)
