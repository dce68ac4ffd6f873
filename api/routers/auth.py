"""Tokens: the OAuth2 password flow, so /docs' Authorize button works."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters.observability import correlation
from api.deps import RuntimeDep, TokensDep
from api.openapi import problems
from api.routing import ProblemRoute
from api.schemas import Password, Token

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=ProblemRoute)
_SECRET = {"format": "password"}


class PasswordForm(OAuth2PasswordRequestForm):
    """OAuth2's password grant form (RFC 6749 4.3.2), every field bounded."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$", max_length=8)] = None,
        username: Annotated[str, Form(max_length=100)],
        password: Annotated[str, Form(max_length=200, json_schema_extra=_SECRET)],
        scope: Annotated[str, Form(max_length=1000)] = "",
        client_id: Annotated[str | None, Form(max_length=100)] = None,
        client_secret: Annotated[
            str | None, Form(max_length=200, json_schema_extra=_SECRET)
        ] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


@router.post("/token", response_model=Token, responses=problems(401, 403))
def issue_token(
    form: Annotated[PasswordForm, Depends()], runtime: RuntimeDep, tokens: TokensDep
) -> dict[str, Any]:
    """Exchange a login and password (any realm, individuals too) for the one bearer JWT
    every endpoint takes. An individual outside its dates gets 403 `individual_inactive`."""
    actor = runtime.directory.authenticate(form.username, form.password)
    principal = runtime.directory.token_claims(actor)
    return {"access_token": tokens.issue(actor, principal), "expires_in": tokens.ttl_seconds}


class SetPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The `token` of the link in a credentials email"
    )
    password: Password


@router.post("/set-password", status_code=204, responses=problems(400, 422))
def set_password(body: SetPassword, runtime: RuntimeDep) -> Response:
    """Choose a password with the one-time link of a credentials email (it works once)."""
    runtime.directory.set_password_with_link(body.token, body.password, correlation.get())
    return Response(status_code=204)
