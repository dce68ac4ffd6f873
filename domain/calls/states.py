"""A leg's states and the transitions between them: the one place that refuses the
impossible ones (a terminated leg never rings again, only a connected leg is held)."""

from __future__ import annotations

from enum import StrEnum

from domain.shared.errors import ConflictError


class LegState(StrEnum):
    """Where one party's side of a call is."""

    TRYING = "trying"
    RINGING = "ringing"
    EARLY = "early"
    CONNECTED = "connected"
    HELD = "held"  # this party is on hold
    HOLDING = "holding"  # this party holds the other
    TERMINATED = "terminated"


class Notice(StrEnum):
    """The `state` of a call_info notification and a state callback."""

    TRYING = "trying"
    RINGING = "ringing"
    EARLY = "early"
    CONNECTED = "connected"
    HELD = "held"
    HOLDING = "holding"
    UNHELD = "unheld"
    TRANSFERRED = "transferred"
    QUEUED = "queued"
    DEQUEUED = "dequeued"
    TERMINATED = "terminated"


class Reason(StrEnum):
    """Why a leg was terminated."""

    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"
    LOST = "lost"


class CallStateError(ConflictError):
    """The call or leg is not in a state that allows this (e.g. hold before connected)."""

    code = "invalid_call_state"


S = LegState
TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    S.TRYING: frozenset({S.RINGING, S.EARLY, S.CONNECTED, S.TERMINATED}),
    S.RINGING: frozenset({S.EARLY, S.CONNECTED, S.TERMINATED}),
    S.EARLY: frozenset({S.RINGING, S.CONNECTED, S.TERMINATED}),
    S.CONNECTED: frozenset({S.HELD, S.HOLDING, S.TERMINATED}),
    S.HELD: frozenset({S.CONNECTED, S.TERMINATED}),
    S.HOLDING: frozenset({S.CONNECTED, S.TERMINATED}),
    S.TERMINATED: frozenset(),
}
ANSWERED = frozenset({S.CONNECTED, S.HELD, S.HOLDING})
ALERTING = frozenset({S.TRYING, S.RINGING, S.EARLY})
#: How far a leg has got, for the call's own state (its most advanced live leg).
_RANK = {S.TRYING: 0, S.RINGING: 1, S.EARLY: 2, S.CONNECTED: 3, S.HOLDING: 4, S.HELD: 5}


def can_move(current: LegState, target: LegState) -> bool:
    return target in TRANSITIONS[current]


def check_move(leg: str, current: LegState, target: LegState) -> None:
    """Refuse a transition the state machine does not have."""
    if not can_move(current, target):
        raise CallStateError(f"leg {leg} is {current.value}; it cannot become {target.value}")


def call_state(states: list[LegState]) -> LegState:
    """A call's state: its most advanced live leg's, or terminated when none is live."""
    live = [s for s in states if s is not S.TERMINATED]
    return max(live, key=_RANK.__getitem__) if live else S.TERMINATED
