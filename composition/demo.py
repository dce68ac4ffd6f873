"""`switchlog serve --demo`: a demo tenant and scripted calls that keep flowing, so a new
user sees active calls, notifications, state callbacks and (once billing rates them) xDRs."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from adapters.scripted_network import Script
from composition import calls, provisioning
from composition.runtime import Runtime
from domain.calls.application import Party
from domain.directory.application import LOGIN
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import DomainError
from domain.shared.owners import Owner

log = logging.getLogger(__name__)
DEMO = CommandContext(Actor.system("demo"))
LOGIN_NAME, PASSWORD = "demo", "demo-password"
EXTENSIONS = ("100", "101", "102", "103")
OUTSIDE = ("4420700100", "4420700101", "4420700102", "4420700103", "4420700104")


@dataclass(frozen=True)
class Tenant:
    customer_id: UUID
    extensions: list[Party]
    attendant: Party | None


def seed(runtime: Runtime) -> Tenant:
    """The demo customer (login demo / demo-password) with four extensions, an auto
    attendant whose answered calls queue for two agents, and a call-control role. Made once;
    found again on later starts."""
    directory = runtime.directory
    customer_id = directory.holder_of(LOGIN, LOGIN_NAME)
    if customer_id is None:
        customer_id = directory.create_customer(
            DEMO, "Demo PBX", "USD", "UTC", None, LOGIN_NAME, PASSWORD
        )
        provisioning.service(runtime).number_customer(DEMO, Owner(None, customer_id), None)
        role = directory.create_role(DEMO, "Demo call control", {"call_control": "modify"})
        directory.set_customer_role(DEMO, customer_id, role)
        made = [
            provisioning.add_extension(runtime, DEMO, customer_id, ext, []) for ext in EXTENSIONS
        ]
        attendant = provisioning.add_auto_attendant(runtime, DEMO, customer_id, [])
        calls.create_queue(
            runtime, DEMO, "Demo sales", attendant.login, [m.account_id for m in made[:2]]
        )
    return _tenant(runtime, customer_id)


def _tenant(runtime: Runtime, customer_id: UUID) -> Tenant:
    rows = provisioning_rows(runtime, str(customer_id))
    owner = provisioning.customer_owner(runtime, customer_id)
    parties = {
        row["kind"]: [
            Party(r["login"], Owner(owner.reseller_id, customer_id, UUID(r["account_id"])))
            for r in rows
            if r["kind"] == row["kind"]
        ]
        for row in rows
    }
    attendants = parties.get("auto_attendant", [])
    return Tenant(customer_id, parties.get("extension", []), attendants[0] if attendants else None)


def provisioning_rows(runtime: Runtime, customer_id: str) -> list[dict[str, str]]:
    runtime.runner.catch_up(["extensions"])
    with runtime.db.transaction(readonly=True) as tx:
        return tx.fetchall(
            "SELECT kind, login, account_id FROM pbx_endpoints WHERE customer_id = %s"
            " AND status = 'active' ORDER BY created_at",
            (customer_id,),
        )


def script_numbers(runtime: Runtime, tenant: Tenant) -> None:
    """Extensions pick up within a few seconds; outside numbers answer, are busy, decline,
    never answer, or hang up after a while."""
    network = calls.network(runtime)
    for party in tenant.extensions:
        network.script(party.number, Script(answer_after_ms=random.randint(800, 2500)))
    behaviours = [
        Script(answer_after_ms=2000, hangup_after_ms=20_000),
        Script(answer_after_ms=1500, hangup_after_ms=45_000, early_media_ms=500),
        Script(reject="busy"),
        Script(reject="no_answer", ring_timeout_s=8),
        Script(answer_after_ms=3000, reject="declined"),
    ]
    for number, behaviour in zip(OUTSIDE, behaviours, strict=True):
        network.script(number, behaviour)


def traffic(runtime: Runtime, tenant: Tenant, stop: threading.Event, every: float = 3.0) -> None:
    """A click-to-call or an auto-dialer call every few seconds; some are hung up by us."""
    service = calls.service(runtime)
    started: list[UUID] = []
    while not stop.wait(random.uniform(every / 2, every * 1.5)):
        try:
            if tenant.attendant is not None and random.random() < 0.3:
                caller, payer = tenant.attendant, tenant.attendant.owner
            else:
                caller = random.choice(tenant.extensions)
                payer = caller.owner
            callee = Party(random.choice(OUTSIDE))
            call_id, _ = service.originate(
                DEMO, caller, callee, payer, queue_id=calls.queue_for(runtime, caller)
            )
            started.append(call_id)
            if len(started) > 6:
                service.disconnect(DEMO, started.pop(0))
        except DomainError as error:
            log.debug("demo call not placed or ended: %s", error.detail)
        except Exception:
            log.exception("demo traffic failed; going on")


def start(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Seed the tenant, script its numbers and keep calls flowing until the runtime closes."""
    tenant = seed(runtime)
    script_numbers(runtime, tenant)
    runtime._start("demo-traffic", lambda stop: traffic(runtime, tenant, stop))
    say(
        f"demo: customer login [bold]{LOGIN_NAME}[/] password [bold]{PASSWORD}[/];"
        " scripted calls are flowing (GET /v1/calls/active, /v1/call-control/ws)"
    )
