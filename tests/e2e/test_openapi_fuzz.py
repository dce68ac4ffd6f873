"""Schemathesis against a real `switchlog serve`: the API keeps the promises its OpenAPI makes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Server, base_env

ADMIN = {"SWITCHLOG_ADMIN_LOGIN": "root", "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1"}
# No DNS look-ups or deliveries to the random webhook URLs the fuzzer registers: targets are
# not resolved (private ones allowed) and this process delivers nothing.
NO_WEBHOOK_TRAFFIC = {
    "SWITCHLOG_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    "SWITCHLOG_WEBHOOKS_IN_PROCESS": "false",
}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# Streams never end, so one request would use the whole time budget; tests/e2e/test_streams.py
# covers them. (The WebSocket, /v1/ws, is not an OpenAPI operation.)
EXCLUDED = ("/v1/events/stream",)


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[Server]:
    env = {**base_env(), **ADMIN, **NO_WEBHOOK_TRAFFIC, "SWITCHLOG_STORE_URL": store_url}
    running = Server(env, tmp_path)
    yield running
    running.stop()


@pytest.mark.timeout(660)  # ~130 operations; a loaded 2-core machine takes minutes
def test_every_operation_answers_as_documented_and_never_with_5xx(
    server: Server, tmp_path: Path
) -> None:
    issued = httpx.post(
        f"{server.url}/v1/auth/token", data={"username": "root", "password": "root-pass-1"}
    )
    token = issued.json()["access_token"]
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/openapi.json",
        f"--header=Authorization: Bearer {token}",
        f"--checks={','.join(CHECKS)}",
        *(f"--exclude-path={path}" for path in EXCLUDED),
        "--phases=examples,coverage,fuzzing,stateful",
        f"--max-examples={os.environ.get('SWITCHLOG_FUZZ_EXAMPLES', '80')}",
        f"--seed={os.environ.get('SWITCHLOG_FUZZ_SEED', '20260101')}",
        "--generation-database=none",
        "--request-timeout=10",
        "--workers=1",
        "--no-color",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:] + server.output()[-5000:]
