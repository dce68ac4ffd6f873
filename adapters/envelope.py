"""The CloudEvents 1.0 envelope every consumer outside the store sees (Kafka, streams, hooks).

Structured content mode: the whole event is one JSON object. Extension attributes are
lower-case alphanumerics and carry CloudEvents-typed values (strings and integers), so the
actor is flattened into `actor`, `actorrealm`, `actorrole`, `actorlogin`, `actorindividual`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from adapters.store import LoggedEvent
from domain.shared.actor import Actor, Realm
from domain.shared.aggregate import event_data, event_type, iso
from domain.shared.registry import event_classes

CONTENT_TYPE = "application/cloudevents+json"
SOURCE = "urn:switchlog"


class PoisonMessageError(ValueError):
    """A message that is not a switchlog event: parked, never retried forever."""


def to_envelope(position: int, event: Any) -> dict[str, Any]:
    actor: Actor = event.actor
    subject = str(event.originator_id)
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"{subject}:{event.originator_version}",
        "source": SOURCE,
        "type": event_type(event),
        "time": iso(event.timestamp),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": event_data(event),
        "sequence": position,
        "aggregateversion": event.originator_version,
        "actor": actor.id,
        "actorrealm": actor.realm.value,
        "actorrole": actor.role,
        "correlationid": event.correlation_id,
    }
    optional = {
        "actorlogin": actor.login,
        "actorindividual": actor.individual_id,
        "causationid": event.causation_id,
    }
    envelope.update({k: v for k, v in optional.items() if v is not None})
    return envelope


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def from_message(value: bytes) -> LoggedEvent:
    """Rebuild the domain event an envelope carries; PoisonMessageError when it cannot."""
    try:
        envelope = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise PoisonMessageError(f"not JSON: {error}") from None
    if not isinstance(envelope, dict):
        raise PoisonMessageError("not a JSON object")
    try:
        return from_envelope(envelope)
    except PoisonMessageError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise PoisonMessageError(f"malformed envelope: {error!r}") from None


def from_envelope(envelope: dict[str, Any]) -> LoggedEvent:
    registered = event_classes().get(envelope.get("type", ""))
    if registered is None:
        raise PoisonMessageError(f"unknown event type {envelope.get('type')!r}")
    event_class, aggregate = registered
    fields = dict(envelope["data"])
    fields.update(
        originator_id=UUID(envelope["subject"]),
        originator_version=int(envelope["aggregateversion"]),
        timestamp=datetime.fromisoformat(envelope["time"]),
        actor=Actor(
            id=envelope["actor"],
            realm=Realm(envelope["actorrealm"]),
            role=envelope["actorrole"],
            login=envelope.get("actorlogin"),
            individual_id=envelope.get("actorindividual"),
        ),
        correlation_id=envelope["correlationid"],
        causation_id=envelope.get("causationid"),
    )
    if "originator_topic" in event_class.__dataclass_fields__:  # type: ignore[attr-defined]
        fields["originator_topic"] = get_topic(aggregate)
    return LoggedEvent(int(envelope["sequence"]), event_class(**fields))
