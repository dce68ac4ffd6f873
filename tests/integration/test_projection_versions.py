"""Read models are independent: each has its own position and schema version."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.sql import Transaction
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from projections.base import LoggedEventLike, Projection
from projections.directory import DirectoryProjection
from tests.integration.conftest import make_settings

CTX = CommandContext(Actor.system("test"))


def _rows(rt: Runtime, table: str) -> list[dict[str, object]]:
    with rt.db.transaction(readonly=True) as tx:
        return tx.fetchall(f"SELECT * FROM {table} ORDER BY id")


def test_a_read_model_with_a_new_schema_version_rebuilds_by_itself(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(store_url, tmp_path)
    first = Runtime(settings)
    for i in range(5):
        first.directory.create_customer(CTX, f"Versioned {i}", "EUR", "UTC")
    first.runner.catch_up()
    before = _rows(first, "customers")
    audit_position = first.runner.position("audit")
    assert first.rebuilding == []
    first.close()

    monkeypatch.setattr(DirectoryProjection, "version", 2)
    second = Runtime(settings)
    try:
        assert second.rebuilding == ["directory"]
        assert _rows(second, "customers") == []  # dropped, position back to zero
        assert second.runner.position("directory") == 0
        assert second.runner.position("audit") == audit_position  # the others are untouched
        second.runner.catch_up()
        assert _rows(second, "customers") == before
    finally:
        second.close()
    third = Runtime(settings)
    assert third.rebuilding == []  # rebuilt once, then it stays
    third.close()


class _Counter(Projection):
    """A read model added after the log already has history."""

    name = "counter"
    tables = ("event_counter",)
    schema = ("CREATE TABLE IF NOT EXISTS event_counter (id TEXT PRIMARY KEY, n BIGINT)",)

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        tx.execute(
            "INSERT INTO event_counter VALUES ('all', %s) ON CONFLICT (id)"
            " DO UPDATE SET n = event_counter.n + excluded.n",
            (len(batch),),
        )


def test_a_read_model_added_later_builds_from_the_whole_history(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(store_url, tmp_path)
    first = Runtime(settings)
    for i in range(3):
        first.directory.create_customer(CTX, f"History {i}", "EUR", "UTC")
    first.runner.catch_up()
    head = first.source.max_position()
    first.close()

    original = Runtime._projections
    monkeypatch.setattr(Runtime, "_projections", lambda self: [*original(self), _Counter()])
    later = Runtime(settings)
    try:
        assert later.rebuilding == ["counter"]
        later.runner.catch_up()
        assert _rows(later, "event_counter") == [{"id": "all", "n": head}]
        assert later.runner.position("counter") == head
    finally:
        later.close()


def test_a_scratch_replay_runs_only_read_models_safe_to_replay(
    runtime: Runtime, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    runtime.directory.create_customer(CTX, "Replayed", "EUR", "UTC")
    now = datetime.now(UTC)
    counts = runtime.replay(
        now - timedelta(hours=1), now + timedelta(hours=1), f"sqlite:///{tmp_path}/r.db", False
    )
    assert counts["customers"] == 1
    assert not any(table.startswith("webhook") for table in counts)
