"""Whom each event belongs to travels on the event, and decides who sees it."""

from __future__ import annotations

from typing import Any

from composition.runtime import Runtime
from domain.directory.access import Scope, sees_event
from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.aggregate import event_type
from domain.shared.owners import Owner

CTX = CommandContext(Actor.system("test"))


def _events(rt: Runtime, subject: Any) -> list[Any]:
    return [i.event for i in rt.source.read(0, 10_000) if i.event.originator_id == subject]


def _scope(realm: Realm, subject: Any) -> Scope:
    return Scope.of(Actor(id=str(subject), realm=realm, role=realm.value))


def test_events_carry_their_owners_and_a_move_belongs_to_both_resellers(
    runtime: Runtime,
) -> None:
    directory = runtime.directory
    first = directory.create_reseller(CTX, "First")
    second = directory.create_reseller(CTX, "Second")
    customer = directory.create_customer(CTX, "Moving", "EUR", "UTC", first)
    account = directory.create_account(CTX, customer, "moving-1")
    directory.update_customer(CTX, customer, None, reseller_id=second)
    directory.close_account(CTX, account, None)

    created, moved = _events(runtime, customer)
    assert created.owners == [Owner(first, customer)]
    assert event_type(moved) == "directory.Customer.Moved"
    assert moved.owners == [Owner(second, customer), Owner(first, customer)]
    opened, closed = _events(runtime, account)
    assert opened.owners == [Owner(first, customer, account)]
    assert closed.owners == [Owner(second, customer, account)]  # the reseller it has now

    # One function decides, from the event alone.
    assert sees_event(_scope(Realm.RESELLER, first), moved.owners)
    assert sees_event(_scope(Realm.RESELLER, second), moved.owners)
    assert not sees_event(_scope(Realm.RESELLER, first), closed.owners)
    assert sees_event(_scope(Realm.CUSTOMER, customer), closed.owners)
    assert sees_event(_scope(Realm.ACCOUNT, account), closed.owners)
    assert not sees_event(_scope(Realm.ACCOUNT, account), moved.owners)
    admin_event = _events(runtime, runtime.directory.holder_of("login", "root"))[0]
    assert admin_event.owners == []
    assert not sees_event(_scope(Realm.RESELLER, first), admin_event.owners)
    assert sees_event(Scope(Realm.ADMIN), admin_event.owners)
