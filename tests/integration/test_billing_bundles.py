"""Bundle promotions through the API and the CLI: included minutes rated first, their own
precision, replay and reprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from composition.billing import invoicer, service
from composition.runtime import Runtime
from domain.billing.invoices import Invoice
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

MINUTE = 60


def bundle(client: TestClient, admin: Headers, **more: Any) -> dict[str, Any]:
    body = {
        "name": more.pop("name", "60 min to 1209"),
        "precision": 2,
        "period": "monthly",
        "included": [{"prefix": "1209", "minutes": 60}],
        **more,
    }
    return create(client, admin, "bundle-promotions", **body)


def bundled(
    client: TestClient, admin: Headers, made: dict[str, Any], tariff_id: str, **more: Any
) -> dict[str, Any]:
    setup = billed_account(client, admin, tariff_id, **more)
    patched = client.patch(
        f"/v1/products/{setup['product']['id']}",
        json={"bundle_promotion_id": made["id"]},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["bundle_promotion_id"] == made["id"]
    return setup


def rated(client: TestClient, admin: Headers, account: str, seconds: int, at: str) -> Any:
    answer = usage(client, admin, account, "12095551234", seconds, at=at)
    assert answer.status_code == 201, answer.text
    return answer.json()


def covered(xdr: dict[str, Any]) -> tuple[int, int]:
    shown = xdr["rate"]["bundle"]
    return shown["covered_seconds"], shown["left_seconds"]


def test_sixty_free_minutes_cover_the_month_then_the_next_month_again(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    made = bundle(client, admin)
    assert made["included"] == [{"prefix": "1209", "minutes": 60, "discount_percent": 100}]
    standard = tariff(client, admin, [rate("1209", "0.60", 30, 6), rate("44", "0.60", 30, 6)])
    setup = bundled(client, admin, made, standard["id"])
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    first = rated(client, admin, account, 25 * MINUTE, "2026-10-05T10:00:00+00:00")
    second = rated(client, admin, account, 30 * MINUTE, "2026-10-06T10:00:00+00:00")
    third = rated(client, admin, account, 10 * MINUTE, "2026-10-07T10:00:00+00:00")
    assert (first["amount"], covered(first)) == ("0.00", (1500, 2100))
    assert (second["amount"], covered(second)) == ("0.00", (1800, 300))
    # 5 minutes covered, 5 charged: 0.60 x 300 / 60
    assert (third["charged_seconds"], third["amount"], covered(third)) == (600, "3.00", (300, 0))
    assert third["rate"]["bundle"]["id"] == made["id"]
    other = usage(client, admin, account, "4420", 60, at="2026-10-08T10:00:00+00:00").json()
    assert other["amount"] == "0.60" and "bundle" not in other["rate"]  # not an included prefix
    nxt = rated(client, admin, account, 10 * MINUTE, "2026-11-03T10:00:00+00:00")
    assert (nxt["amount"], covered(nxt)) == ("0.00", (600, 3000))

    # the issued invoice's hash is the replay's, from the log alone
    closed = client.post(
        "/v1/billing/periods/close",
        json={"customer_id": customer, "period": "2026-10"},
        headers=admin,
    )
    assert closed.status_code == 201, closed.text
    invoice = closed.json()
    assert invoice["total"] == "3.60"
    replayed = invoicer(runtime).replay(UUID(customer), "2026-10")
    assert replayed.content_hash == invoice["content_hash"]
    assert [x["amount"] for x in replayed.xdrs] == ["0.00", "0.00", "3.00", "0.60"]

    # a tariff change reprocessed: the same seconds covered, the rest at the new price
    fixed = client.post(
        f"/v1/tariffs/{standard['id']}/rates",
        json={"rates": [rate("1209", "0.30", 30, 6)], "reason": "cheaper 1209"},
        headers=admin,
    )
    assert fixed.status_code in (200, 201), fixed.text
    job = client.post(
        "/v1/billing/reprocess",
        json={"period": "2026-10", "customer_id": customer, "reason": "1209 fix"},
        headers=admin,
    )
    assert job.status_code == 202, job.text
    done = wait_job(client, admin, job.json()["id"])
    (entry,) = done["invoices"]
    assert (entry["old_total"], entry["new_total"]) == ("3.60", "2.10")
    (change,) = entry["changes"]
    assert (change["old_amount"], change["new_amount"]) == ("3.00", "1.50")
    listed = client.get("/v1/xdrs", params={"customer_id": customer}, headers=admin).json()
    by_time = [
        (x["amount"], x["rate"].get("bundle", {}).get("covered_seconds")) for x in listed["items"]
    ]
    assert by_time == [("0.00", 1500), ("0.00", 1800), ("1.50", 300), ("0.60", None), ("0.00", 600)]
    assert (
        invoicer(runtime).replay(UUID(customer), "2026-10").content_hash
        == (
            client.get(f"/v1/invoices/{entry['new_invoice_id']}", headers=admin).json()[
                "content_hash"
            ]
        )
    )


def test_the_resellers_xdr_is_never_covered_and_a_rebuilt_catalogue_counts_the_same(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    made = bundle(client, admin)
    retail = tariff(client, admin, [rate("1209", "0.60")], name="Retail")
    wholesale = tariff(client, admin, [rate("1209", "0.20")], name="Wholesale", precision=4)
    reseller = create(client, admin, "resellers", name="Resell")
    billing = {"currency": "EUR", "time_zone": "UTC", "tariff_id": wholesale["id"]}
    configured = client.patch(
        f"/v1/resellers/{reseller['id']}", json={"billing": billing}, headers=admin
    )
    assert configured.status_code == 200, configured.text
    setup = bundled(client, admin, made, retail["id"], name="Sub", reseller_id=reseller["id"])
    account = setup["account"]["id"]
    xdr = rated(client, admin, account, 40 * MINUTE, "2026-10-05T10:00:00+00:00")
    assert (xdr["amount"], covered(xdr)) == ("0.00", (2400, 1200))
    listed = client.get(
        "/v1/xdrs", params={"account_id": account, "level": "reseller"}, headers=admin
    ).json()["items"]
    (wholesale_xdr,) = listed
    assert wholesale_xdr["amount"] == "8.0000" and "bundle" not in wholesale_xdr["rate"]
    rated(client, admin, account, 30 * MINUTE, "2026-10-06T10:00:00+00:00")  # 20 min left
    # the catalogue a restarted rater or a reprocess builds from the log counts the same
    rater = runtime.rater()
    book = rater.catalogue_at(rater.position(), counted=True)
    (counted,) = book.bundle_counters.legs.values()
    assert list(counted.values()) == [2400, 1800]
    # a close's or a replay's reads no legs (it reads the xDRs as recorded): same parties
    bare = rater.catalogue_at(rater.position())
    assert bare.bundle_counters.legs == {}
    assert bare.customers == book.customers and bare.classes == book.classes
    later = rated(client, admin, account, 10 * MINUTE, "2026-10-07T10:00:00+00:00")
    assert (later["amount"], covered(later)) == ("6.00", (0, 0))


def test_the_closer_closes_bundled_months_in_one_round_as_a_replay_rebuilds_them(
    client: TestClient, admin: Headers, runtime: Runtime, clock: Any
) -> None:
    from datetime import UTC, datetime

    made = bundle(client, admin)
    standard = tariff(client, admin, [rate("1209", "0.60", 30, 6)])
    customers = []
    for name in ("Ada", "Bob"):
        setup = bundled(client, admin, made, standard["id"], name=name)
        rated(client, admin, setup["account"]["id"], 50 * MINUTE, "2026-10-05T10:00:00+00:00")
        rated(client, admin, setup["account"]["id"], 20 * MINUTE, "2026-10-06T10:00:00+00:00")
        customers.append(UUID(setup["customer"]["id"]))
    closer = invoicer(runtime)
    clock.set(datetime(2026, 11, 2, tzinfo=UTC))
    issued = closer.close_due()  # one catalogue for the round, moved on by each close
    invoices = [service(runtime).load(i, Invoice) for i in issued]
    assert sorted(i.customer_id for i in invoices) == sorted(customers)
    for invoice in invoices:
        replayed = closer.replay(invoice.customer_id, "2026-10")
        assert [x["amount"] for x in replayed.xdrs] == ["0.00", "6.00"]  # 10 min past the 60
        assert replayed.content_hash == invoice.content_hash


def wait_job(client: TestClient, admin: Headers, job: str) -> dict[str, Any]:
    for _ in range(200):
        shown = client.get(f"/v1/billing/reprocess/{job}", headers=admin)
        if shown.status_code == 200 and shown.json()["status"] != "running":
            return shown.json()  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"reprocess {job} did not finish")


def test_a_half_price_bundle_rounds_at_its_own_four_decimals_by_the_class_method(
    client: TestClient, admin: Headers
) -> None:
    """0.1226 a minute, 10 s at 50 % off: 0.010216... -> 0.0102 half away from zero,
    0.0103 away from zero (the tariff's 2 decimals would say 0.03 without the bundle)."""
    made = bundle(
        client,
        admin,
        name="Half price",
        precision=4,
        included=[{"prefix": "1209", "minutes": 1, "discount_percent": 50}],
    )
    per_second = tariff(client, admin, [rate("1209", "0.1226", 1, 1)], name="Per second")
    half = create(client, admin, "customer-classes", name="Half", rounding="half_away_from_zero")
    a = bundled(client, admin, made, per_second["id"], name="A", class_id=half["id"])
    b = bundled(client, admin, made, per_second["id"], name="B")
    at = "2026-10-05T10:00:00+00:00"
    xa = rated(client, admin, a["account"]["id"], 10, at)
    xb = rated(client, admin, b["account"]["id"], 10, at)
    assert (xa["amount"], xa["precision"], covered(xa)) == ("0.0102", 4, (10, 50))
    assert (xb["amount"], xb["precision"], covered(xb)) == ("0.0103", 4, (10, 50))
    # 100 s once the minute is used up: nothing covered, the tariff's precision
    later = rated(client, admin, a["account"]["id"], 100, "2026-10-06T10:00:00+00:00")
    assert covered(later) == (50, 0)  # 50 s at half price, 50 s in full
    assert later["amount"] == "0.1533"  # 0.1226 x 50/60 x 1.5 = 0.15325
    last = rated(client, admin, a["account"]["id"], 10, "2026-10-07T10:00:00+00:00")
    assert (last["amount"], last["precision"], covered(last)) == ("0.02", 2, (0, 0))


def test_bad_bundles_are_refused_and_nothing_is_recorded(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    head = runtime.services["billing"].recorder.max_notification_id()
    line = {"prefix": "1209", "minutes": 60}
    for body in (
        {"name": "P", "precision": 7, "included": [line]},
        {"name": "M", "included": [{**line, "minutes": 0}]},
        {"name": "D", "included": [{**line, "discount_percent": 101}]},
        {"name": "X", "included": [{**line, "prefix": "12x9"}]},
        {"name": "+", "included": [{**line, "prefix": "+1209"}]},
        {"name": "E", "included": []},
        {"name": "W", "period": "yearly", "included": [line]},
    ):
        answer = client.post("/v1/bundle-promotions", json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.text)
    assert runtime.services["billing"].recorder.max_notification_id() == head
    assert client.get("/v1/bundle-promotions", headers=admin).json()["items"] == []
    twice = {"name": "T", "included": [line, {**line, "minutes": 5}]}
    assert_problem(
        client.post("/v1/bundle-promotions", json=twice, headers=admin), 422, "invalid_value"
    )
    made = bundle(client, admin)
    assert_problem(
        client.post(
            "/v1/bundle-promotions", json={"name": made["name"], "included": [line]}, headers=admin
        ),
        409,
        "duplicate",
    )
    missing = client.get(f"/v1/bundle-promotions/{UUID(int=7)}", headers=admin)
    assert_problem(missing, 404, "not_found")
    product = create(client, admin, "products", name="P", kind="main")
    unknown = client.patch(
        f"/v1/products/{product['id']}",
        json={"bundle_promotion_id": str(UUID(int=7))},
        headers=admin,
    )
    assert unknown.status_code == 404, unknown.text
    detached = client.patch(
        f"/v1/products/{product['id']}", json={"bundle_promotion_id": made["id"]}, headers=admin
    )
    assert detached.json()["bundle_promotion_id"] == made["id"]
    detached = client.patch(
        f"/v1/products/{product['id']}", json={"bundle_promotion_id": None}, headers=admin
    )
    assert detached.status_code == 200 and detached.json()["bundle_promotion_id"] is None
    assert [
        b["id"] for b in client.get("/v1/bundle-promotions", headers=admin).json()["items"]
    ] == [made["id"]]
    assert client.get(f"/v1/bundle-promotions/{made['id']}", headers=admin).json() == made


def test_a_customer_may_neither_create_nor_read_bundles(client: TestClient, admin: Headers) -> None:
    made = bundle(client, admin)
    create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        login="c-login",
        password="c-password",
    )
    headers = login(client, "c-login", "c-password")
    body = {"name": "Mine", "included": [{"prefix": "1209", "minutes": 5}]}
    assert_problem(
        client.post("/v1/bundle-promotions", json=body, headers=headers), 403, "forbidden"
    )
    assert_problem(client.get("/v1/bundle-promotions", headers=headers), 403, "forbidden")
    got = client.get(f"/v1/bundle-promotions/{made['id']}", headers=headers)
    assert_problem(got, 403, "forbidden")
    product = create(client, admin, "products", name="Q", kind="main")
    patched = client.patch(
        f"/v1/products/{product['id']}", json={"bundle_promotion_id": made["id"]}, headers=headers
    )
    assert patched.status_code in (403, 404), patched.text


def test_cli_bundle_create(client: TestClient, admin: Headers, settings: Any) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    env = {
        "SWITCHLOG_STORE_URL": settings.store_url,
        "SWITCHLOG_VAR_DIR": str(settings.var_dir),
        "SWITCHLOG_JWT_SECRET": settings.jwt_secret.get_secret_value(),
    }
    result = CliRunner().invoke(
        app,
        [
            "billing",
            "bundle-create",
            "--name",
            "CLI bundle",
            "--precision",
            "4",
            "--period",
            "weekly",
            "--include",
            "1209:60",
            "--include",
            "44:30:50",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    bundle_id = result.output.strip().split()[-1]
    shown = eventually(
        lambda: (
            (r := client.get(f"/v1/bundle-promotions/{bundle_id}", headers=admin))
            and r.status_code == 200
            and r
        )
    )
    assert shown.json()["included"] == [
        {"prefix": "1209", "minutes": 60, "discount_percent": 100},
        {"prefix": "44", "minutes": 30, "discount_percent": 50},
    ]
    bad = CliRunner().invoke(
        app, ["billing", "bundle-create", "--name", "Bad", "--include", "1209:0"], env=env
    )
    assert bad.exit_code == 2, bad.output


def emit_every_bundle_event(rt: Runtime, ctx: Any) -> None:
    """BundlePromotion.Created, ProductBundle.BundleAttached/.BundleChanged."""
    billing = service(rt)
    product = rt.services["provisioning"].create_product(ctx, "Bundled product", "main")  # type: ignore[attr-defined]
    made = billing.create_bundle_promotion(
        ctx, "Round trip bundle", 2, "monthly", [{"prefix": "1209", "minutes": 60}]
    )
    billing.set_product_bundle(ctx, product, made)
    billing.set_product_bundle(ctx, product, None)
