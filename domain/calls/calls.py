"""A call: its legs, each leg's life as events, tracking ids, and who it belongs to.

Every transition a party's leg makes is one `Notified` event (trying, ringing, early,
connected, held, holding, unheld, transferred, queued, dequeued, terminated) carrying the
call's `seq`, which counts up by one per notification, so a client sees a gap. The state
machine (domain.calls.states) refuses impossible transitions before any event is triggered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.calls.states import (
    ALERTING,
    ANSWERED,
    CallStateError,
    LegState,
    Notice,
    Reason,
    call_state,
    check_move,
)
from domain.shared.aggregate import SwitchlogAggregate, iso
from domain.shared.owners import Owner

# A leg's role in its call: who was called first, the destination, a queue's agent.
CALLER, CALLEE, AGENT = "caller", "callee", "agent"


class Notified(SwitchlogAggregate.Event):
    """A leg changed state: what call_info notifications and state callbacks report."""

    leg_id: UUID
    seq: int
    state: str  # the notice (domain.calls.states.Notice)
    leg_state: str  # where the leg is afterwards
    reason: str | None
    number: str
    tracking_id: str
    previous_tracking_id: str | None

    def apply(self, aggregate: Any) -> None:
        aggregate.seq = self.seq
        aggregate.tracking_id = self.tracking_id
        aggregate.previous_tracking_id = self.previous_tracking_id
        leg = aggregate.legs[str(self.leg_id)]
        leg["state"] = self.leg_state
        if self.leg_state == LegState.CONNECTED and leg.get("connected_at") is None:
            leg["connected_at"] = self.timestamp
        if self.leg_state == LegState.TERMINATED:
            leg["disconnected_at"] = self.timestamp
            leg["reason"] = self.reason
            for other in aggregate.legs.values():
                if other.get("peer") == [str(aggregate.id), str(self.leg_id)]:
                    other["peer"] = None


class Call(SwitchlogAggregate):
    """One call session: legs to parties, bridged together, until every leg is over."""

    context = "calls"

    class Originated(SwitchlogAggregate.Created):
        """A call-control app (or the network) started a call."""

        kind: str  # originate_advanced_call | connect_calls
        tracking_id: str
        bill_account_id: UUID | None
        parties: list[Owner]
        caller_number: str
        callee_number: str
        callee_account_id: UUID | None
        state_callback: str | None
        state_callback_events: list[str]
        callback_principal: str | None
        receive_actions: dict[str, Any]
        queue_id: UUID | None

    def __init__(
        self,
        kind: str,
        tracking_id: str,
        bill_account_id: UUID | None,
        parties: list[Owner],
        caller_number: str,
        callee_number: str,
        callee_account_id: UUID | None,
        state_callback: str | None,
        state_callback_events: list[str],
        callback_principal: str | None,
        receive_actions: dict[str, Any],
        queue_id: UUID | None = None,
    ) -> None:
        self.kind = kind
        self.tracking_id = tracking_id
        self.previous_tracking_id: str | None = None
        self.bill_account_id = bill_account_id
        self.parties = list(parties)
        self.caller_number = caller_number
        self.callee_number = callee_number
        self.callee_account_id = callee_account_id
        self.state_callback = state_callback
        self.state_callback_events = list(state_callback_events)
        self.callback_principal = callback_principal
        self.receive_actions = dict(receive_actions)
        self.queue_id = queue_id
        self.legs: dict[str, dict[str, Any]] = {}
        self.seq = 0

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return tuple(fields["parties"])

    def owners(self) -> Sequence[Owner]:
        return tuple(self.parties)

    # -- events ------------------------------------------------------------------------
    class LegPlaced(Notified):
        """A leg to a party is being set up (notice `trying`)."""

        role: str
        account_id: UUID | None

        def apply(self, aggregate: Any) -> None:
            aggregate.legs[str(self.leg_id)] = {
                "leg_id": str(self.leg_id),
                "number": self.number,
                "role": self.role,
                "account_id": self.account_id,
                "state": LegState.TRYING.value,
                "peer": None,
                "placed_at": self.timestamp,
                "connected_at": None,
                "disconnected_at": None,
                "reason": None,
            }
            super().apply(aggregate)

    class Ringing(Notified):
        pass

    class EarlyMedia(Notified):
        pass

    class Connected(Notified):
        pass

    class Held(Notified):
        pass

    class Holding(Notified):
        pass

    class Unheld(Notified):
        pass

    class Transferred(Notified):
        """The leg's party transferred the call away (new tracking id when attended)."""

    class Queued(Notified):
        position: int

    class Dequeued(Notified):
        wait_ms: int

    class Terminated(Notified):
        pass

    class Bridged(SwitchlogAggregate.Event):
        """Media flows between a leg of this call and `peer` (a leg here or in another call)."""

        leg_id: UUID
        peer_call_id: UUID
        peer_leg_id: UUID

        def apply(self, aggregate: Any) -> None:
            peer = [str(self.peer_call_id), str(self.peer_leg_id)]
            aggregate.legs[str(self.leg_id)]["peer"] = peer

    class PartyJoined(SwitchlogAggregate.Event):
        """A party's owner now sees the call (a transfer to another account)."""

        party: Owner

        def apply(self, aggregate: Any) -> None:
            aggregate.parties.append(self.party)

    # -- decisions -----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return any(leg["state"] != LegState.TERMINATED for leg in self.legs.values())

    @property
    def state(self) -> LegState:
        return call_state([LegState(leg["state"]) for leg in self.legs.values()])

    def leg(self, leg_id: UUID | str) -> dict[str, Any]:
        found = self.legs.get(str(leg_id))
        if found is None:
            raise CallStateError(f"call {self.id} has no leg {leg_id}")
        return found

    def live_legs(self) -> list[dict[str, Any]]:
        return [leg for leg in self.legs.values() if leg["state"] != LegState.TERMINATED]

    def leg_state(self, leg_id: UUID | str) -> LegState:
        return LegState(self.leg(leg_id)["state"])

    def check_active(self) -> None:
        if not self.active:
            raise CallStateError(f"call {self.id} is over")

    def place(self, leg_id: UUID, number: str, role: str, account_id: UUID | None) -> None:
        if str(leg_id) in self.legs:
            raise CallStateError(f"leg {leg_id} exists already")
        self._notify(
            self.LegPlaced,
            leg_id,
            Notice.TRYING,
            LegState.TRYING,
            number=number,
            role=role,
            account_id=account_id,
        )

    def progress(self, leg_id: UUID, notice: Notice) -> None:
        """The far end rings, plays early media, or answers."""
        event = {
            Notice.RINGING: (self.Ringing, LegState.RINGING),
            Notice.EARLY: (self.EarlyMedia, LegState.EARLY),
            Notice.CONNECTED: (self.Connected, LegState.CONNECTED),
        }[notice]
        check_move(str(leg_id), self.leg_state(leg_id), event[1])
        self._notify(event[0], leg_id, notice, event[1])

    def terminate(self, leg_id: UUID, reason: Reason) -> None:
        check_move(str(leg_id), self.leg_state(leg_id), LegState.TERMINATED)
        self._notify(self.Terminated, leg_id, Notice.TERMINATED, LegState.TERMINATED, reason=reason)

    def end_reason(self, leg_id: UUID | str) -> Reason:
        """Hanging up a leg that never answered cancels it; an answered one ends normally."""
        return Reason.CANCELLED if self.leg_state(leg_id) in ALERTING else Reason.NORMAL

    def bridge(self, leg_id: UUID, peer_call_id: UUID, peer_leg_id: UUID) -> None:
        if self.leg_state(leg_id) not in ANSWERED:
            raise CallStateError(f"leg {leg_id} is not answered; it cannot be bridged")
        self.trigger_event(
            self.Bridged, leg_id=leg_id, peer_call_id=peer_call_id, peer_leg_id=peer_leg_id
        )

    def hold(self, held: UUID, holder: UUID) -> None:
        check_move(str(held), self.leg_state(held), LegState.HELD)
        check_move(str(holder), self.leg_state(holder), LegState.HOLDING)
        self._notify(self.Held, held, Notice.HELD, LegState.HELD)
        self._notify(self.Holding, holder, Notice.HOLDING, LegState.HOLDING)

    def unhold(self) -> list[str]:
        """Take every held leg off hold; returns the legs that were on hold."""
        on_hold = [
            leg["leg_id"]
            for leg in self.live_legs()
            if leg["state"] in (LegState.HELD, LegState.HOLDING)
        ]
        if not on_hold:
            raise CallStateError(f"call {self.id} is not on hold")
        for leg_id in on_hold:
            self._notify(self.Unheld, UUID(leg_id), Notice.UNHELD, LegState.CONNECTED)
        return [leg_id for leg_id in on_hold if self.legs[leg_id]["state"] == LegState.CONNECTED]

    def transfer_away(self, leg_id: UUID, tracking_id: str | None = None) -> None:
        """The leg's party hands the call over and leaves (attended: a new tracking id)."""
        if self.leg_state(leg_id) not in ANSWERED:
            raise CallStateError(f"leg {leg_id} is not answered; it cannot transfer")
        previous = self.tracking_id if tracking_id else self.previous_tracking_id
        self._notify(
            self.Transferred,
            leg_id,
            Notice.TRANSFERRED,
            LegState(self.leg(leg_id)["state"]),
            tracking_id=tracking_id or self.tracking_id,
            previous_tracking_id=previous,
        )
        self.terminate(leg_id, Reason.NORMAL)

    def join(self, party: Owner) -> None:
        if party not in self.parties:
            self.trigger_event(self.PartyJoined, party=party)

    def queue(self, leg_id: UUID, position: int) -> None:
        self._notify(self.Queued, leg_id, Notice.QUEUED, self.leg_state(leg_id), position=position)

    def dequeue(self, leg_id: UUID, wait_ms: int) -> None:
        self._notify(
            self.Dequeued, leg_id, Notice.DEQUEUED, self.leg_state(leg_id), wait_ms=wait_ms
        )

    def _notify(
        self,
        kind: type[Notified],
        leg_id: UUID,
        notice: Notice,
        leg_state: LegState,
        *,
        reason: Reason | None = None,
        number: str | None = None,
        tracking_id: str | None = None,
        previous_tracking_id: str | None = None,
        **extra: Any,
    ) -> None:
        self.trigger_event(
            kind,
            leg_id=leg_id,
            seq=self.seq + 1,
            state=notice.value,
            leg_state=leg_state.value,
            reason=reason.value if reason else None,
            number=number if number is not None else self.leg(leg_id)["number"],
            tracking_id=tracking_id or self.tracking_id,
            previous_tracking_id=(
                previous_tracking_id if tracking_id else self.previous_tracking_id
            ),
            **extra,
        )


def notification(event: Notified) -> dict[str, Any]:
    """A call_info notification's params (and a state callback's body) for an event."""
    params: dict[str, Any] = {
        "call_id": str(event.originator_id),
        "tracking_id": event.tracking_id,
        "previous_tracking_id": event.previous_tracking_id,
        "state": event.state,
        "time": iso(event.timestamp),
        "seq": event.seq,
        "leg_id": str(event.leg_id),
        "number": event.number,
    }
    if event.reason is not None:
        params["reason"] = event.reason
    for extra in ("position", "wait_ms"):
        if hasattr(event, extra):
            params[extra] = getattr(event, extra)
    return params


#: The calls context's new aggregates (its registration lists them).
AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (Call,)
