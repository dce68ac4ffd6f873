"""A context contributes a field to another's resource: provisioning's number on customers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient

from api.app import create_app
from composition.runtime import Runtime
from domain.provisioning.aggregates import CustomerNumber
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.integration.conftest import login, make_settings
from tests.integration.helpers import assert_problem, create, store_v1_customer_created


def _customer(
    client: TestClient, headers: dict[str, str], name: str, **extra: Any
) -> dict[str, Any]:
    return create(client, headers, "customers", name=name, currency="EUR", time_zone="UTC", **extra)


def _legacy_customer(
    client: TestClient, admin: dict[str, str], runtime: Runtime, name: str, *numbers: str
) -> UUID:
    """A customer stored before numbers were integers (none, or E.164 main numbers)."""
    customer_id = store_v1_customer_created(runtime, name)
    if numbers:
        store_v1_customer_number(runtime, customer_id, *numbers)
    runtime.runner.wake()
    eventually(lambda: client.get(f"/v1/customers/{customer_id}", headers=admin).is_success)
    return customer_id


def store_v1_customer_number(runtime: Runtime, customer_id: UUID, *numbers: str) -> None:
    """A customer's E.164 main number as v1 stored it (Assigned, then Reassigned...)."""
    record_id = CustomerNumber.create_id(customer_id)
    base = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-01T00:00:00+00:00"},
        "actor": {"_type_": "actor", "_data_": {"id": "legacy", "realm": "system", "role": "x"}},
        "correlation_id": "legacy-import",
        "causation_id": None,
    }
    topic = "domain.provisioning.aggregates:CustomerNumber"
    first = {
        **base,
        "originator_topic": topic,
        "customer_id": {"_type_": "uuid_hex", "_data_": customer_id.hex},
        "reseller_id": None,
        "number": numbers[0],
    }
    events = [StoredEvent(record_id, 1, f"{topic}.Assigned", json.dumps(first).encode())]
    for version, (before, after) in enumerate(pairwise(numbers), 2):
        state = {**base, "changes": {"number": [before, after]}}
        events.append(
            StoredEvent(record_id, version, f"{topic}.Reassigned", json.dumps(state).encode())
        )
    runtime.directory.recorder.insert_events(events)


def test_a_customer_gets_the_next_free_number_when_it_is_created(
    client: TestClient, admin: dict[str, str]
) -> None:
    first, second = _customer(client, admin, "First"), _customer(client, admin, "Second")
    assert (first["number"], second["number"]) == (1, 2)
    url = f"/v1/customers/{first['id']}"
    assert client.get(url, headers=admin).json()["number"] == 1
    listed = client.get("/v1/customers", params={"name": "Second"}, headers=admin).json()
    assert [c["number"] for c in listed["items"]] == [2]
    # Its events are provisioning's own, owned by the customer like the directory's.
    numbers = client.get(
        "/v1/audit", params={"type": "provisioning.CustomerNumber.Assigned"}, headers=admin
    ).json()["items"]
    assert sorted(i["changes"]["number"]["after"] for i in numbers) == [1, 2]
    assert {i["subject"] for i in numbers}.isdisjoint({first["id"], second["id"]})


def test_an_admin_gives_a_number_at_creation_and_a_taken_one_is_refused(
    client: TestClient, admin: dict[str, str], log_size: Any
) -> None:
    given = _customer(client, admin, "ABC", number=46170)
    assert given["number"] == 46170
    before = log_size()
    clash = client.post(
        "/v1/customers",
        json={"name": "Other", "currency": "EUR", "time_zone": "UTC", "number": 46170},
        headers=admin,
    )
    assert_problem(clash, 409, "duplicate")
    assert log_size() == before  # neither the customer nor its name was created
    assert (
        client.get("/v1/customers", params={"name": "Other"}, headers=admin).json()["items"] == []
    )
    # The next free one skips numbers an admin gave.
    _customer(client, admin, "Two", number=2)
    assert _customer(client, admin, "One")["number"] == 1
    assert _customer(client, admin, "Three")["number"] == 3


def test_a_number_is_assigned_once(client: TestClient, admin: dict[str, str]) -> None:
    numbered = _customer(client, admin, "Numbered")
    url = f"/v1/customers/{numbered['id']}"
    assert_problem(client.patch(url, json={"number": 99}, headers=admin), 409, "number_assigned")
    both = client.patch(url, json={"name": "Renamed", "number": 99}, headers=admin)
    assert_problem(both, 409, "number_assigned")
    assert client.get(url, headers=admin).json()["name"] == "Numbered"  # whole or nothing
    assert_problem(client.patch(url, json={"number": 0}, headers=admin), 422, "validation_error")


def test_only_admins_choose_a_number_and_resellers_see_their_customers_numbers(
    client: TestClient, admin: dict[str, str]
) -> None:
    create(client, admin, "resellers", name="R", login="r", password="password-1")
    reseller = login(client, "r", "password-1")
    chosen = client.post(
        "/v1/customers",
        json={"name": "Own", "currency": "EUR", "time_zone": "UTC", "number": 500},
        headers=reseller,
    )
    assert_problem(chosen, 403, "forbidden")
    own = _customer(client, reseller, "Own")
    assert own["number"] == 1
    _customer(client, admin, "Other")
    # The reseller follows its customers' provisioning events, and only theirs.
    seen = client.get(
        "/v1/audit", params={"type": "provisioning.CustomerNumber.Assigned"}, headers=reseller
    ).json()["items"]
    assert [i["changes"]["number"]["after"] for i in seen] == [1]


def test_concurrent_creations_get_distinct_numbers(
    client: TestClient, admin: dict[str, str]
) -> None:
    def make(i: int) -> int:
        return int(_customer(client, admin, f"Concurrent {i}")["number"])

    with ThreadPoolExecutor(max_workers=12) as pool:
        numbers = list(pool.map(make, range(12)))
    assert sorted(numbers) == list(range(1, 13))


def test_two_processes_number_from_blocks_of_their_own_and_never_reuse_one(
    runtime: Runtime, store_url: str, tmp_path: Path, admin: dict[str, str], client: TestClient
) -> None:
    """Each process reserves a block of numbers at once (one append, not one per customer),
    so concurrent creations do not all race on one counter. A block another process took
    is skipped, and numbers a stopped process left unused are never given."""
    from domain.provisioning.application import CUSTOMER_BLOCK

    first = _customer(client, admin, "In the first block")["number"]
    other = Runtime(make_settings(store_url, tmp_path / "other"))
    try:
        with TestClient(create_app(other.settings, other)) as second_client:
            headers = login(second_client, ADMIN_LOGIN, ADMIN_PASSWORD)
            second = _customer(second_client, headers, "In the second block")["number"]
    finally:
        other.close()
    third = _customer(client, admin, "Still the first block")["number"]
    assert (first, second, third) == (1, 1 + CUSTOMER_BLOCK, 2)

    restarted = Runtime(make_settings(store_url, tmp_path / "restarted"))
    try:
        with TestClient(create_app(restarted.settings, restarted)) as again:
            headers = login(again, ADMIN_LOGIN, ADMIN_PASSWORD)
            fourth = _customer(again, headers, "After a restart")["number"]
    finally:
        restarted.close()
    assert fourth == 1 + 2 * CUSTOMER_BLOCK  # the second process's unused numbers stay unused


def test_a_customer_numbered_before_numbers_were_integers_replays_and_gets_one(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    legacy = _customer(client, admin, "Legacy")  # numbered 1 now; a v1 record elsewhere:
    customer_id = _legacy_customer(
        client, admin, runtime, "Old Ltd", "442071234567", "442071234568"
    )
    record = runtime.services["provisioning"].load(
        CustomerNumber.create_id(customer_id), CustomerNumber
    )
    assert (record.number, record.main_number) == (None, "442071234568")
    url = f"/v1/customers/{customer_id}"
    assert client.get(url, headers=admin).json()["number"] is None
    given = client.patch(url, json={"number": 7}, headers=admin)
    assert given.status_code == 200, given.text
    assert given.json()["number"] == 7
    assert client.get(f"/v1/customers/{legacy['id']}", headers=admin).json()["number"] == 1
    audit = client.get(
        "/v1/audit", params={"type": "provisioning.CustomerNumber.Reassigned"}, headers=admin
    ).json()["items"]
    assert [i["changes"]["main_number"]["after"] for i in audit] == ["442071234568"]


def test_the_openapi_document_shows_the_contributed_field(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "number" in schemas["CustomerPublic"]["properties"]
    assert "number" in schemas["CustomerUpdate"]["properties"]


def test_a_closed_customer_takes_no_number(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    customer_id = _legacy_customer(client, admin, runtime, "Closing")
    url = f"/v1/customers/{customer_id}"
    assert client.post(f"{url}/close", headers=admin).status_code == 200
    assert_problem(client.patch(url, json={"number": 5}, headers=admin), 409, "closed")


def test_an_edit_of_own_and_contributed_fields_applies_whole_or_not_at_all(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    _customer(client, admin, "Holder", number=44)
    other = _legacy_customer(client, admin, runtime, "Other One")
    url = f"/v1/customers/{other}"
    before = client.get(url, headers=admin).json()
    clash = client.patch(url, json={"name": "Renamed", "number": 44}, headers=admin)
    assert_problem(clash, 409, "duplicate")
    unchanged = client.get(url, headers=admin).json()
    assert (unchanged["name"], unchanged["number"]) == ("Other One", None)
    assert unchanged["version"] == before["version"]
    audit = client.get("/v1/audit", params={"subject": str(other)}, headers=admin).json()
    assert [i["type"] for i in audit["items"]] == ["directory.Customer.Created"]


def test_an_account_shows_the_fields_provisioning_contributes(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = _customer(client, admin, "With accounts")
    account = create(client, admin, "accounts", customer_id=customer["id"], login="desk")
    assert (account["product_id"], account["products"]) == (None, [])
    assert (account["blocked"], account["blocked_by"]) == (False, None)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"product_id", "blocked"} <= schemas["AccountPublic"]["properties"].keys()
    assert "product_id" in schemas["AccountUpdate"]["properties"]
    assert "blocked" not in schemas["AccountUpdate"]["properties"]  # read-only
    assert "number" in schemas["CustomerCreate"]["properties"]
