"""Projections fed from Kafka: a consumer group, offsets kept beside the read-model rows.

One consumer feeds every read model: each poll's records are decoded once and each
projection takes those past its own stored offset, and all of them, with every
projection's next offsets, commit in one read-model transaction. Offsets live in the
read-model database per read model (and schema version), not in Kafka, so a crash never
applies a record twice or skips one, and a read model added or rebuilt later reads the
topic from the start while the others skip what they hold; on (re)assignment each
partition is sought to the lowest offset any read model needs. Messages that are not
switchlog events are parked in `parked_messages` with the reason, and consumption goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from adapters.envelope import PoisonMessageError, from_kafka
from adapters.kafka_relay import EPOCH_HEADER
from adapters.observability import PROJECTION_LAG, FailureLog
from adapters.sql import Database, Transaction
from adapters.store import LoggedEvent
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock
from projections.base import Projection

log = logging.getLogger(__name__)

OFFSETS_DDL = (
    "CREATE TABLE IF NOT EXISTS kafka_offsets (consumer_group TEXT NOT NULL, topic TEXT NOT NULL,"
    " kafka_partition INTEGER NOT NULL, next_offset BIGINT NOT NULL, epoch BIGINT NOT NULL,"
    " topic_id TEXT,"
    " PRIMARY KEY (consumer_group, topic, kafka_partition))"
)
PARKED_DDL = (
    "CREATE TABLE IF NOT EXISTS parked_messages (consumer_group TEXT NOT NULL,"
    " topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,"
    " reason TEXT NOT NULL, value TEXT, parked_at TEXT NOT NULL,"
    " PRIMARY KEY (consumer_group, topic, kafka_partition, kafka_offset))"
)


def consumer_group(base: str, projection: Projection) -> str:
    """The key of a read model's stored offsets, named with its schema version: one added
    later, or rebuilt for a new schema, has none and reads the topic from the start."""
    return f"{base}.{projection.name}.v{projection.version}"


def member_group(base: str) -> str:
    """The Kafka consumer group the projector processes join (partitions are shared out)."""
    return f"{base}.read-models"


class KafkaProjector:
    """Runs projections as a member of a Kafka consumer group."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        db: Database,
        projections: Sequence[Projection],
        mapper: Mapper[UUID],
        batch_size: int = 1000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.mapper = mapper
        self.clock = clock
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = member_group(group)
        self.db = db
        self.projections = list(projections)
        self.keys = {p.name: consumer_group(group, p) for p in self.projections}
        self.batch_size = batch_size
        self.topic_id: str | None = None
        self.failures = FailureLog(log, "kafka-projections")

    def setup(self) -> None:
        with self.db.schema_transaction() as tx:
            tx.execute(OFFSETS_DDL)
            tx.execute(PARKED_DDL)
            for projection in self.projections:
                projection.create(tx)

    def stored_offsets(self, topic_id: str) -> dict[int, int]:
        """Per partition, the lowest next offset any read model needs, for the topic as it
        is now (a partition some read model has no offset for is read from the start)."""
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT consumer_group, kafka_partition, next_offset, topic_id"
                " FROM kafka_offsets WHERE topic = %s",
                (self.topic,),
            )
        held: dict[int, dict[str, int]] = {}
        for r in rows:
            if r["consumer_group"] in self.keys.values() and r["topic_id"] in (None, topic_id):
                held.setdefault(int(r["kafka_partition"]), {})[r["consumer_group"]] = int(
                    r["next_offset"]
                )
        return {
            partition: min(offsets.values())
            for partition, offsets in held.items()
            if len(offsets) == len(self.keys)
        }

    def run(self, stop: threading.Event) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            max_poll_records=self.batch_size,
            # Tansu answers a fetch only when its wait is over, even when records arrive
            # meanwhile: a short wait keeps read-your-writes well under a second.
            fetch_max_wait_ms=50,
            metadata_max_age_ms=5000,
            allow_auto_create_topics=False,  # the relay creates it, with its partitions
        )
        listener = _SeekToStored(self, consumer)
        consumer.subscribe([self.topic], listener=listener)
        try:
            while not stop.is_set():
                records = consumer.poll(timeout_ms=200)
                # A topic created anew (broker restarted empty) may hold fewer records than
                # our fetch position, and Tansu then answers nothing: re-read from the start.
                current = _topic_id(consumer, self.topic)
                if self.topic_id is not None and current != self.topic_id:
                    log.warning("topic %s was created anew; re-reading it", self.topic)
                    consumer.seek_to_beginning(*consumer.assignment())
                    records = {}
                self.topic_id = current
                if not records:
                    continue
                try:
                    rewind = self.apply(records)
                except Exception as error:
                    self.failures.failed("a batch (re-reading it)", error)
                    listener.on_partitions_assigned(consumer.assignment())
                    stop.wait(1.0)
                    continue
                for partition in rewind:
                    consumer.seek_to_beginning(partition)
                self._observe_lag(consumer)
        finally:
            consumer.close()

    def _observe_lag(self, consumer: KafkaConsumer) -> None:
        behind = 0
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            if end is not None:
                behind += max(end - consumer.position(partition), 0)
        for projection in self.projections:
            PROJECTION_LAG.labels(projection.name).set(behind)

    def apply(self, records: dict[TopicPartition, list[Any]]) -> list[TopicPartition]:
        """Apply one poll's records; returns partitions to re-read from their beginning."""
        rewind: set[TopicPartition] = set()
        decoded: dict[tuple[int, int], LoggedEvent | None] = {}
        with self.db.transaction() as tx:
            batches: dict[str, list[LoggedEvent]] = {p.name: [] for p in self.projections}
            for partition, messages in records.items():
                for projection in self.projections:
                    fresh = self._claim(tx, self.keys[projection.name], partition, messages)
                    if fresh is None:
                        rewind.add(partition)
                        continue
                    for message in fresh:
                        at = (message.partition, message.offset)
                        if at not in decoded:  # decoded once, whichever read models need it
                            decoded[at] = self._decode(tx, message)
                        event = decoded[at]
                        if event is not None:
                            batches[projection.name].append(event)
            with tx.pipeline():
                for projection in self.projections:
                    events = sorted(batches[projection.name], key=lambda e: e.position)
                    projection.apply_batch(tx, events)
            for projection in self.projections:
                events = batches[projection.name]
                if events:
                    # Partitions interleave, so this is the highest position applied, not a
                    # gap-free one: enough for status and lag; read-your-writes asks the rows.
                    highest = max(e.position for e in events)
                    tx.execute(
                        "UPDATE projection_state SET position = %s, updated_at = %s"
                        " WHERE name = %s AND position < %s",
                        (highest, iso(self.clock.now()), projection.name, highest),
                    )
        return list(rewind)

    def _decode(self, tx: Transaction, message: Any) -> LoggedEvent | None:
        try:
            return from_kafka(message.value, message.headers, self.mapper)
        except PoisonMessageError as error:
            self._park(tx, message, str(error))
            return None

    def _claim(
        self, tx: Transaction, group: str, partition: TopicPartition, messages: list[Any]
    ) -> list[Any] | None:
        """Lock one read model's offset row for the partition; the records it has not
        applied yet.

        None means the topic was rebuilt (a newer epoch): the partition is re-read from
        its beginning, and idempotent handlers skip what was applied before.
        """
        key = (group, partition.topic, partition.partition)
        where = " WHERE consumer_group = %s AND topic = %s AND kafka_partition = %s"
        tx.execute(
            "INSERT INTO kafka_offsets VALUES (%s, %s, %s, 0, 0, NULL) ON CONFLICT DO NOTHING",
            key,
        )
        tx.execute("UPDATE kafka_offsets SET next_offset = next_offset" + where, key)
        row = tx.fetchone("SELECT next_offset, epoch FROM kafka_offsets" + where, key)
        stored, epoch = (int(row["next_offset"]), int(row["epoch"])) if row else (0, 0)
        newest = max((e for e in map(_epoch, messages) if e is not None), default=epoch)
        if newest > epoch:
            tx.execute(
                "UPDATE kafka_offsets SET next_offset = 0, epoch = %s" + where, (newest, *key)
            )
            if messages[0].offset != 0 or _epoch(messages[0]) != newest:
                return None
            stored, epoch = 0, newest
        # Records without an epoch were not written by the relay: they are kept, to be parked.
        fresh = [m for m in messages if m.offset >= stored and _epoch(m) in (None, epoch)]
        if fresh:
            tx.execute(
                "UPDATE kafka_offsets SET next_offset = %s, topic_id = %s" + where,
                (fresh[-1].offset + 1, self.topic_id, *key),
            )
        return fresh

    def _park(self, tx: Transaction, message: Any, reason: str) -> None:
        log.warning(
            "parked message %s/%d@%d: %s", message.topic, message.partition, message.offset, reason
        )
        value = message.value.decode("utf-8", "replace") if message.value is not None else None
        tx.execute(
            "INSERT INTO parked_messages VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (
                self.group,
                message.topic,
                message.partition,
                message.offset,
                reason,
                value,
                iso(self.clock.now()),
            ),
        )

    def parked(self) -> list[dict[str, Any]]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(
                "SELECT * FROM parked_messages WHERE consumer_group = %s ORDER BY parked_at",
                (self.group,),
            )


def _topic_id(consumer: KafkaConsumer, topic: str) -> str | None:
    # kafka-python keeps topic ids in its cluster metadata but has no public accessor.
    found = consumer._client.cluster.topic_id(topic)
    return str(found) if found is not None else None


def _epoch(message: Any) -> int | None:
    for name, value in message.headers or ():
        if name == EPOCH_HEADER:
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: KafkaProjector, consumer: KafkaConsumer) -> None:
        self.projector = projector
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        # Stored offsets are trusted only for the topic they were taken from. When the
        # topic's id is not known yet, read from the beginning: _claim skips what was applied.
        current = _topic_id(self.consumer, self.projector.topic)
        stored = self.projector.stored_offsets(current) if current else {}
        for partition in assigned:
            if partition.partition in stored:
                self.consumer.seek(partition, stored[partition.partition])
            else:
                self.consumer.seek_to_beginning(partition)


def read_window(
    bootstrap: str,
    topic: str,
    mapper: Mapper[UUID],
    since: datetime,
    until: datetime,
    batch: int = 2000,
) -> Iterator[list[LoggedEvent]]:
    """Yield batches of events whose time is in [since, until), from every partition.

    Seeks by timestamp (broker time is never earlier than event time, so the seek is a safe
    lower bound). A partition is done when it shows an event later than `until` plus a grace
    for clock skew, or when the topic stays idle: Tansu's end offsets cannot be trusted.
    """
    grace = timedelta(seconds=5)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(partitions)
        starts = consumer.offsets_for_times({p: int(since.timestamp() * 1000) for p in partitions})
        pending = set()
        for partition in partitions:
            found = starts.get(partition)
            if found is not None:
                consumer.seek(partition, found.offset)
                pending.add(partition)
        idle = 0
        while pending and idle < 3:
            records = consumer.poll(timeout_ms=500, max_records=batch)
            idle = 0 if records else idle + 1
            events: list[LoggedEvent] = []
            for partition, messages in records.items():
                for message in messages:
                    try:
                        item = from_kafka(message.value, message.headers, mapper)
                    except PoisonMessageError:
                        continue
                    if since <= item.event.timestamp < until:
                        events.append(item)
                    elif item.event.timestamp >= until + grace:
                        pending.discard(partition)
                        consumer.pause(partition)
                        break
            if events:
                yield sorted(events, key=lambda e: e.position)
    finally:
        consumer.close()
