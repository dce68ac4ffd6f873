"""The write side on both stores: old events upcast, concurrent writers, every event attributed."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.errors import ConflictError, MissingActorError
from tests.integration.helpers import store_v1_customer_created

CTX = CommandContext(Actor.system("test"))


def test_v1_customer_created_event_is_read_back_upcast(runtime: Runtime) -> None:
    """A Customer.Created stored before customers had a time zone reads back with UTC."""
    customer_id = store_v1_customer_created(runtime)
    customer = runtime.directory.load(customer_id, Customer)
    assert customer.time_zone == "UTC"
    assert customer.name == "Legacy Ltd"
    stored = runtime.directory.recorder.select_events(customer_id)[0]
    assert b"time_zone" not in stored.state  # stored as it was, never rewritten
    runtime.runner.catch_up()
    row = runtime.directory_queries.get("customers", Scope(Realm.ADMIN), str(customer_id))
    assert row is not None and row["time_zone"] == "UTC"


def test_commands_without_an_actor_are_refused(runtime: Runtime) -> None:
    before = runtime.source.max_position()
    with pytest.raises(MissingActorError):
        Customer(
            name="Nobody's",
            currency="EUR",
            time_zone="UTC",
            reseller_id=None,
            login=None,
            password_hash=None,
        )
    assert runtime.source.max_position() == before


def test_two_threads_saving_one_aggregate_one_conflict_nothing_lost(runtime: Runtime) -> None:
    """Both writers load version 1 and save: the store keeps one, the other is told."""
    app = runtime.directory
    customer_id = app.create_customer(CTX, "Acme", "EUR", "UTC")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def edit(name: str) -> None:
        try:
            with app.command(CTX):
                customer = app.load(customer_id, Customer)
                customer.rename(name)
                barrier.wait()
                app.save(customer)
            outcomes[name] = "saved"
        except ConflictError:
            outcomes[name] = "conflict"

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("First", "Second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(n for n, o in outcomes.items() if o == "saved")
    customer = app.load(customer_id, Customer)
    assert customer.version == 2
    assert customer.name == winner


def test_v1_account_created_event_is_read_back_upcast(runtime: Runtime) -> None:
    """An Account.Created stored before it named its reseller reads back with none."""
    import json
    from uuid import uuid4

    from eventsourcing.persistence import StoredEvent

    from domain.directory.aggregates import Account

    customer_id = store_v1_customer_created(runtime, "Account Holder")
    account_id = uuid4()
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-02T00:00:00+00:00"},
        "originator_topic": "domain.directory.aggregates:Account",
        "actor": {"_type_": "actor", "_data_": {"id": "legacy", "realm": "system", "role": "x"}},
        "correlation_id": "legacy-import",
        "causation_id": None,
        "customer_id": {"_type_": "uuid_hex", "_data_": customer_id.hex},
        "login": "legacy-1",
        "password_hash": None,
    }
    runtime.directory.recorder.insert_events(
        [
            StoredEvent(
                originator_id=account_id,
                originator_version=1,
                topic="domain.directory.aggregates:Account.Created",
                state=json.dumps(v1_state).encode(),
            )
        ]
    )
    account = runtime.directory.load(account_id, Account)
    assert account.reseller_id is None and account.customer_id == customer_id
    runtime.runner.catch_up()
    row = runtime.directory_queries.get("accounts", Scope(Realm.ADMIN), str(account_id))
    assert row is not None and row["customer_id"] == str(customer_id)


@pytest.mark.timeout(120)
def test_ten_thousand_events_append_in_one_batch(runtime: Runtime) -> None:
    """On PostgreSQL the library's pipelined append hung at this size; ours is one statement."""
    from domain.shared.actor import acting_as

    before = runtime.source.max_position()
    with acting_as(CTX):
        customers = [
            Customer(
                name=f"Batch {i}",
                currency="EUR",
                time_zone="UTC",
                reseller_id=None,
                login=None,
                password_hash=None,
            )
            for i in range(10_000)
        ]
    transactions = REGISTRY.get_sample_value("switchlog_store_transactions_total") or 0
    recordings = runtime.directory.save(*customers)
    after = REGISTRY.get_sample_value("switchlog_store_transactions_total")
    assert after == transactions + 1  # one statement in one transaction
    assert runtime.source.max_position() == before + 10_000
    assert [r.notification.id for r in recordings] == list(range(before + 1, before + 10_001))
