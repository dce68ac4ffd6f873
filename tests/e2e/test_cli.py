"""The operator's CLI against a real store: audit, projections, replay, and where it looks."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from adapters.settings import Settings
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.conftest import fresh_postgres_database
from tests.e2e.commands import switchlog
from tests.e2e.processes import base_env, run_cli

CTX = CommandContext(Actor.system("ops", login="alice"), correlation_id="change-42")


def _store_with_a_customer(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A SQLite store under tmp_path holding Acme, created then renamed."""
    store = f"sqlite:///{tmp_path}/store/switchlog.db"
    runtime = Runtime(Settings(store_url=store, var_dir=tmp_path / "var"))
    customer = runtime.directory.create_customer(CTX, "Acme", "EUR", "UTC")
    runtime.directory.update_customer(CTX, customer, None, name="Acme SA")
    runtime.close()
    env = {**base_env(), "SWITCHLOG_STORE_URL": store, "SWITCHLOG_VAR_DIR": str(tmp_path / "var")}
    return store, env


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
    assert [r["type"] for r in rows] == ["directory.Customer.Renamed", "directory.Customer.Created"]
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
    _, env = _store_with_a_customer(tmp_path)
    result = switchlog(["projections", "rebuild", "invoices"], env, tmp_path)
    assert result.returncode == 2
    assert "no projection 'invoices'" in result.stderr


def test_audit_at_80_columns_shows_whole_event_types_and_times(tmp_path: Path) -> None:
    _, env = _store_with_a_customer(tmp_path)
    items = [json.loads(line) for line in run_cli(["audit", "--json"], env, tmp_path).splitlines()]

    table = switchlog(["audit"], env, tmp_path, columns=80)

    assert table.returncode == 0, table.stderr
    assert all(len(line.rstrip()) <= 80 for line in table.stdout.splitlines())
    for item in items:
        assert item["type"] in table.stdout
        time = datetime.fromisoformat(item["time"]).strftime("%Y-%m-%d %H:%M:%S")
        assert time in table.stdout
    assert "name: 'Acme' -> 'Acme SA'" in table.stdout


def test_every_command_names_the_store_it_opened_on_stderr(tmp_path: Path) -> None:
    _, env = _store_with_a_customer(tmp_path)
    database = tmp_path / "store" / "switchlog.db"

    audit = switchlog(["audit", "--json"], env, tmp_path)
    status = switchlog(["projections", "status"], env, tmp_path)

    assert audit.returncode == 0 and status.returncode == 0
    for result in (audit, status):
        assert f"store: sqlite:///{database} ({database})" in result.stderr
    assert [json.loads(line)["type"] for line in audit.stdout.splitlines()] == [
        "directory.Customer.Renamed",
        "directory.Customer.Created",
    ]


@pytest.mark.postgres
def test_a_postgresql_store_is_named_without_its_password(postgres_server_url: str) -> None:
    parts = urlsplit(fresh_postgres_database(postgres_server_url))
    user, host = parts.username or "postgres", parts.netloc.rpartition("@")[2]
    # The test server trusts local connections, so it ignores the password.
    url = urlunsplit(parts._replace(netloc=f"{user}:s3cret-pw@{host}"))
    env = {**base_env(), "SWITCHLOG_STORE_URL": url}

    result = switchlog(["projections", "status"], env, Path.cwd())

    assert result.returncode == 0, result.stderr
    assert f"store: {urlunsplit(parts._replace(netloc=f'{user}:***@{host}'))}" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["audit"],
        ["projections", "status"],
        ["projections", "rebuild", "audit"],
        ["webhooks", "failed"],
        ["webhooks", "redeliver"],
        ["replay", "--since", "2026-01-01", "--until", "2026-02-01"],
        ["admin", "reset-password", "--login", "root", "--password-stdin"],
    ],
)
def test_read_only_commands_refuse_a_missing_store_and_create_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    result = switchlog(args, base_env(), tmp_path, stdin="new-password\n")

    assert result.returncode == 2
    assert f"no store at {tmp_path}/var/switchlog.db" in result.stderr
    assert "SWITCHLOG_STORE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_replay_reads_the_store_by_default(tmp_path: Path) -> None:
    _, env = _store_with_a_customer(tmp_path)
    scratch = tmp_path / "scratch.db"
    window = ["--since", "2000-01-01", "--until", "2100-01-01"]

    result = switchlog(["replay", *window, "--into", f"sqlite:///{scratch}"], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "customers" in result.stdout and "audit_log" in result.stdout
    assert scratch.exists()


def test_failed_replay_is_one_line_and_leaves_no_scratch_file(tmp_path: Path) -> None:
    _, env = _store_with_a_customer(tmp_path)
    window = ["--since", "2000-01-01", "--until", "2100-01-01"]

    result = switchlog(["replay", "--source", "kafka", *window], env, tmp_path)

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("store: ")]
    assert errors == ["error: replay from kafka failed: SWITCHLOG_KAFKA_BOOTSTRAP is not set"]
    assert list((tmp_path / "var").glob("replay-*")) == []


def test_serve_on_a_busy_port_fails_in_one_line_before_announcing_a_url(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = switchlog(["serve", "--port", str(port)], base_env(), tmp_path, timeout=60)

    assert result.returncode == 2
    assert "serving on" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("args", [["relay"], ["project", "--source", "kafka"]])
def test_kafka_commands_without_kafka_refuse_in_one_line(tmp_path: Path, args: list[str]) -> None:
    result = switchlog(args, base_env(), tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Kafka is not configured: set SWITCHLOG_KAFKA_BOOTSTRAP=host:port[,host:port...]"
    ]
    assert list(tmp_path.iterdir()) == []


def test_audit_with_an_unknown_type_is_refused_in_one_line(tmp_path: Path) -> None:
    _, env = _store_with_a_customer(tmp_path)

    result = switchlog(["audit", "--type", "Customer.Updatd"], env, tmp_path)

    assert result.returncode == 2
    assert "unknown event types: Customer.Updatd" in result.stderr
    assert "Traceback" not in result.stderr
