"""The seed's worked example end to end through HTTP: Panda Telecom allocates the phone
00:11:22:FF:13:44 to the ABC company; ABC's PBX administrator (an individual whose role
may modify phones) finds it by MAC and puts extension 466 (ph46170x466) on it. The audit
trail names who did each; a role that may only read phones is refused the change."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

H = dict[str, str]
MAC = "00:11:22:FF:13:44"


def _individual(client: TestClient, admin: H, customer: str, name: str, role: str) -> None:
    body = {
        "login": name,
        "password": f"{name}-password-1",
        "email": f"{name}@abc.example",
        "role_id": role,
        "time_zone": "UTC",
    }
    answer = client.post(f"/v1/customers/{customer}/individuals", json=body, headers=admin)
    assert answer.status_code == 201, answer.text


def _abc(client: TestClient, admin: H) -> dict[str, Any]:
    abc = create(
        client,
        admin,
        "customers",
        name="ABC company",
        currency="USD",
        time_zone="UTC",
        number=46170,
    )
    roles = {
        name: create(client, admin, "roles", name=name, permissions=permissions)["id"]
        for name, permissions in (
            ("PBX admin", {"extensions": "modify", "phones": "modify"}),
            ("Phone viewer", {"phones": "read"}),
            ("Billing", {"billing": "modify"}),
        )
    }
    allowed = client.put(
        f"/v1/customers/{abc['id']}/allowed-roles",
        json={"role_ids": list(roles.values())},
        headers=admin,
    )
    assert allowed.status_code == 200, allowed.text
    _individual(client, admin, abc["id"], "steve", roles["PBX admin"])
    _individual(client, admin, abc["id"], "vera", roles["Phone viewer"])
    _individual(client, admin, abc["id"], "olga", roles["Billing"])
    return abc


def test_abcs_pbx_admin_puts_extension_466_on_the_phone_allocated_to_abc(
    client: TestClient, admin: H
) -> None:
    abc = _abc(client, admin)
    model = create(client, admin, "cpe/models", name="Yealink SIP-T21P E2", ports=2)
    phone = create(
        client, admin, "cpe/phones", name="Yealink_00:11:22:F", model_id=model["id"], mac=MAC
    )
    allocated = client.post(
        "/v1/cpe/phones/allocate",
        json={"macs": ["00-11-22-ff-13-44"], "customer_id": abc["id"]},
        headers=admin,
    )
    assert allocated.status_code == 200, allocated.text

    steve = login(client, "steve", "steve-password-1")
    extension = client.post(
        f"/v1/customers/{abc['id']}/extensions",
        json={"extension": "466", "products": []},
        headers=steve,
    )
    assert extension.status_code == 201, extension.text
    assert extension.json()["account_login"] == "ph46170x466"
    found = client.get("/v1/cpe/phones", params={"mac": MAC}, headers=steve).json()["items"]
    assert [(p["id"], p["mac"], p["ports_free"]) for p in found] == [
        (phone["id"], "00:11:22:ff:13:44", 2)
    ]
    put = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/1",
        json={"account_id": extension.json()["account_id"]},
        headers=steve,
    )
    assert put.status_code == 200, put.text
    assert put.json()["ports"][0]["account_login"] == "ph46170x466"
    assert put.json()["ports_free"] == 1

    trail = client.get("/v1/audit", params={"subject": MAC, "order": "asc"}, headers=admin).json()[
        "items"
    ]
    who = [
        (e["type"].rsplit(".", 1)[1], e["actor"]["login"], e["actor"]["individual_id"])
        for e in trail
    ]
    assert who[:2] == [("Added", "root", None), ("Allocated", "root", None)]
    assigned = who[2]
    assert assigned[:2] == ("PortAssigned", "steve") and assigned[2] is not None


def test_a_role_that_reads_phones_sees_them_but_is_refused_a_change_naming_the_section(
    client: TestClient, admin: H
) -> None:
    abc = _abc(client, admin)
    model = create(client, admin, "cpe/models", name="Yealink SIP-T21P E2", ports=2)
    phone = create(
        client, admin, "cpe/phones", name="p", model_id=model["id"], mac=MAC, customer_id=abc["id"]
    )
    account = create(client, admin, "accounts", customer_id=abc["id"], login="abc-front-desk")
    vera = login(client, "vera", "vera-password-1")
    assert client.get(f"/v1/cpe/phones/{phone['id']}", headers=vera).status_code == 200
    refused = client.put(
        f"/v1/cpe/phones/{phone['id']}/ports/1", json={"account_id": account["id"]}, headers=vera
    )
    assert_problem(refused, 403, "permission_denied")
    assert "phones" in refused.json()["detail"]
    olga = login(client, "olga", "olga-password-1")
    hidden = client.get("/v1/cpe/phones", headers=olga)
    assert_problem(hidden, 403, "permission_denied")
    assert "phones" in hidden.json()["detail"]
