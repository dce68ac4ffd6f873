"""Reservations of human ids: a deterministic id makes two claims of one name collide."""

from __future__ import annotations

from collections.abc import Callable
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.errors import DuplicateError


class NameIndex(SwitchlogAggregate):
    """Which subject holds a human id of a kind (customer name, login...)."""

    context = "shared"

    @staticmethod
    def create_id(kind: str, value: str) -> UUID:
        return index_id(kind, value)

    class Created(SwitchlogAggregate.Created):
        audited = False

        kind: str
        value: str
        subject_id: UUID | None

    def __init__(self, kind: str, value: str, subject_id: UUID | None) -> None:
        self.kind = kind
        self.value = value
        self.subject_id = subject_id

    class Assigned(SwitchlogAggregate.Changed):
        audited = False
        fields = frozenset({"subject_id"})

    def assign(self, subject: UUID | None) -> None:
        self.change(self.Assigned, subject_id=subject)


def index_id(kind: str, value: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"switchlog:{kind}:{value.casefold()}")


class NameReservations:
    """Claims and releases of human ids (logins and names now; DIDs, MACs, extensions next).

    Each claim is a `NameIndex` aggregate with a deterministic id, saved in the same
    transaction as the subject: two claims of one name collide in the store, and the loser
    gets a conflict, never a duplicate.
    """

    def __init__(self, find: Callable[[str, str], NameIndex | None]) -> None:
        self._find = find

    def claim(self, kind: str, value: str, subject: UUID) -> list[NameIndex]:
        index = self._find(kind, value)
        if index is None:
            return [NameIndex(kind=kind, value=value, subject_id=subject)]
        if index.subject_id not in (None, subject):
            raise DuplicateError(f"{kind} {value!r} is already taken")
        index.assign(subject)
        return [index]

    def release(self, kind: str, value: str) -> list[NameIndex]:
        index = self._find(kind, value)
        if index is None:
            return []
        index.assign(None)
        return [index]

    def move(self, kind: str, old: str | None, new: str | None, subject: UUID) -> list[NameIndex]:
        """Claim `new` for the subject and release `old` (none when nothing changes)."""
        if new == old:
            return []
        claims = self.claim(kind, new, subject) if new else []
        if old and (new is None or old.casefold() != new.casefold()):
            claims += self.release(kind, old)
        return claims
