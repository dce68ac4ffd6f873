"""Who changed what: audit filters, pagination, and time travel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from adapters.clock import FileClock
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.integration.conftest import login
from tests.integration.helpers import create

# Events are dated by the runtime's clock, which the tests move: no sleeping between them.
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _audit(client: TestClient, headers: dict[str, str], **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get("/v1/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_every_row_names_actor_correlation_and_changes(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/v1/customers",
        json={"name": "Acme", "currency": "EUR", "time_zone": "UTC"},
        headers={**admin, "X-Correlation-ID": "ticket-4711"},
    )
    customer = response.json()
    client.patch(f"/v1/customers/{customer['id']}", json={"name": "Acme SA"}, headers=admin)

    rows = _audit(client, admin, subject=customer["id"])["items"]
    assert [r["type"] for r in rows] == ["directory.Customer.Renamed", "directory.Customer.Created"]
    updated, created = rows
    assert updated["changes"] == {"name": {"before": "Acme", "after": "Acme SA"}}
    assert created["correlation_id"] == "ticket-4711"
    assert created["changes"]["currency"] == {"before": None, "after": "EUR"}
    assert created["actor"]["realm"] == "admin"
    assert created["actor"]["login"] == "root"
    assert updated["position"] > created["position"]


def test_password_hashes_never_reach_the_audit(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, "resellers", name="R", login="r", password="password-1")
    rows = _audit(client, admin, type="Reseller.Created")["items"]
    assert rows[0]["changes"]["password_hash"]["after"] == "***"


def test_filter_by_human_id_finds_events_under_old_names(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = create(client, admin, "customers", name="Old Name", currency="EUR", time_zone="UTC")
    client.patch(f"/v1/customers/{customer['id']}", json={"name": "New Name"}, headers=admin)
    create(client, admin, "customers", name="Someone Else", currency="EUR", time_zone="UTC")
    for name in ("Old Name", "new name"):
        rows = _audit(client, admin, subject=name)["items"]
        assert {r["subject"] for r in rows} == {customer["id"]}
        assert len(rows) == 2
    assert _audit(client, admin, subject="Nobody")["items"] == []


def test_filter_by_actor_realm_and_type(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, "resellers", name="R", login="reseller", password="password-1")
    reseller = login(client, "reseller", "password-1")
    create(client, reseller, "customers", name="By Reseller", currency="EUR", time_zone="UTC")
    create(client, admin, "customers", name="By Admin", currency="EUR", time_zone="UTC")

    by_reseller = _audit(client, admin, actor="reseller")["items"]
    # Creating a customer also numbers it (provisioning's event, in the same append).
    assert sorted(r["type"] for r in by_reseller) == [
        "directory.Customer.Created",
        "provisioning.CustomerNumber.Assigned",
    ]
    assert {r["actor"]["realm"] for r in by_reseller} == {"reseller"}
    assert len(_audit(client, admin, realm="reseller")["items"]) == 2
    created = _audit(client, admin, type="Customer.Created", order="asc")["items"]
    assert [r["changes"]["name"]["after"] for r in created] == ["By Reseller", "By Admin"]


def test_time_range_and_pagination_by_position(
    client: TestClient, admin: dict[str, str], clock: FileClock
) -> None:
    clock.set(T0)
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)  # a token on the moved clock
    create(client, admin, "customers", name="Before", currency="EUR", time_zone="UTC")
    middle = T0 + timedelta(seconds=1)
    clock.set(middle)
    for i in range(5):
        create(client, admin, "customers", name=f"After {i}", currency="EUR", time_zone="UTC")

    since = _audit(client, admin, since=middle.isoformat(), type="Customer.Created")["items"]
    assert len(since) == 5
    until = _audit(client, admin, until=middle.isoformat(), type="Customer.Created")["items"]
    assert [r["changes"]["name"]["after"] for r in until] == ["Before"]

    seen: list[int] = []
    after = None
    while True:
        params = {"type": "Customer.Created", "limit": 2, "order": "asc"}
        page = _audit(client, admin, **params, **({"after": after} if after else {}))
        seen += [r["position"] for r in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 6
    assert seen == sorted(seen)


def test_a_time_window_pages_in_both_orders(
    client: TestClient, admin: dict[str, str], clock: FileClock
) -> None:
    clock.set(T0)
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)  # a token on the moved clock
    create(client, admin, "customers", name="Outside", currency="EUR", time_zone="UTC")
    start = T0 + timedelta(seconds=1)
    for i in range(7):
        clock.set(start + timedelta(milliseconds=i))
        create(client, admin, "customers", name=f"Inside {i}", currency="EUR", time_zone="UTC")
    end = start + timedelta(seconds=1)
    clock.set(end)
    create(client, admin, "customers", name="Later", currency="EUR", time_zone="UTC")

    for order in ("asc", "desc"):
        names: list[str] = []
        after = None
        while True:
            window = {"since": start.isoformat(), "until": end.isoformat(), "limit": 3}
            page = _audit(
                client,
                admin,
                **window,
                type="directory.Customer.Created",  # not the numbers given with them
                order=order,
                **({"after": after} if after else {}),
            )
            names += [r["changes"]["name"]["after"] for r in page["items"]]
            after = page["next"]
            if after is None:
                break
        inside = [f"Inside {i}" for i in range(7)]
        assert names == (inside if order == "asc" else inside[::-1])


def test_subject_state_as_of_a_past_time(
    client: TestClient, admin: dict[str, str], clock: FileClock
) -> None:
    clock.set(T0)
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)  # a token on the moved clock
    customer = create(client, admin, "customers", name="Acme", currency="EUR", time_zone="UTC")
    between = T0 + timedelta(seconds=1)
    clock.set(between + timedelta(seconds=1))
    client.patch(
        f"/v1/customers/{customer['id']}",
        json={"currency": "USD", "name": "Acme US"},
        headers=admin,
    )

    past = client.get(
        f"/v1/audit/subjects/{customer['id']}", params={"as_of": between.isoformat()}, headers=admin
    ).json()
    assert past["state"]["currency"] == "EUR"
    assert past["state"]["version"] == 1
    assert past["type"] == "Customer"
    now = client.get("/v1/audit/subjects/Acme US", headers=admin).json()
    assert now["state"]["currency"] == "USD"
    assert "password_hash" not in now["state"]
    before_birth = client.get(
        f"/v1/audit/subjects/{customer['id']}",
        params={"as_of": "2000-01-01T00:00:00Z"},
        headers=admin,
    )
    assert before_birth.status_code == 404


def test_each_realm_audits_only_the_events_it_may_see(
    client: TestClient, admin: dict[str, str]
) -> None:
    create(client, admin, "resellers", name="R1", login="r1", password="password-1")
    create(client, admin, "resellers", name="R2", login="r2", password="password-1")
    r1, r2 = login(client, "r1", "password-1"), login(client, "r2", "password-1")
    mine = create(client, r1, "customers", name="Mine", currency="EUR", time_zone="UTC")
    create(client, r2, "customers", name="Theirs", currency="EUR", time_zone="UTC")
    create(client, admin, "accounts", customer_id=mine["id"], login="mine-1")

    seen = _audit(client, r1, type="Customer.Created")["items"]
    assert [r["changes"]["name"]["after"] for r in seen] == ["Mine"]
    assert {r["type"] for r in _audit(client, r1)["items"]} >= {"directory.Account.Created"}
    assert not any(r["actor"]["login"] == "r2" for r in _audit(client, r1)["items"])
    assert _audit(client, admin, type="Customer.Created")["items"][0]["changes"]["name"]
    theirs = client.get("/v1/audit/subjects/Theirs", headers=r1)
    assert theirs.status_code == 404  # as if it did not exist
    assert client.get("/v1/audit/subjects/Mine", headers=r1).status_code == 200
