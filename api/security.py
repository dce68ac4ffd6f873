"""JWT issue and verification (HS256); the principal is re-checked on every request.

One token for everything: every realm's login gets the same claims (`sub`, `realm`,
`login`, `customer_id`, `reseller_id`, `individual_id`, `role_id`), and every endpoint
takes it. The claims describe the principal at login; permissions are resolved afresh on
each request from the role it holds then.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import jwt

from domain.shared.actor import Actor
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.errors import AuthenticationError

ISSUER = "switchlog"


class TokenService:
    """Issues and verifies tokens on the runtime's clock (so tests move expiry, not wait)."""

    def __init__(self, key: str, ttl_seconds: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def issue(self, actor: Actor, principal: Mapping[str, str | None] | None = None) -> str:
        """A token for `actor`; `principal` holds what the directory says about it
        (`sub`, `customer_id`, `reseller_id`, `individual_id`, `role_id`)."""
        # Sub-second `iat`: a token issued right after a password change is newer than it.
        now = self.clock.now().timestamp()
        claims = {
            "iss": ISSUER,
            "sub": actor.id,
            "realm": actor.realm.value,
            "role": actor.role,
            "login": actor.login,
            "customer_id": None,
            "reseller_id": None,
            "individual_id": actor.individual_id,
            "role_id": None,
            **(principal or {}),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={
                    "require": ["exp", "iat", "sub", "iss"],
                    # Times are checked below against our clock, not the system's.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError:
            raise AuthenticationError("the token is invalid") from None
        if not isinstance(claims.get("realm"), str):
            raise AuthenticationError("the token names no realm")
        if not all(isinstance(claims[t], int | float) for t in ("exp", "iat")):
            raise AuthenticationError("the token is invalid")
        if claims["exp"] <= self.clock.now().timestamp():
            raise AuthenticationError("the token has expired")
        return claims

    @staticmethod
    def issued_at(claims: dict[str, Any]) -> datetime:
        return datetime.fromtimestamp(claims["iat"], UTC)
