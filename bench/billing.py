"""Billing periods: replay of a period and reprocess of many invoices, on a SQLite file.

    python -m bench.billing [--customers 1000] [--legs 100000] [--store-url URL]
                            [--no-reprocess]

Builds `--customers` customers (one account each, one tariff), appends `--legs` finished
legs in October 2026 spread over them (as `calls.Leg.Finished`, in batches), rates them
with the rater, closes every customer's period (one invoice each), then prints:

- replay: `Invoicer.replay` of one customer's period, which reads every xDR event of the
  log up to the invoice's position (seconds, events read);
- reprocess: a rate change, then `Invoicer.reprocess` of the whole period (seconds,
  invoices reissued, peak Python memory by tracemalloc and the process's max RSS).

Not part of the test suite's pass/fail: it prints figures.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from rich.console import Console

from adapters.settings import Settings
from composition.billing import invoicer, service
from composition.provisioning import customer_owner
from composition.provisioning import service as provisioning
from composition.runtime import Runtime
from domain.calls.legs import Direction, Service
from domain.calls.legs import Leg as CallLeg
from domain.shared.actor import Actor, CommandContext, acting_as
from domain.shared.clock import ticking

CTX = CommandContext(Actor.system("bench"))
START = datetime(2026, 10, 1, tzinfo=UTC)
RATE = {"prefix": "44", "price_per_minute": "0.60", "first_interval": 30, "next_interval": 6}


def build(rt: Runtime, customers: int, legs: int, console: Console) -> tuple[UUID, list[UUID]]:
    billing = service(rt)
    tariff = billing.create_tariff(CTX, "Bench", "EUR", 4, [RATE])
    product = provisioning(rt).create_product(CTX, "Bench calls", "main")
    billing.set_product_tariff(CTX, product, tariff)
    made: list[tuple[UUID, UUID]] = []
    t0 = time.perf_counter()
    for i in range(customers):
        customer = rt.directory.create_customer(CTX, f"C{i}", "EUR", "UTC", None, None, None)
        account = rt.directory.create_account(CTX, customer, f"c{i}-1", None)
        owner = customer_owner(rt, customer)
        provisioning(rt).set_agreement(CTX, owner, [(product, 0)])
        provisioning(rt).set_main_product(CTX, owner, account, product)
        made.append((customer, account))
    console.print(f"{customers} customers in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    batch: list[CallLeg] = []
    seconds = 31 * 86_400
    with acting_as(CTX), ticking(billing.clock):
        for n in range(legs):
            customer, account = made[n % customers]
            leg = CallLeg(
                leg_id=uuid4(),
                account_id=account,
                customer_id=customer,
                reseller_id=None,
                record_id=None,
            )
            at = START + timedelta(seconds=(n * 7919) % seconds)
            leg.finish(
                service=Service.VOICE,
                direction=Direction.OUTGOING,
                cli="1",
                cld=f"44{n % 100_000_000:08d}",
                connect_time=at,
                disconnect_time=at + timedelta(seconds=30 + n % 300),
                quantity=None,
                unit=None,
            )
            batch.append(leg)
            if len(batch) == 1000:
                billing.save(*batch)
                batch = []
        if batch:
            billing.save(*batch)
    console.print(f"{legs} legs appended in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    rt.rater().catch_up()
    console.print(f"rated in {time.perf_counter() - t0:.1f} s")
    return tariff, [c for c, _ in made]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--legs", type=int, default=100_000)
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--no-reprocess", action="store_true", help="replay figures only")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store_url or f"sqlite:///{Path(tmp)}/bench.db"
        rt = Runtime(
            Settings(store_url=url, var_dir=Path(tmp) / "var", billing_rater_in_process=False)
        )
        try:
            tariff, customers = build(rt, args.customers, args.legs, console)
            closer = invoicer(rt)
            t0 = time.perf_counter()
            closer.close_many(CTX, customers, "2026-10")
            closing = time.perf_counter() - t0
            console.print(f"closed {len(customers)} periods in {closing:.1f} s")
            events = rt.services["billing"].recorder.max_notification_id() or 0
            t0 = time.perf_counter()
            replayed = closer.replay(customers[0], "2026-10")
            replay = time.perf_counter() - t0
            console.print(
                f"replay: {replay:.2f} s over a log of {events} events"
                f" ({len(replayed.xdrs)} xDRs of the customer), content_hash"
                f" {replayed.content_hash[:16]}…"
            )
            if args.no_reprocess:
                return
            service(rt).change_rates(CTX, tariff, [{**RATE, "price_per_minute": "0.55"}], "fix")
            rt.runner.catch_up()  # the reprocess picks the issued invoices from the read model
            tracemalloc.start()
            t0 = time.perf_counter()
            job = service(rt).request_reprocess(CTX, "2026-10", None, "bench")
            results = closer.reprocess(CTX, job)
            took = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            console.print(
                f"reprocess: {len(results)} invoices reissued in {took:.1f} s"
                f" ({args.legs} xDRs re-rated); peak traced memory {peak / 2**20:.0f} MiB,"
                f" max RSS {rss:.0f} MiB"
            )
        finally:
            rt.close()


if __name__ == "__main__":
    main()
