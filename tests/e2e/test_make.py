"""`make serve` and `make test` as a new user runs them (dry runs against a stand-in venv)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _venv(tmp_path: Path, installed_after_pyproject: bool) -> Path:
    """A venv with stamps older or newer than pyproject.toml (make compares only times)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    changed = (ROOT / "pyproject.toml").stat().st_mtime
    stamp_time = changed + 60 if installed_after_pyproject else changed - 60
    for stamp in (".installed", ".installed-test"):
        (venv / stamp).touch()
        os.utime(venv / stamp, (stamp_time, stamp_time))
    return venv


def _dry_run(venv: Path, *args: str) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={venv}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("make")]


def test_make_serve_takes_host_and_port_and_does_not_reinstall(tmp_path: Path) -> None:
    venv = _venv(tmp_path, installed_after_pyproject=True)

    commands = _dry_run(venv, "serve", "HOST=0.0.0.0", "PORT=9000")

    assert commands == [f"{venv}/bin/switchlog serve --host 0.0.0.0 --port 9000"]


def test_make_serve_defaults_to_loopback_port_8000(tmp_path: Path) -> None:
    venv = _venv(tmp_path, installed_after_pyproject=True)

    assert _dry_run(venv, "serve") == [f"{venv}/bin/switchlog serve --host 127.0.0.1 --port 8000"]


def test_make_installs_again_once_pyproject_changed(tmp_path: Path) -> None:
    venv = _venv(tmp_path, installed_after_pyproject=False)

    serve = _dry_run(venv, "serve")
    test = _dry_run(venv, "test")

    assert serve[0] == f"{venv}/bin/pip install -q -e ."
    assert test[0] == f'{venv}/bin/pip install -q -e ".[test]"'


def test_make_test_does_not_reinstall_when_nothing_changed(tmp_path: Path) -> None:
    venv = _venv(tmp_path, installed_after_pyproject=True)

    commands = _dry_run(venv, "test")

    assert not any("pip install" in line for line in commands)
    assert any("pytest" in line for line in commands)
