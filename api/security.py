"""JWT issue and verification (HS256); the principal is re-checked on every request."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import jwt

from domain.shared.actor import Actor
from domain.shared.errors import AuthenticationError

ISSUER = "switchlog"


class TokenService:
    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds

    def issue(self, actor: Actor) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": actor.id,
            "realm": actor.realm.value,
            "role": actor.role,
            "login": actor.login,
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
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("the token is invalid") from None
        if not isinstance(claims.get("realm"), str):
            raise AuthenticationError("the token names no realm")
        return claims
