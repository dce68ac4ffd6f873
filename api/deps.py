"""Dependencies: the runtime, the authenticated actor, its scope and command context."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from adapters.observability import correlation
from api.security import TokenService
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import AuthenticationError, InvalidValueError

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in a
# worker thread, a hop per dependency per request that cost more than the work itself.
oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]


async def current_actor(
    runtime: RuntimeDep, tokens: TokensDep, token: Annotated[str | None, Depends(oauth2)]
) -> Actor:
    """The actor a bearer token stands for, while its principal is still open."""
    return await actor_for_token(runtime, tokens, token)


async def actor_for_token(runtime: Runtime, tokens: TokenService, token: str | None) -> Actor:
    if not token:
        raise AuthenticationError("a bearer token is required")
    claims = tokens.verify(token)
    try:
        principal_id = UUID(claims["sub"])
    except ValueError:
        raise AuthenticationError("the token's subject is not a principal id") from None
    check = (runtime.directory.active_actor, principal_id, claims["realm"])
    if runtime.directory.is_current(principal_id):  # in memory: no thread hop needed
        return check[0](*check[1:], tokens.issued_at(claims))
    return await run_in_threadpool(*check, tokens.issued_at(claims))


ActorDep = Annotated[Actor, Depends(current_actor)]


async def current_scope(actor: ActorDep) -> Scope:
    return Scope.of(actor)


ScopeDep = Annotated[Scope, Depends(current_scope)]


def command_context(
    actor: ActorDep,
    runtime: RuntimeDep,
    correlation_id: Annotated[str | None, Header(alias="X-Correlation-ID", max_length=100)] = None,
) -> CommandContext:
    """The request's correlation id (given, or the one the middleware made) goes on events;
    the actor's role's permissions (`Runtime.context_for`) are what `ctx.require` checks."""
    return runtime.context_for(actor, correlation_id or correlation.get())


ContextDep = Annotated[CommandContext, Depends(command_context)]
ETAG_PATTERN = r'^(\*|(W/)?"[0-9]+")$'


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", max_length=100, json_schema_extra={"pattern": ETAG_PATTERN}),
    ] = None,
) -> int | None:
    """An `If-Match: "<version>"` header makes the write conditional on that version."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit(), yet int("²") fails
        raise InvalidValueError('If-Match must be an ETag this API returned, e.g. "3"')
    return int(raw)


ExpectedVersionDep = Annotated[int | None, Depends(expected_version)]
