"""Faults across processes: a projector SIGKILLed mid-batch, two writer processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from adapters.settings import Settings
from composition.runtime import Runtime
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext
from projections.audit import AuditFilter
from tests.conftest import eventually, fresh_postgres_database
from tests.e2e.processes import base_env, run_cli, switchlog_bin

CTX = CommandContext(Actor.system("test"))


def _positions(runtime: Runtime) -> tuple[int, ...]:
    return tuple(runtime.runner.position(name) for name in runtime.runner.projections)


def _dump(runtime: Runtime) -> dict[str, object]:
    with runtime.db.transaction(readonly=True) as tx:
        return {name: p.dump(tx) for name, p in runtime.runner.projections.items()}


def test_projector_sigkilled_mid_batch_then_restarted_equals_rebuild(
    store_url: str, tmp_path: Path
) -> None:
    settings = Settings(store_url=store_url, var_dir=tmp_path / "var")
    runtime = Runtime(settings)
    try:
        for i in range(600):
            customer = runtime.directory.create_customer(CTX, f"C{i}", "EUR", "UTC")
            runtime.directory.update_customer(CTX, customer, None, time_zone="Europe/Paris")
        head = runtime.source.max_position()
        env = {
            **base_env(),
            "SWITCHLOG_STORE_URL": store_url,
            "SWITCHLOG_VAR_DIR": str(tmp_path / "var"),
            "SWITCHLOG_PROJECTION_BATCH_SIZE": "150",
        }
        progress = []
        for _ in range(3):
            before = _positions(runtime)
            process = subprocess.Popen(
                [switchlog_bin(), "project", "--poll", "0.05"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Kill the moment a batch has committed: the next one is in flight.
            deadline = time.monotonic() + 30
            while _positions(runtime) == before and time.monotonic() < deadline:
                time.sleep(0.002)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            progress.append(_positions(runtime))
        assert any(0 < p < head for ps in progress for p in ps), (progress, head)

        run_cli(["project", "--once"], env, tmp_path)
        assert all(s.lag == 0 for s in runtime.runner.status())
        recovered = _dump(runtime)
        for name in runtime.runner.projections:
            runtime.runner.rebuild(name)
        assert _dump(runtime) == recovered
    finally:
        runtime.close()


WRITER = """
import json, sys, time
from pathlib import Path
from uuid import UUID
from composition.runtime import Runtime
from adapters.settings import Settings
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import ConflictError

store, customer_id, name, rendezvous = sys.argv[1:5]
runtime = Runtime(Settings(store_url=store, var_dir=Path(rendezvous)))
app = runtime.directory
ctx = CommandContext(Actor.system(name))
try:
    with app.command(ctx):
        customer = app.load(UUID(customer_id), Customer)
        customer.rename(name)
        Path(rendezvous, name + ".ready").touch()
        deadline = time.monotonic() + 120  # never outlive a test that gave up
        while not Path(rendezvous, "go").exists():
            if time.monotonic() > deadline:
                sys.exit(3)
            time.sleep(0.01)
        app.save(customer)
    print(json.dumps({"name": name, "outcome": "saved"}))
except ConflictError:
    print(json.dumps({"name": name, "outcome": "conflict"}))
runtime.close()
"""


def test_two_processes_editing_one_customer_on_postgres(
    postgres_server_url: str, tmp_path: Path
) -> None:
    store = fresh_postgres_database(postgres_server_url)
    runtime = Runtime(Settings(store_url=store, var_dir=tmp_path))
    customer_id = runtime.directory.create_customer(CTX, "Acme", "EUR", "UTC")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store, str(customer_id), name, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=base_env(),
        )
        for name in ("Alpha", "Beta")
    ]
    try:
        eventually(
            lambda: all((tmp_path / f"{n}.ready").exists() for n in ("Alpha", "Beta")),
            timeout=60,
        )
        (tmp_path / "go").touch()
        outcomes = {}
        for writer in writers:
            out, _ = writer.communicate(timeout=30)
            result = json.loads(out.strip().splitlines()[-1])
            outcomes[result["name"]] = result["outcome"]
    finally:
        for writer in writers:  # a failed test must not leave a writer waiting forever
            if writer.poll() is None:
                writer.kill()
                writer.wait(10)
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(n for n, o in outcomes.items() if o == "saved")
    customer = runtime.directory.load(customer_id, Customer)
    assert (customer.name, customer.version) == (winner, 2)
    runtime.runner.catch_up()
    rows, _ = runtime.audit.search(AuditFilter(subject=str(customer_id)))
    assert rows[0]["changes"]["name"]["after"] == winner
    runtime.close()
