"""`switchlog serve` as a user runs it: first start, docs, and SIGKILL survival."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.processes import Server, base_env


def _token(url: str, login: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{url}/v1/auth/token", data={"username": login, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_first_start_bootstraps_admin_prints_it_once_and_serves_docs(tmp_path: Path) -> None:
    server = Server(base_env(), tmp_path)
    try:
        printed = re.search(r"admin login: (\S+)\s+password: (\S+)", server.output())
        assert printed, server.output()
        assert (tmp_path / "var" / "switchlog.db").exists()
        assert httpx.get(f"{server.url}/docs").status_code == 200
        spec = httpx.get(f"{server.url}/openapi.json").json()
        assert "/v1/customers" in spec["paths"]
        headers = _token(server.url, printed.group(1), printed.group(2))
        assert httpx.get(f"{server.url}/v1/customers", headers=headers).status_code == 200
    finally:
        server.stop()
    again = Server(base_env(), tmp_path)
    try:
        assert "password:" not in again.output()
    finally:
        again.stop()


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    env = {**base_env(), "SWITCHLOG_ADMIN_LOGIN": "root", "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1"}
    server = Server(env, tmp_path)
    acknowledged = []
    try:
        headers = _token(server.url, "root", "root-pass-1")
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            for i in range(40):
                body = {"name": f"Customer {i}", "currency": "EUR", "time_zone": "UTC"}
                response = http.post("/v1/customers", json=body)
                assert response.status_code == 201
                acknowledged.append(response.json()["id"])
    finally:
        server.kill()

    restarted = Server(env, tmp_path)
    try:
        headers = _token(restarted.url, "root", "root-pass-1")
        listed = httpx.get(
            f"{restarted.url}/v1/customers", params={"limit": 500}, headers=headers
        ).json()
        assert sorted(c["id"] for c in listed["items"]) == sorted(acknowledged)
        audit = httpx.get(
            f"{restarted.url}/v1/audit",
            params={"type": "Customer.Created", "limit": 500},
            headers=headers,
        ).json()
        assert len(audit["items"]) == 40
    finally:
        restarted.stop()
