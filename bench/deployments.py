"""The README's deployments, started as it documents them, for tests and the latency bench.

`embedded` is `switchlog serve` alone on a SQLite file. `production` is PostgreSQL + Kafka:
two `switchlog relay`, two `switchlog project --source kafka`, `switchlog webhooks deliver`
and `switchlog serve` with SWITCHLOG_PROJECTIONS_IN_PROCESS=false and
SWITCHLOG_RELAY_IN_PROCESS=false, exactly as "Running with Kafka" lists them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from cryptography.fernet import Fernet

ADMIN_LOGIN = "root"
ADMIN_PASSWORD = "root-password-1"


def switchlog_bin() -> str:
    return shutil.which("switchlog") or str(Path(sys.executable).with_name("switchlog"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """Running switchlog processes sharing one environment; `url` is the API's."""

    workdir: Path
    env: dict[str, str]
    url: str = ""
    metrics_port: int | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            [switchlog_bin(), *args],
            env={**self.env, **(env or {})},
            cwd=self.workdir,
            stdout=log,
            stderr=log,
        )
        self.processes[name] = process
        return process

    def serve(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.start("serve", "serve", "--host", "127.0.0.1", "--port", str(port))
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(self.log("serve"))

    def warm_up(self, timeout: float = 90) -> float:
        """Seconds until a write is shown at once (consumers have joined their group)."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            body = {
                "name": f"warm-up-{secrets.token_hex(4)}",
                "currency": "EUR",
                "time_zone": "UTC",
            }
            response = httpx.post(
                f"{self.url}/v1/customers", json=body, headers=headers, timeout=30
            )
            if response.status_code == 201:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError("writes never became visible: " + self.log("project-1")[-2000:])

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def token(self) -> str:
        response = httpx.post(
            f"{self.url}/v1/auth/token",
            data={"username": ADMIN_LOGIN, "password": ADMIN_PASSWORD},
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for log in self._logs:
            log.close()


def base_env(workdir: Path, store_url: str, **extra: str) -> dict[str, str]:
    """What an operator exports: the store, keys shared by every process, the first admin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHLOG_")}
    env.update(
        SWITCHLOG_STORE_URL=store_url,
        SWITCHLOG_JWT_SECRET=secrets.token_urlsafe(48),
        SWITCHLOG_SECRETS_KEY=Fernet.generate_key().decode(),
        SWITCHLOG_VAR_DIR=str(workdir / "var"),
        SWITCHLOG_ADMIN_LOGIN=ADMIN_LOGIN,
        SWITCHLOG_ADMIN_PASSWORD=ADMIN_PASSWORD,
        SWITCHLOG_WEBHOOKS_ALLOW_PRIVATE_NETWORKS="true",
        **extra,
    )
    return env


@contextmanager
def embedded(workdir: Path, **extra: str) -> Iterator[Deployment]:
    """`switchlog serve` on the embedded default (a SQLite file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(
        workdir, base_env(workdir, f"sqlite:///{workdir}/switchlog.db", **extra)
    )
    try:
        deployment.serve()
        yield deployment
    finally:
        deployment.stop()


@contextmanager
def production(workdir: Path, postgres_url: str, kafka_bootstrap: str) -> Iterator[Deployment]:
    """PostgreSQL + Kafka, every part its own process, as the README's production section."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = base_env(
        workdir,
        postgres_url,
        SWITCHLOG_KAFKA_BOOTSTRAP=kafka_bootstrap,
        SWITCHLOG_PROJECTIONS_IN_PROCESS="false",
        SWITCHLOG_RELAY_IN_PROCESS="false",
    )
    deployment = Deployment(workdir, env)
    try:
        # serve first: on an empty store it creates the tables and the first admin.
        deployment.serve()
        deployment.metrics_port = free_port()
        metrics = {"SWITCHLOG_METRICS_PORT": str(deployment.metrics_port)}
        deployment.start("relay-1", "relay", env=metrics)
        deployment.start("relay-2", "relay")
        deployment.start("project-1", "project", "--source", "kafka")
        deployment.start("project-2", "project", "--source", "kafka")
        deployment.start("webhooks", "webhooks", "deliver")
        deployment.warm_up()
        yield deployment
    finally:
        deployment.stop()


@contextmanager
def postgres(workdir: Path, postgres_url: str) -> Iterator[Deployment]:
    """PostgreSQL with the projections in their own process, as "Running on PostgreSQL"."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = base_env(workdir, postgres_url, SWITCHLOG_PROJECTIONS_IN_PROCESS="false")
    deployment = Deployment(workdir, env)
    try:
        deployment.serve()
        deployment.start("project", "project")
        deployment.warm_up()
        yield deployment
    finally:
        deployment.stop()


def write_latencies(deployment: Deployment, writes: int) -> list[float]:
    """Seconds each `POST /v1/customers` took, one after another, each read back at once."""
    headers = {"Authorization": f"Bearer {deployment.token()}"}
    took = []
    with httpx.Client(base_url=deployment.url, headers=headers, timeout=30) as client:
        for i in range(writes):
            body = {"name": f"latency-{i}-{secrets.token_hex(3)}", "currency": "EUR"}
            started = time.perf_counter()
            response = client.post("/v1/customers", json={**body, "time_zone": "UTC"})
            took.append(time.perf_counter() - started)
            response.raise_for_status()
            read = client.get(f"/v1/customers/{response.json()['id']}")
            read.raise_for_status()
    return took


def summary(took: list[float]) -> str:
    ms = sorted(t * 1000 for t in took)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"median {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


def run_deployments(
    scratch: Path, postgres_url: str, writes: int = 200
) -> list[tuple[str, list[float]]]:
    """Write latency of each documented deployment, measured one after the other."""
    from adapters.tansu import TansuBroker

    results = []
    with embedded(scratch / "embedded") as running:
        running.warm_up()
        results.append(("embedded (SQLite, serve alone)", write_latencies(running, writes)))
    broker = TansuBroker()
    try:
        with production(scratch / "production", postgres_url, broker.bootstrap) as running:
            results.append(
                ("production (PostgreSQL + Kafka, 6 processes)", write_latencies(running, writes))
            )
    finally:
        broker.stop()
    return results
