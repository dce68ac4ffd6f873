"""The route class of every router: bodies only in the media types a route reads (else 415),
and the problems any request can meet documented on each operation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi import params as fastapi_params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api.deps import current_actor, expected_version

JSON = ("application/json",)
FORM = ("application/x-www-form-urlencoded", "multipart/form-data")
MULTIPART = ("multipart/form-data",)

# Problems a dependency can raise, whichever route uses it.
_DEPENDENCY_PROBLEMS: dict[Callable[..., Any], tuple[int, ...]] = {
    current_actor: (401,),
    expected_version: (412,),
}


class ProblemRoute(APIRoute):
    """An APIRoute that checks the body's Content-Type and documents its request problems."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        documented = {status: {} for status in sorted(self._request_problems())}
        self.responses = {**documented, **self.responses}

    def body_media_types(self) -> tuple[str, ...]:
        """What this route's body may be sent as; empty for a route that takes none."""
        if self.body_field is None:
            return ()
        info = self.body_field.field_info
        if isinstance(info, fastapi_params.File):
            return MULTIPART
        return FORM if isinstance(info, fastapi_params.Form) else JSON

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        accepted = self.body_media_types()
        if not accepted:
            return handler

        async def checked(request: Request) -> Response:
            await _require_media_type(request, accepted)
            return await handler(request)

        return checked

    def _request_problems(self) -> set[int]:
        statuses: set[int] = set()
        dependant = self.dependant
        if self.body_field is not None:
            statuses |= {400, 413, 415, 422}
        if _has_parameters(dependant):
            statuses.add(422)
        for call in _calls(dependant):
            statuses.update(_DEPENDENCY_PROBLEMS.get(call, ()))
        return statuses


async def _require_media_type(request: Request, accepted: tuple[str, ...]) -> None:
    """415 for a body in another media type, or for a body that names none."""
    declared = request.headers.get("content-type")
    if declared is None and not await request.body():
        return
    media_type = (declared or "").split(";")[0].strip().lower()
    if media_type in accepted or (accepted == JSON and _is_json(media_type)):
        return
    sent = f"not {media_type}" if media_type else "with no Content-Type"
    raise HTTPException(415, f"send the request body as {' or '.join(accepted)}, {sent}")


def _is_json(media_type: str) -> bool:
    return media_type.startswith("application/") and media_type.endswith("+json")


def _has_parameters(dependant: Dependant) -> bool:
    return any(
        (d.path_params or d.query_params or d.header_params or d.cookie_params)
        for d in _dependants(dependant)
    )


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for each in _dependants(dependant):
        if each.call is not None:
            yield each.call


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)
