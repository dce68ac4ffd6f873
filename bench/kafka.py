"""Kafka and streaming benchmarks: relay vs raw produce, Kafka-fed projections, WS latency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaProducer
from rich.console import Console

from adapters.envelope import to_kafka
from adapters.settings import Settings
from adapters.tansu import free_port
from bench.run import Row, _customers
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext

CTX = CommandContext(Actor.system("bench"))
EVENT_TIME = re.compile(r'"source":"urn:switchlog","type":"[^"]+","time":"([^"]+)"')


def run_kafka(events: int, scratch: Path, console: Console) -> list[Row]:
    from adapters.tansu import TansuBroker

    broker = TansuBroker()
    try:
        rows = _relay_and_consume(events, scratch, broker, console)
    finally:
        broker.stop()
    rows += _websocket_latency(scratch, console)
    return rows


def _relay_and_consume(events: int, scratch: Path, broker: Any, console: Console) -> list[Row]:
    settings = Settings(
        store_url=f"sqlite:///{scratch}/kafka-bench.db",
        var_dir=scratch / "var",
        kafka_bootstrap=broker.bootstrap,
        projections_in_process=False,
    )
    rt = Runtime(settings)
    try:
        customers = _customers(events // 10, 9)
        for chunk in range(0, len(customers), 100):
            rt.directory.save(*customers[chunk : chunk + 100])
        head = rt.source.max_position()
        batch = rt.source.read(0, head)
        payloads = [
            (str(n.originator_id).encode(), to_kafka(n)[0])
            for n in rt.source.read_notifications(0, head)
        ]
        rows = []
        for client in ("confluent-kafka", "kafka-python"):
            console.print(f"relay ({client}): publishing {head} events")
            relayed = _relay_rate(settings, client, head)
            raw = RAW_PRODUCE[client](broker.bootstrap, f"raw-{client}", payloads)
            rows.append(
                Row(
                    "kafka",
                    f"relay store -> Kafka ({client})",
                    relayed,
                    "events/s",
                    raw,
                    f"raw {client} produce",
                )
            )

        consumer_settings = settings.model_copy(
            update={
                "read_model_url": f"sqlite:///{scratch}/kafka-read-models.db",
                "kafka_topic": "bench-confluent-kafka",
            }
        )
        consumers = Runtime(consumer_settings)
        audited = sum(1 for e in batch if getattr(e.event, "audited", False))
        stop = threading.Event()
        started = time.perf_counter()
        worker = threading.Thread(target=consumers.run_kafka_projectors, args=(stop,))
        worker.start()
        while _count(consumers, "audit_log") < audited:
            time.sleep(0.05)
        consumed = head / (time.perf_counter() - started)
        stop.set()
        worker.join()
        consumers.close()
        rows.append(Row("kafka", "Kafka-fed projections (all 3)", consumed, "events/s"))
        return rows
    finally:
        rt.close()


def _relay_rate(settings: Settings, client: str, head: int) -> float:
    """Events/s of a relay publishing the whole log to a topic of its own."""
    rt = Runtime(
        settings.model_copy(update={"kafka_topic": f"bench-{client}", "relay_client": client})
    )
    try:
        relay = rt.relay()
        relay.verify_topic()
        started = time.perf_counter()
        relay.catch_up()
        return head / (time.perf_counter() - started)
    finally:
        rt.close()


def _raw_kafka_python(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=1,
        enable_idempotence=False,
    )
    started = time.perf_counter()
    for key, value in payloads:
        producer.send(topic, key=key, value=value)
    producer.flush()
    rate = len(payloads) / (time.perf_counter() - started)
    producer.close()
    return rate


def _raw_confluent(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "max.in.flight.requests.per.connection": 1,
            "enable.idempotence": False,
        }
    )
    started = time.perf_counter()
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    return len(payloads) / (time.perf_counter() - started)


RAW_PRODUCE = {"confluent-kafka": _raw_confluent, "kafka-python": _raw_kafka_python}


def _count(rt: Runtime, table: str) -> int:
    with rt.db.transaction(readonly=True) as tx:
        row = tx.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
    return int(row["n"]) if row else 0


def _websocket_latency(scratch: Path, console: Console) -> list[Row]:
    """Append -> WebSocket latency, with the projections in the server and in their own process.

    The writer is a process of its own, as an outside writer would be; the subscribers share
    this one. Subscriber counts grow until p99 passes 50 ms.
    """
    rows = []
    for label, in_process in (("projections in server", True), ("projections apart", False)):
        console.print(f"append -> WebSocket latency (1k events/s), {label}")
        directory = scratch / f"ws-{in_process}"
        directory.mkdir()
        with _latency_server(directory, in_process) as (port, customer):
            bearer = _token(port)
            for subscribers in (10, 100, 300, 1000):
                latencies, received = asyncio.run(
                    _measure(port, bearer, directory, customer, subscribers, seconds=5)
                )
                if not latencies:
                    break
                cuts = statistics.quantiles(latencies, n=100)
                console.print(
                    f"{subscribers} subscribers: p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms"
                )
                what = f"{subscribers} subscribers, {label}"
                rows.append(Row("ws", f"append -> WS p50, {what}", cuts[49], "ms"))
                rows.append(Row("ws", f"append -> WS p99, {what}", cuts[98], "ms"))
                rows.append(Row("ws", f"events received, {what}", received, "events"))
                if cuts[98] > 50 and subscribers >= 100:
                    break
    return rows


@contextlib.contextmanager
def _latency_server(directory: Path, projections_in_process: bool) -> Iterator[tuple[int, Any]]:
    """`switchlog serve` (and `switchlog project` beside it, if asked) on a fresh store."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHLOG_")},
        "SWITCHLOG_ADMIN_LOGIN": "root",
        "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1",
        "SWITCHLOG_PROJECTIONS_IN_PROCESS": str(projections_in_process).lower(),
    }
    writer = _writer(directory)
    customer = writer.directory.create_customer(CTX, "latency", "EUR", "UTC")
    writer.close()
    binary = str(Path(sys.executable).with_name("switchlog"))
    commands = [[binary, "serve", "--port", str(port)]]
    if not projections_in_process:
        commands.append([binary, "project"])
    processes = [
        subprocess.Popen(
            command,
            env=env,
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in commands
    ]
    try:
        yield port, customer
    finally:
        for process in processes:
            process.kill()
            process.wait(10)


def _token(port: int) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/auth/token",
                data={"username": "root", "password": "root-pass-1"},
            )
            return str(response.json()["access_token"])
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _writer(directory: Path) -> Runtime:
    return Runtime(
        Settings(store_url=f"sqlite:///{directory}/var/switchlog.db", var_dir=directory / "var")
    )


async def _measure(
    port: int, bearer: str, directory: Path, customer: Any, subscribers: int, seconds: float
) -> tuple[list[float], int]:
    import websockets

    latencies: list[float] = []
    ready = 0
    done = asyncio.Event()

    async def subscriber() -> None:
        nonlocal ready
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/v1/ws?token={bearer}", max_queue=None
        ) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "subscribe",
                        "id": "s",
                        "filter": {"types": ["directory.Customer.DetailsChanged"]},
                    }
                )
            )
            await ws.recv()
            ready += 1
            while not done.is_set():
                try:
                    frame = await asyncio.wait_for(ws.recv(), 1)
                except TimeoutError:
                    continue
                # The client must not become the bottleneck: no JSON parsing, and each
                # event's latency is taken from its own envelope time.
                now = time.time()
                for stamp in EVENT_TIME.findall(frame):
                    latencies.append((now - datetime.fromisoformat(stamp).timestamp()) * 1000)

    tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
    while ready < subscribers:
        await asyncio.sleep(0.05)
    # The writer is its own process, as a real one would be: in this one it would take the
    # GIL from the subscribers being measured.
    writer = multiprocessing.get_context("spawn").Process(
        target=_append_at_rate, args=(directory, customer, 1000, seconds)
    )
    writer.start()
    await asyncio.to_thread(writer.join)
    await asyncio.sleep(1)
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, len(latencies)


def _append_at_rate(directory: Path, customer: Any, per_second: int, seconds: float) -> None:
    """Customer.DetailsChanged events at `per_second`, committed every 10 ms (10 a commit at
    1k/s)."""
    from domain.directory.aggregates import Customer
    from domain.shared.actor import acting_as

    writer = _writer(directory)
    aggregate = writer.directory.load(customer, Customer)
    start = time.perf_counter()
    sent = 0
    zones = ("UTC", "Europe/Paris")
    while time.perf_counter() - start < seconds:
        due = int((time.perf_counter() - start) * per_second)
        if due > sent:
            with acting_as(CTX):
                for n in range(sent, due):
                    aggregate.change_details(time_zone=zones[n % 2])
            writer.directory.save(aggregate)
            sent = due
        time.sleep(0.01)
    writer.close()
