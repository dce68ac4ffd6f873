"""Pure directory rules: values, diffs, closed subjects, and who sees what."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.directory.access import Scope
from domain.directory.aggregates import Customer
from domain.shared import values
from domain.shared.actor import Actor, CommandContext, Realm, acting_as
from domain.shared.aggregate import event_changes, event_type
from domain.shared.errors import ClosedError, ForbiddenError, InvalidValueError, MissingActorError
from domain.shared.owners import Owner
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
        customer.rename("Acme SA")
    created, renamed = customer.collect_events()
    assert created.actor == ADMIN and created.correlation_id == "c-1"  # type: ignore[attr-defined]
    assert renamed.causation_id == "c-1"  # type: ignore[attr-defined]
    assert event_type(renamed) == "directory.Customer.Renamed"


def test_events_outside_a_command_context_are_refused() -> None:
    customer = _customer()
    with pytest.raises(MissingActorError):
        customer.rename("Anonymous edit")
    assert customer.name == "Acme"


def test_a_change_records_only_real_changes_with_before_and_after() -> None:
    customer = _customer()
    customer.collect_events()
    with acting_as(CommandContext(ADMIN)):
        customer.rename("Acme")
        customer.change_details(currency="USD")
        customer.change_details(currency="USD")
    (event,) = customer.collect_events()
    assert event_type(event) == "directory.Customer.DetailsChanged"
    assert event_changes(event) == {"currency": {"before": "EUR", "after": "USD"}}


def test_a_generic_change_accepts_only_the_fields_on_its_allow_list() -> None:
    customer = _customer()
    with acting_as(CommandContext(ADMIN)), pytest.raises(InvalidValueError, match="status"):
        customer.change_details(status="closed", time_zone="UTC")
    assert customer.status == "open"


def test_every_event_names_whom_it_belongs_to() -> None:
    reseller = uuid4()
    with acting_as(CommandContext(ADMIN)):
        customer = Customer(
            name="Owned",
            currency="EUR",
            time_zone="UTC",
            reseller_id=reseller,
            login=None,
            password_hash=None,
        )
        customer_id = customer.id
        other = uuid4()
        customer.move_to(other)
        customer.rename("Owned 2")
    created, moved, renamed = customer.collect_events()
    assert created.owners == [Owner(reseller, customer_id)]  # type: ignore[attr-defined]
    # A move belongs to the reseller it leaves and the one it joins: both see it.
    assert moved.owners == [Owner(other, customer_id), Owner(reseller, customer_id)]  # type: ignore[attr-defined]
    assert renamed.owners == [Owner(other, customer_id)]  # type: ignore[attr-defined]


def test_closed_customer_refuses_edits() -> None:
    customer = _customer()
    with acting_as(CommandContext(ADMIN)):
        customer.close()
        with pytest.raises(ClosedError):
            customer.rename("Zombie")
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
