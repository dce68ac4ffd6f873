"""Time comes from an injected clock: a test moves it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.clock import FileClock
from composition.runtime import Runtime
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext
from domain.shared.clock import ManualClock, ticking
from tests.e2e.processes import free_port
from tests.integration.conftest import make_settings

CTX = CommandContext(Actor.system("test"))
MOMENT = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)


def test_events_take_their_time_from_the_clock_in_force() -> None:
    clock = ManualClock(MOMENT)
    from domain.shared.actor import acting_as

    with acting_as(CTX), ticking(clock):
        customer = Customer(
            name="Timed",
            currency="EUR",
            time_zone="UTC",
            reseller_id=None,
            login=None,
            password_hash=None,
        )
        clock.advance(90)
        customer.close()
    created, closed = customer.collect_events()
    assert created.timestamp == MOMENT
    assert closed.timestamp == MOMENT + timedelta(seconds=90)


def test_a_process_clock_file_dates_events_and_drives_webhook_retries(
    store_url: str, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    FileClock(clock_file).set(MOMENT)
    settings = make_settings(
        store_url,
        tmp_path,
        test_clock_file=clock_file,
        webhooks_allow_private_networks=True,
        webhook_retry_schedule=(3600,),
    )
    runtime = Runtime(settings)
    try:
        runtime.webhooks.register(CTX, f"http://127.0.0.1:{free_port()}/", [], None, None)
        customer = runtime.directory.create_customer(CTX, "Clocked", "EUR", "UTC")
        assert runtime.directory.load(customer, Customer).created_on == MOMENT
        runtime.runner.catch_up()
        deliverer = runtime.deliverer()
        assert deliverer.run_once() >= 1  # refused: the retry is due an hour later
        assert deliverer.run_once() == 0  # nothing due yet on this clock
        FileClock(clock_file).set(MOMENT + timedelta(hours=1, seconds=1))
        assert deliverer.run_once() >= 1  # due at once: no waiting
        assert deliverer.deliveries("failed")  # the one retry ran out: dead-lettered
        deliverer.close()
    finally:
        runtime.close()
