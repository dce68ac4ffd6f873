"""CloudEvents 1.0: how events leave the store (Kafka, streams, webhooks).

Kafka carries each event in the Kafka binding's *binary* content mode: the value is the
event's stored bytes, untouched (the store's own JSON, secrets still encrypted), and the
attributes travel as `ce_` headers. A consumer rebuilds the event with the store's own
mapper, so what it gets equals what the store holds: same types, same values, old class
versions upcast exactly as on a read from the store. Nothing is decoded and re-encoded
on the way.

Streams (SSE, WebSocket) and webhooks carry the *structured* mode: one JSON object, with
the event's fields as plain JSON `data` and secrets shown as `***`. Extension attributes
are lower-case alphanumerics, so the actor is flattened into `actor`, `actorrealm`,
`actorrole`, `actorlogin`, `actorindividual`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, MapperDeserialisationError, Notification, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from adapters.secrets import SecretKeyError
from adapters.store import LoggedEvent
from domain.shared.actor import Actor
from domain.shared.aggregate import event_data, event_name, event_type, iso
from domain.shared.owners import Owner
from domain.shared.registry import registry

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
        **owner_attributes(event.owners),
    }
    envelope.update({k: v for k, v in optional.items() if v is not None})
    return envelope


def owner_attributes(owners: Sequence[Owner]) -> dict[str, str | None]:
    """The first owner as CloudEvents extension attributes (absent where they don't apply)."""
    first = owners[0] if owners else Owner()
    return {
        "resellerid": str(first.reseller_id) if first.reseller_id else None,
        "customerid": str(first.customer_id) if first.customer_id else None,
        "accountid": str(first.account_id) if first.account_id else None,
    }


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


# -- Kafka: binary content mode ---------------------------------------------------------
Headers = list[tuple[str, bytes]]
STORED_CONTENT_TYPE = b"application/json"


def to_kafka(notification: Notification) -> tuple[bytes, Headers]:
    """The value (the stored bytes, untouched) and `ce_` headers of one stored event.

    Everything here comes from the log's row, not from decoding the event: the relay
    passes bytes through. Attributes inside the event (its time, actor, owners, ids of
    the request) are in the value, which is the stored JSON.
    """
    subject = str(notification.originator_id)
    version = str(notification.originator_version)
    return notification.state, [
        *_STATIC_HEADERS,
        ("ce_id", f"{subject}:{version}".encode()),
        ("ce_type", _public_type(notification.topic)),
        ("ce_subject", subject.encode()),
        ("ce_sequence", str(notification.id).encode()),
        ("ce_aggregateversion", version.encode()),
    ]


_STATIC_HEADERS = [
    ("content-type", STORED_CONTENT_TYPE),
    ("ce_specversion", b"1.0"),
    ("ce_source", SOURCE.encode()),
]


@functools.cache
def _public_type(topic: str) -> bytes:
    return event_name(resolve_topic(topic)).encode()


def from_kafka(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, mapper: Mapper[UUID]
) -> LoggedEvent:
    """The stored event a binary-mode message carries; PoisonMessageError when it is not one.

    A key that cannot open the event's secrets is a configuration error, not a bad message:
    SecretKeyError is raised so the consumer stops and says so instead of parking events.
    """
    attributes = {k: v for k, v in headers or () if k.startswith("ce_")}
    try:
        kind = attributes["ce_type"].decode()
        registered = registry().resolve(kind)
        if registered is None:
            raise PoisonMessageError(f"unknown event type {kind!r}")
        if value is None:
            raise PoisonMessageError("no value")
        stored = StoredEvent(
            originator_id=UUID(attributes["ce_subject"].decode()),
            originator_version=int(attributes["ce_aggregateversion"]),
            topic=get_topic(registered.event_class),
            state=value,
        )
        position = int(attributes["ce_sequence"])
        return LoggedEvent(position, mapper.to_domain_event(stored))
    except PoisonMessageError:
        raise
    except KeyError as missing:
        raise PoisonMessageError(f"not a switchlog event: no {missing} header") from None
    except MapperDeserialisationError as error:
        if isinstance(error.__cause__, SecretKeyError):
            raise error.__cause__ from None
        raise PoisonMessageError(f"undecodable event: {error}") from None
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise PoisonMessageError(f"malformed event: {error!r}") from None
