"""Rating through the API: usage in, xDRs out, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from composition.billing import service
from composition.runtime import Runtime
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.helpers import assert_problem, create


def xdrs(client: TestClient, headers: Headers, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/xdrs", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_thirty_six_billing_bills_95_seconds_as_96(client: TestClient, admin: Headers) -> None:
    made = tariff(client, admin, [rate("44", "0.60", 30, 6)])
    setup = billed_account(client, admin, made["id"])
    answer = usage(client, admin, setup["account"]["id"], "4420712345678", 95)
    assert answer.status_code == 201, answer.text
    xdr = answer.json()
    assert xdr["status"] == "rated"
    assert xdr["charged_seconds"] == 96
    assert xdr["amount"] == "0.96"
    assert xdr["rate_prefix"] == "44"
    assert xdr["level"] == "customer"
    assert xdr["currency"] == "EUR"


def test_ten_free_seconds_with_sixty_sixty_bill_65_seconds_as_60(
    client: TestClient, admin: Headers
) -> None:
    made = tariff(client, admin, [rate("44", "1.20", free_seconds=10)])
    setup = billed_account(client, admin, made["id"])
    xdr = usage(client, admin, setup["account"]["id"], "4420", 65).json()
    assert (xdr["charged_seconds"], xdr["amount"]) == (60, "1.20")


def test_the_xdr_shows_in_the_accounts_list_with_its_fields(
    client: TestClient, admin: Headers
) -> None:
    made = tariff(client, admin, [rate("44", "0.60", 30, 6, connection_fee="0.05")])
    setup = billed_account(client, admin, made["id"])
    account = setup["account"]["id"]
    usage(client, admin, account, "4420", 95, record_id="cdr-1")
    (listed,) = xdrs(client, admin, account_id=account)
    assert listed["amount"] == "1.01"  # 0.05 + 0.60 x 96 / 60
    assert listed["charged_seconds"] == 96
    assert listed["rate"]["connection_fee"] == "0.05"
    assert listed["customer_id"] == setup["customer"]["id"]
    assert xdrs(client, admin, account_id=account, level="reseller") == []


def test_an_unknown_destination_makes_an_unrated_xdr_with_its_reason(
    client: TestClient, admin: Headers
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    xdr = usage(client, admin, setup["account"]["id"], "33123456", 60).json()
    assert xdr["status"] == "unrated"
    assert xdr["amount"] is None
    assert "33123456" in xdr["reason"]
    (listed,) = xdrs(client, admin, account_id=setup["account"]["id"], status="unrated")
    assert listed["reason"] == xdr["reason"]


def test_an_account_without_a_tariff_gets_unrated_xdrs(client: TestClient, admin: Headers) -> None:
    setup = billed_account(client, admin, None)
    xdr = usage(client, admin, setup["account"]["id"], "4420", 60).json()
    assert xdr["status"] == "unrated"
    assert "no tariff" in xdr["reason"]


def test_a_repeated_record_id_returns_the_first_xdr_and_records_nothing(
    client: TestClient, admin: Headers, log_size: Callable[[], int]
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    account = setup["account"]["id"]
    first = usage(client, admin, account, "4420", 60, record_id="switch-a-77")
    assert first.status_code == 201
    before = log_size()
    again = usage(client, admin, account, "4420", 999, record_id="switch-a-77")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert log_size() == before
    assert len(xdrs(client, admin, account_id=account)) == 1


def test_the_customer_class_rounds_every_xdr(client: TestClient, admin: Headers) -> None:
    malaysian = create(
        client,
        admin,
        "customer-classes",
        name="MY",
        rounding="malaysian",
        invoice_precision=2,
        usage_precision=2,
    )
    made = tariff(client, admin, [rate("44", "1.226")])
    plain = billed_account(client, admin, made["id"], name="Plain")
    classed = billed_account(client, admin, made["id"], name="Kuala", class_id=malaysian["id"])
    shown = client.get(f"/v1/customers/{classed['customer']['id']}", headers=admin).json()
    assert shown["customer_class_id"] == malaysian["id"]
    assert usage(client, admin, plain["account"]["id"], "44", 60).json()["amount"] == "1.23"
    assert usage(client, admin, classed["account"]["id"], "44", 60).json()["amount"] == "1.20"


def test_peak_and_off_peak_follow_the_customers_zone_at_connect_time(
    client: TestClient, admin: Headers
) -> None:
    peaks = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}]
    made = tariff(
        client,
        admin,
        [rate("44", "0.60", off_peak_price_per_minute="0.30")],
        peak_periods=peaks,
    )
    setup = billed_account(client, admin, made["id"], time_zone="Europe/Paris")
    account = setup["account"]["id"]
    # Monday 5 October 2026, 08:30 in Paris (06:30 UTC): peak.
    peak = usage(client, admin, account, "44", 60, at="2026-10-05T06:30:00+00:00").json()
    # 07:30 in Paris, two hours long: the whole call is off-peak, its connect time's period.
    off = usage(client, admin, account, "44", 7200, at="2026-10-05T07:30:00+02:00").json()
    assert (peak["period"], peak["amount"]) == ("peak", "0.60")
    assert (off["period"], off["amount"]) == ("off_peak", "36.00")


def test_a_call_spanning_midnight_at_a_rate_change_is_rated_at_the_old_rate(
    client: TestClient, admin: Headers
) -> None:
    made = tariff(
        client,
        admin,
        [
            rate("44", "0.10", effective_to="2028-03-01T00:00:00+00:00"),
            rate("44", "0.90", effective_from="2028-03-01T00:00:00+00:00"),
        ],
    )
    setup = billed_account(client, admin, made["id"])
    account = setup["account"]["id"]
    leap = usage(client, admin, account, "44", 600, at="2028-02-29T23:55:00+00:00").json()
    after = usage(client, admin, account, "44", 60, at="2028-03-01T00:00:00+00:00").json()
    assert (leap["amount"], leap["rate"]["price_per_minute"]) == ("1.00", "0.10")
    assert after["amount"] == "0.90"


def test_resellers_xdrs_are_priced_by_the_resellers_own_tariff(
    client: TestClient, admin: Headers
) -> None:
    retail = tariff(client, admin, [rate("44", "0.60")], name="Retail")
    wholesale = tariff(client, admin, [rate("44", "0.20")], name="Wholesale", precision=4)
    reseller = create(client, admin, "resellers", name="Resell")
    configured = client.patch(
        f"/v1/resellers/{reseller['id']}",
        json={
            "billing": {
                "currency": "EUR",
                "time_zone": "Europe/Vilnius",
                "tariff_id": wholesale["id"],
            }
        },
        headers=admin,
    )
    assert configured.status_code == 200, configured.text
    assert configured.json()["billing"] == {
        "currency": "EUR",
        "time_zone": "Europe/Vilnius",
        "billing_period": "monthly",
        "tariff_id": wholesale["id"],
    }
    setup = billed_account(client, admin, retail["id"], reseller_id=reseller["id"])
    account = setup["account"]["id"]
    customer_xdr = usage(client, admin, account, "44", 120).json()
    (reseller_xdr,) = xdrs(client, admin, account_id=account, level="reseller")
    assert customer_xdr["amount"] == "1.20"
    assert reseller_xdr["amount"] == "0.4000"
    assert reseller_xdr["reseller_id"] == reseller["id"]
    assert reseller_xdr["leg_id"] == customer_xdr["leg_id"]
    assert reseller_xdr["id"] != customer_xdr["id"]


def test_a_leg_rated_again_is_billed_once(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    """The rater's position lost (a crash before it moved, a restart): the legs are rated
    again and every xDR's append is an integrity conflict, so nothing is billed twice."""
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    account = setup["account"]["id"]
    for n in range(3):
        usage(client, admin, account, "44", 60, record_id=f"r{n}")
    before = runtime.source.max_position()
    from adapters.rater import Rater

    rerun = Rater(service(runtime), runtime.db)
    rerun.setup()
    with runtime.db.transaction() as tx:
        tx.execute("UPDATE billing_rater_state SET position = 0")
    assert rerun.catch_up() > 0
    assert runtime.source.max_position() == before
    assert len(xdrs(client, admin, account_id=account)) == 3


def test_a_closed_period_refuses_usage_with_409_and_records_nothing(
    client: TestClient, admin: Headers, runtime: Runtime, log_size: Callable[[], int]
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    service(runtime).period_closed = lambda customer_id, at: at.year < 2026
    before = log_size()
    old = usage(client, admin, setup["account"]["id"], "44", 60, at="2025-12-31T23:00:00+00:00")
    assert_problem(old, 409, "period_closed")
    assert log_size() == before
    imported = usage(client, admin, setup["account"]["id"], "44", 60, at="2026-01-01T00:00:00Z")
    assert imported.status_code == 201


def test_measured_usage_is_rounded_at_the_class_usage_precision_and_did_at_the_tariffs(
    client: TestClient, admin: Headers
) -> None:
    four = create(
        client,
        admin,
        "customer-classes",
        name="Four",
        rounding="away_from_zero",
        invoice_precision=2,
        usage_precision=4,
    )
    made = tariff(client, admin, [rate("999", "0.00333"), rate("998", "1.5")])
    setup = billed_account(client, admin, made["id"], class_id=four["id"])
    account = setup["account"]["id"]
    storage = usage(
        client, admin, account, "999", 0, service="measured", quantity="7", unit="GB"
    ).json()
    assert (storage["amount"], storage["quantity"], storage["unit"]) == ("0.0234", "7", "GB")
    assert storage["charged_seconds"] is None
    did = usage(client, admin, account, "998", 0, service="did").json()
    assert (did["amount"], did["quantity"], did["precision"]) == ("1.50", "1", 2)


def test_a_reseller_sees_its_customers_xdrs_and_its_own_price(
    client: TestClient, admin: Headers
) -> None:
    from tests.integration.conftest import login

    reseller = create(client, admin, "resellers", name="R1", login="r1", password="r1-password")
    client.patch(
        f"/v1/resellers/{reseller['id']}",
        json={
            "billing": {
                "currency": "EUR",
                "tariff_id": tariff(client, admin, [rate("44", "0.20")], name="W")["id"],
            }
        },
        headers=admin,
    )
    made = tariff(client, admin, [rate("44", "0.60")])
    mine = billed_account(client, admin, made["id"], name="Mine", reseller_id=reseller["id"])
    other = billed_account(client, admin, made["id"], name="Direct")
    usage(client, admin, mine["account"]["id"], "44", 60)
    usage(client, admin, other["account"]["id"], "44", 60)
    headers = login(client, "r1", "r1-password")
    (customer_level,) = xdrs(client, headers)
    (own,) = xdrs(client, headers, level="reseller")
    assert customer_level["customer_id"] == mine["customer"]["id"]
    assert (customer_level["amount"], own["amount"]) == ("0.60", "0.20")


def test_an_xdr_event_delivered_twice_adds_no_row(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    """At-least-once sources (Kafka after a relay restart) may deliver an xDR again."""
    from domain.billing.xdrs import Leg
    from projections.billing import BillingProjection

    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    usage(client, admin, setup["account"]["id"], "44", 60)
    rated = [e for e in runtime.source.read(0, 10_000) if isinstance(e.event, Leg.Rated)]
    assert len(rated) == 1
    with runtime.db.transaction() as tx:
        BillingProjection().apply_batch(tx, rated)
    assert len(xdrs(client, admin, account_id=setup["account"]["id"])) == 1


def test_a_callback_leg_is_rated_by_the_incoming_rate_seed_001(
    client: TestClient, admin: Headers
) -> None:
    """Click-to-call: the account registered for the API pays for the legs PortaSwitch
    places, which its product rates with the INCOMING access code."""
    made = tariff(
        client,
        admin,
        [rate("44", "0.60"), rate("44", "0.05", access_code="incoming")],
    )
    bistro = billed_account(client, admin, made["id"], name="Quick and Tasty")
    account = bistro["account"]["id"]
    callback = usage(client, admin, account, "447700900123", 60, direction="incoming").json()
    assert (callback["access_code"], callback["amount"]) == ("incoming", "0.05")
    other = tariff(client, admin, [rate("44", "0.60")], name="Outgoing only")
    plain = billed_account(client, admin, other["id"], name="No incoming")
    refused = usage(
        client, admin, plain["account"]["id"], "447700900123", 60, direction="incoming"
    ).json()
    assert refused["status"] == "unrated" and "incoming" in refused["reason"]


def test_usage_answers_202_while_no_rater_runs_and_its_xdr_shows_once_one_does(
    store_url: str, tmp_path: Path
) -> None:
    from api.app import create_app
    from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
    from tests.integration.conftest import login, make_settings

    settings = make_settings(
        store_url,
        tmp_path,
        billing_rater_in_process=False,
        read_your_writes_timeout_seconds=0.3,
    )
    rt = Runtime(settings)
    rt.bootstrap_admin()
    try:
        with TestClient(create_app(settings, rt)) as client:
            admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
            made = tariff(client, admin, [rate("44", "0.60")])
            setup = billed_account(client, admin, made["id"])
            account = setup["account"]["id"]
            pending = usage(client, admin, account, "44", 60, record_id="late")
            assert pending.status_code == 202, pending.text
            assert pending.json()["status"] == "pending"
            assert pending.headers["Location"] == f"/v1/xdrs?account_id={account}"
            rt.rater().catch_up()
            (xdr,) = eventually(lambda: xdrs(client, admin, account_id=account))
            assert xdr["leg_id"] == pending.json()["leg_id"]
            assert xdr["amount"] == "0.60"
    finally:
        rt.close()
