"""Click-to-call: originate, the legs' life as notifications, state callbacks, hang up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from adapters.settings import Settings
from tests.conftest import eventually
from tests.e2e.receiver import Receiver
from tests.integration.calls_helpers import (
    PROSPECT,
    Headers,
    events,
    live,
    ok,
    pbx,
    quick_callbacks,
    rpc,
    script,
    states,
    until,
)
from tests.integration.helpers import assert_problem


@pytest.fixture
def settings(store_url: str, tmp_path: Path, clock: Any) -> Settings:
    return quick_callbacks(store_url, tmp_path, clock)


def _bodies(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in receiver.to(path)]


def test_click_to_call_rings_the_caller_then_the_callee_and_reports_each_state_in_order(
    client: TestClient, admin: Headers, receiver: Receiver
) -> None:
    office = pbx(client, admin)
    john = office["john"]["account_login"]
    script(client, admin, john, answer_after_ms=30)
    script(client, admin, PROSPECT, answer_after_ms=60, early_media_ms=10)
    started = ok(
        client,
        admin,
        "originate_advanced_call",
        caller_id=john,
        callee_id=PROSPECT,
        state_callback=f"{receiver.url}/ok",
        state_callback_events=["trying", "ringing", "early", "connected"],
    )
    call_id = started["call_id"]
    live(client, admin, call_id, "connected", "connected")
    assert states(client, admin, call_id) == [
        (john, "trying"),
        (john, "ringing"),
        (john, "connected"),
        (PROSPECT, "trying"),
        (PROSPECT, "ringing"),
        (PROSPECT, "early"),
        (PROSPECT, "connected"),
    ]
    ok(client, admin, "disconnect_call", call_id=call_id)
    notices = until(client, admin, call_id, "terminated")
    ended = [e for e in notices if e["state"] == "terminated"]
    assert {e["reason"] for e in ended} == {"normal"} and len(ended) == 2
    assert [e["seq"] for e in notices] == list(range(1, len(notices) + 1))
    assert all(e["tracking_id"] == started["tracking_id"] for e in notices)
    delivered = eventually(lambda: len(_bodies(receiver, "/ok")) == 9 and _bodies(receiver, "/ok"))
    assert [b["seq"] for b in delivered] == list(range(1, 10))
    assert {"call_id", "tracking_id", "previous_tracking_id", "state", "time"} <= delivered[
        0
    ].keys()
    secret = client.get("/v1/call-control/signing-secret", headers=admin).json()["secret"]
    assert secret.startswith("whsec_")
    first = receiver.to("/ok")[0]
    Webhook(secret).verify(first["body"], first["headers"])
    page = client.get("/v1/calls/active", headers=admin).json()
    assert call_id not in [c["call_id"] for c in page["items"]]


def test_only_the_chosen_states_are_posted_and_terminated_always_is(
    client: TestClient, admin: Headers, receiver: Receiver
) -> None:
    office = pbx(client, admin)
    john = office["john"]["account_login"]
    script(client, admin, john, answer_after_ms=20)
    script(client, admin, PROSPECT, reject="busy")
    call_id = ok(
        client,
        admin,
        "originate_advanced_call",
        caller_id=john,
        callee_id=PROSPECT,
        state_callback=f"{receiver.url}/ok",
        state_callback_events=["connected"],
    )["call_id"]
    until(client, admin, call_id, "terminated")
    posted = eventually(lambda: len(_bodies(receiver, "/ok")) >= 3 and _bodies(receiver, "/ok"))
    assert [(b["state"], b.get("reason")) for b in posted] == [
        ("connected", None),
        ("terminated", "busy"),
        ("terminated", "normal"),
    ]


@pytest.mark.parametrize(
    ("scripted", "reason"),
    [
        ({"reject": "busy"}, "busy"),
        ({"reject": "declined", "answer_after_ms": 20}, "declined"),
        ({"reject": "no_answer", "ring_timeout_s": 0.1}, "no_answer"),
    ],
)
def test_a_caller_who_does_not_pick_up_ends_the_call_with_the_reason(
    client: TestClient, admin: Headers, scripted: dict[str, Any], reason: str
) -> None:
    office = pbx(client, admin)
    john = office["john"]["account_login"]
    script(client, admin, john, **scripted)
    call_id = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)[
        "call_id"
    ]
    notices = until(client, admin, call_id, "terminated")
    assert notices[-1]["reason"] == reason
    assert PROSPECT not in {e["number"] for e in notices}  # the callee was never called


def test_the_callee_hanging_up_ends_the_call_and_bills_both_legs(
    client: TestClient, admin: Headers, runtime: Any
) -> None:
    office = pbx(client, admin)
    john = office["john"]["account_login"]
    script(client, admin, john, answer_after_ms=10)
    script(client, admin, PROSPECT, answer_after_ms=10, hangup_after_ms=50)
    call_id = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)[
        "call_id"
    ]
    notices = eventually(
        lambda: (
            len([e for e in events(client, admin, call_id) if e["state"] == "terminated"]) == 2
            and events(client, admin, call_id)
        )
    )
    assert [e["reason"] for e in notices if e["state"] == "terminated"] == ["normal", "normal"]
    finished = [
        item.event
        for item in runtime.source.read(0, 10_000)
        if type(item.event).__qualname__ == "Leg.Finished"
    ]
    assert len(finished) == 2
    by_direction = {e.direction: e for e in finished}
    outgoing = by_direction["outgoing"]
    assert (
        outgoing.account_id == office["john"]["account_id"]
        or str(outgoing.account_id) == (office["john"]["account_id"])
    )
    assert (outgoing.cld, outgoing.connect_time is not None) == (PROSPECT, True)
    assert by_direction["incoming"].cld == john
    assert outgoing.tracking_id == notices[0]["tracking_id"]


def test_bad_requests_are_refused_with_a_code_and_record_nothing(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    office = pbx(client, admin)
    john = office["john"]["account_login"]
    before = log_size()
    refusals = [
        (rpc(client, admin, "originate_advanced_call", caller_id=john), 422, "validation_error"),
        (
            rpc(client, admin, "originate_advanced_call", caller_id=john, callee_id="12ab"),
            422,
            "invalid_value",
        ),
        (
            rpc(client, admin, "originate_advanced_call", caller_id="nobody", callee_id=PROSPECT),
            404,
            "not_found",
        ),
        (
            rpc(
                client,
                admin,
                "originate_advanced_call",
                caller_id=john,
                callee_id=PROSPECT,
                state_callback="ftp://example.com/x",
            ),
            422,
            "validation_error",
        ),
        (
            rpc(
                client,
                admin,
                "originate_advanced_call",
                caller_id=john,
                callee_id=PROSPECT,
                state_callback_events=["ringing"],
            ),
            422,
            "invalid_value",
        ),
        (
            rpc(client, admin, "disconnect_call", call_id="00000000-0000-0000-0000-000000000000"),
            404,
            "not_found",
        ),
    ]
    for answer, status, code in refusals:
        assert_problem(answer, status, code)
    assert log_size() == before


def test_a_callback_url_on_a_private_address_is_refused_unless_allowed(
    client: TestClient, admin: Headers, runtime: Any, log_size: Any
) -> None:
    office = pbx(client, admin)
    runtime.settings.webhooks_allow_private_networks = False
    before = log_size()
    answer = rpc(
        client,
        admin,
        "originate_advanced_call",
        caller_id=office["john"]["account_login"],
        callee_id=PROSPECT,
        state_callback="http://127.0.0.1:9/cb",
    )
    assert_problem(answer, 422, "forbidden_target")
    assert log_size() == before
