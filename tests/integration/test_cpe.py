"""The IP phone (CPE) inventory through the API: models, phones, allocation to customers,
ports assigned to extensions, who sees what, and one winner for one port."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.errors import PermissionDeniedError
from domain.shared.permissions import REALM_DEFAULT, Access, Section
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

MAC = "00:11:22:FF:13:44"


@dataclass
class Inventory:
    """Admin, a reseller, customers ABC (under no reseller) and XYZ, each with logins."""

    admin: dict[str, str]
    model: str
    profile: str
    abc: dict[str, Any]
    abc_login: dict[str, str]
    xyz: dict[str, Any]
    xyz_login: dict[str, str]
    reseller: dict[str, Any]
    reseller_login: dict[str, str]

    def account(self, client: TestClient, customer: dict[str, Any], name: str) -> str:
        body = {"customer_id": customer["id"], "login": name}
        return str(create(client, self.admin, "accounts", **body)["id"])


@pytest.fixture
def inventory(client: TestClient, admin: dict[str, str]) -> Inventory:
    model = create(client, admin, "cpe/models", name="Yealink SIP-T21P E2", ports=2)
    profile = create(client, admin, "cpe/profiles", name="Yealink Standard")
    reseller = create(
        client, admin, "resellers", name="ABC Shuttle", login="shuttle", password="shuttle-pass"
    )
    abc = create(
        client,
        admin,
        "customers",
        name="ABC company",
        currency="USD",
        time_zone="UTC",
        login="abc",
        password="abc-password",
    )
    xyz = create(
        client,
        admin,
        "customers",
        name="XYZ",
        currency="USD",
        time_zone="UTC",
        login="xyz",
        password="xyz-password",
    )
    return Inventory(
        admin,
        model["id"],
        profile["id"],
        abc,
        login(client, "abc", "abc-password"),
        xyz,
        login(client, "xyz", "xyz-password"),
        reseller,
        login(client, "shuttle", "shuttle-pass"),
    )


def _phone(client: TestClient, inv: Inventory, mac: str = MAC, **extra: Any) -> dict[str, Any]:
    body = {"name": f"Yealink_{mac[:10]}", "model_id": inv.model, "mac": mac, **extra}
    return create(client, inv.admin, "cpe/phones", **body)


def _allocate(
    client: TestClient, inv: Inventory, customer: dict[str, Any] | None, *macs: str
) -> Any:
    body = {"macs": list(macs), "customer_id": customer["id"] if customer else None}
    return client.post("/v1/cpe/phones/allocate", json=body, headers=inv.admin)


def test_admins_add_device_models_and_profiles_that_everyone_lists(
    client: TestClient, inventory: Inventory
) -> None:
    models = client.get("/v1/cpe/models", headers=inventory.abc_login).json()
    assert models == [{"id": inventory.model, "name": "Yealink SIP-T21P E2", "ports": 2}]
    profiles = client.get("/v1/cpe/profiles", headers=inventory.reseller_login).json()
    assert [p["name"] for p in profiles] == ["Yealink Standard"]
    again = client.post(
        "/v1/cpe/models", json={"name": "yealink sip-t21p e2", "ports": 1}, headers=inventory.admin
    )
    assert_problem(again, 409, "duplicate")
    by_reseller = client.post(
        "/v1/cpe/profiles", json={"name": "Mine"}, headers=inventory.reseller_login
    )
    assert_problem(by_reseller, 403, "forbidden")


@pytest.mark.parametrize(
    "notation", ["00:14:20:ff:3c:52", "00-14-20-FF-3C-52", "001420FF3C52", "0014.20ff.3c52"]
)
def test_a_mac_in_any_notation_is_kept_in_colon_form_and_found_by_any_notation(
    client: TestClient, inventory: Inventory, notation: str
) -> None:
    phone = _phone(client, inventory, notation)
    assert phone["mac"] == "00:14:20:ff:3c:52"
    for query in ("00-14-20-ff-3c-52", "001420FF3C52", "00:14:20:FF:3C:52"):
        found = client.get("/v1/cpe/phones", params={"mac": query}, headers=inventory.admin)
        assert [p["id"] for p in found.json()["items"]] == [phone["id"]]


def test_an_invalid_or_taken_mac_is_refused_and_changes_nothing(
    client: TestClient, inventory: Inventory, log_size: Any
) -> None:
    _phone(client, inventory, "00:14:20:ff:3c:52")
    before = log_size()
    bad = client.post(
        "/v1/cpe/phones",
        json={"name": "x", "model_id": inventory.model, "mac": "00:14:20:ff:3c:5g"},
        headers=inventory.admin,
    )
    assert_problem(bad, 422, "invalid_value")
    taken = client.post(
        "/v1/cpe/phones",
        json={"name": "y", "model_id": inventory.model, "mac": "001420FF3C52"},
        headers=inventory.admin,
    )
    assert_problem(taken, 409, "duplicate")
    assert log_size() == before
    query = client.get(
        "/v1/cpe/phones", params={"mac": "00:14:20:zz:3c:52"}, headers=inventory.admin
    )
    assert_problem(query, 422, "invalid_value")


def test_the_seed_example_phone_allocated_to_abc_and_put_on_an_extension(
    client: TestClient, inventory: Inventory
) -> None:
    """Panda Telecom allocates 00:11:22:FF:13:44 to ABC; ABC's PBX admin finds it by MAC and
    puts the new employee's extension on it; the audit trail says who did each."""
    extension = inventory.account(client, inventory.abc, "abc-466")
    phone = _phone(client, inventory, MAC, profile_id=inventory.profile)
    allocated = _allocate(client, inventory, inventory.abc, "00:11:22:ff:13:44")
    assert allocated.status_code == 200, allocated.text
    assert allocated.json()["items"][0]["customer_name"] == "ABC company"

    found = client.get("/v1/cpe/phones", params={"mac": MAC}, headers=inventory.abc_login)
    (mine,) = found.json()["items"]
    assert (mine["id"], mine["ports_total"], mine["ports_free"]) == (phone["id"], 2, 2)
    put = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/1",
        json={"account_id": extension},
        headers=inventory.abc_login,
    )
    assert put.status_code == 200, put.text
    shown = put.json()
    assert shown["ports_free"] == 1
    assert shown["ports"] == [
        {"port": 1, "account_id": extension, "account_login": "abc-466"},
        {"port": 2, "account_id": None, "account_login": None},
    ]
    listed = client.get("/v1/cpe/phones", headers=inventory.admin).json()["items"]
    assert listed[0]["ports"][0]["account_login"] == "abc-466"

    trail = client.get(
        "/v1/audit", params={"subject": MAC, "order": "asc"}, headers=inventory.admin
    ).json()["items"]
    assert [(e["type"], e["actor"]["login"]) for e in trail] == [
        ("provisioning.Phone.Added", "root"),
        ("provisioning.Phone.Allocated", "root"),
        ("provisioning.Phone.PortAssigned", "abc"),
    ]
    theirs = client.get(
        "/v1/audit", params={"subject": phone["id"]}, headers=inventory.abc_login
    ).json()["items"]
    assert {e["type"] for e in theirs} == {
        "provisioning.Phone.Allocated",
        "provisioning.Phone.PortAssigned",
    }


def test_a_phone_allocated_to_abc_is_invisible_to_other_customers(
    client: TestClient, inventory: Inventory
) -> None:
    phone = _phone(client, inventory)
    _allocate(client, inventory, inventory.abc, MAC)
    other = inventory.xyz_login
    assert_problem(client.get(f"/v1/cpe/phones/{phone['id']}", headers=other), 404, "not_found")
    assert client.get("/v1/cpe/phones", params={"mac": MAC}, headers=other).json()["items"] == []
    theirs = inventory.account(client, inventory.xyz, "xyz-1")
    put = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/1", json={"account_id": theirs}, headers=other
    )
    assert_problem(put, 404, "not_found")
    assert (
        client.get(f"/v1/cpe/phones/{phone['id']}", headers=inventory.abc_login).status_code == 200
    )


def test_resellers_see_only_phones_they_manage_or_that_are_shared(
    client: TestClient, inventory: Inventory
) -> None:
    mine = create(
        client,
        inventory.reseller_login,
        "cpe/phones",
        name="r1",
        model_id=inventory.model,
        mac="00:00:00:00:00:01",
    )
    assert mine["managed_by"] == inventory.reseller["id"]
    assert mine["managed_by_name"] == "ABC Shuttle"
    shared = _phone(client, inventory, "00:00:00:00:00:02", shared=True)
    _phone(client, inventory, "00:00:00:00:00:03")  # administrator only
    seen = client.get("/v1/cpe/phones", headers=inventory.reseller_login).json()["items"]
    assert {p["id"] for p in seen} == {mine["id"], shared["id"]}
    assert len(client.get("/v1/cpe/phones", headers=inventory.admin).json()["items"]) == 3
    hidden = client.post(
        "/v1/cpe/phones/allocate",
        json={"macs": ["00:00:00:00:00:03"], "customer_id": None},
        headers=inventory.reseller_login,
    )
    assert_problem(hidden, 404, "not_found")
    sharing = client.post(
        "/v1/cpe/phones",
        json={
            "name": "r2",
            "model_id": inventory.model,
            "mac": "00:00:00:00:00:04",
            "shared": True,
        },
        headers=inventory.reseller_login,
    )
    assert_problem(sharing, 403, "forbidden")


def test_allocating_many_phones_is_all_or_nothing(
    client: TestClient, inventory: Inventory, log_size: Any
) -> None:
    _phone(client, inventory, "00:00:00:00:00:01")
    _phone(client, inventory, "00:00:00:00:00:02")
    before = log_size()
    refused = _allocate(client, inventory, inventory.abc, "000000000001", "00:00:00:00:00:09")
    assert_problem(refused, 404, "not_found")
    assert log_size() == before
    done = _allocate(client, inventory, inventory.abc, "000000000001", "00-00-00-00-00-02")
    assert [p["customer_id"] for p in done.json()["items"]] == [inventory.abc["id"]] * 2
    back = _allocate(client, inventory, None, "000000000001")
    assert back.json()["items"][0]["customer_id"] is None


def test_ports_are_unassigned_and_moved_within_and_between_phones(
    client: TestClient, inventory: Inventory
) -> None:
    a = _phone(client, inventory, "00:00:00:00:00:01")
    b = _phone(client, inventory, "00:00:00:00:00:02")
    _allocate(client, inventory, inventory.abc, a["mac"], b["mac"])
    ext = inventory.account(client, inventory.abc, "abc-1")
    headers = inventory.abc_login
    client.put(f"/v1/cpe/phones/{a['id']}/ports/1", json={"account_id": ext}, headers=headers)
    moved = client.post(f"/v1/cpe/phones/{a['id']}/ports/1/move", json={"port": 2}, headers=headers)
    assert [p["account_id"] for p in moved.json()["ports"]] == [None, ext]
    across = client.post(
        f"/v1/cpe/phones/{a['id']}/ports/2/move",
        json={"phone_id": b["id"], "port": 1},
        headers=headers,
    )
    assert across.status_code == 200, across.text
    assert across.json()["id"] == b["id"]
    assert [p["account_id"] for p in across.json()["ports"]] == [ext, None]
    source = client.get(f"/v1/cpe/phones/{a['id']}", headers=headers).json()
    assert source["ports_free"] == 2
    twice = client.put(
        f"/v1/cpe/phones/{a['id']}/ports/1", json={"account_id": ext}, headers=headers
    )
    assert_problem(twice, 409, "duplicate")  # an extension is on one port at a time
    freed = client.delete(f"/v1/cpe/phones/{b['id']}/ports/1", headers=headers)
    assert freed.json()["ports_free"] == 2
    again = client.put(
        f"/v1/cpe/phones/{a['id']}/ports/1", json={"account_id": ext}, headers=headers
    )
    assert again.status_code == 200, again.text


def test_a_port_takes_only_an_extension_of_the_phones_customer(
    client: TestClient, inventory: Inventory
) -> None:
    phone = _phone(client, inventory)
    ext = inventory.account(client, inventory.abc, "abc-1")
    not_yet = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/1", json={"account_id": ext}, headers=inventory.admin
    )
    assert_problem(not_yet, 409, "phone_not_allocated")
    _allocate(client, inventory, inventory.abc, MAC)
    foreign = inventory.account(client, inventory.xyz, "xyz-1")
    wrong = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/1",
        json={"account_id": foreign},
        headers=inventory.admin,
    )
    assert_problem(wrong, 404, "not_found")
    no_port = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/3",
        json={"account_id": ext},
        headers=inventory.abc_login,
    )
    assert_problem(no_port, 422, "invalid_value")


def test_a_phone_in_use_is_neither_reallocated_nor_removed_until_its_ports_are_free(
    client: TestClient, inventory: Inventory
) -> None:
    phone = _phone(client, inventory)
    _allocate(client, inventory, inventory.abc, MAC)
    ext = inventory.account(client, inventory.abc, "abc-1")
    client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/2",
        json={"account_id": ext},
        headers=inventory.abc_login,
    )
    assert_problem(_allocate(client, inventory, inventory.xyz, MAC), 409, "phone_in_use")
    removing = client.delete(f"/v1/cpe/phones/{phone['id']}", headers=inventory.admin)
    assert_problem(removing, 409, "phone_in_use")
    client.delete(f"/v1/cpe/phones/{phone['id']}/ports/2", headers=inventory.abc_login)
    assert (
        client.delete(f"/v1/cpe/phones/{phone['id']}", headers=inventory.admin).status_code == 204
    )
    assert client.get("/v1/cpe/phones", headers=inventory.admin).json()["items"] == []
    again = _phone(client, inventory, MAC)  # its MAC address may be added again
    assert again["id"] != phone["id"] and again["inventory_id"] == phone["inventory_id"] + 1


def test_two_extensions_racing_for_one_port_one_wins(
    client: TestClient, inventory: Inventory
) -> None:
    phone = _phone(client, inventory)
    _allocate(client, inventory, inventory.abc, MAC)
    one = inventory.account(client, inventory.abc, "abc-1")
    two = inventory.account(client, inventory.abc, "abc-2")
    for _round in range(4):
        start = threading.Barrier(2)
        answers: dict[str, Any] = {}

        def assign(
            account: str, start: threading.Barrier = start, answers: dict[str, Any] = answers
        ) -> None:
            start.wait()
            answers[account] = client.put(
                f"/v1/cpe/phones/{phone['id']}/ports/1",
                json={"account_id": account},
                headers=inventory.abc_login,
            )

        threads = [threading.Thread(target=assign, args=(a,)) for a in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(r.status_code for r in answers.values())
        assert statuses == [200, 409], [r.text for r in answers.values()]
        winner = next(a for a, r in answers.items() if r.status_code == 200)
        shown = client.get(f"/v1/cpe/phones/{phone['id']}", headers=inventory.admin).json()
        assert shown["ports"][0]["account_id"] == winner and shown["ports_free"] == 1
        client.delete(f"/v1/cpe/phones/{phone['id']}/ports/1", headers=inventory.abc_login)


def test_a_role_with_read_on_phones_sees_them_but_may_not_assign_a_port(
    runtime: Runtime, client: TestClient, inventory: Inventory
) -> None:
    phone = _phone(client, inventory)
    _allocate(client, inventory, inventory.abc, MAC)
    ext = inventory.account(client, inventory.abc, "abc-1")
    service = runtime.services["provisioning"]
    actor = Actor(id=inventory.abc["id"], realm=Realm.CUSTOMER, role="customer", login="bob")
    reader = CommandContext(actor, permissions={**REALM_DEFAULT, Section.PHONES: Access.READ})
    with pytest.raises(PermissionDeniedError, match="phones"):
        service.assign_port(reader, UUID(phone["id"]), 1, UUID(ext))  # type: ignore[attr-defined]
    restricted = CommandContext(actor, permissions={Section.PHONES: Access.RESTRICT})
    with pytest.raises(PermissionDeniedError, match="phones"):
        service.unassign_port(restricted, UUID(phone["id"]), 1)  # type: ignore[attr-defined]
    modifier = CommandContext(actor, permissions=REALM_DEFAULT)
    service.assign_port(modifier, UUID(phone["id"]), 1, UUID(ext))  # type: ignore[attr-defined]


def emit_every_cpe_event(rt: Runtime, ctx: CommandContext, customer: UUID, account: UUID) -> None:
    """Each CPE event type once (the Kafka round trip covers every registered type)."""
    from uuid import uuid4

    from domain.provisioning.cpe_rows import UploadRow
    from domain.provisioning.cpe_upload import UploadLookups

    service: Any = rt.services["provisioning"]
    model = service.add_device_model(ctx, "Roundtrip model", 2)
    profile = service.add_cpe_profile(ctx, "Roundtrip profile")
    phone = service.add_phone(ctx, "rt-1", model, "02:00:00:00:00:01", profile)
    service.allocate_phones(ctx, ["02:00:00:00:00:01"], customer)
    service.assign_port(ctx, phone, 1, account)
    service.unassign_port(ctx, phone, 1)
    service.allocate_phones(ctx, ["02:00:00:00:00:01"], None)
    service.remove_phone(ctx, phone)
    done, failed = uuid4(), uuid4()
    service.start_upload(ctx, done, "phones.csv", "csv", 1)
    row = UploadRow(
        2, "add", "rt-2", "Roundtrip model", "02:00:00:00:00:02", None, None, False, None
    )
    service.apply_upload_batch(ctx, done, [row], 2, UploadLookups())
    service.finish_upload(ctx, done)
    service.start_upload(ctx, failed, "phones.xlsx", "xlsx", 1)
    service.fail_upload(ctx, failed, "interrupted")
