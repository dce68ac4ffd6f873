"""The secret state callbacks are signed with: one per principal, kept encrypted."""

from __future__ import annotations

import base64
import secrets
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.values import Secret


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class CallbackSecret(SwitchlogAggregate):
    """A principal's state-callback signing secret (issued once, on first need)."""

    context = "calls"

    @staticmethod
    def create_id(principal_id: str) -> UUID:
        return secret_id(principal_id)

    class Issued(SwitchlogAggregate.Created):
        principal_id: str
        secret: Secret

    def __init__(self, principal_id: str, secret: Secret) -> None:
        self.principal_id = principal_id
        self.secret = secret


def secret_id(principal_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"switchlog:call-control-secret:{principal_id}")
