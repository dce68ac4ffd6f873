"""Blocking accounts, who may do what to extensions, and the audit trail of it all."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from composition import provisioning
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.errors import PermissionDeniedError
from domain.shared.permissions import REALM_DEFAULT, Access, Section
from tests.conftest import eventually
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create
from tests.integration.test_extensions import customer, extension

Headers = dict[str, str]
CTX = CommandContext(Actor.system("test", login="ops"), correlation_id="corr-ext")


def test_a_blocked_extension_cannot_log_in_and_its_token_stops_working(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170, login="abc", password="abc-password")
    pbx_admin = login(client, "abc", "abc-password")
    made = extension(client, pbx_admin, abc["id"], "466").json()
    phone = login(client, "ph46170x466", made["sip_password"])
    account = f"/v1/accounts/{made['account_id']}"
    assert client.get(account, headers=phone).status_code == 200

    blocked = client.post(f"{account}/block", headers=pbx_admin)
    assert blocked.status_code == 200, blocked.text
    assert (blocked.json()["blocked"], blocked.json()["blocked_by"]) == (True, "customer")
    assert_problem(client.get(account, headers=phone), 401, "unauthenticated")
    refused = client.post(
        "/v1/auth/token", data={"username": "ph46170x466", "password": made["sip_password"]}
    )
    assert_problem(refused, 401, "unauthenticated")
    listed = client.get(f"/v1/customers/{abc['id']}/extensions", headers=pbx_admin).json()
    assert [e["blocked"] for e in listed["items"]] == [True]

    unblocked = client.post(f"{account}/unblock", headers=pbx_admin)
    assert unblocked.status_code == 200 and unblocked.json()["blocked"] is False
    login(client, "ph46170x466", made["sip_password"])


def test_an_extension_blocked_by_the_admin_cannot_be_unblocked_by_the_customer(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170, login="abc", password="abc-password")
    pbx_admin = login(client, "abc", "abc-password")
    made = extension(client, pbx_admin, abc["id"], "466").json()
    account = f"/v1/accounts/{made['account_id']}"
    client.post(f"{account}/block", headers=pbx_admin)
    # The admin blocks it too: now the admin's block binds the customer.
    assert client.post(f"{account}/block", headers=admin).json()["blocked_by"] == "admin"
    refused = client.post(f"{account}/unblock", headers=pbx_admin)
    assert_problem(refused, 403, "forbidden")
    assert "blocked by the admin" in refused.json()["detail"]
    assert client.get(account, headers=admin).json()["blocked"] is True
    assert client.post(f"{account}/unblock", headers=admin).json()["blocked"] is False
    # An account cannot block itself or others.
    phone = login(client, "ph46170x466", made["sip_password"])
    assert_problem(client.post(f"{account}/block", headers=phone), 403, "forbidden")


def test_who_unblocked_extension_466_is_an_audit_query(client: TestClient, admin: Headers) -> None:
    abc = customer(client, admin, "ABC", number=46170, login="abc", password="abc-password")
    pbx_admin = login(client, "abc", "abc-password")
    made = extension(client, pbx_admin, abc["id"], "466").json()
    account = f"/v1/accounts/{made['account_id']}"
    client.post(f"{account}/block", headers=admin)
    client.post(f"{account}/unblock", headers=admin)
    client.post(f"{account}/block", headers=pbx_admin)
    client.post(f"{account}/unblock", headers=pbx_admin)

    trail = client.get(
        "/v1/audit",
        params={"subject": made["account_id"], "type": "directory.Account.Unblocked"},
        headers=pbx_admin,
    ).json()["items"]
    assert sorted((i["actor"]["realm"], i["actor"]["login"]) for i in trail) == [
        ("admin", "root"),
        ("customer", "abc"),
    ]
    created = client.get(
        "/v1/audit", params={"type": "provisioning.Extension.Added"}, headers=pbx_admin
    ).json()["items"]
    assert [(i["actor"]["login"], i["changes"]["login"]["after"]) for i in created] == [
        ("abc", "ph46170x466")
    ]
    assert created[0]["changes"]["sip_password"]["after"] == "***"


def _restricted(runtime: Runtime, customer_id: UUID, access: Access) -> CommandContext:
    """The customer acting through a role with `access` on the extensions section."""
    permissions = {**REALM_DEFAULT, Section.EXTENSIONS: access}
    actor = Actor(id=str(customer_id), realm=Realm.CUSTOMER, role="customer", login="abc")
    return CommandContext(actor, permissions=permissions)


@pytest.mark.parametrize("access", [Access.READ, Access.RESTRICT])
def test_a_role_without_modify_on_extensions_changes_none(
    client: TestClient, admin: Headers, runtime: Runtime, access: Access
) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    made = extension(client, admin, abc["id"], "466").json()
    customer_id, ctx = UUID(abc["id"]), _restricted(runtime, UUID(abc["id"]), access)
    attempts: list[Any] = [
        lambda: provisioning.add_extension(runtime, ctx, customer_id, "467", []),
        lambda: provisioning.add_auto_attendant(runtime, ctx, customer_id, []),
        lambda: provisioning.delete_endpoint(runtime, ctx, customer_id, UUID(made["id"])),
        lambda: runtime.directory.block_account(ctx, UUID(made["account_id"]), None),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError, match="extensions section"):
            attempt()
    allowed = _restricted(runtime, customer_id, Access.MODIFY)
    assert provisioning.add_extension(runtime, allowed, customer_id, "467", []).login == (
        "ph46170x467"
    )


def test_every_extension_event_names_its_actor_and_customer(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    create(client, admin, "resellers", name="R", login="r", password="password-1")
    reseller = login(client, "r", "password-1")
    own = customer(client, reseller, "Own")
    emit_every_extension_event(runtime, CTX, UUID(own["id"]))
    expected = {
        "provisioning.Agreement.Made",
        "provisioning.Agreement.ProductsAssigned",
        "provisioning.Extension.Renumbered",
        "provisioning.AutoAttendant.AliasAdded",
        "directory.Account.Blocked",
    }

    def audited() -> set[str] | None:
        # The use cases ran in-process, not through HTTP's read-your-writes wait: the audit
        # read model may still be catching up with the last of them.
        seen = client.get("/v1/audit", params={"limit": 500}, headers=reseller).json()["items"]
        types = {i["type"] for i in seen}
        return types if expected <= types else None

    types = eventually(audited, timeout=10)
    assert "provisioning.Product.Created" not in types  # the catalog is the admins'


def emit_every_extension_event(runtime: Runtime, ctx: CommandContext, customer_id: UUID) -> None:
    """One use case of each kind of this area (the Kafka round trip test uses it too)."""
    service = provisioning.service(runtime)
    owner = provisioning.customer_owner(runtime, customer_id)
    main = service.create_product(ctx, "Roundtrip main", "main")
    add_on = service.create_product(ctx, "Roundtrip add-on", "add_on")
    service.set_agreement(ctx, owner, [(main, 0)])
    service.set_agreement(ctx, owner, [(main, 0), (add_on, 5)])
    made = provisioning.add_extension(runtime, ctx, customer_id, "466", [main])
    provisioning.change_endpoint(runtime, ctx, customer_id, made.id, "467", [main, add_on])
    service.add_did(ctx, owner, made.id, "12094555948")
    service.remove_did(ctx, owner, made.id, "12094555948")
    runtime.directory.block_account(ctx, made.account_id, None)
    runtime.directory.unblock_account(ctx, made.account_id, None)
    provisioning.delete_endpoint(runtime, ctx, customer_id, made.id)
    attendant = provisioning.add_auto_attendant(runtime, ctx, customer_id, [])
    service.add_did(ctx, owner, attendant.id, "12094555949")
    service.remove_did(ctx, owner, attendant.id, "12094555949")
    provisioning.delete_endpoint(runtime, ctx, customer_id, attendant.id)
    provisioning.add_auto_attendant(runtime, ctx, customer_id, [])  # advances its sequence


def _hold_role(client: TestClient, admin: Headers, customer_id: str, **permissions: str) -> None:
    role = create(
        client,
        admin,
        "roles",
        name="Role " + "-".join(f"{s} {a}" for s, a in permissions.items()),
        permissions=permissions,
    )
    held = client.put(
        f"/v1/customers/{customer_id}/role", json={"role_id": role["id"]}, headers=admin
    )
    assert held.status_code == 200, held.text


def test_a_customer_whose_role_reads_extensions_sees_them_and_changes_nothing(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    abc = customer(client, admin, "ABC", number=46170, login="abc", password="abc-password")
    made = extension(client, admin, abc["id"], "466").json()
    _hold_role(client, admin, abc["id"], extensions="read")
    reader = login(client, "abc", "abc-password")
    base = f"/v1/customers/{abc['id']}"
    assert client.get(f"{base}/extensions", headers=reader).status_code == 200
    assert client.get(f"{base}/agreement", headers=reader).status_code == 200
    before = log_size()
    refusals = [
        extension(client, reader, abc["id"], "467"),
        client.post(f"{base}/auto-attendants", json={}, headers=reader),
        client.patch(f"{base}/extensions/{made['id']}", json={"extension": "1"}, headers=reader),
        client.delete(f"{base}/extensions/{made['id']}", headers=reader),
        client.post(f"/v1/accounts/{made['account_id']}/block", headers=reader),
    ]
    for refused in refusals:
        assert_problem(refused, 403, "permission_denied")
        assert "extensions" in refused.json()["detail"]
    assert log_size() == before


def test_a_customer_whose_role_restricts_extensions_cannot_even_list_them(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", login="abc", password="abc-password")
    _hold_role(client, admin, abc["id"], billing="modify")
    restricted = login(client, "abc", "abc-password")
    listed = client.get(f"/v1/customers/{abc['id']}/extensions", headers=restricted)
    assert_problem(listed, 403, "permission_denied")
    assert "extensions" in listed.json()["detail"]
    assert_problem(client.get("/v1/products", headers=restricted), 403, "permission_denied")
