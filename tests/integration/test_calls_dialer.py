"""Seed 004: an auto-dialer's campaign through an auto attendant that queues answered calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from tests.conftest import eventually
from tests.e2e.receiver import Receiver
from tests.integration.calls_helpers import Headers, events, ok, pbx, script, until
from tests.integration.conftest import make_settings
from tests.integration.helpers import assert_problem

PROSPECTS = ("4420700501", "4420700502", "4420700503")


@pytest.fixture
def settings(store_url: str, tmp_path: Path, clock: Any) -> Settings:
    return make_settings(
        store_url, tmp_path, test_clock_file=clock.path, webhooks_allow_private_networks=True
    )


def _call_centre(client: TestClient, admin: Headers) -> dict[str, Any]:
    office = pbx(client, admin)
    answer = client.post(
        f"/v1/customers/{office['customer']['id']}/auto-attendants",
        json={"products": []},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    office["attendant"] = answer.json()
    queue = client.post(
        "/v1/call-queues",
        json={
            "name": "Sales",
            "number": office["attendant"]["account_login"],
            "agent_account_ids": [office["john"]["account_id"], office["mary"]["account_id"]],
        },
        headers=admin,
    )
    assert queue.status_code == 201, queue.text
    office["queue"] = queue.json()
    return office


def _dial(
    client: TestClient, admin: Headers, office: dict[str, Any], prospect: str, url: str
) -> str:
    attendant = office["attendant"]
    return str(
        ok(
            client,
            admin,
            "originate_advanced_call",
            caller_id=attendant["account_login"],
            bill_id=attendant["account_id"],
            callee_id=prospect,
            caller_leg_receive_actions={"voicemail": "allow"},
            state_callback=url,
            state_callback_events=["ringing", "connected", "queued", "dequeued"],
        )["call_id"]
    )


def test_a_small_campaign_reports_each_step_and_the_queue_counts_unconnected_answers(
    client: TestClient, admin: Headers, receiver: Receiver
) -> None:
    office = _call_centre(client, admin)
    john, mary = office["john"]["account_login"], office["mary"]["account_login"]
    script(client, admin, john, reject="declined", answer_after_ms=100)  # never takes a call
    script(client, admin, mary, answer_after_ms=20)
    script(client, admin, PROSPECTS[0], answer_after_ms=20)
    script(client, admin, PROSPECTS[1], answer_after_ms=200, hangup_after_ms=400)
    script(client, admin, PROSPECTS[2], reject="no_answer", ring_timeout_s=0.2)
    first = _dial(client, admin, office, PROSPECTS[0], f"{receiver.url}/ok")
    until(client, admin, first, "dequeued")
    second = _dial(client, admin, office, PROSPECTS[1], f"{receiver.url}/ok")
    third = _dial(client, admin, office, PROSPECTS[2], f"{receiver.url}/ok")
    until(client, admin, second, "terminated")
    until(client, admin, third, "terminated")

    notices = [(e["number"], e["state"], e.get("reason")) for e in events(client, admin, first)]
    assert notices[:4] == [
        (PROSPECTS[0], "trying", None),
        (PROSPECTS[0], "ringing", None),
        (PROSPECTS[0], "connected", None),
        (PROSPECTS[0], "queued", None),
    ]
    assert (john, "terminated", "declined") in notices  # the agent declined ...
    declined_at = notices.index((john, "terminated", "declined"))
    assert notices[declined_at + 1] == (PROSPECTS[0], "queued", None)  # ... still queued
    assert notices[-2:] == [(mary, "connected", None), (PROSPECTS[0], "dequeued", None)]
    dequeued = events(client, admin, first)[-1]
    assert dequeued["wait_ms"] >= 0

    third_notices = events(client, admin, third)
    assert third_notices[-1]["reason"] == "no_answer"
    assert "queued" not in [e["state"] for e in third_notices]
    left = [e["state"] for e in events(client, admin, second)]
    assert "queued" in left and "dequeued" not in left

    posted = eventually(
        lambda: (
            (got := [json.loads(r["body"]) for r in receiver.to("/ok")])
            and sum(1 for b in got if b["state"] == "terminated") >= 2
            and got
        )
    )
    first_posted = [b["state"] for b in posted if b["call_id"] == first]
    assert first_posted[:3] == ["ringing", "connected", "queued"]
    assert "dequeued" in first_posted

    stats = eventually(
        lambda: (
            (q := client.get(f"/v1/call-queues/{office['queue']['id']}", headers=admin).json())[
                "stats"
            ]["answered_not_connected"]
            == 1
            and q["stats"]
        )
    )
    assert (stats["queued"], stats["connected"], stats["waiting"]) == (2, 1, 0)
    assert stats["answered_not_connected_percent"] == 50.0
    ok(client, admin, "disconnect_call", call_id=first)


def test_a_queue_needs_agents_of_one_customer_and_a_free_number(
    client: TestClient, admin: Headers
) -> None:
    office = _call_centre(client, admin)
    other = pbx(client, admin, "XYZ", 46171)
    mixed = client.post(
        "/v1/call-queues",
        json={
            "name": "Mixed",
            "number": "4420700999",
            "agent_account_ids": [office["john"]["account_id"], other["john"]["account_id"]],
        },
        headers=admin,
    )
    assert_problem(mixed, 422, "invalid_value")
    again = client.post(
        "/v1/call-queues",
        json={
            "name": "Again",
            "number": office["attendant"]["account_login"],
            "agent_account_ids": [office["mary"]["account_id"]],
        },
        headers=admin,
    )
    assert_problem(again, 409, "duplicate")
    xyz = client.post("/v1/auth/token", data={"username": "xyz", "password": "xyz-password"})
    theirs = {"Authorization": f"Bearer {xyz.json()['access_token']}"}
    assert_problem(
        client.get(f"/v1/call-queues/{office['queue']['id']}", headers=theirs),
        403,
        "permission_denied",
    )
