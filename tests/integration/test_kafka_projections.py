"""Projections fed from Kafka: consumer groups, a broker restarted empty, poison, replay."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from kafka import KafkaProducer

from adapters.clock import FileClock
from adapters.tansu import TansuBroker
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.conftest import eventually, fresh_postgres_database
from tests.integration.conftest import make_settings

CTX = CommandContext(Actor.system("test"))


@pytest.fixture
def read_model_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second database for the Kafka-fed read models, on the same kind of server."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/kafka-read-models.db"
    return fresh_postgres_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def writer(store_url: str, tmp_path: Path, kafka_broker: TansuBroker) -> Iterator[Runtime]:
    """The store side: commands, the in-process read models, and a running relay."""
    settings = make_settings(
        store_url,
        tmp_path,
        kafka_bootstrap=kafka_broker.bootstrap,
        test_clock_file=tmp_path / "clock",
    )
    rt = Runtime(settings)
    rt.start_relay()
    yield rt
    rt.close()


@pytest.fixture
def consumers(
    store_url: str, read_model_url: str, tmp_path: Path, kafka_broker: TansuBroker
) -> Iterator[Runtime]:
    """Two Kafka-fed projectors in one consumer group, writing one read-model database."""
    rt = Runtime(
        make_settings(
            store_url,
            tmp_path,
            read_model_url=read_model_url,
            kafka_bootstrap=kafka_broker.bootstrap,
            projection_batch_size=50,
        )
    )
    stop = threading.Event()
    threads = [threading.Thread(target=rt.run_kafka_projectors, args=(stop,)) for _ in range(2)]
    for t in threads:
        t.start()
    yield rt
    stop.set()
    for t in threads:
        t.join(30)
    rt.close()


def _populate(rt: Runtime, count: int, tag: str) -> None:
    for i in range(count):
        customer = rt.directory.create_customer(CTX, f"{tag}{i}", "EUR", "UTC")
        rt.directory.create_account(CTX, customer, f"{tag}-acct-{i}")
        rt.directory.update_customer(CTX, customer, None, time_zone="Asia/Tokyo")


def _dump(rt: Runtime) -> dict[str, object]:
    with rt.db.transaction(readonly=True) as tx:
        return {name: p.dump(tx) for name, p in rt.runner.projections.items()}


def _audit_rows(rt: Runtime) -> int:
    with rt.db.transaction(readonly=True) as tx:
        return int(tx.fetchone("SELECT COUNT(*) AS n FROM audit_log")["n"])  # type: ignore[index]


def _converged(writer: Runtime, consumers: Runtime) -> bool:
    writer.runner.catch_up()
    return _dump(consumers) == _dump(writer)


def test_kafka_fed_read_models_equal_store_rebuild_across_broker_restart(
    writer: Runtime, consumers: Runtime, kafka_broker: TansuBroker
) -> None:
    _populate(writer, 25, "before")
    eventually(lambda: _converged(writer, consumers), timeout=60)
    kafka_broker.restart()
    _populate(writer, 15, "after")
    eventually(lambda: _converged(writer, consumers), timeout=90, interval=0.5)
    for name in writer.runner.projections:
        writer.runner.rebuild(name)
    assert _dump(consumers) == _dump(writer)
    assert _audit_rows(consumers) == 40 * 3  # customer, account, update: no duplicates


def test_poison_messages_are_parked_and_consumption_goes_on(
    writer: Runtime, consumers: Runtime, kafka_broker: TansuBroker
) -> None:
    _populate(writer, 2, "first")
    eventually(lambda: _converged(writer, consumers), timeout=60)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    ce = [("ce_specversion", b"1.0"), ("ce_sequence", b"1"), ("ce_aggregateversion", b"1")]
    poison = [
        (b"this is not an event", []),
        (b"{}", [*ce, ("ce_type", b"Galaxy.Exploded"), ("ce_subject", str(uuid4()).encode())]),
        (b"{}", [*ce, ("ce_type", b"Customer.Created"), ("ce_subject", b"not-a-uuid")]),
    ]
    for value, headers in poison:
        producer.send("switchlog.events", key=b"poison", value=value, headers=headers)
    producer.flush()
    producer.close()
    _populate(writer, 2, "second")
    eventually(lambda: _converged(writer, consumers), timeout=60)
    parked = eventually(lambda: consumers.kafka_projectors()[0].parked(), timeout=30)
    reasons = sorted(row["reason"].split(":")[0] for row in parked)
    assert len(parked) == 3
    assert any("no 'ce_type' header" in row["reason"] for row in parked)
    assert any("unknown event type" in r for r in reasons)


def test_replay_a_time_window_from_kafka_into_a_scratch_read_model(
    writer: Runtime, tmp_path: Path
) -> None:
    clock = FileClock(tmp_path / "clock")  # the writer's: events are dated by it
    start = datetime.now(UTC).replace(microsecond=0)
    clock.set(start)
    _populate(writer, 3, "early")
    since = start + timedelta(seconds=10)
    clock.set(since)
    _populate(writer, 4, "window")
    until = since + timedelta(seconds=10)
    clock.set(until + timedelta(seconds=30))  # well past the replay's grace for late records
    _populate(writer, 2, "late")
    relay = writer.relay()
    eventually(lambda: relay.state().position == writer.source.max_position())

    from_kafka = writer.replay(since, until, f"sqlite:///{tmp_path}/replay-k.db", from_kafka=True)
    from_store = writer.replay(since, until, f"sqlite:///{tmp_path}/replay-s.db", from_kafka=False)
    assert from_kafka == from_store
    assert from_kafka["customers"] == 4
    assert from_kafka["accounts"] == 4
    assert from_kafka["audit_log"] == 4 * 3
