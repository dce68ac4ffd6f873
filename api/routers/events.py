"""Live events: Server-Sent Events and a WebSocket, filtered to what the token may see."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.event_hub import EventHub, StreamItem
from adapters.observability import STREAM_SUBSCRIBERS
from api.deps import ActorDep, RuntimeDep, actor_for_token
from api.openapi import problems
from api.routing import ProblemRoute
from api.streaming import OVERFLOW, Outbox, Subscription, cancel, pump, send_with_deadline
from composition.runtime import Runtime
from domain.directory.access import EventFilter, sees_event
from domain.directory.access import Scope as Visibility
from domain.shared.actor import Actor
from domain.shared.errors import DomainError, InvalidFilterError

router = APIRouter(tags=["events"], route_class=ProblemRoute)
TypeNames = Annotated[str, StringConstraints(max_length=1000)]


def subscribe(
    runtime: Runtime, hub: EventHub, actor: Actor, key: str, event_filter: object, after: Any
) -> Subscription:
    """Validate and authorize a filter and resume position (blocking: run off the loop)."""
    wanted_events = EventFilter.parse(event_filter)
    scope = Visibility.of(actor)
    wanted_events.authorize(scope, runtime.directory.owners_of)
    head = max(hub.head, runtime.source.max_position())
    position = _position(after, head)

    def wanted(item: StreamItem) -> bool:
        return sees_event(scope, item.owners) and wanted_events.matches(
            item.type, item.subject, item.owners
        )

    return Subscription(key, position, wanted, delivered=position)


def _position(after: Any, head: int) -> int:
    if after is None or after == "":
        return head
    text = str(after)
    if isinstance(after, bool) or not (text.isascii() and text.isdigit()):
        raise InvalidFilterError("a resume position must be a log position (an integer >= 0)")
    position = int(text)
    if position > head:
        raise InvalidFilterError(f"position {position} is beyond the log's head ({head})")
    return position


def _split(types: list[str] | None) -> list[str] | None:
    if not types:
        return None
    return [t for raw in types for t in raw.split(",") if t]


# -- Server-Sent Events ---------------------------------------------------------------
class EventStreamResponse(Response):
    """text/event-stream of one subscription; ends with a `disconnect` event if too slow."""

    media_type = "text/event-stream"

    def __init__(
        self,
        hub: EventHub,
        subscription: Subscription,
        buffer: int,
        patience: float,
        write_timeout: float,
    ) -> None:
        super().__init__(media_type=self.media_type)
        self.hub = hub
        self.subscription = subscription
        self.buffer = buffer
        self.patience = patience
        self.write_timeout = write_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        outbox = Outbox(self.buffer, self.patience)
        producer = asyncio.create_task(pump(self.hub, self.subscription, outbox, _sse_frame))
        gone = asyncio.create_task(_disconnected(receive))
        STREAM_SUBSCRIBERS.labels("sse").inc()
        try:
            await self._deliver(outbox, gone, send)
        finally:
            STREAM_SUBSCRIBERS.labels("sse").dec()
            await cancel([producer, gone])

    async def _deliver(self, outbox: Outbox, gone: asyncio.Task[None], send: Send) -> None:
        def body(data: bytes, more: bool = True) -> Any:
            return lambda: send({"type": "http.response.body", "body": data, "more_body": more})

        while True:
            taking = asyncio.create_task(outbox.take())
            await asyncio.wait({taking, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                taking.cancel()
                return
            frame = taking.result()
            if frame is OVERFLOW:
                reason = {"reason": "slow_consumer", "resume_after": self.subscription.delivered}
                data = f"event: disconnect\ndata: {json.dumps(reason)}\n\n".encode()
                await send_with_deadline(body(data, more=False), self.write_timeout)
                return
            position, data = frame
            if not await send_with_deadline(body(data), self.write_timeout):
                return
            if position is not None:
                self.subscription.delivered = position


def _sse_frame(_: Subscription, batch: list[StreamItem] | None) -> tuple[int | None, bytes]:
    if batch is None:
        return None, b": keepalive\n\n"
    text = "".join(f"id: {i.position}\nevent: {i.type}\ndata: {i.json}\n\n" for i in batch)
    return batch[-1].position, text.encode()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@router.get(
    "/v1/events/stream",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"},
        **problems(400, 403),
    },
)
async def stream_events(
    request: Request,
    runtime: RuntimeDep,
    actor: ActorDep,
    types: Annotated[
        list[TypeNames] | None,
        Query(max_length=100, description="Event types (repeat or comma-separate)"),
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=100, description="Only this aggregate's events")
    ] = None,
    customer: Annotated[
        str | None, Query(max_length=100, description="Only this customer's events")
    ] = None,
    after: Annotated[
        str | None, Query(max_length=100, description="Resume after this log position")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)] = None,
) -> Response:
    """Follow events live as SSE; each event's id is its log position, for Last-Event-ID."""
    hub: EventHub = request.app.state.hub
    subscription = await run_in_threadpool(
        subscribe,
        runtime,
        hub,
        actor,
        "sse",
        {"types": _split(types), "subject": subject, "customer": customer},
        last_event_id if last_event_id is not None else after,
    )
    settings = runtime.settings
    return EventStreamResponse(
        hub,
        subscription,
        settings.stream_buffer,
        settings.stream_patience_seconds,
        settings.stream_write_timeout_seconds,
    )


# -- WebSocket --------------------------------------------------------------------------
@router.websocket("/v1/ws")
async def events_websocket(
    websocket: WebSocket, token: Annotated[str | None, Query(max_length=4096)] = None
) -> None:
    """Subscribe/unsubscribe with filters, resume from a position, ping/pong; JSON frames."""
    runtime: Runtime = websocket.app.state.runtime
    hub: EventHub = websocket.app.state.hub
    bearer = websocket.headers.get("authorization", "")
    try:
        actor = await actor_for_token(
            runtime, websocket.app.state.tokens, token or bearer.removeprefix("Bearer ").strip()
        )
    except DomainError as error:
        await websocket.close(code=4401, reason=error.detail[:120])
        return
    await websocket.accept()
    session = _Session(websocket, runtime, hub, actor)
    await session.run()


class _Session:
    def __init__(self, ws: WebSocket, runtime: Runtime, hub: EventHub, actor: Actor) -> None:
        self.ws = ws
        self.runtime = runtime
        self.hub = hub
        self.actor = actor
        settings = runtime.settings
        self.outbox = Outbox(settings.stream_buffer, settings.stream_patience_seconds)
        self.write_timeout = settings.stream_write_timeout_seconds
        self.subscriptions: dict[str, Subscription] = {}

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        receiver = asyncio.create_task(self._receive_loop())
        STREAM_SUBSCRIBERS.labels("websocket").inc()
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            STREAM_SUBSCRIBERS.labels("websocket").dec()
        tasks = [sender, receiver, *(s.task for s in self.subscriptions.values() if s.task)]
        await cancel(tasks)

    async def _send_loop(self) -> None:
        while True:
            frame = await self.outbox.take()
            if frame is OVERFLOW:
                resume = {k: s.delivered for k, s in self.subscriptions.items()}
                message = {"type": "disconnect", "reason": "slow_consumer", "resume": resume}
                await send_with_deadline(lambda m=message: self.ws.send_json(m), self.write_timeout)
                await self.ws.close(code=4008, reason="slow consumer: resume from your positions")
                return
            subscription, position, text = frame
            if not await send_with_deadline(
                lambda t=text: self.ws.send_text(t), self.write_timeout
            ):
                return
            if subscription is not None and position is not None:
                subscription.delivered = position

    async def _receive_loop(self) -> None:
        while True:
            try:
                raw = await self.ws.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            await self._handle(raw)

    async def _reply(self, message: dict[str, Any]) -> None:
        await self.outbox.reply((None, None, json.dumps(message)))

    async def _handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            await self._reply({"type": "error", "code": "malformed_json", "detail": "not JSON"})
            return
        if not isinstance(message, dict):
            await self._reply(
                {"type": "error", "code": "malformed_message", "detail": "not an object"}
            )
            return
        kind = message.get("type")
        if kind == "ping":
            await self._reply({"type": "pong", "id": message.get("id")})
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "unsubscribe":
            await self._unsubscribe(message)
        else:
            await self._reply(
                {"type": "error", "code": "unknown_message", "detail": f"type {kind!r}"}
            )

    async def _subscribe(self, message: dict[str, Any]) -> None:
        key = message.get("id")
        if not isinstance(key, str) or not 0 < len(key) <= 64:
            await self._reply(
                {"type": "error", "code": "invalid_filter", "detail": "id: 1-64 chars"}
            )
            return
        if key in self.subscriptions:
            await self._reply({"type": "error", "code": "duplicate_subscription", "id": key})
            return
        try:
            subscription = await run_in_threadpool(
                subscribe,
                self.runtime,
                self.hub,
                self.actor,
                key,
                message.get("filter"),
                message.get("after"),
            )
        except DomainError as error:
            await self._reply(
                {"type": "error", "code": error.code, "detail": error.detail, "id": key}
            )
            return
        self.subscriptions[key] = subscription
        await self._reply({"type": "subscribed", "id": key, "after": subscription.after})
        subscription.task = asyncio.create_task(
            pump(self.hub, subscription, self.outbox, _ws_frame)
        )

    async def _unsubscribe(self, message: dict[str, Any]) -> None:
        subscription = self.subscriptions.pop(str(message.get("id")), None)
        if subscription is None:
            await self._reply(
                {"type": "error", "code": "unknown_subscription", "id": message.get("id")}
            )
            return
        if subscription.task:
            subscription.task.cancel()
        await self._reply({"type": "unsubscribed", "id": subscription.key})


def _ws_frame(sub: Subscription, batch: list[StreamItem] | None) -> tuple[Any, int | None, str]:
    """One event as an `event` frame; several ready at once as one `events` frame."""
    if batch is None:
        return None, None, '{"type":"heartbeat"}'
    key = json.dumps(sub.key)
    if len(batch) == 1:
        text = f'{{"type":"event","subscription":{key},"event":{batch[0].json}}}'
    else:
        events = ",".join(item.json for item in batch)
        text = f'{{"type":"events","subscription":{key},"events":[{events}]}}'
    return sub, batch[-1].position, text
