"""The call state machine: what a leg may become, and what a call refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.calls.calls import CALLEE, CALLER, Call, notification
from domain.calls.queues import CallQueue
from domain.calls.states import (
    CallStateError,
    LegState,
    Notice,
    Reason,
    call_state,
    can_move,
    check_move,
)
from domain.shared.actor import Actor, CommandContext, acting_as
from domain.shared.owners import Owner

S = LegState


@pytest.fixture(autouse=True)
def _acting() -> object:
    with acting_as(CommandContext(Actor.system("test"))) as ctx:
        yield ctx


def _call() -> Call:
    return Call(
        kind="originate_advanced_call",
        tracking_id="t1",
        bill_account_id=None,
        parties=[Owner(None, uuid4(), uuid4())],
        caller_number="ph1x466",
        callee_number="4420700900",
        callee_account_id=None,
        state_callback=None,
        state_callback_events=["terminated"],
        callback_principal=None,
        receive_actions={},
    )


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.TRYING, S.RINGING),
        (S.TRYING, S.CONNECTED),
        (S.RINGING, S.EARLY),
        (S.EARLY, S.CONNECTED),
        (S.CONNECTED, S.HELD),
        (S.HELD, S.CONNECTED),
        (S.HOLDING, S.TERMINATED),
        (S.RINGING, S.TERMINATED),
    ],
)
def test_possible_transitions_are_allowed(current: LegState, target: LegState) -> None:
    assert can_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.TERMINATED, S.RINGING),
        (S.TERMINATED, S.TERMINATED),
        (S.CONNECTED, S.RINGING),
        (S.RINGING, S.HELD),
        (S.TRYING, S.HOLDING),
        (S.HELD, S.HOLDING),
        (S.CONNECTED, S.TRYING),
    ],
)
def test_impossible_transitions_are_refused(current: LegState, target: LegState) -> None:
    assert not can_move(current, target)
    with pytest.raises(CallStateError, match=f"cannot become {target.value}"):
        check_move("leg", current, target)


def test_a_calls_state_is_its_most_advanced_live_legs() -> None:
    assert call_state([S.CONNECTED, S.RINGING]) is S.CONNECTED
    assert call_state([S.TERMINATED, S.RINGING]) is S.RINGING
    assert call_state([S.HELD, S.HOLDING]) is S.HELD
    assert call_state([S.TERMINATED, S.TERMINATED]) is S.TERMINATED


def test_each_notice_counts_seq_up_by_one_and_a_terminated_leg_stays_terminated() -> None:
    call = _call()
    leg = uuid4()
    call.place(leg, "ph1x466", CALLER, None)
    call.progress(leg, Notice.RINGING)
    call.progress(leg, Notice.CONNECTED)
    call.terminate(leg, Reason.NORMAL)
    notices = [notification(e) for e in call.collect_events()[1:]]
    assert [(n["seq"], n["state"]) for n in notices] == [
        (1, "trying"),
        (2, "ringing"),
        (3, "connected"),
        (4, "terminated"),
    ]
    assert notices[-1]["reason"] == "normal"
    assert not call.active
    with pytest.raises(CallStateError):
        call.progress(leg, Notice.RINGING)
    with pytest.raises(CallStateError):
        call.terminate(leg, Reason.NORMAL)


def test_hold_needs_both_parties_connected() -> None:
    call = _call()
    a, b = uuid4(), uuid4()
    call.place(a, "ph1x466", CALLER, None)
    call.place(b, "4420700900", CALLEE, None)
    call.progress(a, Notice.CONNECTED)
    with pytest.raises(CallStateError):
        call.hold(b, a)
    call.progress(b, Notice.CONNECTED)
    call.hold(b, a)
    assert (call.leg_state(b), call.leg_state(a)) == (S.HELD, S.HOLDING)
    call.unhold()
    assert (call.leg_state(b), call.leg_state(a)) == (S.CONNECTED, S.CONNECTED)
    with pytest.raises(CallStateError, match="not on hold"):
        call.unhold()


def test_an_attended_transfer_gives_a_new_tracking_id_and_keeps_the_previous() -> None:
    call = _call()
    a = uuid4()
    call.place(a, "ph1x466", CALLER, None)
    call.progress(a, Notice.CONNECTED)
    call.transfer_away(a, "t2")
    transferred, terminated = [notification(e) for e in call.collect_events()[-2:]]
    assert (transferred["state"], transferred["tracking_id"]) == ("transferred", "t2")
    assert transferred["previous_tracking_id"] == "t1"
    assert (terminated["tracking_id"], terminated["previous_tracking_id"]) == ("t2", "t1")
    assert (call.tracking_id, call.previous_tracking_id) == ("t2", "t1")


def test_a_leg_that_never_answered_ends_cancelled_an_answered_one_normal() -> None:
    call = _call()
    a, b = uuid4(), uuid4()
    call.place(a, "ph1x466", CALLER, None)
    call.place(b, "4420700900", CALLEE, None)
    call.progress(a, Notice.CONNECTED)
    assert (call.end_reason(a), call.end_reason(b)) == (Reason.NORMAL, Reason.CANCELLED)


def _queue(agents: int = 2) -> CallQueue:
    ids = [uuid4() for _ in range(agents)]
    return CallQueue(
        name="Sales",
        number="ph1aa1",
        owner=Owner(None, uuid4()),
        agent_account_ids=ids,
        agent_numbers=[f"ph1x{100 + n}" for n in range(agents)],
    )


def test_a_queue_offers_callers_in_order_to_free_agents_only() -> None:
    queue = _queue()
    first, second, third = uuid4(), uuid4(), uuid4()
    assert [queue.enqueue(c) for c in (first, second, third)] == [1, 2, 3]
    offers = []
    while (offer := queue.next_offer()) is not None:
        queue.offer(offer[0], offer[1])
        offers.append(offer)
    assert [o[0] for o in offers] == [first, second]  # two agents, two offers
    assert offers[0][1] != offers[1][1]
    queue.connect(first, offers[0][1], datetime.now(UTC))
    queue.release(first, datetime.now(UTC))  # the first call ends: its agent is free again
    again = queue.next_offer()
    assert again is not None and (again[0], again[1]) == (third, offers[0][1])


def test_a_caller_an_agent_missed_goes_to_another_agent_and_stays_queued() -> None:
    queue = _queue()
    caller = uuid4()
    queue.enqueue(caller)
    offer = queue.next_offer()
    assert offer is not None
    queue.offer(caller, offer[1])
    queue.missed_by(caller, offer[1], "declined")
    assert queue.position(caller) == 1
    retry = queue.next_offer()
    assert retry is not None and retry[1] != offer[1]
    queue.offer(caller, retry[1])
    queue.missed_by(caller, retry[1], "no_answer")
    assert queue.next_offer() is not None  # every agent missed it: they are tried again


def test_a_caller_who_leaves_while_queued_counts_its_wait() -> None:
    queue = _queue()
    caller = uuid4()
    queue.enqueue(caller)
    queue.release(caller, datetime.now(UTC) + timedelta(seconds=2))
    left = queue.collect_events()[-1]
    assert type(left).__name__ == "CallerLeft" and left.wait_ms >= 1900
    assert queue.waiting == []
