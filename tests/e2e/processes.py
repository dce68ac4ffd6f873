"""Starting and stopping real switchlog processes for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def switchlog_bin() -> str:
    found = shutil.which("switchlog") or str(Path(sys.executable).with_name("switchlog"))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`switchlog serve` in a child process, on loopback."""

    def __init__(self, env: dict[str, str], cwd: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [switchlog_bin(), "serve", "--host", "127.0.0.1", "--port", str(self.port), *options],
            env=env,
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(self.log.read_text())

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushes; what was acknowledged must survive."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log_file.close()


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    result = subprocess.run(
        [switchlog_bin(), *args],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SWITCHLOG_")}
