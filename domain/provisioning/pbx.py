"""What an IP Centrex customer is given: products, its agreement, extensions and auto
attendants (each a generated account), and DIDs as their aliases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.errors import ConflictError, InvalidValueError
from domain.shared.values import Secret

MAIN, ADD_ON = "main", "add_on"
PRODUCT_KINDS = (MAIN, ADD_ON)
_EXTENSION = re.compile(r"^[0-9]{1,15}$")


class QuotaExceededError(ConflictError):
    """The agreement's quantity for a product is used up."""

    code = "quota_exceeded"


def extension_number(value: str) -> str:
    """An extension as customers dial it: 1 to 15 digits."""
    if not _EXTENSION.match(value):
        raise InvalidValueError(f"extension {value!r} must be 1 to 15 digits")
    return value


def extension_login(customer_number: int, extension: str) -> str:
    return f"ph{customer_number}x{extension}"


def auto_attendant_login(customer_number: int, n: int) -> str:
    return f"ph{customer_number}aa{n}"


class Product(SwitchlogAggregate):
    """A main or add-on product of the catalog (billing attaches tariffs to it)."""

    context = "provisioning"

    class Created(SwitchlogAggregate.Created):
        name: str
        kind: str

    def __init__(self, name: str, kind: str) -> None:
        if kind not in PRODUCT_KINDS:
            raise InvalidValueError(f"a product's kind is {' or '.join(PRODUCT_KINDS)}")
        self.name = name
        self.kind = kind


class Agreement(CustomerOwned, SwitchlogAggregate):
    """Which products a customer may give its accounts, on how many each (0: unlimited),
    and which accounts hold which: one aggregate per customer, so the count is exact."""

    context = "provisioning"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:agreement:{customer_id}")

    class Made(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        quantities: dict[str, int]

    def __init__(
        self, customer_id: UUID, reseller_id: UUID | None, quantities: dict[str, int]
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.quantities = quantities
        self.holdings: dict[str, list[str]] = {}

    class Revised(SwitchlogAggregate.Changed):
        fields = frozenset({"quantities"})

    class ProductsAssigned(SwitchlogAggregate.Event):
        """The account's products are now these (none: it holds nothing any more)."""

        account_id: UUID
        products: list[str]

        def apply(self, aggregate: Any) -> None:
            if self.products:
                aggregate.holdings[str(self.account_id)] = list(self.products)
            else:
                aggregate.holdings.pop(str(self.account_id), None)

    def revise(self, quantities: dict[str, int]) -> None:
        self.change(self.Revised, quantities=quantities)

    def held_by(self, account_id: UUID) -> list[str]:
        return list(self.holdings.get(str(account_id), []))

    def used(self, product_id: str) -> int:
        return sum(product_id in held for held in self.holdings.values())

    def assign(self, account_id: UUID, products: Sequence[str], kinds: Mapping[str, str]) -> None:
        """Give the account exactly these products, within the agreement's quantities.
        `kinds` maps each product id to its kind (and name, for messages)."""
        wanted = list(dict.fromkeys(products))
        current = self.held_by(account_id)
        if sorted(wanted) == sorted(current):
            return
        if sum(kinds[p] == MAIN for p in wanted) > 1:
            raise InvalidValueError("an account has at most one main product")
        for product in wanted:
            if product in current:
                continue
            if product not in self.quantities:
                raise InvalidValueError(f"product {product} is not in the customer's agreement")
            limit = self.quantities[product]
            if limit and self.used(product) >= limit:
                raise QuotaExceededError(
                    f"the agreement allows product {product} on {limit} account(s), "
                    f"and all {limit} are in use"
                )
        self.trigger_event(self.ProductsAssigned, account_id=account_id, products=wanted)


class PbxEndpoint(CustomerOwned, SwitchlogAggregate):
    """What an extension and an auto attendant share: a generated account, DID aliases."""

    context = "provisioning"
    owning_account = "account_id"
    customer_id: UUID
    reseller_id: UUID | None
    account_id: UUID
    login: str
    dids: list[str]
    status: str

    class AliasAdded(SwitchlogAggregate.Event):
        did: str

        def apply(self, aggregate: Any) -> None:
            aggregate.dids = [*aggregate.dids, self.did]

    class AliasRemoved(SwitchlogAggregate.Event):
        did: str

        def apply(self, aggregate: Any) -> None:
            aggregate.dids = [d for d in aggregate.dids if d != self.did]

    class Deleted(SwitchlogAggregate.Changed):
        fields = frozenset({"status"})

    def add_alias(self, did: str) -> bool:
        self.check_open()
        if did in self.dids:
            return False
        self.trigger_event(self.AliasAdded, did=did)
        return True

    def remove_alias(self, did: str) -> None:
        self.check_open()
        if did not in self.dids:
            raise InvalidValueError(f"DID {did} is not an alias of {self.login}")
        self.trigger_event(self.AliasRemoved, did=did)

    def delete(self) -> None:
        self.check_open()
        self.change(self.Deleted, status="deleted")

    def check_open(self) -> None:
        if self.status != "active":
            raise InvalidValueError(f"{self.login} was deleted")


class Extension(PbxEndpoint):
    """An extension (e.g. 466) of a customer's PBX; its account is `ph{number}x466`."""

    class Added(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        account_id: UUID
        login: str
        extension: str
        sip_password: Secret

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        account_id: UUID,
        login: str,
        extension: str,
        sip_password: Secret,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.account_id = account_id
        self.login = login
        self.extension = extension
        self.sip_password = sip_password
        self.dids = []
        self.status = "active"

    class Renumbered(SwitchlogAggregate.Changed):
        """Another extension number, so another login."""

        fields = frozenset({"extension", "login"})

    class AliasAdded(PbxEndpoint.AliasAdded):
        pass

    class AliasRemoved(PbxEndpoint.AliasRemoved):
        pass

    class Deleted(PbxEndpoint.Deleted):
        pass

    def renumber(self, extension: str, login: str) -> None:
        self.check_open()
        self.change(self.Renumbered, extension=extension, login=login)


class AutoAttendant(PbxEndpoint):
    """An auto attendant, numbered per customer without reuse: `ph{number}aa{n}`."""

    class Added(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        account_id: UUID
        login: str
        number: int
        sip_password: Secret

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        account_id: UUID,
        login: str,
        number: int,
        sip_password: Secret,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.account_id = account_id
        self.login = login
        self.number = number
        self.sip_password = sip_password
        self.dids = []
        self.status = "active"

    class AliasAdded(PbxEndpoint.AliasAdded):
        pass

    class AliasRemoved(PbxEndpoint.AliasRemoved):
        pass

    class Deleted(PbxEndpoint.Deleted):
        pass
