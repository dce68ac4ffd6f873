"""Whom an event belongs to: it travels on every event, like the actor.

Visibility (audit, streams, webhooks, realm scoping) is decided from these alone, with no
store lookups. An event may belong to several owners (a call between two customers, a
customer moving from one reseller to another), so events carry a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Owner:
    """A reseller, customer and account an event belongs to; None where it does not apply."""

    reseller_id: UUID | None = None
    customer_id: UUID | None = None
    account_id: UUID | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reseller_id": _text(self.reseller_id),
            "customer_id": _text(self.customer_id),
            "account_id": _text(self.account_id),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        return cls(
            _uuid(data.get("reseller_id")),
            _uuid(data.get("customer_id")),
            _uuid(data.get("account_id")),
        )


def _text(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None
