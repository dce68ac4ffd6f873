"""The relay: tails the store's notification log and publishes every event to Kafka, in order.

Delivery is at least once. The relay's position is committed after the broker acknowledged
a batch, so a crash republishes at most one batch; consumers are idempotent by
(aggregate id, version). When the topic is not the one the relay published to (its topic id
changed: Tansu keeps topics in memory and a restart empties them), the relay republishes
from the start under a new epoch. Topic ids are compared rather than message counts because
Tansu reports a partition's end offset as its last batch's base offset plus one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from adapters.envelope import Headers, to_kafka
from adapters.locks import SingleActiveLock
from adapters.observability import RELAY_LAG, FailureLog
from adapters.sql import Database
from adapters.store import NotificationLogSource

log = logging.getLogger(__name__)

RELAY_DDL = (
    "CREATE TABLE IF NOT EXISTS relay_state (topic TEXT PRIMARY KEY,"
    " position BIGINT NOT NULL, topic_id TEXT, epoch BIGINT NOT NULL)"
)
# Every message carries the topic's epoch; it grows each time the relay republishes from the
# start, which tells consumers that their stored offsets belong to a topic that is gone.
EPOCH_HEADER = "switchlog-epoch"


@dataclass(frozen=True)
class RelayState:
    position: int
    topic_id: str | None
    epoch: int


# key, value, headers, timestamp in ms
Message = tuple[bytes, bytes, Headers, int]


class Publisher(Protocol):
    """What the relay needs of a Kafka client (confluent-kafka or kafka-python)."""

    def publish(self, messages: Sequence[Message], epoch: int) -> None: ...
    def ensure_topic(self) -> None: ...
    def topic_id(self) -> str | None: ...
    def close(self) -> None: ...


class TopicAdmin:
    """Creates the topic and reads its id (kafka-python's admin client, whichever producer)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self._admin: KafkaAdminClient | None = None

    def ensure_topic(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
        try:
            admin.create_topics([NewTopic(self.topic, self.partitions, 1)])
            log.info("created topic %s with %d partitions", self.topic, self.partitions)
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    def topic_id(self) -> str | None:
        """The topic's id: a new one means the topic was created anew (and is empty)."""
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=10_000
            )
        (described,) = self._admin.describe_topics([self.topic])
        return described.get("topic_id") if described.get("error_code") == 0 else None

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()


def _epoch_header(epoch: int) -> tuple[str, bytes]:
    return (EPOCH_HEADER, str(epoch).encode())


class KafkaPythonPublisher(TopicAdmin):
    """kafka-python: pure Python, about 17-25k messages/s here."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(bootstrap, topic, partitions)
        self._producer = self._connect()

    def _connect(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            linger_ms=5,
            batch_size=256 * 1024,
            max_in_flight_requests_per_connection=1,  # keeps per-key order across retries
            # A producer id does not survive a broker that restarts empty; order and
            # duplicates are handled by the line above and by idempotent consumers.
            enable_idempotence=False,
            retries=5,
            request_timeout_ms=10_000,
        )

    def publish(self, messages: Sequence[Message], epoch: int) -> None:
        epoch_header = _epoch_header(epoch)
        futures = [
            self._producer.send(
                self.topic,
                key=key,
                value=value,
                headers=[*headers, epoch_header],
                timestamp_ms=timestamp_ms,
            )
            for key, value, headers, timestamp_ms in messages
        ]
        try:
            self._producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)
        except Exception:
            # The batch is retried whole by the relay, on a fresh producer.
            self._producer.close(timeout=1)
            self._producer = self._connect()
            raise

    def close(self) -> None:
        self._producer.close(timeout=5)
        super().close()


class PublishError(RuntimeError):
    """The broker did not acknowledge every message of a batch; the relay retries it whole."""


class ConfluentPublisher(TopicAdmin):
    """confluent-kafka (librdkafka): the relay's default, several times kafka-python's rate."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(bootstrap, topic, partitions)
        self._producer = self._connect()

    def _connect(self) -> Any:
        from confluent_kafka import Producer

        return Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "linger.ms": 5,
                "max.in.flight.requests.per.connection": 1,  # per-key order across retries
                "enable.idempotence": False,  # see KafkaPythonPublisher
                "message.timeout.ms": 30_000,
                # Java's (and kafka-python's) partitioner: a key lands on the same partition
                # whichever client published it, so per-key order survives a client change.
                "partitioner": "murmur2_random",
                "log_level": 3,  # errors only: a broker restart is expected and handled
            },
            logger=log,
        )

    def publish(self, messages: Sequence[Message], epoch: int) -> None:
        epoch_header = _epoch_header(epoch)
        failures: list[Any] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(error)

        produce = self._producer.produce
        for key, value, headers, timestamp_ms in messages:
            while True:
                try:
                    produce(
                        self.topic,
                        value=value,
                        key=key,
                        headers=[*headers, epoch_header],
                        timestamp=timestamp_ms,
                        on_delivery=delivered,
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.05)
        unsent = self._producer.flush(35)
        if unsent or failures:
            # The batch is retried whole by the relay, on a fresh producer.
            self._producer.purge()
            self._producer = self._connect()
            raise PublishError(f"{unsent} unacknowledged, failures: {failures[:3]}")

    def close(self) -> None:
        self._producer.flush(5)
        super().close()


PUBLISHERS: dict[str, type[KafkaPythonPublisher] | type[ConfluentPublisher]] = {
    "confluent-kafka": ConfluentPublisher,
    "kafka-python": KafkaPythonPublisher,
}


class Relay:
    """Publishes the log to Kafka; only the holder of the single-active lock works."""

    def __init__(
        self,
        source: NotificationLogSource,
        db: Database,
        publisher: Publisher,
        lock: SingleActiveLock,
        topic: str,
        batch_size: int = 2000,
    ) -> None:
        self.source = source
        self.db = db
        self.publisher = publisher
        self.lock = lock
        self.topic = topic
        self.batch_size = batch_size
        self.active = threading.Event()
        self._wake = threading.Event()
        self.failures = FailureLog(log, "relay")

    def setup(self) -> None:
        with self.db.schema_transaction() as tx:
            tx.execute(RELAY_DDL)
            tx.execute(
                "INSERT INTO relay_state (topic, position, topic_id, epoch)"
                " VALUES (%s, 0, NULL, 1) ON CONFLICT (topic) DO NOTHING",
                (self.topic,),
            )

    def state(self) -> RelayState:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT * FROM relay_state WHERE topic = %s", (self.topic,))
        if row is None:
            return RelayState(0, None, 1)
        return RelayState(int(row["position"]), row["topic_id"], int(row["epoch"]))

    def _save(self, state: RelayState) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE relay_state SET position = %s, topic_id = %s, epoch = %s WHERE topic = %s",
                (state.position, state.topic_id, state.epoch, self.topic),
            )

    def _restart_topic(self, state: RelayState, topic_id: str | None) -> None:
        log.warning("topic %s was created anew: republishing from the start", self.topic)
        self._save(RelayState(0, topic_id, state.epoch + 1))

    def wake(self) -> None:
        self._wake.set()

    def step(self) -> int:
        """Publish the next batch; the number of events published."""
        state = self.state()
        batch = self.source.read_notifications(state.position, self.batch_size)
        if not batch:
            return 0
        now_ms = int(time.time() * 1000)
        self.publisher.publish(
            # Published now, after the events committed: never earlier than their own time,
            # so a seek by time (replay --from-kafka) stays a safe lower bound.
            [(str(n.originator_id).encode(), *to_kafka(n), now_ms) for n in batch],
            state.epoch,
        )
        topic_id = self.publisher.topic_id()
        if topic_id != state.topic_id:
            self._restart_topic(state, topic_id)  # emptied before or while we published
        else:
            self._save(RelayState(batch[-1].id, topic_id, state.epoch))
        RELAY_LAG.set(max(self.source.max_position() - batch[-1].id, 0))
        return len(batch)

    def verify_topic(self) -> None:
        """Create the topic if missing; republish from the start if it is not the one we fed."""
        self.publisher.ensure_topic()
        state = self.state()
        topic_id = self.publisher.topic_id()
        if topic_id == state.topic_id:
            return
        if state.topic_id is None and state.position == 0:
            self._save(RelayState(0, topic_id, state.epoch))
        else:
            self._restart_topic(state, topic_id)

    def catch_up(self) -> int:
        total = 0
        while published := self.step():
            total += published
        return total

    def run(
        self, stop: threading.Event, poll_seconds: float = 0.05, verify_every: float = 2.0
    ) -> None:
        """Wait for the lock, then publish until stopped or the lock is lost."""
        standing_by = False
        while not stop.is_set():
            if not self.lock.try_acquire():
                if not standing_by:
                    log.info("relay is standing by: another relay holds the lock")
                    standing_by = True
                stop.wait(1.0)
                continue
            standing_by = False
            log.info("relay is active for topic %s", self.topic)
            self.active.set()
            try:
                self._publish_while_held(stop, poll_seconds, verify_every)
            except Exception as error:
                self.failures.failed("publishing", error)
                stop.wait(1.0)
            finally:
                self.active.clear()
                self.lock.release()

    def _publish_while_held(self, stop: threading.Event, poll: float, verify_every: float) -> None:
        self.verify_topic()
        verified = time.monotonic()
        while not stop.is_set() and self.lock.still_held():
            if self.step():
                continue
            RELAY_LAG.set(0)
            if time.monotonic() - verified > verify_every:
                self.verify_topic()
                verified = time.monotonic()
            self._wake.wait(poll)
            self._wake.clear()
