"""Call control use cases, and the decisions taken when the far end of a leg acts.

Each command is get -> decide -> save; what the network must then do (place a leg, bridge,
hang up) is returned by the decision as actions and handed to the `Endpoints` port only
after the save committed, so nothing happens on the network that the log does not hold.
Far-end reports come back through `FarEnd` (this service) on the network's threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from domain.calls.calls import AGENT, CALLEE, CALLER, Call
from domain.calls.legs import Direction, Leg, Service
from domain.calls.ports import Endpoints
from domain.calls.queues import QUEUE_NUMBER, CallQueue
from domain.calls.secrets import CallbackSecret, new_signing_secret, secret_id
from domain.calls.states import ALERTING, ANSWERED, CallStateError, LegState, Notice, Reason
from domain.directory.access import Scope, sees_event
from domain.shared import clock
from domain.shared.actor import Actor, CommandContext
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import ConflictError, InvalidValueError, NotFoundError
from domain.shared.owners import Owner
from domain.shared.permissions import Access, Section
from domain.shared.values import Secret

log = logging.getLogger(__name__)
NETWORK = CommandContext(Actor.system("network"))
TRANSFER = "transfer"
CALLBACK_EVENTS = frozenset(Notice) - {Notice.TERMINATED}
DEFAULT_CALLBACK_EVENTS = (Notice.TERMINATED.value,)
#: May this customer pay for a call now? (billing's funds; composition sets it)
FundsGate = Callable[[UUID], bool]


class NoFundsError(ConflictError):
    """The paying customer is out of funds (its available balance is below zero)."""

    code = "no_funds"


@dataclass(frozen=True)
class Party:
    """Someone a leg goes to: the number the network dials, and the account if ours."""

    number: str
    owner: Owner | None = None

    @property
    def account_id(self) -> UUID | None:
        return self.owner.account_id if self.owner else None


@dataclass(frozen=True)
class Place:
    call_id: UUID
    leg_id: UUID
    number: str
    cli: str


@dataclass(frozen=True)
class Bridge:
    a: UUID
    b: UUID


@dataclass(frozen=True)
class Play:
    leg_id: UUID
    prompt: str


@dataclass(frozen=True)
class HangUp:
    leg_id: UUID


Action = Place | Bridge | Play | HangUp


@dataclass
class _Decision:
    """What one command changes: the calls it touched, legs to bill, network actions."""

    load: Callable[[UUID], Call]
    load_queue: Callable[[UUID], CallQueue]
    calls: dict[UUID, Call] = field(default_factory=dict)
    queues: dict[UUID, CallQueue] = field(default_factory=dict)
    billed: list[Leg] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def call(self, call_id: UUID) -> Call:
        if call_id not in self.calls:
            self.calls[call_id] = self.load(call_id)
        return self.calls[call_id]

    def queue(self, queue_id: UUID) -> CallQueue:
        if queue_id not in self.queues:
            self.queues[queue_id] = self.load_queue(queue_id)
        return self.queues[queue_id]

    @property
    def changed(self) -> list[Any]:
        return [*self.calls.values(), *self.queues.values(), *self.billed]

    def end(self, call: Call, leg_id: str, reason: Reason, *, cascade: bool = True) -> None:
        """End a leg (billing it) and, with `cascade`, whoever was left with it."""
        work = [(call, leg_id, reason)]
        while work:
            current, leg, why = work.pop(0)
            if current.leg_state(leg) is LegState.TERMINATED:
                continue
            peer = current.leg(leg)["peer"]
            current.terminate(UUID(leg), why)
            self.bill(current, leg)
            self.actions.append(HangUp(UUID(leg)))
            if not cascade:
                continue
            if peer is not None:
                other = self.call(UUID(peer[0]))
                work.append((other, peer[1], other.end_reason(peer[1])))
            for rest in current.live_legs():
                work.append((current, rest["leg_id"], current.end_reason(rest["leg_id"])))

    def bill(self, call: Call, leg_id: str) -> None:
        """A finished leg is what billing rates (`calls.Leg.Finished`)."""
        payer = call.parties[0] if call.bill_account_id else None
        if payer is None or payer.customer_id is None or payer.account_id is None:
            return
        leg = call.leg(leg_id)
        billed = Leg(
            leg_id=UUID(leg_id),
            account_id=payer.account_id,
            customer_id=payer.customer_id,
            reseller_id=payer.reseller_id,
        )
        caller_side = leg["role"] == CALLER
        billed.finish(
            service=Service.VOICE,
            direction=Direction.INCOMING if caller_side else Direction.OUTGOING,
            cli=call.callee_number if caller_side else call.caller_number,
            cld=leg["number"],
            connect_time=leg["connected_at"],
            disconnect_time=leg["disconnected_at"],
            tracking_id=call.tracking_id,
            previous_tracking_id=call.previous_tracking_id,
        )
        self.billed.append(billed)

    def place(self, call: Call, party: Party, role: str, cli: str) -> UUID:
        leg_id = uuid4()
        call.place(leg_id, party.number, role, party.account_id)
        if party.owner is not None:
            call.join(party.owner)
        self.actions.append(Place(call.id, leg_id, party.number, cli))
        return leg_id

    def pair(self, call: Call, a: str, b: str) -> None:
        call.bridge(UUID(a), call.id, UUID(b))
        call.bridge(UUID(b), call.id, UUID(a))
        self.actions.append(Bridge(UUID(a), UUID(b)))


class CallsService(SwitchlogApplication):
    """Calls: originate, connect, redirect, hold, transfer, hang up; far-end reports."""

    network: Endpoints | None = None
    has_funds: FundsGate | None = None  # None: every customer may call

    def connect_network(self, network: Endpoints) -> None:
        self.network = network
        network.attach(self)

    # -- commands of call-control apps ------------------------------------------------
    def originate(
        self,
        ctx: CommandContext,
        caller: Party,
        callee: Party,
        payer: Owner | None,
        *,
        kind: str = "originate_advanced_call",
        state_callback: str | None = None,
        state_callback_events: Sequence[str] | None = None,
        receive_actions: dict[str, Any] | None = None,
        queue_id: UUID | None = None,
    ) -> tuple[UUID, str]:
        """Call `caller` first; once it answers, call `callee` and bridge them. With a queue
        (an auto attendant's), call `callee` and queue it once it answers (auto-dialer)."""
        ctx.require(Section.CALL_CONTROL, Access.MODIFY)
        events = _callback_events(state_callback_events)
        self._check_funds(payer)
        with self.command(ctx):
            parties = _unique([payer, caller.owner, callee.owner])
            call = Call(
                kind=kind,
                tracking_id=str(uuid4()),
                bill_account_id=payer.account_id if payer else None,
                parties=parties,
                caller_number=caller.number,
                callee_number=callee.number,
                callee_account_id=callee.account_id,
                state_callback=state_callback,
                state_callback_events=events,
                callback_principal=ctx.actor.id if state_callback else None,
                receive_actions=receive_actions or {},
                queue_id=queue_id,
            )
            decision = self._decision()
            decision.calls[call.id] = call
            if queue_id is None:
                decision.place(call, caller, CALLER, callee.number)
            else:
                decision.place(call, callee, CALLEE, caller.number)
            extra = [self._secret(ctx.actor.id)] if state_callback else []
            self.save(call, *[e for e in extra if e is not None])
        self._run(decision.actions)
        return call.id, call.tracking_id

    def _check_funds(self, payer: Owner | None) -> None:
        """A customer out of funds pays for no new call (billing's gate)."""
        if payer is None or payer.customer_id is None or self.has_funds is None:
            return
        if not self.has_funds(payer.customer_id):
            raise NoFundsError(
                "the paying customer is out of funds: a payment or a higher credit limit lets"
                " it call again"
            )

    def disconnect(self, ctx: CommandContext, call_id: UUID) -> None:
        """Hang up every leg of the call (and whoever a transfer bridged to them)."""
        self._command(ctx, call_id, lambda d, call: self._disconnect(d, call))

    def _disconnect(self, decision: _Decision, call: Call) -> None:
        call.check_active()
        for leg in call.live_legs():
            decision.end(call, leg["leg_id"], call.end_reason(leg["leg_id"]))

    def redirect(
        self, ctx: CommandContext, call_id: UUID, destination: Party, leg_id: UUID | None
    ) -> UUID:
        """Send a ringing or connected party's side of the call to another number."""
        placed: list[UUID] = []

        def decide(decision: _Decision, call: Call) -> None:
            call.check_active()
            leg = call.leg(leg_id) if leg_id else _callee_side(call)
            if LegState(leg["state"]) not in ALERTING | ANSWERED:
                raise CallStateError(f"leg {leg['leg_id']} cannot be redirected")
            decision.end(call, leg["leg_id"], call.end_reason(leg["leg_id"]), cascade=False)
            placed.append(decision.place(call, destination, CALLEE, call.caller_number))

        self._command(ctx, call_id, decide)
        return placed[0]

    def hold(self, ctx: CommandContext, call_id: UUID, leg_id: UUID | None) -> None:
        """Put a party on hold (`held`); its peer is `holding`."""

        def decide(decision: _Decision, call: Call) -> None:
            call.check_active()
            held = call.leg(leg_id) if leg_id else _callee_side(call)
            peer = held["peer"]
            if peer is None or UUID(peer[0]) != call.id:
                raise CallStateError(f"leg {held['leg_id']} is not connected to a party")
            call.hold(UUID(held["leg_id"]), UUID(peer[1]))
            decision.actions.append(Play(UUID(held["leg_id"]), "music_on_hold"))

        self._command(ctx, call_id, decide)

    def unhold(self, ctx: CommandContext, call_id: UUID) -> None:
        def decide(decision: _Decision, call: Call) -> None:
            call.check_active()
            legs = call.unhold()
            peer = call.leg(legs[0])["peer"] if legs else None
            if peer is not None:
                decision.actions.append(Bridge(UUID(legs[0]), UUID(peer[1])))

        self._command(ctx, call_id, decide)

    def transfer(
        self,
        ctx: CommandContext,
        call_id: UUID,
        destination: Party | None,
        consult_call_id: UUID | None,
        leg_id: UUID | None,
    ) -> str:
        """Blind (to `destination`) or attended (to the consult call's other party): the
        transferring party leaves. Attended gives both calls a new tracking id."""
        tracking: list[str] = []

        def decide(decision: _Decision, call: Call) -> None:
            call.check_active()
            transferor = call.leg(leg_id) if leg_id else _caller_side(call)
            _bridged_here(call, transferor)
            if consult_call_id is None:
                if destination is None:
                    raise InvalidValueError("a blind transfer needs a destination")
                call.transfer_away(UUID(transferor["leg_id"]))
                decision.bill(call, transferor["leg_id"])
                decision.actions.append(HangUp(UUID(transferor["leg_id"])))
                decision.place(call, destination, TRANSFER, call.caller_number)
                tracking.append(call.tracking_id)
                return
            if consult_call_id == call.id:
                raise InvalidValueError("the consult call must be another call")
            consult = decision.call(consult_call_id)
            self._check_controls(ctx, consult)
            consult.check_active()
            consulting = _caller_side(consult)
            target = _bridged_here(consult, consulting)
            transferee = call.leg(transferor["peer"][1])
            new_tracking = str(uuid4())
            for each, leaving in ((call, transferor), (consult, consulting)):
                each.transfer_away(UUID(leaving["leg_id"]), new_tracking)
                decision.bill(each, leaving["leg_id"])
                decision.actions.append(HangUp(UUID(leaving["leg_id"])))
            call.bridge(UUID(transferee["leg_id"]), consult.id, UUID(target["leg_id"]))
            consult.bridge(UUID(target["leg_id"]), call.id, UUID(transferee["leg_id"]))
            decision.actions.append(Bridge(UUID(transferee["leg_id"]), UUID(target["leg_id"])))
            tracking.append(new_tracking)

        self._command(ctx, call_id, decide)
        return tracking[0]

    def create_queue(
        self,
        ctx: CommandContext,
        name: str,
        number: str,
        owner: Owner,
        agents: Sequence[tuple[UUID, str]],
    ) -> UUID:
        """A queue answering on `number`, whose callers go to the agents (account, number)."""
        ctx.require(Section.CALL_CONTROL, Access.MODIFY)
        if not agents:
            raise InvalidValueError("a queue needs at least one agent")
        if not name.strip():
            raise InvalidValueError("a queue needs a name")
        with self.command(ctx):
            queue = CallQueue(
                name=name.strip(),
                number=number,
                owner=owner,
                agent_account_ids=[a for a, _ in agents],
                agent_numbers=[n for _, n in agents],
            )
            self.save(queue, *self.names.claim(QUEUE_NUMBER, number, queue.id))
        return queue.id

    def queue_on(self, *numbers: str) -> UUID | None:
        """The queue that answers on one of these numbers, if any."""
        for number in numbers:
            found = self.holder_of(QUEUE_NUMBER, number)
            if found is not None:
                return found
        return None

    def signing_secret(self, ctx: CommandContext) -> str:
        """The caller's state-callback signing secret (issued on first use)."""
        ctx.require(Section.CALL_CONTROL, Access.READ)
        with self.command(ctx):
            issued = self._secret(ctx.actor.id)
            if issued is not None:
                self.save(issued)
                return str(issued.secret.value)
        return str(self.load(secret_id(ctx.actor.id), CallbackSecret).secret.value)

    def call(self, ctx: CommandContext, call_id: UUID) -> Call:
        """A call the actor controls (404 for one it may not see)."""
        call = self.load(call_id, Call)
        self._check_controls(ctx, call)
        return call

    # -- what the far end does (the network reports it) --------------------------------
    def far_end_ringing(self, call_id: UUID, leg_id: UUID) -> None:
        self._far_end(call_id, lambda d, call: call.progress(leg_id, Notice.RINGING))

    def far_end_early(self, call_id: UUID, leg_id: UUID) -> None:
        self._far_end(call_id, lambda d, call: call.progress(leg_id, Notice.EARLY))

    def far_end_answered(self, call_id: UUID, leg_id: UUID) -> None:
        self._far_end(call_id, lambda d, call: self._answered(d, call, str(leg_id)))

    def far_end_rejected(self, call_id: UUID, leg_id: UUID, reason: Reason) -> None:
        self._far_end(call_id, lambda d, call: _rejected(d, call, str(leg_id), reason))

    def far_end_hung_up(self, call_id: UUID, leg_id: UUID) -> None:
        self._far_end(call_id, lambda d, call: d.end(call, str(leg_id), Reason.NORMAL))

    def lose(self, call_id: UUID) -> None:
        """The network no longer knows the call (a restart): its legs end `lost`."""

        def decide(decision: _Decision, call: Call) -> None:
            for leg in call.live_legs():
                decision.end(call, leg["leg_id"], Reason.LOST, cascade=False)

        self._far_end(call_id, decide)

    def _answered(self, decision: _Decision, call: Call, leg_id: str) -> None:
        call.progress(UUID(leg_id), Notice.CONNECTED)
        partner = next(
            (
                leg
                for leg in call.live_legs()
                if leg["leg_id"] != leg_id
                and LegState(leg["state"]) in ANSWERED
                and leg["peer"] is None
            ),
            None,
        )
        role = call.leg(leg_id)["role"]
        if partner is not None:
            decision.pair(call, leg_id, partner["leg_id"])
            if role == AGENT and call.queue_id is not None:
                queue = decision.queue(call.queue_id)
                wait_ms = queue.connect(
                    call.id, UUID(str(call.leg(leg_id)["account_id"])), clock.now()
                )
                call.dequeue(UUID(partner["leg_id"]), wait_ms)
        elif role == CALLEE and call.queue_id is not None:
            queue = decision.queue(call.queue_id)
            call.queue(UUID(leg_id), queue.enqueue(call.id))
            _distribute(decision, queue)
        elif call.leg(leg_id)["role"] == CALLER and not any(
            leg["role"] != CALLER for leg in call.legs.values()
        ):
            callee = Party(call.callee_number, _owner_of(call, call.callee_account_id))
            decision.place(call, callee, CALLEE, call.caller_number)

    # -- plumbing ---------------------------------------------------------------------
    def _decision(self) -> _Decision:
        return _Decision(
            lambda call_id: self.load(call_id, Call),
            lambda queue_id: self.load(queue_id, CallQueue),
        )

    def _command(
        self,
        ctx: CommandContext,
        call_id: UUID,
        decide: Callable[[_Decision, Call], None],
    ) -> None:
        ctx.require(Section.CALL_CONTROL, Access.MODIFY)
        with self.command(ctx):
            decision = self._decision()
            call = decision.call(call_id)
            self._check_controls(ctx, call)
            decide(decision, call)
            _settle_queues(decision)
            self.save(*decision.changed)
        self._run(decision.actions)

    def _far_end(self, call_id: UUID, decide: Callable[[_Decision, Call], None]) -> None:
        """Apply a far-end report; a lost race reloads and decides again, and a report the
        call has moved past (a hang-up already made here) is dropped."""
        for _attempt in range(20):
            decision = self._decision()
            try:
                with self.command(NETWORK):
                    decide(decision, decision.call(call_id))
                    _settle_queues(decision)
                    self.save(*decision.changed)
            except ConflictError as error:
                if isinstance(error, CallStateError):
                    log.debug("far-end report dropped: %s", error.detail)
                    return
                continue
            except NotFoundError:
                return
            self._run(decision.actions)
            return
        log.warning("far-end report for call %s dropped after repeated conflicts", call_id)

    def _run(self, actions: Sequence[Action]) -> None:
        network = self.network
        if network is None:
            raise RuntimeError("the calls service has no network connected")
        for action in actions:
            if isinstance(action, Place):
                network.place(action.call_id, action.leg_id, action.number, action.cli)
            elif isinstance(action, Bridge):
                network.bridge(action.a, action.b)
            elif isinstance(action, Play):
                network.play(action.leg_id, action.prompt)
            else:
                network.hang_up(action.leg_id)

    def _check_controls(self, ctx: CommandContext, call: Call) -> None:
        """An account controls its own calls, a customer its accounts', a reseller its
        customers'; a call the actor may not see is reported missing."""
        if not sees_event(Scope.of(ctx.actor), call.owners()):
            raise NotFoundError(f"call {call.id} not found")

    def _secret(self, principal_id: str) -> CallbackSecret | None:
        """A new secret for a principal that has none (None when it has one)."""
        try:
            self.load(secret_id(principal_id), CallbackSecret)
            return None
        except NotFoundError:
            return CallbackSecret(principal_id=principal_id, secret=Secret(new_signing_secret()))


def _rejected(decision: _Decision, call: Call, leg_id: str, reason: Reason) -> None:
    """A far end that will not answer. An agent's: the caller stays queued and is told so."""
    leg = call.leg(leg_id)
    if leg["role"] != AGENT or call.queue_id is None:
        decision.end(call, leg_id, reason)
        return
    decision.end(call, leg_id, reason, cascade=False)
    queue = decision.queue(call.queue_id)
    if leg["account_id"] is not None:
        queue.missed_by(call.id, UUID(str(leg["account_id"])), reason.value)
    waiting = next((g for g in call.live_legs() if g["role"] == CALLEE), None)
    if waiting is not None and str(call.id) in queue.waiting:
        call.queue(UUID(waiting["leg_id"]), queue.position(call.id))
    _distribute(decision, queue)


def _distribute(decision: _Decision, queue: CallQueue) -> None:
    """Offer waiting callers to free agents, first come first served."""
    while (offer := queue.next_offer()) is not None:
        call_id, agent, number = offer
        queue.offer(call_id, agent)
        call = decision.call(call_id)
        owner = Owner(queue.owner.reseller_id, queue.owner.customer_id, agent)
        decision.place(call, Party(number, owner), AGENT, call.callee_number)


def _settle_queues(decision: _Decision) -> None:
    """A queued call that is over leaves its queue (freeing its agent) before the save."""
    for call in list(decision.calls.values()):
        if call.queue_id is None or call.active:
            continue
        queue = decision.queue(call.queue_id)
        if str(call.id) in queue.waiting or queue.agent_of(call.id) is not None:
            queue.release(call.id, clock.now())
            _distribute(decision, queue)


def _callback_events(events: Sequence[str] | None) -> list[str]:
    chosen = {Notice.TERMINATED.value}
    for name in events or ():
        if name not in {n.value for n in Notice}:
            raise InvalidValueError(
                f"state_callback_events: {name!r} is not one of {', '.join(Notice)}"
            )
        chosen.add(name)
    return sorted(chosen)


def _unique(owners: Sequence[Owner | None]) -> list[Owner]:
    found: list[Owner] = []
    for owner in owners:
        if owner is not None and owner not in found:
            found.append(owner)
    return found


def _owner_of(call: Call, account_id: UUID | None) -> Owner | None:
    return next((p for p in call.parties if account_id and p.account_id == account_id), None)


def _caller_side(call: Call) -> dict[str, Any]:
    """The live leg of whoever started the call (the app's user)."""
    for leg in call.live_legs():
        if leg["role"] == CALLER:
            return leg
    raise CallStateError(f"call {call.id} has no live caller leg")


def _callee_side(call: Call) -> dict[str, Any]:
    """The live leg of the party the call went to (the latest one placed)."""
    for found in call.live_legs()[::-1]:
        if found["role"] != CALLER:
            return call.leg(found["leg_id"])
    raise CallStateError(f"call {call.id} has no live callee leg")


def _bridged_here(call: Call, leg: dict[str, Any]) -> dict[str, Any]:
    """The party `leg` talks to in this same call (refused when there is none)."""
    peer = leg["peer"]
    if LegState(leg["state"]) not in ANSWERED or peer is None or UUID(peer[0]) != call.id:
        raise CallStateError(f"leg {leg['leg_id']} is not connected to a party in this call")
    return call.leg(peer[1])
