"""The call control WebSocket: JSON-RPC style requests, call_info notifications.

A request frame is `{"id", "method", "params"}`, answered by `{"id", "result"}` or
`{"id", "error": {"code", "message"}}`; a bad frame gets an error frame and the socket
stays open. Notifications come from the event hub (so only committed events are
reported), filtered by the session's subscriptions and what the token may see. RFC 6455
pings are the server's (uvicorn: `serve` sets the interval and heartbeat timeout); the
inactivity timeout is the session's: a client that sends no frame for that long is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, WebSocket
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from adapters.event_hub import EventHub, StreamItem
from adapters.observability import STREAM_SUBSCRIBERS
from api.call_control import METHODS, SubscribeParams
from api.deps import actor_for_token
from api.streaming import cancel, send_with_deadline
from composition import calls
from composition.runtime import Runtime
from domain.calls.calls import Call, Notified
from domain.directory.access import Scope, sees_event
from domain.directory.aggregates import Account, Customer
from domain.provisioning.extensions import e164
from domain.shared.actor import Actor
from domain.shared.aggregate import event_name
from domain.shared.errors import DomainError, InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section

log = logging.getLogger(__name__)
NOTICE_TYPES = frozenset(
    event_name(kind)
    for kind in vars(Call).values()
    if isinstance(kind, type) and issubclass(kind, Notified)
)
INACTIVITY_CLOSE = 4408


async def call_control_websocket(
    websocket: WebSocket, token: Annotated[str | None, Query(max_length=4096)] = None
) -> None:
    """Call control: methods as JSON-RPC style frames, call_info notifications."""
    runtime: Runtime = websocket.app.state.runtime
    bearer = websocket.headers.get("authorization", "")
    try:
        actor = await actor_for_token(
            runtime, websocket.app.state.tokens, token or bearer.removeprefix("Bearer ").strip()
        )
    except DomainError as error:
        await websocket.close(code=4401, reason=error.detail[:120])
        return
    await websocket.accept()
    await _Session(websocket, runtime, websocket.app.state.hub, actor).run()


class _Session:
    def __init__(self, ws: WebSocket, runtime: Runtime, hub: EventHub, actor: Actor) -> None:
        self.ws = ws
        self.runtime = runtime
        self.hub = hub
        self.actor = actor
        self.scope = Scope.of(actor)
        settings = runtime.settings
        self.inactivity = settings.call_control_inactivity_timeout_seconds
        self.write_timeout = settings.stream_write_timeout_seconds
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.stream_buffer * 50)
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.last_frame = time.monotonic()
        self.follower: asyncio.Task[None] | None = None

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._receive_loop()),
        ]
        if self.inactivity > 0:
            tasks.append(asyncio.create_task(self._watchdog()))
        STREAM_SUBSCRIBERS.labels("call-control").inc()
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            STREAM_SUBSCRIBERS.labels("call-control").dec()
            await cancel([*tasks, *([self.follower] if self.follower else [])])

    # -- the client's frames -----------------------------------------------------------
    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.ws.receive()
            except RuntimeError:
                return
            if message["type"] == "websocket.disconnect":
                return
            self.last_frame = time.monotonic()
            text = message.get("text")
            if text is None:
                await self._error(None, "malformed_frame", "send JSON text frames")
                continue
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            await self._error(None, "malformed_json", "the frame is not JSON")
            return
        if not isinstance(frame, dict):
            await self._error(None, "invalid_request", "a frame is an object")
            return
        request_id = frame.get("id")
        method = frame.get("method")
        params = frame.get("params", {})
        if params is None:
            params = {}
        if not isinstance(method, str):
            await self._error(request_id, "invalid_request", "method must be a string")
            return
        if not isinstance(params, dict):
            await self._error(request_id, "invalid_params", "params must be an object")
            return
        try:
            result = await self._call(method, params)
        except ValidationError as error:
            await self._error(request_id, "invalid_params", _summary(error))
        except DomainError as error:
            await self._error(request_id, error.code, error.detail)
        except Exception:
            log.exception("call control method %s failed", method)
            await self._error(request_id, "internal_error", "the method failed; try again")
        else:
            await self._put(json.dumps({"id": request_id, "result": result}, default=str))

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "subscribe":
            return await self._subscribe(SubscribeParams.model_validate(params))
        if method == "unsubscribe":
            return self._unsubscribe(SubscribeParams.model_validate(params))
        found = METHODS.get(method)
        if found is None:
            known = ", ".join([*METHODS, "subscribe", "unsubscribe"])
            raise _UnknownMethodError(f"unknown method {method!r}; methods are {known}")
        body = found.params.model_validate(params)
        return await run_in_threadpool(self._run, found.run, body)

    def _run(self, run: Any, body: Any) -> Any:
        return run(self.runtime, self.runtime.context_for(self.actor), body)

    # -- subscriptions -------------------------------------------------------------------
    async def _subscribe(self, params: SubscribeParams) -> dict[str, Any]:
        chosen = await run_in_threadpool(self._authorize, params)
        key = _key(params)
        self.subscriptions[key] = chosen
        if self.follower is None:
            self.follower = asyncio.create_task(self._follow())
        return {"subscribed": _shown(params)}

    def _unsubscribe(self, params: SubscribeParams) -> dict[str, Any]:
        if self.subscriptions.pop(_key(params), None) is None:
            raise NotFoundError("no such subscription in this session")
        return {"unsubscribed": _shown(params)}

    def _authorize(self, params: SubscribeParams) -> dict[str, Any]:
        """What a subscription matches; refused for what the caller may not watch."""
        if params.account_id is None and params.customer_id is None and params.number is None:
            raise InvalidValueError("subscribe to an account_id, a customer_id or a number")
        self.runtime.context_for(self.actor).require(Section.CALL_CONTROL, Access.READ)
        directory = self.runtime.directory
        chosen: dict[str, Any] = {"account_id": None, "customer_id": None, "numbers": set()}
        if params.account_id is not None:
            account = directory.load(params.account_id, Account)
            owner = calls.owner_of(self.runtime, account)
            if not self.scope.sees_account(account.id, account.customer_id, owner.reseller_id):
                raise NotFoundError(f"account {params.account_id} not found")
            chosen["account_id"] = account.id
        if params.customer_id is not None:
            customer = directory.load(params.customer_id, Customer)
            if not self.scope.sees_customer(customer.id, customer.reseller_id):
                raise NotFoundError(f"customer {params.customer_id} not found")
            chosen["customer_id"] = customer.id
        if params.number is not None:
            chosen["numbers"] = self._numbers(params.number)
        return chosen

    def _numbers(self, number: str) -> set[str]:
        found = calls.account_party(self.runtime, number)
        if found is not None:
            account, dialled = found
            owner = calls.owner_of(self.runtime, account)
            if self.scope.sees_account(account.id, account.customer_id, owner.reseller_id):
                return {dialled, account.login}
        elif self.scope.unrestricted:
            return {e164(number)}
        raise NotFoundError(f"{number!r} is not a number of yours")

    async def _follow(self) -> None:
        async for batch in self.hub.follow(self.hub.head, self._wanted):
            for item in batch or ():
                await self._put(_call_info(item))

    def _wanted(self, item: StreamItem) -> bool:
        if item.type not in NOTICE_TYPES or not sees_event(self.scope, item.owners):
            return False
        for chosen in self.subscriptions.values():
            account, customer = chosen["account_id"], chosen["customer_id"]
            if account is not None and not any(o.account_id == account for o in item.owners):
                continue
            if customer is not None and not any(o.customer_id == customer for o in item.owners):
                continue
            if chosen["numbers"] and _params(item)["number"] not in chosen["numbers"]:
                continue
            return True
        return False

    # -- the server's frames -------------------------------------------------------------
    async def _put(self, text: str) -> None:
        await self.outbox.put(text)

    async def _error(self, request_id: Any, code: str, message: str) -> None:
        error = {"id": request_id, "error": {"code": code, "message": message}}
        await self._put(json.dumps(error, default=str))

    async def _send_loop(self) -> None:
        while True:
            text = await self.outbox.get()
            if not await send_with_deadline(
                lambda t=text: self.ws.send_text(t), self.write_timeout
            ):
                return

    async def _watchdog(self) -> None:
        while True:
            left = self.last_frame + self.inactivity - time.monotonic()
            if left <= 0:
                await self.ws.close(code=INACTIVITY_CLOSE, reason="inactivity timeout")
                return
            await asyncio.sleep(left)


class _UnknownMethodError(DomainError):
    """The frame names a method the call control API does not have."""

    code = "unknown_method"


def _summary(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in issue['loc']) or 'params'}: {issue['msg']}"
        for issue in error.errors()[:5]
    )


def _key(params: SubscribeParams) -> str:
    return json.dumps(_shown(params), sort_keys=True)


def _shown(params: SubscribeParams) -> dict[str, Any]:
    return {k: str(v) for k, v in params.model_dump().items() if v is not None}


# By position and subject: positions alone repeat across stores (tests run several).
_PARSED: OrderedDict[tuple[int, UUID], dict[str, Any]] = OrderedDict()


def _params(item: StreamItem) -> dict[str, Any]:
    """A notification's params from the hub's serialized event (parsed once per event)."""
    key = (item.position, item.subject)
    found = _PARSED.get(key)
    if found is None:
        envelope = json.loads(item.json)
        data = envelope["data"]
        found = {
            "call_id": envelope["subject"],
            "tracking_id": data["tracking_id"],
            "previous_tracking_id": data["previous_tracking_id"],
            "state": data["state"],
            "time": envelope["time"],
            "seq": data["seq"],
            "leg_id": data["leg_id"],
            "number": data["number"],
        }
        if data.get("reason") is not None:
            found["reason"] = data["reason"]
        for extra in ("position", "wait_ms"):
            if extra in data:
                found[extra] = data[extra]
        _PARSED[key] = found
        if len(_PARSED) > 50_000:
            _PARSED.popitem(last=False)
    return found


def _call_info(item: StreamItem) -> str:
    return json.dumps({"method": "call_info", "params": _params(item)}, separators=(",", ":"))
