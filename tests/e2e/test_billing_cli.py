"""`switchlog billing` as an operator runs it: the rater as its own process, rate tables."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from adapters.settings import Settings
from composition.billing import service
from composition.provisioning import customer_owner
from composition.provisioning import service as provisioning
from composition.runtime import Runtime
from domain.billing.application import Usage
from domain.shared.actor import Actor, CommandContext
from tests.conftest import eventually
from tests.e2e.commands import switchlog
from tests.e2e.processes import base_env, switchlog_bin

CTX = CommandContext(Actor.system("test"))


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        store_url=f"sqlite:///{tmp_path}/switchlog.db",
        var_dir=tmp_path / "var",
        billing_rater_in_process=False,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **base_env(),
        "SWITCHLOG_STORE_URL": f"sqlite:///{tmp_path}/switchlog.db",
        "SWITCHLOG_VAR_DIR": str(tmp_path / "var"),
    }


def _billed(rt: Runtime) -> tuple[UUID, UUID]:
    """A tariff (44 at 0.60/min) on the main product of a customer's only account."""
    billing = service(rt)
    tariff = billing.create_tariff(
        CTX,
        "Retail",
        "EUR",
        2,
        [{"prefix": "44", "price_per_minute": "0.60", "first_interval": 60, "next_interval": 60}],
    )
    product = provisioning(rt).create_product(CTX, "Calls", "main")
    billing.set_product_tariff(CTX, product, tariff)
    customer = rt.directory.create_customer(CTX, "ABC", "EUR", "UTC", None, None, None)
    account = rt.directory.create_account(CTX, customer, "abc-1", None)
    owner = customer_owner(rt, customer)
    provisioning(rt).set_agreement(CTX, owner, [(product, 0)])
    provisioning(rt).set_main_product(CTX, owner, account, product)
    return tariff, account


def test_billing_rate_rates_usage_as_its_own_process_until_stopped(tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path))
    try:
        _tariff, account = _billed(rt)
        at = datetime(2026, 10, 5, 10, tzinfo=UTC)
        service(rt).record_usage(CTX, Usage(account, "voice", "1", "4420", at, 95, "a"))
        worker = subprocess.Popen(
            [switchlog_bin(), "billing", "rate"],
            env=_env(tmp_path),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            (first,) = eventually(lambda: _xdrs(rt))
            assert (first["amount"], first["charged_seconds"]) == ("1.20", 120)
            service(rt).record_usage(CTX, Usage(account, "voice", "1", "4420", at, 30, "b"))
            eventually(lambda: len(_xdrs(rt)) == 2)
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, output
        service(rt).record_usage(CTX, Usage(account, "voice", "1", "4420", at, 1, "c"))
        once = switchlog(["billing", "rate", "--once"], _env(tmp_path), tmp_path)
        assert once.returncode == 0, once.stdout + once.stderr
        assert "rated up to log position" in once.stdout
        assert len(_xdrs(rt)) == 3
    finally:
        rt.close()


def _xdrs(rt: Runtime) -> list[dict[str, object]]:
    from composition.billing import queries
    from domain.directory.access import Scope
    from domain.shared.actor import Realm

    rt.runner.catch_up()  # the test's own read models, on the worker's xDR events
    return queries(rt).xdrs(Scope(Realm.SYSTEM), {}, 100, 0)[0]


def test_rate_table_upload_records_the_file_or_refuses_it_in_one_line(tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path))
    try:
        tariff, _account = _billed(rt)
    finally:
        rt.close()
    env = _env(tmp_path)
    good = tmp_path / "rates.csv"
    good.write_text(
        "prefix,price_per_minute,first_interval,next_interval\n"
        + "".join(f"{3300 + n},0.0{n % 9 + 1},30,6\n" for n in range(1500))
    )
    done = switchlog(
        ["billing", "rate-table", "upload", "--tariff", str(tariff), str(good), "--reason", "Q4"],
        env,
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1500 rates recorded in 2 events" in done.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("prefix,price_per_minute,first_interval,next_interval\n33x,0.1,30,6\n")
    refused = switchlog(
        ["billing", "rate-table", "upload", "--tariff", str(tariff), str(bad), "--reason", "x"],
        env,
        tmp_path,
    )
    assert refused.returncode == 2
    assert refused.stderr.count("error:") == 1 and "row 2" in refused.stderr
    audit = switchlog(["audit", "--subject", str(tariff), "--json"], env, tmp_path)
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    changes = [r for r in rows if r["type"] == "billing.Tariff.RatesChanged"]
    assert len(changes) == 3  # one at creation, two for the file's 1,500 rates
    assert {r["actor"]["id"].split(":")[0] for r in changes} == {"system"}
