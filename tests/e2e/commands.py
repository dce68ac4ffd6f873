"""Running one `switchlog` command as a user would, keeping its status, stdout and stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.processes import switchlog_bin


def switchlog(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    stdin: str | None = None,
    columns: int = 200,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [switchlog_bin(), *args],
        env={**env, "COLUMNS": str(columns)},
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
