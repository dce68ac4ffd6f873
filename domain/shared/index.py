"""Reservations of human ids: a deterministic id makes two claims of one name collide."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate


class NameIndex(SwitchlogAggregate):
    """Which subject holds a human id of a kind (customer name, login...)."""

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

    def assign(self, subject: UUID | None) -> None:
        self.change(self.Assigned, subject_id=subject)


def index_id(kind: str, value: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"switchlog:{kind}:{value.casefold()}")
