"""Call queues: callers wait in order; each goes to a free agent; an agent who declines or
does not answer frees up and the caller stays queued.

The queue is an aggregate of its own, so who waits and who is busy is decided in one place
under optimistic concurrency (two calls racing for the last free agent: one gets it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.owners import Owner

QUEUE_NUMBER = "call-queue-number"  # NameIndex kind: a number answers for one queue


class CallQueue(SwitchlogAggregate):
    """A named queue on a number, with the agents (accounts) its callers go to."""

    context = "calls"

    class Created(SwitchlogAggregate.Created):
        name: str
        number: str
        owner: Owner
        agent_account_ids: list[UUID]
        agent_numbers: list[str]

    def __init__(
        self,
        name: str,
        number: str,
        owner: Owner,
        agent_account_ids: list[UUID],
        agent_numbers: list[str],
    ) -> None:
        self.name = name
        self.number = number
        self.owner = owner
        self.agent_account_ids = list(agent_account_ids)
        self.agent_numbers = list(agent_numbers)
        self.waiting: list[str] = []
        self.queued_at: dict[str, datetime] = {}
        self.busy: dict[str, str] = {}  # agent -> call it is offered or talking to
        self.missed: dict[str, list[str]] = {}  # call -> agents that declined it

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (fields["owner"],)

    def owners(self) -> Sequence[Owner]:
        return (self.owner,)

    class CallerQueued(SwitchlogAggregate.Event):
        call_id: UUID
        position: int

        def apply(self, aggregate: Any) -> None:
            key = str(self.call_id)
            if key not in aggregate.waiting:
                aggregate.waiting.append(key)
            aggregate.queued_at.setdefault(key, self.timestamp)

    class AgentOffered(SwitchlogAggregate.Event):
        call_id: UUID
        agent_account_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.busy[str(self.agent_account_id)] = str(self.call_id)

    class AgentMissed(SwitchlogAggregate.Event):
        """The agent declined or did not answer: it is free, the caller still waits."""

        call_id: UUID
        agent_account_id: UUID
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.busy.pop(str(self.agent_account_id), None)
            missed = aggregate.missed.setdefault(str(self.call_id), [])
            missed.append(str(self.agent_account_id))

    class CallerConnected(SwitchlogAggregate.Event):
        call_id: UUID
        agent_account_id: UUID
        wait_ms: int

        def apply(self, aggregate: Any) -> None:
            key = str(self.call_id)
            aggregate.waiting = [c for c in aggregate.waiting if c != key]
            aggregate.missed.pop(key, None)

    class CallerLeft(SwitchlogAggregate.Event):
        """The caller hung up while queued (answered, never connected to an agent)."""

        call_id: UUID
        wait_ms: int

        def apply(self, aggregate: Any) -> None:
            key = str(self.call_id)
            aggregate.waiting = [c for c in aggregate.waiting if c != key]
            aggregate.queued_at.pop(key, None)
            aggregate.missed.pop(key, None)

    class AgentFreed(SwitchlogAggregate.Event):
        call_id: UUID
        agent_account_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.busy.pop(str(self.agent_account_id), None)
            aggregate.queued_at.pop(str(self.call_id), None)

    # -- decisions -----------------------------------------------------------------------
    def enqueue(self, call_id: UUID) -> int:
        """Put a caller in line (again); returns its position (1 = next)."""
        key = str(call_id)
        position = self.waiting.index(key) + 1 if key in self.waiting else len(self.waiting) + 1
        self.trigger_event(self.CallerQueued, call_id=call_id, position=position)
        return position

    def position(self, call_id: UUID) -> int:
        return self.waiting.index(str(call_id)) + 1

    def next_offer(self) -> tuple[UUID, UUID, str] | None:
        """The first waiting caller not yet offered, and a free agent it has not missed."""
        offered = set(self.busy.values())
        agents = list(zip(self.agent_account_ids, self.agent_numbers, strict=True))
        free = [(agent, number) for agent, number in agents if str(agent) not in self.busy]
        for call in self.waiting:
            if call in offered:
                continue
            missed = set(self.missed.get(call, ()))
            # agents it has not missed yet; once every free one missed it, start over
            fresh = [(a, n) for a, n in free if str(a) not in missed] or free
            if fresh:
                return UUID(call), fresh[0][0], fresh[0][1]
            return None
        return None

    def offer(self, call_id: UUID, agent: UUID) -> None:
        self.trigger_event(self.AgentOffered, call_id=call_id, agent_account_id=agent)

    def missed_by(self, call_id: UUID, agent: UUID, reason: str) -> None:
        self.trigger_event(self.AgentMissed, call_id=call_id, agent_account_id=agent, reason=reason)

    def connect(self, call_id: UUID, agent: UUID, now: datetime) -> int:
        wait_ms = self._waited(call_id, now)
        self.trigger_event(
            self.CallerConnected, call_id=call_id, agent_account_id=agent, wait_ms=wait_ms
        )
        return wait_ms

    def release(self, call_id: UUID, now: datetime) -> None:
        """The call is over: a waiting caller left, an agent it held is free."""
        key = str(call_id)
        if key in self.waiting:
            self.trigger_event(self.CallerLeft, call_id=call_id, wait_ms=self._waited(call_id, now))
        for agent, call in list(self.busy.items()):
            if call == key:
                self.trigger_event(self.AgentFreed, call_id=call_id, agent_account_id=UUID(agent))

    def agent_of(self, call_id: UUID) -> UUID | None:
        return next((UUID(a) for a, c in self.busy.items() if c == str(call_id)), None)

    def _waited(self, call_id: UUID, now: datetime) -> int:
        since = self.queued_at.get(str(call_id))
        return max(int((now - since).total_seconds() * 1000), 0) if since else 0


AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (CallQueue,)
