"""Extension creation through the API, beside the raw append rate of the same run.

    .venv/bin/python -m bench.extensions [--count 400] [--writers 8] [--skip-postgres]
                                         [--postgres-url URL]

The API is the real app in process (FastAPI's TestClient over ASGI, no network), with the
read models projected in process, so each answer waits (read-your-writes) until the
extension shows. Each creation is one command spanning two contexts: the directory's
account and login, provisioning's extension and the agreement's usage, committed as one
append. Three runs per store:

- one writer, one customer;
- `--writers` writers, each with its own customer (no shared aggregate);
- `--writers` writers on one customer whose agreement they all draw on (every creation
  races for the same agreement: losers reload and retry).

The baseline is raw appends of as many rows per transaction as one creation appends, in
the same store, one transaction at a time. Not part of the test suite: it prints figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

from adapters.settings import Settings
from api.app import create_app
from bench.run import _customers, _postgres_factory, _raw_insert, _stored_rows
from composition.runtime import Runtime

ADMIN, PASSWORD = "bench-admin", "bench-admin-password"


def _client(url: str, scratch: Path) -> tuple[Runtime, TestClient, dict[str, str]]:
    settings = Settings(
        store_url=url,
        var_dir=scratch / "var",
        admin_login=ADMIN,
        admin_password=PASSWORD,
        jwt_secret="bench-" + "x" * 40,
    )
    runtime = Runtime(settings)
    runtime.bootstrap_admin()
    client = TestClient(create_app(settings, runtime))
    client.__enter__()
    token = client.post("/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
    return runtime, client, {"Authorization": f"Bearer {token.json()['access_token']}"}


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def _customer(client: TestClient, admin: dict[str, str], name: str, products: list[str]) -> str:
    body = {"name": name, "currency": "EUR", "time_zone": "UTC"}
    customer = _ok(client.post("/v1/customers", json=body, headers=admin))
    items = [{"product_id": p, "quantity": 0} for p in products]
    agreement = {"products": items}
    _ok(client.put(f"/v1/customers/{customer['id']}/agreement", json=agreement, headers=admin), 200)
    return str(customer["id"])


def _create_all(
    client: TestClient, admin: dict[str, str], jobs: list[tuple[str, str]], products: list[str]
) -> tuple[float, int]:
    """Create the extensions (customer, extension) with the pool's writers; returns
    creations per second and how many answered 409 conflict (retries ran out)."""

    def create(job: tuple[str, str]) -> int:
        customer, number = job
        body = {"extension": number, "products": products}
        answer = client.post(f"/v1/customers/{customer}/extensions", json=body, headers=admin)
        if answer.status_code == 409 and answer.json()["code"] == "conflict":
            return 0
        _ok(answer)
        return 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=_WRITERS[0]) as pool:
        made = sum(pool.map(create, jobs))
    return made / (time.perf_counter() - started), len(jobs) - made


_WRITERS = [8]


def _store(store: str, url: str, count: int, writers: int, console: Console) -> list[list[str]]:
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix=f"bench-ext-{store}-") as tmp:
        runtime, client, admin = _client(url, Path(tmp))
        try:
            product = _ok(
                client.post("/v1/products", json={"name": "PBX", "kind": "main"}, headers=admin)
            )["id"]
            products = [product]

            def run(what: str, writers_: int, customers: list[str]) -> None:
                _WRITERS[0] = writers_
                jobs = [(customers[i % len(customers)], str(1000 + i)) for i in range(count)]
                head = runtime.source.max_position()
                rate, lost = _create_all(client, admin, jobs, products)
                per = (runtime.source.max_position() - head) / max(count - lost, 1)
                rows.append([store, what, f"{rate:,.0f}/s", f"{per:.1f}", str(lost)])
                console.print(
                    f"  {store}: {what}: {rate:,.0f} extensions/s ({per:.1f} events each,"
                    f" {lost} answered 409 after every retry)"
                )

            run("1 writer", 1, [_customer(client, admin, "solo", products)])
            own = [_customer(client, admin, f"own-{i}", products) for i in range(writers)]
            run(f"{writers} writers, a customer each", writers, own)
            run(
                f"{writers} writers, one customer",
                writers,
                [_customer(client, admin, "shared", products)],
            )

            events = round(float(rows[-3][3]))  # uncontended: PostgreSQL burns ids on conflicts
            stored = _stored_rows(runtime, _customers(count, events - 1))
            raw = _raw_insert(store, runtime, stored, events) / (events if events > 2 else 1)
            rows.append(
                [store, f"raw append, {events} rows a transaction", f"{raw:,.0f}/s", "", ""]
            )
            console.print(f"  {store}: raw appends of {events} rows: {raw:,.0f} transactions/s")
        finally:
            client.__exit__(None, None, None)
            runtime.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=400, help="extensions per run")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args(argv)
    console = Console()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ext-") as tmp:
        scratch = Path(tmp)
        stores: list[tuple[str, Callable[[], str]]] = [
            ("sqlite", lambda: f"sqlite:///{scratch}/store.db")
        ]
        if not args.skip_postgres:
            fresh = _postgres_factory(args.postgres_url, scratch)
            stores.append(("postgres", lambda: fresh("extensions")))
        for store, url in stores:
            console.print(f"[bold]{store}[/]: POST /v1/customers/{{id}}/extensions (in process)")
            rows += _store(store, url(), args.count, args.writers, console)
    table = Table("store", "what", "rate", "events per creation", "409 after retries")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
