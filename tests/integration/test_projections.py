"""Read models are a function of the log: rebuildable, idempotent, safe to run twice."""

from __future__ import annotations

import threading

from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from projections.runner import ProjectionRunner

CTX = CommandContext(Actor.system("test"))


def _populate(runtime: Runtime, customers: int = 20) -> None:
    reseller = runtime.directory.create_reseller(CTX, "R")
    for i in range(customers):
        customer = runtime.directory.create_customer(
            CTX, f"C{i}", "EUR", "UTC", reseller_id=reseller if i % 2 else None
        )
        runtime.directory.create_account(CTX, customer, f"phone-{i}-1")
        runtime.directory.update_customer(CTX, customer, None, name=f"Customer {i}")
        if i % 3 == 0:
            runtime.directory.close_customer(CTX, customer, None)


def _dump(runtime: Runtime) -> dict[str, object]:
    with runtime.db.transaction(readonly=True) as tx:
        return {name: p.dump(tx) for name, p in runtime.runner.projections.items()}


def test_rebuild_from_zero_gives_the_same_rows(runtime: Runtime) -> None:
    _populate(runtime)
    runtime.runner.catch_up()
    before = _dump(runtime)
    assert len(before["directory"]["customers"]) == 20  # type: ignore[index]
    for name in runtime.runner.projections:
        runtime.runner.rebuild(name)
    assert _dump(runtime) == before


def test_status_reports_lag_until_caught_up(runtime: Runtime) -> None:
    runtime.runner.catch_up()
    _populate(runtime, customers=3)
    lagging = {s.name: s.lag for s in runtime.runner.status()}
    assert all(lag > 0 for lag in lagging.values())
    runtime.runner.catch_up()
    assert all(s.lag == 0 for s in runtime.runner.status())


def test_redelivered_events_change_nothing(runtime: Runtime) -> None:
    _populate(runtime, customers=5)
    runtime.runner.catch_up()
    before = _dump(runtime)
    events = runtime.source.read(0, 10_000)
    with runtime.db.transaction() as tx:
        for projection in runtime.runner.projections.values():
            projection.apply_batch(tx, events)
    assert _dump(runtime) == before


def test_two_runners_on_one_read_model_apply_each_event_once(runtime: Runtime) -> None:
    _populate(runtime, customers=30)
    rival = ProjectionRunner(
        runtime.source, runtime.db, list(runtime.runner.projections.values()), batch_size=7
    )
    runtime.runner.batch_size = 5
    threads = [threading.Thread(target=r.catch_up) for r in (runtime.runner, rival)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = _dump(runtime)
    for name in runtime.runner.projections:
        runtime.runner.rebuild(name)
    assert _dump(runtime) == concurrent
    with runtime.db.transaction(readonly=True) as tx:
        rows = tx.fetchall("SELECT COUNT(*) AS n FROM audit_log")
    assert rows[0]["n"] == len(
        [e for e in runtime.source.read(0, 100_000) if getattr(e.event, "audited", False)]
    )
