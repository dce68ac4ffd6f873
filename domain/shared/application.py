"""The application base every bounded context's service derives from."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoding,
)

from domain.shared.actor import Actor, CommandContext, acting_as
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.clock import SYSTEM_CLOCK, Clock, ticking
from domain.shared.errors import ConflictError, NotFoundError
from domain.shared.index import NameIndex, NameReservations, index_id
from domain.shared.owners import Owner

A = TypeVar("A", bound=SwitchlogAggregate)


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Actor:
        return Actor.from_dict(data)


_unit_of_work: ContextVar[list[Any] | None] = ContextVar("switchlog_unit_of_work", default=None)
_last_position: ContextVar[int] = ContextVar("switchlog_last_position", default=0)


def last_saved_position() -> int:
    """The log position of the last event this thread (request) saved; 0 if none."""
    return _last_position.get()


class OwnerAsDict(Transcoding):
    type = Owner
    name = "owner"

    def encode(self, obj: Owner) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Owner:
        return Owner.from_dict(data)


class SwitchlogApplication(Application[UUID]):
    """All contexts share one store and one ordered log, so they share one name."""

    name = "switchlog"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # eventsourcing names each subclass after itself, and on PostgreSQL the name picks
        # the table: every context must append to the one log, so the name is fixed here.
        super().__init_subclass__(**kwargs)
        cls.name = "switchlog"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        transcodings: Sequence[Transcoding] = (),
        share_store_with: SwitchlogApplication | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        # Transcodings that need keys (encrypted secrets) come from the composition root.
        self._extra_transcodings = tuple(transcodings)
        # Every context appends to the one log: one recorder (and connection pool) for all.
        self._shared_recorder = share_store_with.recorder if share_store_with else None
        self.names = NameReservations(self._index)
        self.on_saved: list[Callable[[Sequence[Recording[UUID]]], None]] = []
        # load_current's cache: id -> (loaded at, aggregate); saves here drop their entries.
        self.current_max_age = 1.0
        self._current: dict[UUID, tuple[float, SwitchlogAggregate]] = {}
        self._dropped = 0
        super().__init__(env)

    def construct_recorder(self) -> ApplicationRecorder:
        return self._shared_recorder or super().construct_recorder()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
        transcoder.register(OwnerAsDict())
        for transcoding in self._extra_transcodings:
            transcoder.register(transcoding)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            _last_position.set(recordings[-1].notification.id)
        for recording in recordings:  # committed: the cached state is old now
            if self._current.pop(recording.domain_event.originator_id, None) is not None:
                self._dropped += 1
        super()._notify(recordings)
        for observer in self.on_saved:
            observer(recordings)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Append the aggregates' new events now, or with the enclosing `one_transaction`."""
        pending = _unit_of_work.get()
        if pending is not None:
            pending.extend(obj for obj in objs if obj is not None)
            return []
        return super().save(*objs, **kwargs)

    def save_now(self, *objs: Any) -> list[Recording[UUID]]:
        """Append now, even inside `one_transaction` (a reservation that must hold whether
        or not the enclosing command commits, e.g. a block of numbers)."""
        token = _unit_of_work.set(None)
        try:
            return self.save(*objs)
        finally:
            _unit_of_work.reset(token)

    @contextmanager
    def one_transaction(self) -> Iterator[None]:
        """Commands of several contexts inside the block commit together or not at all
        (every context appends to the one log, so one save takes all their events)."""
        pending: list[Any] = []
        token = _unit_of_work.set(pending)
        try:
            yield
        finally:
            _unit_of_work.reset(token)
        try:
            self.save(*pending)
        except IntegrityError:
            raise ConflictError(
                "the subject was changed by another writer; reload and retry"
            ) from None

    @contextmanager
    def command(self, context: CommandContext) -> Iterator[None]:
        """Run one use case as `context`'s actor; storage conflicts become domain errors."""
        with acting_as(context), ticking(self.clock):
            try:
                yield
            except IntegrityError:
                raise ConflictError(
                    "the subject was changed by another writer; reload and retry"
                ) from None

    def load(self, aggregate_id: UUID, kind: type[A], version: int | None = None) -> A:
        """The aggregate of type `kind`, or NotFoundError for a missing or other-typed id."""
        try:
            aggregate: object = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(f"{kind.__name__} {aggregate_id} not found") from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"{kind.__name__} {aggregate_id} not found")
        return aggregate

    def load_current(self, aggregate_id: UUID, kind: type[A]) -> A:
        """The aggregate as the hot path needs it (a principal checked on every request),
        from an in-process cache: a save in this process drops the entry at once, and an
        entry older than `current_max_age` seconds is loaded again, so a change another
        process made is seen within that bound. The aggregate is shared: read it only."""
        now = time.monotonic()
        cached = self._current.get(aggregate_id)
        if cached is not None and now - cached[0] < self.current_max_age:
            aggregate = cached[1]
            if not isinstance(aggregate, kind):
                raise NotFoundError(f"{kind.__name__} {aggregate_id} not found")
            return aggregate
        dropped = self._dropped
        aggregate = self.load(aggregate_id, kind)
        if dropped == self._dropped:  # no save landed meanwhile that this load may predate
            self._current[aggregate_id] = (now, aggregate)
        return aggregate

    def is_current(self, aggregate_id: UUID) -> bool:
        """Whether `load_current` would answer from memory (no store read)."""
        cached = self._current.get(aggregate_id)
        return cached is not None and time.monotonic() - cached[0] < self.current_max_age

    def holder_of(self, kind: str, value: str) -> UUID | None:
        """The subject currently holding the human id, if any."""
        index = self._index(kind, value)
        return index.subject_id if index else None

    def _index(self, kind: str, value: str) -> NameIndex | None:
        try:
            index: object = self.repository.get(index_id(kind, value))
        except AggregateNotFoundError:
            return None
        return index if isinstance(index, NameIndex) else None

    def state_as_of(self, aggregate_id: UUID, as_of: datetime) -> dict[str, Any]:
        """The subject's public state as it was at `as_of` (time travel over the log)."""
        version = None
        for stored in self.recorder.select_events(aggregate_id):
            event = self.mapper.to_domain_event(stored)
            if getattr(event, "timestamp", as_of) > as_of:
                break
            version = event.originator_version
        if version is None:
            raise NotFoundError(f"{aggregate_id} did not exist at {as_of.isoformat()}")
        aggregate = self.load(aggregate_id, SwitchlogAggregate, version=version)
        return {"type": type(aggregate).__name__, "state": aggregate.public_state()}
