"""The network side of calls, as the calls context sees it.

`Endpoints` is what the context asks of the network: place a leg, bridge two legs, play to
a leg, hang one up. `FarEnd` is what the network tells the context about the far end of a
leg: it rings, plays early media, answers, rejects, hangs up. The scripted network
(adapters/scripted_network.py) implements `Endpoints` today and the SIP adapter later; the
calls service implements `FarEnd`, so every decision stays in the domain.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from domain.calls.states import Reason


class FarEnd(Protocol):
    """What the network reports about a leg's far end (calls arrive in order per leg)."""

    def far_end_ringing(self, call_id: UUID, leg_id: UUID) -> None: ...
    def far_end_early(self, call_id: UUID, leg_id: UUID) -> None: ...
    def far_end_answered(self, call_id: UUID, leg_id: UUID) -> None: ...
    def far_end_rejected(self, call_id: UUID, leg_id: UUID, reason: Reason) -> None: ...
    def far_end_hung_up(self, call_id: UUID, leg_id: UUID) -> None: ...


class Endpoints(Protocol):
    """The network: what the calls context asks of it once its decision is committed."""

    def attach(self, far_end: FarEnd) -> None:
        """Where to report far-end events."""

    def place(self, call_id: UUID, leg_id: UUID, number: str, cli: str) -> None:
        """Set up a leg to `number`, showing `cli`; its progress comes back through FarEnd."""

    def bridge(self, a: UUID, b: UUID) -> None:
        """Connect the media of two answered legs."""

    def play(self, leg_id: UUID, prompt: str) -> None:
        """Play a prompt (or music on hold) to a leg."""

    def hang_up(self, leg_id: UUID) -> None:
        """End a leg from our side (no far-end callback follows)."""

    def knows(self, leg_id: UUID) -> bool:
        """Whether the network still has this leg (after a restart it may not)."""
