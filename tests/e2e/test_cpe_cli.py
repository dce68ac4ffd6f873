"""`switchlog cpe upload FILE` as an operator runs it: progress, summary and row errors."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.settings import Settings
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.e2e.commands import switchlog
from tests.e2e.processes import base_env

MODEL = "Yealink SIP-T21P E2"
HEADER = "Action,Name,Device model,MAC address,Managed by,CPE profile,Shared with reseller"


def _store(tmp_path: Path) -> dict[str, str]:
    store = f"sqlite:///{tmp_path}/switchlog.db"
    runtime = Runtime(Settings(store_url=store, var_dir=tmp_path / "var"))
    runtime.services["provisioning"].add_device_model(  # type: ignore[attr-defined]
        CommandContext(Actor.system("test")), MODEL, 2
    )
    runtime.close()
    return {**base_env(), "SWITCHLOG_STORE_URL": store, "SWITCHLOG_VAR_DIR": str(tmp_path / "var")}


def test_cpe_upload_shows_the_summary_and_the_row_errors(tmp_path: Path) -> None:
    env = _store(tmp_path)
    file = tmp_path / "phones.csv"
    file.write_text(
        f"{HEADER}\nAdd,a,{MODEL},00:14:20:FF:3C:52,,,N\nAdd,b,{MODEL},00:14:20:FF:3C,,,N\n"
    )
    result = switchlog(
        ["cpe", "upload", str(file), "--errors-csv", str(tmp_path / "e.csv")], env, tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: 2 rows, 1 applied, 0 unchanged, 1 with errors" in result.stdout
    assert "MAC address" in result.stdout and "00:14:20:FF:3C" in result.stdout
    assert (tmp_path / "e.csv").read_text().splitlines()[1].startswith("3,MAC address")
    assert file.exists()  # the operator's file is left where it was

    again = switchlog(["cpe", "upload", str(file), "--json"], env, tmp_path)
    summary = json.loads(again.stdout)
    assert (summary["rows_applied"], summary["rows_unchanged"], summary["rows_failed"]) == (0, 1, 1)

    audit = switchlog(["audit", "--subject", "00:14:20:ff:3c:52", "--json"], env, tmp_path)
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [r["type"] for r in rows] == ["provisioning.Phone.Added"]
    assert rows[0]["actor"]["id"].startswith("system:cli:")


def test_a_whole_file_fault_is_one_error_line_and_applies_nothing(tmp_path: Path) -> None:
    env = _store(tmp_path)
    file = tmp_path / "phones.xlsx"
    file.write_text(f"{HEADER}\nAdd,a,{MODEL},00:14:20:FF:3C:52,,,N\n")
    result = switchlog(["cpe", "upload", str(file)], env, tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr and "named .xlsx" in result.stderr

    template = tmp_path / "template.xlsx"
    made = switchlog(["cpe", "template", str(template), "--format", "xlsx"], env, tmp_path)
    assert made.returncode == 0 and template.read_bytes().startswith(b"PK")
