"""Controlling calls in progress: connect two numbers, redirect, hold, transfer, hang up."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import eventually
from tests.integration.calls_helpers import (
    PROSPECT,
    SUPPORT,
    Headers,
    events,
    live,
    ok,
    pbx,
    rpc,
    script,
    states,
    until,
)
from tests.integration.helpers import assert_problem


def _talking(client: TestClient, admin: Headers, caller: str, callee: str) -> dict[str, Any]:
    """A click-to-call from `caller` to `callee`, once both are connected."""
    script(client, admin, caller, answer_after_ms=10)
    script(client, admin, callee, answer_after_ms=10)
    started = ok(client, admin, "originate_advanced_call", caller_id=caller, callee_id=callee)
    live(client, admin, started["call_id"], "connected", "connected")
    return started


def test_connect_calls_rings_the_first_number_then_the_second_and_bridges_them(
    client: TestClient, admin: Headers
) -> None:
    office = pbx(client, admin)
    script(client, admin, "4420700111", answer_after_ms=10)
    script(client, admin, "4420700222", answer_after_ms=10)
    started = ok(
        client,
        admin,
        "connect_calls",
        first_number="+4420700111",
        second_number="4420700222",
        bill_id=office["john"]["account_id"],
    )
    call = live(client, admin, started["call_id"], "connected", "connected")
    assert [leg["number"] for leg in call["legs"]] == ["4420700111", "4420700222"]


def test_hold_reports_held_and_holding_per_party_and_unhold_reports_unheld(
    client: TestClient, admin: Headers
) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    call_id = _talking(client, admin, john, PROSPECT)["call_id"]
    ok(client, admin, "hold_call", call_id=call_id)
    live(client, admin, call_id, "holding", "held")
    assert_problem(rpc(client, admin, "hold_call", call_id=call_id), 409, "invalid_call_state")
    ok(client, admin, "unhold_call", call_id=call_id)
    live(client, admin, call_id, "connected", "connected")
    assert states(client, admin, call_id)[-4:] == [
        (PROSPECT, "held"),
        (john, "holding"),
        (john, "unheld"),
        (PROSPECT, "unheld"),
    ] or states(client, admin, call_id)[-4:] == [
        (PROSPECT, "held"),
        (john, "holding"),
        (PROSPECT, "unheld"),
        (john, "unheld"),
    ]


def test_redirect_sends_a_ringing_callee_elsewhere_and_connects_the_new_one(
    client: TestClient, admin: Headers
) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    script(client, admin, john, answer_after_ms=10)
    script(client, admin, PROSPECT, answer_after_ms=60_000)  # rings and rings
    script(client, admin, SUPPORT, answer_after_ms=10)
    call_id = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)[
        "call_id"
    ]
    live(client, admin, call_id, "connected", "ringing")
    redirected = ok(client, admin, "redirect_call", call_id=call_id, destination=SUPPORT)
    call = live(client, admin, call_id, "connected", "connected")
    assert [leg["number"] for leg in call["legs"] if leg["state"] == "connected"] == [
        john,
        SUPPORT,
    ]
    assert redirected["leg_id"] == call["legs"][-1]["leg_id"]
    cancelled = [e for e in events(client, admin, call_id) if e["number"] == PROSPECT][-1]
    assert (cancelled["state"], cancelled["reason"]) == ("terminated", "cancelled")


def test_a_blind_transfer_hands_the_callee_to_a_new_number_and_keeps_the_tracking_id(
    client: TestClient, admin: Headers
) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    started = _talking(client, admin, john, PROSPECT)
    script(client, admin, SUPPORT, answer_after_ms=10)
    answer = ok(client, admin, "transfer_call", call_id=started["call_id"], destination=SUPPORT)
    assert answer["tracking_id"] == started["tracking_id"]
    eventually(
        lambda: (
            [
                leg["number"]
                for leg in live_legs(client, admin, started["call_id"])
                if leg["state"] == "connected"
            ]
            == [PROSPECT, SUPPORT]
        )
    )
    john_notices = [
        e["state"] for e in events(client, admin, started["call_id"]) if e["number"] == john
    ]
    assert john_notices[-2:] == ["transferred", "terminated"]


def test_an_attended_transfer_joins_the_two_calls_under_a_new_tracking_id(
    client: TestClient, admin: Headers
) -> None:
    """Seed 000: John calls a client, consults support, transfers; the switchboard follows the
    client's call from its first tracking id to the new one by previous_tracking_id."""
    john = pbx(client, admin)["john"]["account_login"]
    to_client = _talking(client, admin, john, PROSPECT)
    consult = _talking(client, admin, john, SUPPORT)
    answer = ok(
        client,
        admin,
        "transfer_call",
        call_id=to_client["call_id"],
        consult_call_id=consult["call_id"],
    )
    new_tracking = answer["tracking_id"]
    assert new_tracking not in (to_client["tracking_id"], consult["tracking_id"])
    first = until(client, admin, to_client["call_id"], "transferred")
    transferred = next(e for e in first if e["state"] == "transferred")
    assert (transferred["tracking_id"], transferred["previous_tracking_id"]) == (
        new_tracking,
        to_client["tracking_id"],
    )
    second = next(
        e
        for e in until(client, admin, consult["call_id"], "transferred")
        if e["state"] == "transferred"
    )
    assert second["previous_tracking_id"] == consult["tracking_id"]
    for call_id, number in ((to_client["call_id"], PROSPECT), (consult["call_id"], SUPPORT)):
        call = live(client, admin, call_id, "connected")
        assert call["tracking_id"] == new_tracking
        assert call["legs"][-1]["number"] == number
    # the client hangs up: support's side (in the other call) ends too
    ok(client, admin, "disconnect_call", call_id=to_client["call_id"])
    ended = until(client, admin, consult["call_id"], "terminated")
    assert ended[-1]["tracking_id"] == new_tracking


def test_a_transfer_and_a_hang_up_at_once_one_wins_and_the_history_stays_whole(
    client: TestClient, admin: Headers
) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    for round_ in range(3):
        started = _talking(client, admin, john, PROSPECT)
        script(client, admin, SUPPORT, answer_after_ms=10)
        call_id = started["call_id"]
        transfer = {"call_id": call_id, "destination": SUPPORT}
        answers = _race(
            partial(rpc, client, admin, "transfer_call", **transfer),
            partial(rpc, client, admin, "disconnect_call", call_id=call_id),
        )
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 200, [a.text for a in answers]
        for answer in answers:
            if answer.status_code != 200:
                assert answer.json()["code"] in ("conflict", "invalid_call_state"), answer.text
        notices = events(client, admin, started["call_id"])
        assert [e["seq"] for e in notices] == list(range(1, len(notices) + 1)), round_
        _hang_up_all(client, admin, started["call_id"])


def _race(*actions: Any) -> list[Any]:
    """Run the actions at the same moment on threads; their answers in order."""
    answers: list[Any] = [None] * len(actions)
    go = threading.Barrier(len(actions))

    def run(n: int) -> None:
        go.wait()
        answers[n] = actions[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _hang_up_all(client: TestClient, admin: Headers, call_id: str) -> None:
    """Disconnect until the call is over (a race with a far-end report answers conflict)."""

    def over() -> bool:
        answer = rpc(client, admin, "disconnect_call", call_id=call_id)
        return answer.status_code == 409 and answer.json()["code"] == "invalid_call_state"

    eventually(over, 10)


def live_legs(client: TestClient, admin: Headers, call_id: str) -> list[dict[str, Any]]:
    page = client.get("/v1/calls/active", headers=admin).json()
    return [leg for c in page["items"] if c["call_id"] == call_id for leg in c["legs"]]


def test_commands_on_a_finished_call_are_refused(client: TestClient, admin: Headers) -> None:
    john = pbx(client, admin)["john"]["account_login"]
    call_id = _talking(client, admin, john, PROSPECT)["call_id"]
    ok(client, admin, "disconnect_call", call_id=call_id)
    for method, params in (
        ("disconnect_call", {}),
        ("hold_call", {}),
        ("transfer_call", {"destination": SUPPORT}),
        ("redirect_call", {"destination": SUPPORT}),
    ):
        assert_problem(
            rpc(client, admin, method, call_id=call_id, **params), 409, "invalid_call_state"
        )
