"""Store -> Kafka -> consumer gives back the very event the store holds, for every type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.envelope import from_kafka
from adapters.tansu import TansuBroker
from composition.runtime import Runtime
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import event_type
from domain.shared.owners import Owner
from domain.shared.registry import registry
from domain.shared.values import Secret
from projections.audit import AuditFilter
from tests.integration.billing_helpers import emit_every_billing_event
from tests.integration.conftest import make_settings
from tests.integration.helpers import store_v1_customer_created
from tests.integration.test_billing_balances import emit_every_balance_event
from tests.integration.test_billing_bundles import emit_every_bundle_event
from tests.integration.test_billing_invoices import emit_every_invoice_event
from tests.integration.test_billing_subscriptions import emit_every_subscription_event
from tests.integration.test_calls_faults import emit_every_call_event
from tests.integration.test_contributed_fields import store_v1_customer_number
from tests.integration.test_cpe import emit_every_cpe_event
from tests.integration.test_extensions_access import emit_every_extension_event
from tests.integration.test_kafka_relay import consume_all

CTX = CommandContext(Actor.system("test", login="ops"), correlation_id="corr-rt")


@pytest.fixture
def kafka_runtime(store_url: str, tmp_path: Path, kafka_broker: TansuBroker) -> Iterator[Runtime]:
    rt = Runtime(make_settings(store_url, tmp_path, kafka_bootstrap=kafka_broker.bootstrap))
    rt.bootstrap_admin()
    yield rt
    rt.close()


def emittable_types() -> set[str]:
    """Every event type the registry knows, except the ones kept only to replay old logs."""
    return {r.name for r in registry() if not r.name.endswith(".Updated")}


def _every_kind_of_event(rt: Runtime) -> None:
    """One use case of each kind, so the log holds every event type there is."""
    directory = rt.directory
    directory.create_admin(CTX, "second-admin", "first-password")
    directory.reset_admin_password(CTX, "second-admin", "second-password")
    reseller = directory.create_reseller(CTX, "Resell", "resell-login", "reseller-pass")
    directory.update_reseller(CTX, reseller, None, name="Resell 2", login="r2", password="p" * 8)
    customer = directory.create_customer(CTX, "Cust", "EUR", "UTC", reseller, "cust", "cust-pass")
    directory.update_customer(CTX, customer, None, time_zone="Europe/Paris", name="Cust 2")
    directory.update_customer(CTX, customer, None, login="cust-2", password="c" * 8)
    directory.update_customer(CTX, customer, None, reseller_id=None)
    account = directory.create_account(CTX, customer, "acct", "acct-pass")
    emit_every_billing_event(rt, CTX, reseller, customer, account)
    emit_every_invoice_event(rt, CTX, customer, account, reseller)
    emit_every_balance_event(rt, CTX, customer)
    emit_every_subscription_event(rt, CTX)
    emit_every_bundle_event(rt, CTX)
    emit_every_cpe_event(rt, CTX, customer, account)
    emit_every_call_event(rt, CTX, customer, account)
    provisioning = rt.services["provisioning"]
    provisioning.number_customer(CTX, Owner(reseller, customer), None)  # type: ignore[attr-defined]
    emit_every_extension_event(rt, CTX, customer)
    legacy = store_v1_customer_created(rt, "Legacy number")  # an E.164 number, then a number:
    store_v1_customer_number(rt, legacy, "442071234567", "442071234568")
    provisioning.number_customer(CTX, Owner(None, legacy), None)  # type: ignore[attr-defined]
    _roles_and_individuals(rt, customer, account)
    directory.update_account(CTX, account, None, login="acct-2", password="a" * 8)
    directory.close_account(CTX, account, None)
    directory.close_customer(CTX, customer, None)
    directory.close_reseller(CTX, reseller, None)
    admin = directory.holder_of("login", "second-admin")
    assert admin is not None
    endpoint, _secret = rt.webhooks.register(CTX, "https://example.com/h", [], None, None)
    rt.webhooks.disable(CTX, endpoint, "test")
    rt.webhooks.delete(CTX, endpoint)
    gone, _ = rt.webhooks.register(CTX, "https://example.com/g", [], None, None)
    rt.webhooks.delete(CTX, gone)
    _close_an_admin(rt, admin)


def _roles_and_individuals(rt: Runtime, customer: Any, account: Any) -> None:
    from domain.directory.individuals import Individual

    directory = rt.directory
    role = directory.create_role(CTX, "Role", {"billing": "read"})
    directory.update_role(CTX, role, None, name="Role 2", permissions={"billing": "modify"})
    directory.set_allowed_roles(CTX, customer, [role])
    directory.set_allowed_roles(CTX, customer, [])
    other = directory.create_role(CTX, "Other", {})
    directory.set_allowed_roles(CTX, customer, [role, other])
    directory.set_customer_role(CTX, customer, role)
    directory.set_account_role(CTX, account, role)
    directory.set_account_role(CTX, account, None)
    person = directory.create_individual(
        CTX, customer, "person", "person-pass", "p@example.com", role, "UTC", "2026-01-01"
    )
    secret = directory.load(person, Individual).secret
    assert secret is not None
    directory.set_password_with_link(f"{person}.{secret.value}", "person-pass-2")
    directory.update_individual(
        CTX, person, None, email="q@example.com", expiration_date="2027-01-01", login="person-2"
    )
    directory.update_individual(CTX, person, None, role_id=other, password="person-pass-3")
    directory.close_individual(CTX, person, None)


def _close_an_admin(rt: Runtime, admin_id: Any) -> None:
    from domain.directory.aggregates import Admin
    from domain.shared.actor import acting_as

    with acting_as(CTX):
        admin = rt.directory.load(admin_id, Admin)
        admin.change_role("auditor")
        admin.change_login("second-admin-2")
        admin.change_password("not-really-a-hash")
        admin.close()
        rt.directory.save(admin)


def _published(rt: Runtime) -> dict[int, Any]:
    relay = rt.relay()
    relay.verify_topic()
    relay.catch_up()
    head = rt.source.max_position()
    messages = consume_all(rt.settings.kafka_bootstrap or "", rt.settings.kafka_topic, head)
    return {int(dict(m.headers)["ce_sequence"]): m for m in messages}


def test_every_event_type_comes_back_from_kafka_equal_to_the_stored_one(
    kafka_runtime: Runtime,
) -> None:
    _every_kind_of_event(kafka_runtime)
    stored = kafka_runtime.source.read(0, 10_000)
    emitted = {event_type(item.event) for item in stored}
    assert emittable_types() <= emitted, "a registered event type is not covered here"

    messages = _published(kafka_runtime)
    assert sorted(messages) == [item.position for item in stored]
    mapper = kafka_runtime.source.mapper
    for item in stored:
        message = messages[item.position]
        rebuilt = from_kafka(message.value, message.headers, mapper)
        assert rebuilt.position == item.position
        assert rebuilt.event == item.event, event_type(item.event)
        assert type(rebuilt.event) is type(item.event)
        # Types survive, not just values: ids stay UUIDs, times stay aware datetimes.
        assert vars(rebuilt.event) == vars(item.event)
        for name, value in vars(item.event).items():
            assert type(getattr(rebuilt.event, name)) is type(value), name


def test_a_v1_event_on_kafka_is_upcast_like_one_read_from_the_store(
    kafka_runtime: Runtime,
) -> None:
    customer_id = store_v1_customer_created(kafka_runtime)
    messages = _published(kafka_runtime)
    (message,) = (m for m in messages.values() if m.key == str(customer_id).encode())
    assert b"time_zone" not in message.value  # carried exactly as stored
    rebuilt = from_kafka(message.value, message.headers, kafka_runtime.source.mapper).event
    assert isinstance(rebuilt, Customer.Created)
    assert rebuilt.time_zone == "UTC"
    assert rebuilt.name == "Legacy Ltd"


def test_no_webhook_secret_in_clear_in_the_store_the_topic_or_the_read_model(
    kafka_runtime: Runtime,
) -> None:
    endpoint, secret = kafka_runtime.webhooks.register(
        CTX, "https://example.com/hook", [], None, None
    )
    kafka_runtime.runner.catch_up()
    raw = secret.encode()
    stored = kafka_runtime.webhooks.recorder.select_events(endpoint)
    assert stored and all(raw not in s.state for s in stored)
    assert all(raw not in m.value for m in _published(kafka_runtime).values())
    with kafka_runtime.db.transaction(readonly=True) as tx:
        rows = tx.fetchall("SELECT * FROM webhook_endpoints")
    assert rows and secret not in json.dumps(rows, default=str)
    # The event itself still holds the secret for whoever holds the key ...
    registered = kafka_runtime.source.read(0, 10_000)[-1].event
    assert registered.secret == Secret(secret)
    # ... and the audit trail shows it redacted.
    items, _ = kafka_runtime.audit.search(AuditFilter(subject=str(endpoint)))
    assert items and items[0]["changes"]["secret"]["after"] == "***"
