"""`switchlog relay` processes against a real broker: one active at a time, SIGKILL safety."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

from adapters.runtime import Runtime
from adapters.settings import Settings
from adapters.tansu import TansuBroker
from domain.shared.actor import Actor, CommandContext
from tests.conftest import eventually
from tests.e2e.processes import base_env, switchlog_bin
from tests.integration.test_kafka_relay import consume_all

CTX = CommandContext(Actor.system("test"))


class RelayProcess:
    def __init__(self, env: dict[str, str], cwd: Path, name: str) -> None:
        self.log = cwd / f"relay-{name}.log"
        self._file = self.log.open("w")
        self.process = subprocess.Popen(
            [switchlog_bin(), "relay"],
            env=env,
            cwd=cwd,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    @property
    def active(self) -> bool:
        return "relay is active" in self.log.read_text()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._file.close()


def _env(store: str, tmp_path: Path, broker: TansuBroker, **extra: str) -> dict[str, str]:
    return {
        **base_env(),
        "SWITCHLOG_STORE_URL": store,
        "SWITCHLOG_VAR_DIR": str(tmp_path / "var"),
        "SWITCHLOG_KAFKA_BOOTSTRAP": broker.bootstrap,
        **extra,
    }


def _populate(rt: Runtime, count: int, tag: str) -> None:
    for i in range(count):
        customer = rt.directory.create_customer(CTX, f"{tag}{i}", "EUR", "UTC")
        rt.directory.update_customer(CTX, customer, None, time_zone="Europe/Rome")


def _sequences(broker: TansuBroker, at_least: int) -> list[int]:
    messages = consume_all(broker.bootstrap, "switchlog.events", at_least)
    return [json.loads(m.value)["sequence"] for m in messages]


def test_second_relay_waits_then_takes_over_when_the_first_dies(
    store_url: str, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    runtime = Runtime(Settings(store_url=store_url, var_dir=tmp_path / "var"))
    _populate(runtime, 10, "a")
    env = _env(store_url, tmp_path, kafka_broker)
    first = RelayProcess(env, tmp_path, "first")
    second = None
    try:
        eventually(lambda: first.active, timeout=30)
        second = RelayProcess(env, tmp_path, "second")
        time.sleep(3)
        assert not second.active
        head = runtime.source.max_position()
        eventually(lambda: set(_sequences(kafka_broker, head)) >= set(range(1, head + 1)))

        first.kill()
        _populate(runtime, 5, "b")
        started = time.monotonic()
        eventually(lambda: second.active, timeout=20)
        assert time.monotonic() - started < 15
        head = runtime.source.max_position()
        eventually(lambda: set(_sequences(kafka_broker, head)) >= set(range(1, head + 1)))
    finally:
        first.stop()
        if second:
            second.stop()
        runtime.close()


def test_relay_sigkilled_mid_batch_duplicates_nothing_downstream(
    store_url: str, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    store = Runtime(
        Settings(
            store_url=store_url, var_dir=tmp_path / "var", kafka_bootstrap=kafka_broker.bootstrap
        )
    )
    _populate(store, 400, "c")
    head = store.source.max_position()
    env = _env(store_url, tmp_path, kafka_broker, SWITCHLOG_RELAY_BATCH_SIZE="50")
    relay = store.relay()
    relay.setup()
    killed_at = []
    for attempt in range(3):
        process = RelayProcess(env, tmp_path, f"kill-{attempt}")
        before = relay.state().position
        eventually(lambda b=before: relay.state().position > b, timeout=30, interval=0.005)
        process.kill()
        killed_at.append(relay.state().position)
    assert any(0 < p < head for p in killed_at), killed_at
    survivor = RelayProcess(env, tmp_path, "survivor")
    try:
        eventually(lambda: relay.state().position == head, timeout=60)
    finally:
        survivor.stop()
    assert len(set(_sequences(kafka_broker, head))) == head

    consumers = Runtime(
        Settings(
            store_url=store_url,
            var_dir=tmp_path / "var",
            read_model_url=f"sqlite:///{tmp_path}/kafka-read-models.db",
            kafka_bootstrap=kafka_broker.bootstrap,
        )
    )
    stop = threading.Event()
    worker = threading.Thread(target=consumers.kafka_projector().run, args=(stop,))
    worker.start()
    try:
        store.runner.catch_up()

        def converged() -> bool:
            with (
                consumers.db.transaction(readonly=True) as a,
                store.db.transaction(readonly=True) as b,
            ):
                return all(p.dump(a) == p.dump(b) for p in store.runner.projections.values())

        eventually(converged, timeout=60, interval=0.5)
    finally:
        stop.set()
        worker.join(30)
        consumers.close()
        store.close()
