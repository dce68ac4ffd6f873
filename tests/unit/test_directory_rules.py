"""Pure directory rules: values, diffs, closed subjects, and who sees what."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.directory.access import Scope
from domain.directory.aggregates import Customer
from domain.shared import values
from domain.shared.actor import Actor, CommandContext, Realm, acting_as
from domain.shared.aggregate import event_changes
from domain.shared.errors import ClosedError, ForbiddenError, InvalidValueError, MissingActorError
from domain.shared.passwords import hash_password, verify_password

ADMIN = Actor(id="a1", realm=Realm.ADMIN, role="admin", login="root")


def _customer() -> Customer:
    with acting_as(CommandContext(ADMIN, correlation_id="c-1")):
        return Customer(
            name="Acme",
            currency="EUR",
            time_zone="UTC",
            reseller_id=None,
            login=None,
            password_hash=None,
        )


def test_every_event_records_actor_and_correlation() -> None:
    customer = _customer()
    with acting_as(CommandContext(ADMIN, correlation_id="c-2", causation_id="c-1")):
        customer.update(name="Acme SA")
    created, updated = customer.collect_events()
    assert created.actor == ADMIN and created.correlation_id == "c-1"  # type: ignore[attr-defined]
    assert updated.causation_id == "c-1"  # type: ignore[attr-defined]


def test_events_outside_a_command_context_are_refused() -> None:
    customer = _customer()
    with pytest.raises(MissingActorError):
        customer.update(name="Anonymous edit")
    assert customer.name == "Acme"


def test_update_records_only_real_changes_with_before_and_after() -> None:
    customer = _customer()
    customer.collect_events()
    with acting_as(CommandContext(ADMIN)):
        assert customer.update(name="Acme", currency="USD") is True
        assert customer.update(currency="USD") is False
    (event,) = customer.collect_events()
    assert event_changes(event) == {"currency": {"before": "EUR", "after": "USD"}}


def test_closed_customer_refuses_edits() -> None:
    customer = _customer()
    with acting_as(CommandContext(ADMIN)):
        customer.close()
        with pytest.raises(ClosedError):
            customer.update(name="Zombie")
        with pytest.raises(ClosedError):
            customer.close()


@pytest.mark.parametrize("code", ["EUR", "usd", " gbp "])
def test_known_currencies_are_normalised(code: str) -> None:
    assert values.currency(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["XYZ", "EURO", "", "€"])
def test_unknown_currencies_are_refused(code: str) -> None:
    with pytest.raises(InvalidValueError):
        values.currency(code)


@pytest.mark.parametrize("zone", ["Mars/Base", "UTC+2", "", "../etc/passwd", "europe/paris"])
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidValueError):
        values.time_zone(zone)


def test_scope_reseller_sees_only_its_customers_and_their_accounts() -> None:
    reseller_id = uuid4()
    scope = Scope.of(Actor(id=str(reseller_id), realm=Realm.RESELLER, role="reseller"))
    assert scope.sees_customer(uuid4(), reseller_id)
    assert not scope.sees_customer(uuid4(), uuid4())
    assert not scope.sees_customer(uuid4(), None)
    assert scope.sees_account(uuid4(), uuid4(), reseller_id)
    with pytest.raises(ForbiddenError):
        scope.require_admin()


def test_scope_account_sees_only_itself() -> None:
    account_id = uuid4()
    scope = Scope.of(Actor(id=str(account_id), realm=Realm.ACCOUNT, role="account"))
    assert scope.sees_account(account_id, uuid4(), None)
    assert not scope.sees_account(uuid4(), uuid4(), None)
    assert not scope.sees_customer(uuid4(), None)


def test_password_hash_verifies_only_the_right_password() -> None:
    encoded = hash_password("correct horse")
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)
    assert not verify_password("correct horse", None)
