"""Products, agreements, extensions and auto attendants, DIDs as aliases: the use cases.

An extension's account belongs to the directory. The composition root hands each command
an `OpenAccount` (and friends) that runs the directory's command inside the same
transaction, so the provisioning decision and the account commit together or not at all.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from domain.directory.access import Scope, sees_event
from domain.provisioning.aggregates import CustomerNumber, NumberSequence
from domain.provisioning.pbx import (
    MAIN,
    Agreement,
    AutoAttendant,
    Extension,
    PbxEndpoint,
    Product,
    auto_attendant_login,
    extension_login,
    extension_number,
)
from domain.shared import values
from domain.shared.actor import CommandContext
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import ConflictError, DuplicateError, InvalidValueError, NotFoundError
from domain.shared.owners import Owner
from domain.shared.permissions import Access, Section
from domain.shared.values import Secret

#: This module's aggregates (provisioning's registration lists them).
AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (
    Product,
    Agreement,
    Extension,
    AutoAttendant,
    NumberSequence,
)

PRODUCT_NAME = "product-name"
LOGIN = "login"  # the directory's reservations of logins (an account's login is one)
DID = "did"
E = TypeVar("E", bound=PbxEndpoint)
_E164 = re.compile(r"^[1-9][0-9]{5,14}$")

#: Opens the directory account of an extension: (login, password) -> account id.
OpenAccount = Callable[[str, str], UUID]
#: Gives a generated account another login.
RenameAccount = Callable[[UUID, str], None]
#: Closes a generated account and frees its login.
CloseAccount = Callable[[UUID], None]


def e164(number: str) -> str:
    """A number as E.164 digits (country code first, no '+', 6-15 digits)."""
    digits = number.strip().removeprefix("+")
    if not _E164.match(digits):
        raise InvalidValueError(f"{number!r} is not an E.164 number (6-15 digits, e.g. 4420...)")
    return digits


def new_sip_password() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Provisioned:
    """A new extension or auto attendant; the SIP password is shown this once."""

    id: UUID
    account_id: UUID
    login: str
    sip_password: str


class ExtensionCommands(SwitchlogApplication):
    """Provisioning's use cases for this area (mixed into ProvisioningService)."""

    # -- products ------------------------------------------------------------------
    def create_product(self, ctx: CommandContext, name: str, kind: str) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            product = Product(name=values.human_id(name, "name"), kind=kind)
            self.save(product, *self.names.claim(PRODUCT_NAME, name, product.id))
            return product.id

    # -- agreements ----------------------------------------------------------------
    def set_agreement(
        self, ctx: CommandContext, owner: Owner, quantities: Sequence[tuple[UUID, int]]
    ) -> int:
        """The products the customer may give its accounts, and on how many (0: any)."""
        with self.command(ctx):
            customer_id = self._visible(ctx, owner)
            Scope.of(ctx.actor).require_reseller_or_admin()
            wanted: dict[str, int] = {}
            for product_id, quantity in quantities:
                self._product(product_id)
                if quantity < 0:
                    raise InvalidValueError("a quantity is 0 (unlimited) or more")
                if str(product_id) in wanted:
                    raise InvalidValueError(f"product {product_id} is listed twice")
                wanted[str(product_id)] = quantity
            agreement = self._agreement(owner)
            if agreement is None:
                agreement = Agreement(
                    customer_id=customer_id, reseller_id=owner.reseller_id, quantities=wanted
                )
            else:
                agreement.revise(wanted)
            self.save(agreement)
            return agreement.version

    def set_products(
        self, ctx: CommandContext, owner: Owner, account_id: UUID, products: Sequence[UUID]
    ) -> None:
        """Give an account of the customer exactly these products."""
        with self.command(ctx):
            self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            self.save(*self._assigned(owner, account_id, products))

    def set_main_product(
        self, ctx: CommandContext, owner: Owner, account_id: UUID, product_id: UUID | None
    ) -> None:
        """Replace the account's main product (None: no main product); add-ons stay."""
        with self.command(ctx):
            self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            agreement = self._agreement(owner)
            held = agreement.held_by(account_id) if agreement else []
            kept = [UUID(p) for p in held if self._product(UUID(p)).kind != MAIN]
            if product_id is not None and self._product(product_id).kind != MAIN:
                raise InvalidValueError(f"product {product_id} is not a main product")
            wanted = kept + ([product_id] if product_id is not None else [])
            self.save(*self._assigned(owner, account_id, wanted))

    # -- extensions and auto attendants ---------------------------------------------
    def add_extension(
        self,
        ctx: CommandContext,
        owner: Owner,
        extension: str,
        products: Sequence[UUID],
        open_account: OpenAccount,
    ) -> Provisioned:
        with self.command(ctx):
            customer_id = self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            login = extension_login(self._number_of(customer_id), extension_number(extension))
            password = new_sip_password()
            account_id = open_account(login, password)
            added = Extension(
                customer_id=customer_id,
                reseller_id=owner.reseller_id,
                account_id=account_id,
                login=login,
                extension=extension,
                sip_password=Secret(password),
            )
            self.save(added, *self._assigned(owner, account_id, products))
            return Provisioned(added.id, account_id, login, password)

    def add_auto_attendant(
        self,
        ctx: CommandContext,
        owner: Owner,
        products: Sequence[UUID],
        open_account: OpenAccount,
    ) -> Provisioned:
        with self.command(ctx):
            customer_id = self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            number = self._number_of(customer_id)
            n, sequence = self.allocate(
                f"auto-attendants:{customer_id}",
                lambda n: self.holder_of(LOGIN, auto_attendant_login(number, n)) is not None,
            )
            login = auto_attendant_login(number, n)
            password = new_sip_password()
            try:
                account_id = open_account(login, password)
            except DuplicateError:  # another creation took n first: a lost race, retried
                raise ConflictError(f"{login} was just taken; retry") from None
            added = AutoAttendant(
                customer_id=customer_id,
                reseller_id=owner.reseller_id,
                account_id=account_id,
                login=login,
                number=n,
                sip_password=Secret(password),
            )
            self.save(added, sequence, *self._assigned(owner, account_id, products))
            return Provisioned(added.id, account_id, login, password)

    def renumber_extension(
        self,
        ctx: CommandContext,
        owner: Owner,
        extension_id: UUID,
        extension: str,
        rename_account: RenameAccount,
    ) -> None:
        with self.command(ctx):
            customer_id = self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            found = self.endpoint(owner, extension_id, Extension)
            login = extension_login(self._number_of(customer_id), extension_number(extension))
            if login != found.login:
                rename_account(found.account_id, login)
                found.renumber(extension, login)
            self.save(found)

    def delete_endpoint(
        self, ctx: CommandContext, owner: Owner, endpoint_id: UUID, close_account: CloseAccount
    ) -> None:
        """Delete an extension or auto attendant: its account closes, its products and
        DIDs are free again (an auto attendant's number is never given again)."""
        with self.command(ctx):
            self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            found = self.endpoint(owner, endpoint_id, PbxEndpoint)
            released = [c for did in found.dids for c in self.names.release(DID, did)]
            found.delete()
            close_account(found.account_id)
            self.save(found, *released, *self._assigned(owner, found.account_id, []))

    def add_did(self, ctx: CommandContext, owner: Owner, endpoint_id: UUID, did: str) -> None:
        """A DID becomes an alias of the extension's (or auto attendant's) account."""
        with self.command(ctx):
            self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            found = self.endpoint(owner, endpoint_id, PbxEndpoint)
            number = e164(did)
            claims = self.names.claim(DID, number, found.id)
            found.add_alias(number)
            self.save(found, *claims)

    def remove_did(self, ctx: CommandContext, owner: Owner, endpoint_id: UUID, did: str) -> None:
        with self.command(ctx):
            self._visible(ctx, owner)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            found = self.endpoint(owner, endpoint_id, PbxEndpoint)
            number = e164(did)
            found.remove_alias(number)
            self.save(found, *self.names.release(DID, number))

    # -- reads and helpers -----------------------------------------------------------
    def endpoint(self, owner: Owner, endpoint_id: UUID, kind: type[E]) -> E:
        """The customer's extension or auto attendant (404 for another customer's)."""
        found = self.load(endpoint_id, kind)
        if found.customer_id != owner.customer_id:
            raise NotFoundError(f"{kind.__name__} {endpoint_id} not found")
        found.belongs_to(owner.reseller_id)
        return found

    def customer_number(self, customer_id: UUID) -> int | None:
        try:
            return self.load(CustomerNumber.create_id(customer_id), CustomerNumber).number
        except NotFoundError:
            return None

    def allocate(self, series: str, taken: Callable[[int], bool]) -> tuple[int, NumberSequence]:
        """The next number of a series that `taken` does not refuse, and the advanced
        sequence to save with whatever uses the number."""
        try:
            sequence: NumberSequence | None = self.load(
                NumberSequence.create_id(series), NumberSequence
            )
        except NotFoundError:
            sequence = None
        n = (sequence.last if sequence else 0) + 1
        while taken(n):
            n += 1
        if sequence is None:
            return n, NumberSequence(series=series, last=n)
        sequence.advance(n)
        return n, sequence

    def _visible(self, ctx: CommandContext, owner: Owner) -> UUID:
        customer_id = owner.customer_id
        if customer_id is None or not sees_event(Scope.of(ctx.actor), [owner]):
            raise NotFoundError(f"customer {customer_id} not found")
        return customer_id

    def _number_of(self, customer_id: UUID) -> int:
        number = self.customer_number(customer_id)
        if number is None:
            raise InvalidValueError(
                f"customer {customer_id} has no number yet; an admin gives it one"
                " (PATCH /v1/customers/{id} with number)"
            )
        return number

    def _product(self, product_id: UUID) -> Product:
        try:
            return self.load(product_id, Product)
        except NotFoundError:
            raise InvalidValueError(f"product {product_id} does not exist") from None

    def _agreement(self, owner: Owner) -> Agreement | None:
        assert owner.customer_id is not None
        try:
            agreement = self.load(Agreement.create_id(owner.customer_id), Agreement)
        except NotFoundError:
            return None
        agreement.belongs_to(owner.reseller_id)
        return agreement

    def _assign(self, owner: Owner, account_id: UUID, products: Sequence[UUID]) -> Agreement:
        agreement = self._agreement(owner)
        if agreement is None:
            if products:
                raise InvalidValueError("the customer has no agreement: no products to give")
            assert owner.customer_id is not None
            agreement = Agreement(
                customer_id=owner.customer_id, reseller_id=owner.reseller_id, quantities={}
            )
        kinds = {str(p): self._product(p).kind for p in products}
        agreement.assign(account_id, [str(p) for p in products], kinds)
        return agreement

    def _assigned(
        self, owner: Owner, account_id: UUID, products: Sequence[UUID]
    ) -> list[Agreement]:
        """The agreement to save with a change of the account's products (none if no
        agreement and no products)."""
        if not products and self._agreement(owner) is None:
            return []
        return [self._assign(owner, account_id, products)]
