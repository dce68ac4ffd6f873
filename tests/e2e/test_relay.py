"""`switchlog relay` processes against a real broker: one active at a time, SIGKILL safety."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from adapters.settings import Settings
from adapters.sql import open_database
from adapters.tansu import TansuBroker
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.conftest import eventually
from tests.e2e.processes import base_env, run_cli, switchlog_bin
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

    @property
    def standing_by(self) -> bool:
        return "relay is standing by" in self.log.read_text()

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
    return [int(dict(m.headers)["ce_sequence"]) for m in messages]


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
        eventually(lambda: second.standing_by, timeout=30)
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
    worker = threading.Thread(target=consumers.run_kafka_projectors, args=(stop,))
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


def test_kafka_projection_processes_share_partitions_and_replay_a_window(
    tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    store_url = f"sqlite:///{tmp_path}/switchlog.db"
    store = Runtime(
        Settings(
            store_url=store_url, var_dir=tmp_path / "var", kafka_bootstrap=kafka_broker.bootstrap
        )
    )
    _populate(store, 20, "early")
    since = datetime.now(UTC)
    _populate(store, 10, "window")
    until = datetime.now(UTC)
    store.runner.catch_up()
    read_models = f"sqlite:///{tmp_path}/kafka-read-models.db"
    env = _env(store_url, tmp_path, kafka_broker, SWITCHLOG_READ_MODEL_URL=read_models)
    relay = RelayProcess(env, tmp_path, "relay")
    projectors = [
        subprocess.Popen(
            [switchlog_bin(), "project", "--source", "kafka"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    consumers = Runtime(Settings(store_url=store_url, read_model_url=read_models, var_dir=tmp_path))
    try:

        def converged() -> bool:
            with (
                consumers.db.transaction(readonly=True) as a,
                store.db.transaction(readonly=True) as b,
            ):
                return all(p.dump(a) == p.dump(b) for p in store.runner.projections.values())

        eventually(converged, timeout=60, interval=0.5)
        out = run_cli(
            [
                "replay",
                "--source",
                "kafka",
                "--since",
                since.isoformat(),
                "--until",
                until.isoformat(),
                "--into",
                f"sqlite:///{tmp_path}/window.db",
            ],
            env,
            tmp_path,
        )
        assert "customers" in out
        window = open_database(f"sqlite:///{tmp_path}/window.db")
        with window.transaction(readonly=True) as tx:
            names = sorted(r["name"] for r in tx.fetchall("SELECT name FROM customers"))
        window.close()
        assert names == sorted(f"window{i}" for i in range(10))
    finally:
        for process in projectors:
            process.terminate()
            process.wait(15)
        relay.stop()
        consumers.close()
        store.close()
