"""The write path: group commit, durability, notification after commit, the principal cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from adapters.sql import open_database
from api.app import create_app
from composition.runtime import Runtime
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.integration.conftest import login, make_settings
from tests.integration.helpers import assert_problem, create


def _counted() -> tuple[float, float]:
    transactions = REGISTRY.get_sample_value("switchlog_store_transactions_total") or 0.0
    writes = REGISTRY.get_sample_value("switchlog_store_writes_total") or 0.0
    return transactions, writes


def _together(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run `call(i)` for i < count on `count` threads released at the same moment."""
    start = threading.Barrier(count)

    def one(i: int) -> Any:
        start.wait()
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_requests_share_transactions_and_each_gets_its_own_answer(
    client: TestClient, admin: dict[str, str]
) -> None:
    before = _counted()
    responses = _together(
        32,
        lambda i: client.post(
            "/v1/customers",
            json={"name": f"Burst {i}", "currency": "EUR", "time_zone": "UTC"},
            headers=admin,
        ),
    )
    transactions, writes = (a - b for a, b in zip(_counted(), before, strict=True))

    assert [r.status_code for r in responses] == [201] * 32, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert [b["name"] for b in bodies] == [f"Burst {i}" for i in range(32)]
    assert len({b["id"] for b in bodies}) == 32
    for body in bodies:  # each answer is its own customer, committed and readable
        shown = client.get(f"/v1/customers/{body['id']}", headers=admin).json()
        assert shown["name"] == body["name"]
    assert writes >= 32
    assert transactions < writes, (transactions, writes)


def test_a_conflict_in_a_shared_transaction_fails_only_its_own_command(
    client: TestClient, admin: dict[str, str]
) -> None:
    target = create(client, admin, "customers", name="Contended", currency="EUR", time_zone="UTC")
    etag = client.get(f"/v1/customers/{target['id']}", headers=admin).headers["ETag"]

    def command(i: int) -> Any:
        if i % 2:  # half rename one customer from the same version: one may win
            return client.patch(
                f"/v1/customers/{target['id']}",
                json={"name": f"Renamed {i}"},
                headers={**admin, "If-Match": etag},
            )
        return client.post(
            "/v1/customers",
            json={"name": f"Bystander {i}", "currency": "EUR", "time_zone": "UTC"},
            headers=admin,
        )

    responses = _together(32, command)
    renames = [r for i, r in enumerate(responses) if i % 2]
    creations = [r for i, r in enumerate(responses) if not i % 2]

    assert [r.status_code for r in creations] == [201] * 16, [r.text for r in creations]
    # One wins; the others learn the version moved: before their decision (412) or at the
    # store, inside a shared transaction (409). Neither takes the bystanders down with it.
    assert sorted(r.status_code for r in renames)[0] == 200
    for refused in sorted(renames, key=lambda r: r.status_code)[1:]:
        code = {409: "conflict", 412: "precondition_failed"}.get(refused.status_code, "?")
        assert_problem(refused, refused.status_code, code)
    winner = next(r for r in renames if r.status_code == 200).json()["name"]
    assert client.get(f"/v1/customers/{target['id']}", headers=admin).json()["name"] == winner


def test_a_lone_writer_commits_alone(runtime: Runtime, client: TestClient, admin: dict) -> None:
    # The first customer also reserves a block of customer numbers (a transaction of its
    # own, committed before the number is used); the second is a lone command.
    create(client, admin, "customers", name="First", currency="EUR", time_zone="UTC")
    before = _counted()
    create(client, admin, "customers", name="Alone", currency="EUR", time_zone="UTC")
    transactions, writes = (a - b for a, b in zip(_counted(), before, strict=True))
    assert (transactions, writes) == (1, 1)


def test_commits_are_durable(runtime: Runtime, store_url: str) -> None:
    if store_url.startswith("sqlite"):
        with runtime.directory.recorder.datastore.get_connection(commit=False) as connection:  # type: ignore[attr-defined]
            mode = connection._sqlite_conn.execute("PRAGMA journal_mode").fetchone()[0]
            synchronous = connection._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0]
        assert (mode, synchronous) == ("wal", 2)  # 2 = FULL: every commit is fsynced
    else:
        database = open_database(store_url)
        try:
            with database.transaction(readonly=True) as tx:
                row = tx.fetchone("SHOW synchronous_commit")
            assert row is not None and row["synchronous_commit"] == "on"
        finally:
            database.close()


def test_subscribers_hear_of_a_save_only_after_it_committed(
    runtime: Runtime, client: TestClient, admin: dict[str, str], store_url: str
) -> None:
    """Whoever is told (streams, read-your-writes) can read the event from elsewhere."""
    seen: list[bool] = []
    other = open_database(store_url)

    def committed(recordings: Any) -> None:
        position = recordings[-1].notification.id
        with other.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT COUNT(*) AS n FROM switchlog_events WHERE notification_id = %s"
                if not store_url.startswith("sqlite")
                else "SELECT COUNT(*) AS n FROM stored_events WHERE rowid = %s",
                (position,),
            )
        seen.append(row is not None and int(row["n"]) == 1)

    runtime.directory.on_saved.append(committed)
    try:
        _together(
            8,
            lambda i: create(
                client, admin, "customers", name=f"Told {i}", currency="EUR", time_zone="UTC"
            ),
        )
    finally:
        runtime.directory.on_saved.remove(committed)
        other.close()
    assert seen and all(seen), seen


def test_the_hot_path_reads_no_events_from_the_store(
    runtime: Runtime, client: TestClient, admin: dict[str, str]
) -> None:
    customer = create(client, admin, "customers", name="Hot path", currency="EUR", time_zone="UTC")
    recorder = runtime.directory.recorder
    reads: list[Any] = []
    select_events = recorder.select_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return select_events(*args, **kwargs)

    recorder.select_events = counted  # type: ignore[method-assign]
    try:
        for _ in range(20):
            response = client.get(f"/v1/customers/{customer['id']}", headers=admin)
            assert response.status_code == 200
    finally:
        del recorder.select_events
    assert reads == []


def test_a_principal_closed_by_another_process_is_refused_within_the_bound(
    store_url: str, tmp_path: Path
) -> None:
    """Two runtimes on one store stand for two API processes; each has its own cache."""
    bound = 1.0
    first = Runtime(make_settings(store_url, tmp_path, read_your_writes_timeout_seconds=bound))
    first.bootstrap_admin()
    second = Runtime(make_settings(store_url, tmp_path, read_your_writes_timeout_seconds=bound))
    try:
        with (
            TestClient(create_app(first.settings, first)) as one,
            TestClient(create_app(second.settings, second)) as two,
        ):
            admin = login(one, ADMIN_LOGIN, ADMIN_PASSWORD)
            reseller = create(
                one, admin, "resellers", name="Far away", login="far", password="far-away-1"
            )
            far = login(one, "far", "far-away-1")
            assert one.get(f"/v1/resellers/{reseller['id']}", headers=far).status_code == 200

            closed = two.post(f"/v1/resellers/{reseller['id']}/close", headers=admin)
            assert closed.status_code in (200, 202), closed.text
            # The closing process refuses the token at once ...
            assert_problem(
                two.get(f"/v1/resellers/{reseller['id']}", headers=far), 401, "unauthenticated"
            )
            # ... and the other within the bound.
            deadline = threading.Event()
            refused = False
            for _ in range(int(bound * 20) + 20):
                if one.get(f"/v1/resellers/{reseller['id']}", headers=far).status_code == 401:
                    refused = True
                    break
                deadline.wait(0.1)
            assert refused
    finally:
        second.close()
        first.close()
