"""Helpers for the call tests: a small PBX, scripted numbers, call-control requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from adapters.settings import Settings
from tests.conftest import eventually
from tests.integration.conftest import make_settings
from tests.integration.helpers import create

Headers = dict[str, str]
PROSPECT = "4420700900"  # an E.164 number outside
SUPPORT = "4420700901"


def quick_callbacks(store_url: str, tmp_path: Path, clock: Any) -> Settings:
    """Settings whose call callbacks retry within a second (and may reach loopback)."""
    return make_settings(
        store_url,
        tmp_path,
        test_clock_file=clock.path,
        webhooks_allow_private_networks=True,
        call_callback_retry_schedule=(0.1, 0.2),
        call_callback_give_up_seconds=1.0,
    )


def pbx(
    client: TestClient, admin: Headers, name: str = "ABC", number: int = 46170
) -> dict[str, Any]:
    """A customer with extensions 466 (John) and 467 (Mary), logins ph{number}x46x."""
    customer = create(
        client,
        admin,
        "customers",
        name=name,
        currency="USD",
        time_zone="UTC",
        number=number,
        login=name.lower(),
        password=f"{name.lower()}-password",
    )
    made = {"customer": customer}
    for ext, who in (("466", "john"), ("467", "mary")):
        answer = client.post(
            f"/v1/customers/{customer['id']}/extensions",
            json={"extension": ext, "products": []},
            headers=admin,
        )
        assert answer.status_code == 201, answer.text
        made[who] = answer.json()
    return made


def script(client: TestClient, admin: Headers, number: str, **body: Any) -> None:
    body.setdefault("answer_after_ms", 20)
    answer = client.put(f"/v1/network/scripted/{number}", json=body, headers=admin)
    assert answer.status_code == 200, answer.text


def rpc(client: TestClient, headers: Headers, method: str, **params: Any) -> Any:
    return client.post(f"/v1/call-control/{method}", json=params, headers=headers)


def ok(client: TestClient, headers: Headers, method: str, **params: Any) -> dict[str, Any]:
    answer = rpc(client, headers, method, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def events(client: TestClient, headers: Headers, call_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/calls/{call_id}/events", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def states(client: TestClient, headers: Headers, call_id: str) -> list[tuple[str, str]]:
    """(leg number, state) of each notification, in seq order."""
    return [(e["number"], e["state"]) for e in events(client, headers, call_id)]


def until(
    client: TestClient, headers: Headers, call_id: str, last: str, timeout: float = 15
) -> list[dict[str, Any]]:
    """The call's notifications once one with state `last` is among them."""
    return eventually(  # type: ignore[no-any-return]
        lambda: (
            (found := events(client, headers, call_id))
            and any(e["state"] == last for e in found)
            and found
        ),
        timeout,
        0.02,
    )


def live(
    client: TestClient, headers: Headers, call_id: str, *wanted: str, timeout: float = 15
) -> dict[str, Any]:
    """The call's row in the active view once its legs' states are `wanted` (in order)."""

    def check() -> dict[str, Any] | None:
        page = client.get("/v1/calls/active", headers=headers).json()
        for call in page["items"]:
            if call["call_id"] == call_id:
                legs = [leg["state"] for leg in call["legs"] if leg["state"] != "terminated"]
                if list(wanted) == legs:
                    return call  # type: ignore[no-any-return]
        return None

    return eventually(check, timeout, 0.02)  # type: ignore[no-any-return]
