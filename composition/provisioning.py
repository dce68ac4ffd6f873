"""Provisioning's commands that span contexts: an extension's account is the directory's,
a customer's number is provisioning's. Each runs inside one transaction
(`one_transaction`: every context's events in one append) and is retried when it loses
an optimistic-concurrency race (reload, decide again), so N creations against a quantity
of N all succeed however they interleave.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer
from domain.provisioning.application import ProvisioningService
from domain.provisioning.extensions import Provisioned
from domain.provisioning.pbx import PbxEndpoint
from domain.shared.actor import CommandContext
from domain.shared.errors import ConflictError, InvalidValueError
from domain.shared.owners import Owner

if TYPE_CHECKING:
    from composition.runtime import Runtime

T = TypeVar("T")
ATTEMPTS = 20


def retry_conflicts(action: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Run `action` again (it reloads and decides again) while it loses a race to another
    writer; after `attempts` the conflict is the answer (409). Only a lost race is
    retried, never a refusal (a used-up quota, a duplicate)."""
    for attempt in range(attempts):
        try:
            return action()
        except ConflictError as error:
            if type(error) is not ConflictError or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))  # jittered backoff
    raise AssertionError("unreachable")


def service(runtime: Runtime) -> ProvisioningService:
    found = runtime.services["provisioning"]
    assert isinstance(found, ProvisioningService)
    return found


def customer_owner(runtime: Runtime, customer_id: UUID) -> Owner:
    """The customer as the directory knows it now (404 for an unknown one)."""
    customer = runtime.directory.load(customer_id, Customer)
    return Owner(customer.reseller_id, customer.id)


def account_owner(runtime: Runtime, account_id: UUID) -> Owner:
    """The customer an account belongs to (404 for an unknown account)."""
    account = runtime.directory.load(account_id, Account)
    return customer_owner(runtime, account.customer_id)


def _in_one_transaction(runtime: Runtime, action: Callable[[], T]) -> T:
    def attempt() -> T:
        with runtime.directory.one_transaction():
            return action()

    return retry_conflicts(attempt)


# -- extensions and auto attendants ---------------------------------------------------
def add_extension(
    runtime: Runtime,
    ctx: CommandContext,
    customer_id: UUID,
    extension: str,
    products: Sequence[UUID],
) -> Provisioned:
    def opening(login: str, password: str) -> UUID:
        return runtime.directory.open_generated_account(ctx, customer_id, login, password)

    return _in_one_transaction(
        runtime,
        lambda: service(runtime).add_extension(
            ctx, customer_owner(runtime, customer_id), extension, products, opening
        ),
    )


def add_auto_attendant(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, products: Sequence[UUID]
) -> Provisioned:
    def opening(login: str, password: str) -> UUID:
        return runtime.directory.open_generated_account(ctx, customer_id, login, password)

    return _in_one_transaction(
        runtime,
        lambda: service(runtime).add_auto_attendant(
            ctx, customer_owner(runtime, customer_id), products, opening
        ),
    )


def change_endpoint(
    runtime: Runtime,
    ctx: CommandContext,
    customer_id: UUID,
    endpoint_id: UUID,
    extension: str | None,
    products: Sequence[UUID] | None,
) -> None:
    """Renumber an extension and/or give its account other products, in one transaction."""

    def renaming(account_id: UUID, login: str) -> None:
        runtime.directory.rename_generated_account(ctx, account_id, login)

    def change() -> None:
        owner = customer_owner(runtime, customer_id)
        provisioning = service(runtime)
        if extension is not None:
            provisioning.renumber_extension(ctx, owner, endpoint_id, extension, renaming)
        if products is not None:
            found = provisioning.endpoint(owner, endpoint_id, PbxEndpoint)
            provisioning.set_products(ctx, owner, found.account_id, products)

    _in_one_transaction(runtime, change)


def delete_endpoint(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, endpoint_id: UUID
) -> None:
    def closing(account_id: UUID) -> None:
        runtime.directory.close_generated_account(ctx, account_id)

    _in_one_transaction(
        runtime,
        lambda: service(runtime).delete_endpoint(
            ctx, customer_owner(runtime, customer_id), endpoint_id, closing
        ),
    )


# -- contributed fields -----------------------------------------------------------------
def read_numbers(runtime: Runtime, customer_ids: Sequence[str]) -> dict[str, Any]:
    from projections.provisioning import ProvisioningQueries

    return dict(ProvisioningQueries(runtime.db).numbers(customer_ids))


def create_number(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, number: Any, own: dict[str, Any]
) -> Callable[[], bool]:
    """A new customer's number, in the transaction that creates it: the one given (admins
    only), else the next free one. The customer's reseller is the one it is created under
    (a reseller's own, when the reseller names none)."""
    reseller_id = own.get("reseller_id") or Scope.of(ctx.actor).reseller_id
    given = service(runtime).number_customer(ctx, Owner(reseller_id, customer_id), number)
    return lambda: read_numbers(runtime, [str(customer_id)]).get(str(customer_id)) == given


def write_number(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, number: Any
) -> Callable[[], bool]:
    """A customer created before numbers were integers gets one (once; admins only)."""
    runtime.directory.load(customer_id, Customer).check_open()  # a closed one takes nothing
    owner = customer_owner(runtime, customer_id)
    if number is None:
        raise InvalidValueError("a customer's number cannot be removed")
    given = service(runtime).number_customer(ctx, owner, number)
    return lambda: read_numbers(runtime, [str(customer_id)]).get(str(customer_id)) == given


def read_account_field(name: str) -> Callable[[Runtime, Sequence[str]], dict[str, Any]]:
    """The reader of one of the fields provisioning adds to accounts."""

    def read(runtime: Runtime, account_ids: Sequence[str]) -> dict[str, Any]:
        from projections.extensions import ExtensionQueries

        found = ExtensionQueries(runtime.db).accounts(account_ids)
        return {account: entry[name] for account, entry in found.items()}

    return read


def write_main_product(
    runtime: Runtime, ctx: CommandContext, account_id: UUID, product_id: Any
) -> Callable[[], bool]:
    """`PATCH /v1/accounts/{id}` with `product_id`: the account's main product."""
    product = UUID(str(product_id)) if product_id is not None else None
    service(runtime).set_main_product(ctx, account_owner(runtime, account_id), account_id, product)
    shown = str(product) if product is not None else None
    read = read_account_field("product_id")
    return lambda: read(runtime, [str(account_id)]).get(str(account_id)) == shown
