"""A call leg, and the event billing rates: `calls.Leg.Finished`.

The shape of `Finished` is a contract between calls and billing (issues "Calls…" and
"Billing…"): a finished leg carries `leg_id`, the owners, `service`, `direction`,
`access_code`, `cli`, `cld` (E.164 digits), `connect_time`, `disconnect_time`,
`tracking_id` and `previous_tracking_id`; usage records (`POST /v1/usage`) append the same
event, with `quantity` and `unit` for measured services and DID charges. There is one
path to an xDR.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.owners import Owner


class Service(StrEnum):
    VOICE = "voice"
    MEASURED = "measured"
    DID = "did"


class Direction(StrEnum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


def usage_leg_id(account_id: UUID, record_id: str) -> UUID:
    """A usage record's leg id: the same record for the same account is the same leg."""
    return uuid5(NAMESPACE_URL, f"switchlog:usage:{account_id}:{record_id}")


class Leg(SwitchlogAggregate):
    """One leg of a call (one party's side), or a usage record known only once finished.

    A leg placed by the calls context lives on its `calls.Call` (trying, ringing,
    connected ... as `Call` events); when it ends, its `Leg` is `Recorded` and `Finished` in
    the same append as the call's `Terminated`. A usage record is `Recorded` and `Finished`
    at once too.
    """

    context = "calls"

    @staticmethod
    def create_id(leg_id: UUID) -> UUID:
        """Legs are named by their creator (a usage record's id is `usage_leg_id`)."""
        return leg_id

    class Recorded(SwitchlogAggregate.Created):
        """A leg that was not placed here: usage imported or posted (`POST /v1/usage`)."""

        leg_id: UUID
        account_id: UUID
        customer_id: UUID
        reseller_id: UUID | None
        record_id: str | None

    def __init__(
        self,
        leg_id: UUID,
        account_id: UUID,
        customer_id: UUID,
        reseller_id: UUID | None,
        record_id: str | None = None,
    ) -> None:
        self.account_id = account_id
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.record_id = record_id
        self.finished = False

    class Finished(SwitchlogAggregate.Event):
        """The leg is over: what billing rates (connect_time None: it never connected)."""

        leg_id: UUID
        account_id: UUID
        service: str
        direction: str
        access_code: str
        cli: str
        cld: str
        connect_time: datetime | None
        disconnect_time: datetime
        tracking_id: str | None
        previous_tracking_id: str | None
        quantity: Decimal | None
        unit: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.finished = True

    def finish(
        self,
        *,
        service: Service,
        direction: Direction,
        cli: str,
        cld: str,
        connect_time: datetime | None,
        disconnect_time: datetime,
        tracking_id: str | None = None,
        previous_tracking_id: str | None = None,
        quantity: Decimal | None = None,
        unit: str | None = None,
    ) -> None:
        if self.finished:
            return  # a leg finishes once
        self.trigger_event(
            self.Finished,
            leg_id=self.id,
            account_id=self.account_id,
            service=service.value,
            direction=direction.value,
            access_code=direction.value,
            cli=cli,
            cld=cld,
            connect_time=connect_time,
            disconnect_time=disconnect_time,
            tracking_id=tracking_id,
            previous_tracking_id=previous_tracking_id,
            quantity=quantity,
            unit=unit,
        )

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(fields["reseller_id"], fields["customer_id"], fields["account_id"]),)

    def owners(self) -> Sequence[Owner]:
        return (Owner(self.reseller_id, self.customer_id, self.account_id),)


#: The calls context's aggregates (its registration lists them).
AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (Leg,)
