"""The call control methods: one definition each, answered over the WebSocket
(`/v1/call-control/ws`) and at `POST /v1/call-control/{method}` alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints

from adapters.net import check_public_target
from api.schemas import MAX_BIGINT
from composition import calls
from composition.runtime import Runtime
from domain.calls.states import Notice
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.errors import InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section
from domain.webhooks.application import check_url

Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$"),
    Field(description="An account id, an account login, a DID or an E.164 number"),
]
State = Literal[
    "trying",
    "ringing",
    "early",
    "connected",
    "held",
    "holding",
    "unheld",
    "transferred",
    "queued",
    "dequeued",
    "terminated",
]
CallbackUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OriginateParams(Params):
    caller_id: Ref = Field(description="Your account (id, login or DID) whose phone rings first")
    callee_id: Ref = Field(description="The number or login to connect it to")
    bill_id: Ref | None = Field(None, description="The account that pays; the caller's by default")
    caller_leg_receive_actions: (
        dict[
            Annotated[str, StringConstraints(max_length=50)],
            Annotated[str, StringConstraints(max_length=50)],
        ]
        | None
    ) = Field(None, max_length=20, description='e.g. {"voicemail": "allow"}')
    state_callback: CallbackUrl | None = Field(None, description="Where state changes are POSTed")
    state_callback_events: list[State] | None = Field(
        None, max_length=11, description="Which states to POST (terminated always)"
    )


class ConnectParams(Params):
    first_number: Ref = Field(description="Called first (the callback)")
    second_number: Ref = Field(description="Called once the first answers, then bridged")
    bill_id: Ref = Field(description="Your account that pays for both legs")
    state_callback: CallbackUrl | None = None
    state_callback_events: list[State] | None = Field(None, max_length=11)


class CallParams(Params):
    call_id: UUID


class RedirectParams(CallParams):
    destination: Ref
    leg_id: UUID | None = Field(None, description="The leg to redirect; the callee's by default")


class HoldParams(CallParams):
    leg_id: UUID | None = Field(None, description="The party put on hold; the callee by default")


class TransferParams(CallParams):
    destination: Ref | None = Field(None, description="Blind transfer: where the call goes")
    consult_call_id: UUID | None = Field(
        None, description="Attended transfer: the consultation call to join this one with"
    )
    leg_id: UUID | None = Field(None, description="The transferring party; the caller by default")


class ActiveCallsParams(Params):
    account_id: UUID | None = None
    customer_id: UUID | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_BIGINT)


class SubscribeParams(Params):
    account_id: UUID | None = None
    customer_id: UUID | None = None
    number: Ref | None = None


class PingParams(Params):
    pass


class Started(BaseModel):
    call_id: UUID
    tracking_id: str


class Redirected(BaseModel):
    call_id: UUID
    leg_id: UUID


class Done(BaseModel):
    call_id: UUID


class Pong(BaseModel):
    pong: bool = True


class LegView(BaseModel):
    leg_id: UUID
    number: str
    role: str
    state: str
    account_id: UUID | None = None
    connected_at: str | None = None


class ActiveCall(BaseModel):
    call_id: UUID
    tracking_id: str
    previous_tracking_id: str | None = None
    state: str
    started_at: str
    legs: list[LegView]


class ActiveCallsPage(BaseModel):
    items: list[ActiveCall]
    next: int | None


class Notification(BaseModel):
    """A call_info notification's params (a state callback's body has the same fields)."""

    call_id: UUID
    tracking_id: str
    previous_tracking_id: str | None
    state: State
    reason: str | None = None
    time: str
    seq: int
    leg_id: UUID
    number: str
    position: int | None = None
    wait_ms: int | None = None


def _callback(runtime: Runtime, url: Any, events: list[str] | None) -> tuple[str | None, Any]:
    if url is None:
        if events:
            raise InvalidValueError("state_callback_events needs a state_callback URL")
        return None, None
    text = check_url(str(url))
    check_public_target(text, runtime.settings.webhooks_allow_private_networks)
    return text, events


def originate_advanced_call(
    runtime: Runtime, ctx: CommandContext, p: OriginateParams
) -> dict[str, Any]:
    ctx.require(Section.CALL_CONTROL, Access.MODIFY)
    caller = calls.own_party(runtime, ctx, p.caller_id, "caller_id")
    callee = calls.any_party(runtime, p.callee_id, "callee_id")
    payer = calls.own_party(runtime, ctx, p.bill_id, "bill_id").owner if p.bill_id else caller.owner
    url, events = _callback(runtime, p.state_callback, p.state_callback_events)
    call_id, tracking_id = calls.service(runtime).originate(
        ctx,
        caller,
        callee,
        payer,
        state_callback=url,
        state_callback_events=events,
        receive_actions=p.caller_leg_receive_actions,
        queue_id=calls.queue_for(runtime, caller),
    )
    return {"call_id": call_id, "tracking_id": tracking_id}


def connect_calls(runtime: Runtime, ctx: CommandContext, p: ConnectParams) -> dict[str, Any]:
    ctx.require(Section.CALL_CONTROL, Access.MODIFY)
    payer = calls.own_party(runtime, ctx, p.bill_id, "bill_id").owner
    first = calls.any_party(runtime, p.first_number, "first_number")
    second = calls.any_party(runtime, p.second_number, "second_number")
    url, events = _callback(runtime, p.state_callback, p.state_callback_events)
    call_id, tracking_id = calls.service(runtime).originate(
        ctx,
        first,
        second,
        payer,
        kind="connect_calls",
        state_callback=url,
        state_callback_events=events,
    )
    return {"call_id": call_id, "tracking_id": tracking_id}


def redirect_call(runtime: Runtime, ctx: CommandContext, p: RedirectParams) -> dict[str, Any]:
    ctx.require(Section.CALL_CONTROL, Access.MODIFY)
    destination = calls.any_party(runtime, p.destination, "destination")
    leg_id = calls.service(runtime).redirect(ctx, p.call_id, destination, p.leg_id)
    return {"call_id": p.call_id, "leg_id": leg_id}


def hold_call(runtime: Runtime, ctx: CommandContext, p: HoldParams) -> dict[str, Any]:
    calls.service(runtime).hold(ctx, p.call_id, p.leg_id)
    return {"call_id": p.call_id}


def unhold_call(runtime: Runtime, ctx: CommandContext, p: CallParams) -> dict[str, Any]:
    calls.service(runtime).unhold(ctx, p.call_id)
    return {"call_id": p.call_id}


def transfer_call(runtime: Runtime, ctx: CommandContext, p: TransferParams) -> dict[str, Any]:
    ctx.require(Section.CALL_CONTROL, Access.MODIFY)
    if (p.destination is None) == (p.consult_call_id is None):
        raise InvalidValueError("give a destination (blind) or a consult_call_id (attended)")
    destination = calls.any_party(runtime, p.destination, "destination") if p.destination else None
    tracking_id = calls.service(runtime).transfer(
        ctx, p.call_id, destination, p.consult_call_id, p.leg_id
    )
    return {"call_id": p.call_id, "tracking_id": tracking_id}


def disconnect_call(runtime: Runtime, ctx: CommandContext, p: CallParams) -> dict[str, Any]:
    calls.service(runtime).disconnect(ctx, p.call_id)
    return {"call_id": p.call_id}


def get_active_calls(runtime: Runtime, ctx: CommandContext, p: ActiveCallsParams) -> dict[str, Any]:
    ctx.require(Section.CALL_CONTROL, Access.READ)
    items, next_offset = calls.queries(runtime).active(
        Scope.of(ctx.actor),
        p.limit,
        p.offset,
        str(p.account_id) if p.account_id else None,
        str(p.customer_id) if p.customer_id else None,
    )
    return {"items": items, "next": next_offset}


def ping(runtime: Runtime, ctx: CommandContext, p: PingParams) -> dict[str, Any]:
    return {"pong": True}


def call_events(runtime: Runtime, ctx: CommandContext, call_id: UUID) -> list[dict[str, Any]]:
    """A call's notifications, for a client that missed some (404: not the caller's)."""
    ctx.require(Section.CALL_CONTROL, Access.READ)
    try:
        calls.service(runtime).call(ctx, call_id)
    except NotFoundError:
        raise NotFoundError(f"call {call_id} not found") from None
    return calls.queries(runtime).events(str(call_id))


@dataclass(frozen=True)
class Method:
    params: type[Params]
    run: Callable[[Runtime, CommandContext, Any], dict[str, Any]]
    result: type[BaseModel]
    summary: str


METHODS: dict[str, Method] = {
    "originate_advanced_call": Method(
        OriginateParams,
        originate_advanced_call,
        Started,
        "Click-to-call: ring the caller's phone, then connect it to the callee",
    ),
    "connect_calls": Method(
        ConnectParams, connect_calls, Started, "Call two numbers one after the other and bridge"
    ),
    "redirect_call": Method(
        RedirectParams, redirect_call, Redirected, "Send a ringing or connected party elsewhere"
    ),
    "hold_call": Method(HoldParams, hold_call, Done, "Put a party on hold"),
    "unhold_call": Method(CallParams, unhold_call, Done, "Take the call off hold"),
    "transfer_call": Method(
        TransferParams, transfer_call, Started, "Blind or attended (consult_call_id) transfer"
    ),
    "disconnect_call": Method(CallParams, disconnect_call, Done, "Hang up every leg"),
    "get_active_calls": Method(
        ActiveCallsParams, get_active_calls, ActiveCallsPage, "The caller's active calls"
    ),
    "ping": Method(PingParams, ping, Pong, "Renew the session (WebSocket inactivity timeout)"),
}
NOTICES = frozenset(n.value for n in Notice)
