"""Calls wired to the rest: who a caller, callee or payer is (directory and provisioning),
the network the calls service drives, state callbacks and recovery after a restart."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from uuid import UUID

from adapters.call_callbacks import CallbackDeliverer
from adapters.scripted_network import ScriptedNetwork
from composition.runtime import Runtime
from domain.calls.application import CallsService, Party
from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer
from domain.directory.application import LOGIN
from domain.provisioning.extensions import DID, e164
from domain.provisioning.pbx import PbxEndpoint
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import iso
from domain.shared.errors import ForbiddenError, InvalidValueError, NotFoundError
from domain.shared.owners import Owner
from projections.calls import CallQueries

log = logging.getLogger(__name__)
_lock = threading.RLock()


@dataclass
class _Wiring:
    network: ScriptedNetwork
    deliverer: CallbackDeliverer | None = None


_wired: weakref.WeakKeyDictionary[Runtime, _Wiring] = weakref.WeakKeyDictionary()


def service(runtime: Runtime) -> CallsService:
    """The calls service, with its network connected (built on first use)."""
    found = runtime.services["calls"]
    assert isinstance(found, CallsService)
    if found.network is None:
        with _lock:
            if found.network is None:
                from composition.balances import has_funds

                found.has_funds = has_funds(runtime)
                found.connect_network(network(runtime))
    return found


def network(runtime: Runtime) -> ScriptedNetwork:
    with _lock:
        wiring = _wired.get(runtime)
        if wiring is None:
            wiring = _wired[runtime] = _Wiring(
                ScriptedNetwork(
                    runtime.clock,
                    runtime._start,  # threads stop when the runtime closes
                    runtime.settings.network_workers,
                )
            )
        return wiring.network


def queries(runtime: Runtime) -> CallQueries:
    return CallQueries(runtime.db)


def deliverer(runtime: Runtime) -> CallbackDeliverer:
    s = runtime.settings
    return CallbackDeliverer(
        runtime.db,
        runtime.secrets,
        s.call_callback_retry_schedule,
        s.call_callback_give_up_seconds,
        s.call_callback_timeout_seconds,
        s.webhooks_allow_private_networks,
        runtime.clock,
    )


def start(runtime: Runtime) -> None:
    """Send state callbacks, and end calls a restart left behind (reason `lost`)."""
    service(runtime)
    wiring = _wired[runtime]
    if wiring.deliverer is not None:
        return
    wiring.deliverer = deliverer(runtime)
    runtime._closing.append(wiring.deliverer.close)
    runtime._start("call-callbacks", wiring.deliverer.run)
    runtime._start("calls-recovery", lambda stop: recover(runtime, stop))


def recover(runtime: Runtime, stop: threading.Event | None = None, wait: float = 60) -> int:
    """Calls the read model shows active whose legs the network no longer knows end `lost`.

    It waits for the calls read model to reach the log's head as of now, so it sees every
    call started before this process; calls started since are known to the network.
    """
    head = runtime.source.max_position()
    began = iso(runtime.clock.now())  # calls started since are this process's own
    deadline = time.monotonic() + wait
    while runtime.runner.position("calls") < head:
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            log.warning("calls read model did not catch up; lost calls are not recovered")
            return 0
        time.sleep(0.05)
    calls = service(runtime)
    net = network(runtime)
    lost = 0
    offset: int | None = 0
    while offset is not None:
        rows, offset = queries(runtime).active(Scope.of(_SYSTEM.actor), 500, offset)
        for row in rows:
            if row["started_at"] >= began:
                continue
            live = [leg for leg in row["legs"] if leg["state"] != "terminated"]
            if live and not any(net.knows(UUID(leg["leg_id"])) for leg in live):
                calls.lose(UUID(row["call_id"]))
                lost += 1
    if lost:
        log.warning("%s calls the network no longer knew were ended (reason lost)", lost)
    return lost


_SYSTEM = CommandContext(Actor.system("calls"))


# -- who is who ------------------------------------------------------------------------
def account_party(runtime: Runtime, ref: str) -> tuple[Account, str] | None:
    """The open account a reference names (its id, login or DID), and the number to dial."""
    ref = ref.strip()
    account_id: UUID | None = None
    number = ref
    try:
        account_id = UUID(ref)
    except ValueError:
        holder = runtime.directory.holder_of(LOGIN, ref)
        if holder is not None:
            account_id = holder
        else:
            try:
                number = e164(ref)
            except InvalidValueError:
                return None
            endpoint_id = runtime.directory.holder_of(DID, number)
            if endpoint_id is None:
                return None
            endpoint = runtime.services["provisioning"].load(endpoint_id, PbxEndpoint)
            account_id = endpoint.account_id
    try:
        account = runtime.directory.load(account_id, Account)
    except NotFoundError:
        return None
    if account.status != "open":
        return None
    if number == ref and _is_uuid(ref):
        number = account.login
    return account, number


def owner_of(runtime: Runtime, account: Account) -> Owner:
    customer = runtime.directory.load(account.customer_id, Customer)
    return Owner(customer.reseller_id, customer.id, account.id)


def own_party(runtime: Runtime, ctx: CommandContext, ref: str, what: str) -> Party:
    """An account (or DID) of the caller's own: refused otherwise (404: it may not know it)."""
    found = account_party(runtime, ref)
    if found is None:
        raise NotFoundError(f"{what} {ref!r} is not an account or DID of yours")
    account, number = found
    owner = owner_of(runtime, account)
    if not Scope.of(ctx.actor).sees_account(account.id, account.customer_id, owner.reseller_id):
        raise NotFoundError(f"{what} {ref!r} is not an account or DID of yours")
    if _blocked(runtime, account.id):
        raise ForbiddenError(f"{what} {ref!r} is blocked: it cannot place calls")
    return Party(number, owner)


def any_party(runtime: Runtime, ref: str, what: str) -> Party:
    """A destination: one of our accounts (login or DID), or an E.164 number."""
    found = account_party(runtime, ref)
    if found is not None and not _is_uuid(ref.strip()):
        account, number = found
        return Party(number, owner_of(runtime, account))
    try:
        return Party(e164(ref))
    except InvalidValueError:
        raise InvalidValueError(f"{what}: {ref!r} is not a login, DID or E.164 number") from None


def _blocked(runtime: Runtime, account_id: UUID) -> bool:
    with runtime.db.transaction(readonly=True) as tx:
        row = tx.fetchone(
            "SELECT blocked_by FROM account_blocks WHERE account_id = %s", (str(account_id),)
        )
    return row is not None and row["blocked_by"] is not None


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


# -- queues ----------------------------------------------------------------------------
def queue_number(runtime: Runtime, ref: str) -> str:
    """The number a queue answers on: an account's login (named by login, id or DID), or
    an E.164 number."""
    found = account_party(runtime, ref)
    if found is not None:
        return found[0].login
    return e164(ref)


def create_queue(
    runtime: Runtime, ctx: CommandContext, name: str, number: str, agents: list[UUID]
) -> UUID:
    """A queue of one customer's agents; the caller must see every agent's account."""
    scope = Scope.of(ctx.actor)
    resolved: list[tuple[UUID, str]] = []
    owners: set[Owner] = set()
    for agent_id in dict.fromkeys(agents):
        found = account_party(runtime, str(agent_id))
        if found is None:
            raise NotFoundError(f"account {agent_id} not found")
        account, _number = found
        owner = owner_of(runtime, account)
        if not scope.sees_account(account.id, account.customer_id, owner.reseller_id):
            raise NotFoundError(f"account {agent_id} not found")
        owners.add(Owner(owner.reseller_id, owner.customer_id))
        resolved.append((account.id, account.login))
    if len(owners) > 1:
        raise InvalidValueError("a queue's agents must all be one customer's accounts")
    owner = next(iter(owners)) if owners else Owner()
    return service(runtime).create_queue(ctx, name, queue_number(runtime, number), owner, resolved)


def queue_for(runtime: Runtime, party: Party) -> UUID | None:
    """The queue an auto attendant (or any account) sends its answered calls to, if any."""
    numbers = [party.number]
    if party.account_id is not None:
        numbers.append(runtime.directory.load(party.account_id, Account).login)
    return service(runtime).queue_on(*numbers)
