"""Tokens: the OAuth2 password flow, so /docs' Authorize button works."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import RuntimeDep, TokensDep
from api.schemas import Token

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], runtime: RuntimeDep, tokens: TokensDep
) -> dict[str, Any]:
    """Exchange a login and password (any realm) for a bearer JWT."""
    actor = runtime.directory.authenticate(form.username, form.password)
    return {"access_token": tokens.issue(actor), "expires_in": tokens.ttl_seconds}
