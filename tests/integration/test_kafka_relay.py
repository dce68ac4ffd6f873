"""The relay against a real Kafka-protocol broker: envelope, order, and a broker gone empty."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.v1.kafka import KafkaMessage, from_binary
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from adapters.settings import Settings
from adapters.tansu import TansuBroker
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.integration.conftest import make_settings

CTX = CommandContext(Actor.system("test", login="ops"), correlation_id="corr-1")


@pytest.fixture(params=["confluent-kafka", "kafka-python"])
def kafka_settings(
    store_url: str, tmp_path: Path, kafka_broker: TansuBroker, request: pytest.FixtureRequest
) -> Settings:
    return make_settings(
        store_url, tmp_path, kafka_bootstrap=kafka_broker.bootstrap, relay_client=request.param
    )


@pytest.fixture
def kafka_runtime(kafka_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(kafka_settings)
    yield rt
    rt.close()


def _populate(rt: Runtime, customers: int) -> None:
    for i in range(customers):
        customer = rt.directory.create_customer(
            CTX, f"K{i}-{rt.source.max_position()}", "EUR", "UTC"
        )
        rt.directory.update_customer(CTX, customer, None, time_zone="Europe/Paris")


def consume_all(bootstrap: str, topic: str, at_least: int, timeout: float = 20) -> list[Any]:
    """Every message on the topic (read until `at_least` arrived and a second passed idle)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=1000)
        if not batches and len(messages) >= at_least:
            break
        for batch in batches.values():
            messages += batch
    consumer.close()
    return messages


def sequence(message: Any) -> int:
    return int(dict(message.headers)["ce_sequence"])


def test_every_event_published_in_order_as_binary_mode_cloudevents(kafka_runtime: Runtime) -> None:
    _populate(kafka_runtime, 20)
    relay = kafka_runtime.relay()
    relay.verify_topic()
    published = relay.catch_up()
    head = kafka_runtime.source.max_position()
    assert published == head

    messages = consume_all(kafka_runtime.settings.kafka_bootstrap or "", "switchlog.events", head)
    assert sorted(sequence(m) for m in messages) == list(range(1, head + 1))
    stored = {n.id: n for n in kafka_runtime.source.read_notifications(0, head)}
    versions: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        headers = dict(message.headers)
        assert headers["content-type"] == b"application/json"
        # The value is the stored bytes, untouched; the attributes are ce_ headers taken
        # from the log's row (the relay decodes nothing): actor and ids are in the value.
        assert message.value == stored[sequence(message)].state
        event = from_binary(KafkaMessage(headers=headers, key=message.key, value=message.value))
        assert event["specversion"] == "1.0"
        assert event["subject"] == message.key.decode()
        assert event["source"] == "urn:switchlog"
        assert event["id"] == f"{event['subject']}:{event['aggregateversion']}"
        data = event.get_data()
        assert data["actor"]["_data_"]["id"] == "system:test"
        assert data["actor"]["_data_"]["login"] == "ops"
        assert data["correlation_id"] == "corr-1"
        versions[message.key.decode()].append(int(event["aggregateversion"]))
        # Java's partitioner, whichever client published: a key never changes partition.
        partitions = kafka_runtime.settings.kafka_partitions
        assert message.partition == (murmur2(message.key) & 0x7FFFFFFF) % partitions
    assert all(v == sorted(v) for v in versions.values())
    updated = next(
        json.loads(m.value)
        for m in messages
        if dict(m.headers)["ce_type"] == b"directory.Customer.DetailsChanged"
    )
    assert updated["changes"] == {"time_zone": ["UTC", "Europe/Paris"]}


def test_broker_restarted_empty_is_refilled_from_the_store(
    kafka_runtime: Runtime, kafka_broker: TansuBroker
) -> None:
    _populate(kafka_runtime, 10)
    relay = kafka_runtime.relay()
    relay.verify_topic()
    relay.catch_up()
    first_epoch = relay.state().epoch
    kafka_broker.restart()
    _populate(kafka_runtime, 5)
    relay.verify_topic()
    relay.catch_up()
    head = kafka_runtime.source.max_position()
    messages = consume_all(kafka_broker.bootstrap, "switchlog.events", head)
    assert sorted({sequence(m) for m in messages}) == list(range(1, head + 1))
    assert relay.state().epoch == first_epoch + 1
