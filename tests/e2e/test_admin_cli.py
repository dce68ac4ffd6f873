"""`switchlog admin`: an operator at the shell creates admins and resets lost passwords."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import httpx

from tests.e2e.commands import switchlog
from tests.e2e.processes import Server, base_env

OPERATOR = f"system:cli:{getpass.getuser()}"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **base_env(),
        "SWITCHLOG_STORE_URL": f"sqlite:///{tmp_path}/var/switchlog.db",
        "SWITCHLOG_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def _admin(tmp_path: Path, command: str, login: str, password: str) -> None:
    args = ["admin", command, "--login", login, "--password-stdin"]
    result = switchlog(args, _env(tmp_path), tmp_path, stdin=f"{password}\n")
    assert result.returncode == 0, result.stderr


def _token_status(url: str, login: str, password: str) -> int:
    data = {"username": login, "password": password}
    return httpx.post(f"{url}/v1/auth/token", data=data, timeout=10).status_code


def test_admin_create_and_reset_are_in_the_audit_trail_as_the_os_user(tmp_path: Path) -> None:
    _admin(tmp_path, "create", "ops", "first-password")
    _admin(tmp_path, "reset-password", "ops", "second-password")

    result = switchlog(["audit", "--subject", "ops", "--json"], _env(tmp_path), tmp_path)

    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["type"] for r in rows] == ["directory.Admin.PasswordReset", "directory.Admin.Created"]
    assert {r["actor"]["id"] for r in rows} == {OPERATOR}
    assert {r["actor"]["realm"] for r in rows} == {"system"}
    assert rows[0]["changes"] == {"password_hash": {"before": None, "after": "***"}}
    assert "second-password" not in result.stdout


def test_a_reset_admin_logs_in_with_the_new_password_and_not_the_old(tmp_path: Path) -> None:
    _admin(tmp_path, "create", "ops", "first-password")
    _admin(tmp_path, "reset-password", "ops", "second-password")

    server = Server(_env(tmp_path), tmp_path)
    try:
        assert _token_status(server.url, "ops", "second-password") == 200
        assert _token_status(server.url, "ops", "first-password") == 401
    finally:
        server.stop()


def test_serve_warns_that_admin_password_is_ignored_once_the_admin_exists(tmp_path: Path) -> None:
    _admin(tmp_path, "create", "ops", "first-password")
    env = _env(tmp_path, SWITCHLOG_ADMIN_LOGIN="ops", SWITCHLOG_ADMIN_PASSWORD="other-password")

    server = Server(env, tmp_path)
    try:
        assert _token_status(server.url, "ops", "other-password") == 401
    finally:
        server.stop()
    output = server.output()
    assert "warning: SWITCHLOG_ADMIN_PASSWORD is ignored" in output
    assert "switchlog admin reset-password --login ops" in output


def test_short_passwords_and_unknown_logins_are_refused_in_one_line(tmp_path: Path) -> None:
    _admin(tmp_path, "create", "ops", "first-password")
    reset = ["admin", "reset-password", "--password-stdin", "--login"]

    short = switchlog([*reset, "ops"], _env(tmp_path), tmp_path, stdin="short\n")
    unknown = switchlog([*reset, "nobody"], _env(tmp_path), tmp_path, stdin="long-enough\n")

    assert (short.returncode, unknown.returncode) == (2, 2)
    assert short.stderr.splitlines()[-1] == "error: a password needs at least 8 characters"
    assert unknown.stderr.splitlines()[-1] == "error: no admin has the login 'nobody'"


def test_without_a_terminal_the_password_must_come_from_stdin(tmp_path: Path) -> None:
    result = switchlog(["admin", "create", "--login", "ops"], _env(tmp_path), tmp_path)

    assert result.returncode == 2
    assert "--password-stdin" in result.stderr.splitlines()[-1]
