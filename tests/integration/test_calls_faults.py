"""Faults: receivers that fail, a restart with calls up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.app import create_app
from composition.runtime import Runtime
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.e2e.receiver import Receiver
from tests.integration.calls_helpers import (
    PROSPECT,
    Headers,
    live,
    ok,
    pbx,
    quick_callbacks,
    script,
    until,
)
from tests.integration.conftest import login


@pytest.fixture
def settings(store_url: str, tmp_path: Path, clock: Any) -> Settings:
    return quick_callbacks(store_url, tmp_path, clock)


def _originate(client: TestClient, admin: Headers, caller: str, url: str) -> str:
    return str(
        ok(
            client,
            admin,
            "originate_advanced_call",
            caller_id=caller,
            callee_id=PROSPECT,
            state_callback=url,
            state_callback_events=["ringing", "connected"],
        )["call_id"]
    )


def test_a_failing_receiver_gets_each_callback_again_until_it_answers_in_order_and_once(
    client: TestClient, admin: Headers, receiver: Receiver
) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    script(client, admin, john, reject="busy")
    _originate(client, admin, john, f"{receiver.url}/flaky/2")
    seen = eventually(lambda: len(receiver.to("/flaky/2")) >= 3 and receiver.to("/flaky/2"))
    assert len({r["headers"]["webhook-id"] for r in seen}) == 1  # the same message, retried
    john2 = "ph46170x467"
    script(client, admin, john2, answer_after_ms=10)
    script(client, admin, PROSPECT, reject="busy")
    call_id = _originate(client, admin, john2, f"{receiver.url}/flaky/1")
    got = eventually(
        lambda: (ok_ := _successes(receiver, "/flaky/1")) and len(ok_) == 4 and ok_, 15
    )
    assert [b["state"] for b in got] == ["ringing", "connected", "terminated", "terminated"]
    assert [b["seq"] for b in got] == sorted(b["seq"] for b in got)
    assert {b["call_id"] for b in got} == {call_id}
    # nothing is sent again after a 2xx: each message was taken once, after one 500
    ids = [r["headers"]["webhook-id"] for r in receiver.to("/flaky/1")]
    assert sorted(ids.count(i) for i in set(ids)) == [2, 2, 2, 2]


def _successes(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    """Bodies the receiver took (2xx): the second request of each message on /flaky/1."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in receiver.to(path):
        by_id.setdefault(r["headers"]["webhook-id"], []).append(r)
    taken = [rs[1] for rs in by_id.values() if len(rs) >= 2]
    return [
        json.loads(r["body"]) for r in sorted(taken, key=lambda r: json.loads(r["body"])["seq"])
    ]


def test_a_callback_given_up_lets_the_calls_later_states_go_on(
    client: TestClient, admin: Headers, receiver: Receiver, runtime: Runtime
) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    script(client, admin, john, reject="declined", answer_after_ms=20)
    call_id = ok(
        client,
        admin,
        "originate_advanced_call",
        caller_id=john,
        callee_id=PROSPECT,
        state_callback=f"{receiver.url}/flaky/1000",
        state_callback_events=["ringing"],
    )["call_id"]
    from composition import calls

    outbox = calls.deliverer(runtime)
    rows = eventually(
        lambda: (
            (rows := outbox.outbox(call_id)) and all(r["status"] == "failed" for r in rows) and rows
        ),
        15,
    )
    assert [(r["seq"], json.loads(r["payload"])["state"]) for r in rows] == [
        (2, "ringing"),
        (3, "terminated"),
    ]
    first_gave_up = rows[0]["next_attempt_at"]
    assert rows[1]["first_attempt_at"] >= first_gave_up  # in order: it waited, then went on
    assert rows[0]["attempts"] >= 3


def test_a_restart_ends_calls_the_network_no_longer_knows_with_reason_lost(
    settings: Settings,
) -> None:
    first = Runtime(settings)
    first.bootstrap_admin()
    with TestClient(create_app(settings, first)) as client:
        admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
        john = pbx(client, admin)["john"]["account_login"]
        script(client, admin, john, answer_after_ms=10)
        script(client, admin, PROSPECT, answer_after_ms=10)
        call_id = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)[
            "call_id"
        ]
        live(client, admin, call_id, "connected", "connected")
    first.close()
    second = Runtime(settings)
    try:
        with TestClient(create_app(settings, second)) as client:
            admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
            notices = until(client, admin, call_id, "terminated")
            eventually(
                lambda: (
                    [
                        e
                        for e in until(client, admin, call_id, "terminated")
                        if e["state"] == "terminated"
                    ].__len__()
                    == 2
                )
            )
            notices = until(client, admin, call_id, "terminated")
            assert {e["reason"] for e in notices if e["state"] == "terminated"} == {"lost"}
            page = client.get("/v1/calls/active", headers=admin).json()
            assert call_id not in [c["call_id"] for c in page["items"]]
    finally:
        second.close()


def emit_every_call_event(rt: Runtime, ctx: Any, customer: Any, account: Any) -> None:
    """Every calls.Call event and the signing secret's (the Kafka round trip test uses it)."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from domain.calls.calls import CALLEE, CALLER, Call
    from domain.calls.queues import CallQueue
    from domain.calls.secrets import CallbackSecret
    from domain.calls.states import Notice, Reason
    from domain.shared.actor import acting_as
    from domain.shared.owners import Owner
    from domain.shared.values import Secret

    with acting_as(ctx):
        owner = Owner(None, customer, account)
        call = Call(
            kind="originate_advanced_call",
            tracking_id="roundtrip-1",
            bill_account_id=account,
            parties=[owner],
            caller_number="4420700100",
            callee_number="4420700200",
            callee_account_id=None,
            state_callback="https://example.com/cb",
            state_callback_events=["ringing", "terminated"],
            callback_principal=ctx.actor.id,
            receive_actions={"voicemail": "allow"},
        )
        a, b = uuid4(), uuid4()
        call.place(a, "4420700100", CALLER, account)
        call.place(b, "4420700200", CALLEE, None)
        call.progress(a, Notice.RINGING)
        call.progress(a, Notice.EARLY)
        call.progress(a, Notice.CONNECTED)
        call.progress(b, Notice.CONNECTED)
        call.bridge(a, call.id, b)
        call.bridge(b, call.id, a)
        call.hold(b, a)
        call.unhold()
        call.queue(b, 1)
        call.dequeue(b, 1500)
        call.join(Owner(None, customer, None))
        call.transfer_away(a, "roundtrip-2")
        call.terminate(b, Reason.NORMAL)
        secret = CallbackSecret(principal_id=ctx.actor.id, secret=Secret("whsec_roundtrip"))
        queue = CallQueue(
            name="Roundtrip",
            number="4420700300",
            owner=Owner(None, customer),
            agent_account_ids=[account],
            agent_numbers=["4420700100"],
        )
        now = datetime.now(UTC)
        queue.enqueue(call.id)
        queue.offer(call.id, account)
        queue.missed_by(call.id, account, "declined")
        queue.offer(call.id, account)
        queue.connect(call.id, account, now)
        queue.release(call.id, now)
        other = uuid4()
        queue.enqueue(other)
        queue.release(other, now)
        rt.services["calls"].save(call, secret, queue)
