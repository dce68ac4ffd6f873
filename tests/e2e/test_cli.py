"""The operator's CLI against a real store: audit, projections status and rebuild."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.runtime import Runtime
from adapters.settings import Settings
from domain.shared.actor import Actor, CommandContext
from tests.e2e.processes import base_env, run_cli

CTX = CommandContext(Actor.system("ops", login="alice"), correlation_id="change-42")


def test_audit_status_and_rebuild_from_the_command_line(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/switchlog.db"
    runtime = Runtime(Settings(store_url=store, var_dir=tmp_path / "var"))
    customer = runtime.directory.create_customer(CTX, "Acme", "EUR", "UTC")
    runtime.directory.update_customer(CTX, customer, None, name="Acme SA")
    runtime.runner.catch_up()
    with runtime.db.transaction(readonly=True) as tx:
        before = runtime.runner.get("directory").dump(tx)
    env = {**base_env(), "SWITCHLOG_STORE_URL": store, "SWITCHLOG_VAR_DIR": str(tmp_path / "var")}

    lines = run_cli(["audit", "--subject", "Acme", "--json"], env, tmp_path).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["type"] for r in rows] == ["Customer.Updated", "Customer.Created"]
    assert rows[0]["actor"]["login"] == "alice"
    assert rows[0]["correlation_id"] == "change-42"
    table = run_cli(["audit", "--actor", "alice", "--oldest-first"], env, tmp_path)
    assert "Customer.Created" in table and "alice" in table

    status = run_cli(["projections", "status"], env, tmp_path)
    assert "directory" in status and "audit" in status

    rebuilt = run_cli(["projections", "rebuild", "directory"], env, tmp_path)
    assert "rebuilt" in rebuilt
    with runtime.db.transaction(readonly=True) as tx:
        assert runtime.runner.get("directory").dump(tx) == before
    runtime.close()


def test_rebuild_of_unknown_projection_fails_clearly(tmp_path: Path) -> None:
    import subprocess

    from tests.e2e.processes import switchlog_bin

    env = {**base_env(), "SWITCHLOG_STORE_URL": f"sqlite:///{tmp_path}/s.db"}
    result = subprocess.run(
        [switchlog_bin(), "projections", "rebuild", "invoices"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no projection 'invoices'" in result.stdout
