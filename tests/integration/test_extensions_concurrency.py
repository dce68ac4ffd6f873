"""Concurrent creations through HTTP: a quantity of N yields exactly N extensions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.test_extensions import agree, customer, extension, product

Headers = dict[str, str]
THREADS = 12


def test_concurrent_creations_against_a_quantity_of_n_yield_exactly_n(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    recording = product(client, admin, "Call recording", "add_on")
    agree(client, admin, abc["id"], **{recording: 4})

    def create(i: int) -> Any:
        return extension(client, admin, abc["id"], str(100 + i), recording)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(create, range(THREADS)))
    made = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    assert len(made) == 4, [a.text for a in answers]
    assert {(a.status_code, a.json()["code"]) for a in refused} == {(409, "quota_exceeded")}
    agreement = client.get(f"/v1/customers/{abc['id']}/agreement", headers=admin).json()
    assert [p["used"] for p in agreement["products"]] == [4]
    accounts = client.get(
        "/v1/accounts", params={"customer_id": abc["id"], "limit": 100}, headers=admin
    ).json()["items"]
    assert sorted(a["login"] for a in accounts) == sorted(m.json()["account_login"] for m in made)


def test_concurrent_auto_attendants_get_distinct_numbers(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    url = f"/v1/customers/{abc['id']}/auto-attendants"

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(lambda _: client.post(url, json={}, headers=admin), range(10)))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    logins = sorted(a.json()["account_login"] for a in answers)
    assert logins == sorted(f"ph46170aa{n}" for n in range(1, 11))
