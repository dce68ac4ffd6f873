"""Subscription plans on products, account and reseller subscriptions, their periodic fee
adjustments: aggregates and use cases (mixed into BillingService)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.persistence import IntegrityError

from domain.billing import fees, rounding
from domain.billing.aggregates import BILLING_PERIODS, ResellerBilling
from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer
from domain.provisioning.pbx import Agreement, Product
from domain.shared import values
from domain.shared.actor import CommandContext
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.errors import (
    ConflictError,
    DuplicateError,
    ForbiddenError,
    InvalidValueError,
    NotFoundError,
)
from domain.shared.owners import Owner
from domain.shared.permissions import Access, Section

ACCOUNT_LEVEL, RESELLER_LEVEL = "account", "reseller"
MAX_FEE = Decimal("10000000")


class SubscriptionPlan(SwitchlogAggregate):
    """A recurring fee on a product: account plans charge the customer, reseller plans
    charge the reseller per account holding the product."""

    context = "billing"

    class Created(SwitchlogAggregate.Created):
        name: str
        product_id: UUID
        level: str
        fee: Decimal
        currency: str
        period: str
        charged: str
        prorate: bool
        activation: str
        multiple: bool
        managed_by: UUID | None  # a reseller, or None: the operator
        shared_with_resellers: bool
        progressive: bool
        prepaid_months: int
        precision: int
        credit_conditions: list[str]

    def __init__(
        self,
        name: str,
        product_id: UUID,
        level: str,
        fee: Decimal,
        currency: str,
        period: str,
        charged: str,
        prorate: bool,
        activation: str,
        multiple: bool,
        managed_by: UUID | None,
        shared_with_resellers: bool,
        progressive: bool,
        prepaid_months: int,
        precision: int,
        credit_conditions: list[str],
    ) -> None:
        self.name = name
        self.product_id = product_id
        self.level = level
        self.fee = fee
        self._first_fee = fee
        self.currency = currency
        self.period = period
        self.charged = charged
        self.prorate = prorate
        self.activation = activation
        self.multiple = multiple
        self.managed_by = managed_by
        self.shared_with_resellers = shared_with_resellers
        self.progressive = progressive
        self.prepaid_months = prepaid_months
        self.precision = precision
        self.credit_conditions = credit_conditions
        self.status = "active"
        self.fee_changes: list[tuple[datetime, Decimal]] = []

    class Removed(SwitchlogAggregate.Changed):
        fields = frozenset({"status"})

    class FeeChanged(SwitchlogAggregate.Event):
        """The fee from `effective` on (charges of periods after it use it; in advance, a
        charged period gets a prorated correction), recorded with its actor and reason."""

        fee: Decimal
        effective: datetime
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.fee = self.fee
            aggregate.fee_changes = [*aggregate.fee_changes, (self.effective, self.fee)]

    class Edited(SwitchlogAggregate.Changed):
        """Plain fields changed (the name, the conditions credited), with the reason."""

        fields = frozenset({"name", "credit_conditions"})
        reason: str

    def change_fee(self, fee: Decimal, effective: datetime, reason: str) -> None:
        self.trigger_event(self.FeeChanged, fee=fee, effective=effective, reason=reason)

    def edit(self, reason: str, **fields: Any) -> bool:
        refused = sorted(set(fields) - self.Edited.fields)
        if refused:
            raise InvalidValueError(f"a plan edit may not change {', '.join(refused)}")
        changes = self.diff(**fields)
        if changes:
            self.trigger_event(self.Edited, changes=changes, reason=reason)
        return bool(changes)

    def fees_from(self, now: datetime) -> list[Decimal]:
        """The fee in force at `now` and every fee scheduled after it."""
        current, later = self.fee, []
        scheduled = sorted(self.fee_changes, key=lambda change: change[0])
        if scheduled:
            past = [fee for at, fee in scheduled if at <= now]
            current = past[-1] if past else self._first_fee
            later = [fee for at, fee in scheduled if at > now]
        return [current, *later]

    def remove(self) -> None:
        if self.status != "removed":
            self.change(self.Removed, status="removed")

    def rules(self, period: str | None = None) -> fees.Plan:
        return fees.Plan(
            fee=self.fee,
            period=period or self.period,
            charged=self.charged,
            prorate=self.prorate,
            activation=self.activation,
            precision=self.precision,
            credit_conditions=tuple(self.credit_conditions),
            prepaid_months=self.prepaid_months,
        )

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        reseller = fields["managed_by"]
        return (Owner(reseller_id=reseller),) if reseller else ()

    def owners(self) -> Sequence[Owner]:
        return (Owner(reseller_id=self.managed_by),) if self.managed_by else ()


class Subscription(SwitchlogAggregate):
    """A plan applied to one account, from `start` (in the zone and period it was charged
    in) until it ends; an account-level one may carry a periodic fee adjustment."""

    context = "billing"

    @staticmethod
    def single_id(plan_id: UUID, account_id: UUID) -> UUID:
        """A plan that cannot be applied more than once has one subscription per account."""
        return uuid5(NAMESPACE_URL, f"switchlog:subscription:{plan_id}:{account_id}")

    class Subscribed(SwitchlogAggregate.Created):
        plan_id: UUID
        product_id: UUID
        level: str
        account_id: UUID
        customer_id: UUID
        reseller_id: UUID | None
        start: datetime
        period: str
        zone: str

    def __init__(
        self,
        plan_id: UUID,
        product_id: UUID,
        level: str,
        account_id: UUID,
        customer_id: UUID,
        reseller_id: UUID | None,
        start: datetime,
        period: str,
        zone: str,
    ) -> None:
        self.plan_id = plan_id
        self.product_id = product_id
        self.level = level
        self.account_id = account_id
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.start = start
        self.period = period
        self.zone = zone
        self.adjustment: fees.Adjustment | None = None
        self.end: datetime | None = None

    class Adjusted(SwitchlogAggregate.Event):
        """A periodic fee adjustment (kind None: removed)."""

        kind: str | None
        value: Decimal | None

        def apply(self, aggregate: Any) -> None:
            aggregate.adjustment = (
                fees.Adjustment(self.kind, self.value)
                if self.kind is not None and self.value is not None
                else None
            )

    class Ended(SwitchlogAggregate.Event):
        end: datetime
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.end = self.end

    def adjust(self, adjustment: fees.Adjustment | None) -> None:
        self._check_running()
        self.trigger_event(
            self.Adjusted,
            kind=adjustment.kind if adjustment else None,
            value=adjustment.value if adjustment else None,
        )

    def stop(self, end: datetime, reason: str) -> None:
        self._check_running()
        self.trigger_event(self.Ended, end=max(end, self.start), reason=reason)

    def _check_running(self) -> None:
        if self.end is not None:
            raise ConflictError(f"subscription {self.id} ended at {self.end.isoformat()}")

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        if fields["level"] == RESELLER_LEVEL:  # the operator's price to the reseller
            return (Owner(reseller_id=fields["reseller_id"]),)
        return (Owner(fields["reseller_id"], fields["customer_id"], fields["account_id"]),)

    def owners(self) -> Sequence[Owner]:
        if self.level == RESELLER_LEVEL:
            return (Owner(reseller_id=self.reseller_id),)
        return (Owner(self.reseller_id, self.customer_id, self.account_id),)


@dataclass(frozen=True)
class PlanSpec:
    """A plan as an admin (or the reseller managing it) posts it."""

    name: str
    product_id: UUID
    fee: Decimal
    currency: str
    level: str = ACCOUNT_LEVEL
    period: str = "monthly"
    charged: str = fees.IN_ADVANCE
    prorate: bool = True
    activation: str = fees.AT_START
    multiple: bool = False
    managed_by: UUID | None = None
    shared_with_resellers: bool = True
    progressive: bool = False
    prepaid_months: int = 1
    precision: int = 2
    credit_conditions: tuple[str, ...] = fees.CONDITIONS


class SubscriptionCommands:
    """Plans, subscriptions and adjustments: BillingService's use cases for fees."""

    def create_plan(self, ctx: CommandContext, spec: PlanSpec) -> UUID:
        with self.command(ctx):  # type: ignore[attr-defined]
            ctx.require(Section.BILLING, Access.MODIFY)
            scope = Scope.of(ctx.actor)
            managed_by = spec.managed_by
            if not scope.unrestricted:
                if scope.reseller_id is None or spec.level == RESELLER_LEVEL:
                    raise ForbiddenError("plans are the operator's (resellers: their own)")
                managed_by = scope.reseller_id
            self.load(spec.product_id, Product)  # type: ignore[attr-defined]
            _check_plan(spec)
            plan = SubscriptionPlan(
                name=values.human_id(spec.name, "name"),
                product_id=spec.product_id,
                level=spec.level,
                fee=spec.fee,
                currency=values.currency(spec.currency),
                period=spec.period,
                charged=spec.charged,
                prorate=spec.prorate,
                activation=spec.activation,
                multiple=spec.multiple,
                managed_by=managed_by,
                shared_with_resellers=spec.shared_with_resellers,
                progressive=spec.progressive,
                prepaid_months=spec.prepaid_months,
                precision=rounding.precision(spec.precision),
                credit_conditions=list(dict.fromkeys(spec.credit_conditions)),
            )
            self.save(plan)  # type: ignore[attr-defined]
            return plan.id

    def edit_plan(
        self,
        ctx: CommandContext,
        plan_id: UUID,
        reason: str,
        fee: Decimal | None = None,
        effective: datetime | None = None,
        name: str | None = None,
        credit_conditions: Sequence[str] | None = None,
    ) -> None:
        """Change a plan's fee from `effective` (default now; never earlier: charges made
        are not rewritten, a change inside a charged period is corrected), its name or the
        conditions it credits; recorded with the actor and the reason."""
        with self.command(ctx):  # type: ignore[attr-defined]
            plan = self._plan_for(ctx, plan_id)
            if plan.status != "active":
                raise ConflictError(f"plan {plan_id} was removed")
            if not reason or not reason.strip():
                raise InvalidValueError("a plan change needs a reason")
            now = self.clock.now()  # type: ignore[attr-defined]
            changed = False
            if fee is not None:
                if effective is not None and effective.tzinfo is None:
                    raise InvalidValueError("effective must carry a UTC offset")
                if effective is not None and effective < now:
                    raise InvalidValueError(
                        "effective is now or later: charges already made are not rewritten"
                    )
                _check_fee(fee)
                plan.change_fee(fee, effective or now, reason.strip())
                changed = True
            elif effective is not None:
                raise InvalidValueError("effective dates a fee change: give a fee")
            edits: dict[str, Any] = {}
            if name is not None:
                edits["name"] = values.human_id(name, "name")
            if credit_conditions is not None:
                _check_conditions(credit_conditions)
                edits["credit_conditions"] = list(dict.fromkeys(credit_conditions))
            changed = plan.edit(reason.strip(), **edits) or changed
            if not changed:
                raise InvalidValueError("the change changes nothing")
            self.save(plan)  # type: ignore[attr-defined]

    def remove_plan(self, ctx: CommandContext, plan_id: UUID) -> None:
        """Remove a plan: its subscriptions end (their charges stop) at this moment."""
        with self.command(ctx):  # type: ignore[attr-defined]
            plan = self._plan_for(ctx, plan_id)
            plan.remove()
            self.save(plan)  # type: ignore[attr-defined]

    def subscribe(
        self,
        ctx: CommandContext,
        account_id: UUID,
        plan_id: UUID,
        start: datetime | None = None,
    ) -> UUID:
        """Apply a plan to an account that holds its product, from `start` (default now)."""
        with self.command(ctx):  # type: ignore[attr-defined]
            account = self.load(account_id, Account)  # type: ignore[attr-defined]
            customer = self.load(account.customer_id, Customer)  # type: ignore[attr-defined]
            scope = Scope.of(ctx.actor)
            scope.require_visible(
                scope.sees_account(account.id, customer.id, customer.reseller_id),
                f"account {account_id}",
            )
            ctx.require(Section.BILLING, Access.MODIFY)
            plan = self.load(plan_id, SubscriptionPlan)  # type: ignore[attr-defined]
            _may_apply(scope, plan, customer.reseller_id)
            if plan.status != "active":
                raise ConflictError(f"plan {plan_id} was removed")
            account.check_open()
            agreement = self.load(Agreement.create_id(customer.id), Agreement)  # type: ignore[attr-defined]
            if str(plan.product_id) not in agreement.held_by(account.id):
                raise InvalidValueError(
                    f"account {account_id} does not hold the plan's product {plan.product_id}"
                )
            if start is not None and start.tzinfo is None:
                raise InvalidValueError("start must carry a UTC offset")
            zone, period = customer.time_zone, plan.period
            if plan.level == RESELLER_LEVEL:
                if customer.reseller_id is None:
                    raise InvalidValueError("a reseller plan needs a customer of a reseller")
                zone, period = self._reseller_calendar(customer.reseller_id)
            made = Subscription._create(
                Subscription.Subscribed,
                id=Subscription.single_id(plan.id, account.id) if not plan.multiple else uuid4(),
                plan_id=plan.id,
                product_id=plan.product_id,
                level=plan.level,
                account_id=account.id,
                customer_id=customer.id,
                reseller_id=customer.reseller_id,
                start=start or self.clock.now(),  # type: ignore[attr-defined]
                period=period,
                zone=zone,
            )
            try:
                self.save(made)  # type: ignore[attr-defined]
            except IntegrityError:
                raise DuplicateError(
                    f"plan {plan_id} cannot be applied more than once to account {account_id}"
                ) from None
            return made.id

    def adjust_subscription(
        self,
        ctx: CommandContext,
        subscription_id: UUID,
        kind: str | None,
        value: Decimal | None,
    ) -> None:
        """Set (kind None: remove) the subscription's periodic fee adjustment."""
        with self.command(ctx):  # type: ignore[attr-defined]
            sub = self._subscription_for(ctx, subscription_id)
            plan = self.load(sub.plan_id, SubscriptionPlan)  # type: ignore[attr-defined]
            adjustment = None
            if kind is not None:
                for fee in plan.fees_from(self.clock.now()):  # type: ignore[attr-defined]
                    adjustment = fees.check_adjustment(
                        kind,
                        value if value is not None else Decimal(-1),
                        fee,
                        plan.progressive,
                        plan.prepaid_months,
                    )
            sub.adjust(adjustment)
            self.save(sub)  # type: ignore[attr-defined]

    def end_subscription(
        self, ctx: CommandContext, subscription_id: UUID, end: datetime | None = None
    ) -> None:
        with self.command(ctx):  # type: ignore[attr-defined]
            sub = self._subscription_for(ctx, subscription_id)
            if end is not None and end.tzinfo is None:
                raise InvalidValueError("end must carry a UTC offset")
            sub.stop(end or self.clock.now(), "ended")  # type: ignore[attr-defined]
            self.save(sub)  # type: ignore[attr-defined]

    # -- helpers -------------------------------------------------------------------------
    def _reseller_calendar(self, reseller_id: UUID) -> tuple[str, str]:
        try:
            billing = self.load(ResellerBilling.create_id(reseller_id), ResellerBilling)  # type: ignore[attr-defined]
        except NotFoundError:
            return "UTC", "monthly"
        return billing.time_zone, billing.billing_period

    def _plan_for(self, ctx: CommandContext, plan_id: UUID) -> SubscriptionPlan:
        plan: SubscriptionPlan = self.load(plan_id, SubscriptionPlan)  # type: ignore[attr-defined]
        scope = Scope.of(ctx.actor)
        scope.require_reseller_or_admin()  # customers and accounts never change plans
        if not scope.unrestricted and plan.managed_by != scope.reseller_id:
            raise NotFoundError(f"plan {plan_id} not found")
        ctx.require(Section.BILLING, Access.MODIFY)
        return plan

    def _subscription_for(self, ctx: CommandContext, subscription_id: UUID) -> Subscription:
        sub: Subscription = self.load(subscription_id, Subscription)  # type: ignore[attr-defined]
        scope = Scope.of(ctx.actor)
        visible = (
            scope.unrestricted
            if sub.level == RESELLER_LEVEL
            else scope.sees_account(sub.account_id, sub.customer_id, sub.reseller_id)
        )
        scope.require_visible(visible, f"subscription {subscription_id}")
        ctx.require(Section.BILLING, Access.MODIFY)
        scope.require_reseller_or_admin()
        return sub


def _may_apply(scope: Scope, plan: SubscriptionPlan, reseller_id: UUID | None) -> None:
    if scope.unrestricted:
        return
    if plan.level == RESELLER_LEVEL:
        raise ForbiddenError("reseller subscriptions are the operator's to apply")
    scope.require_reseller_or_admin()
    if plan.managed_by is not None and plan.managed_by != scope.reseller_id:
        raise NotFoundError(f"plan {plan.id} not found")
    if plan.managed_by is None and not plan.shared_with_resellers:
        raise ForbiddenError("this plan is not shared with resellers")


def _check_plan(spec: PlanSpec) -> None:
    if spec.level not in (ACCOUNT_LEVEL, RESELLER_LEVEL):
        raise InvalidValueError("a plan's level is account or reseller")
    _check_fee(spec.fee)
    if spec.period not in BILLING_PERIODS:
        raise InvalidValueError(f"period is one of {', '.join(BILLING_PERIODS)}")
    if spec.charged not in (fees.IN_ADVANCE, fees.IN_ARREARS):
        raise InvalidValueError("charged is in_advance or in_arrears")
    if spec.activation not in (fees.AT_START, fees.AT_FIRST_USAGE):
        raise InvalidValueError("activation is start_date or first_usage")
    if not 1 <= spec.prepaid_months <= 36:
        raise InvalidValueError("prepaid_months is 1 to 36")
    if spec.prepaid_months > 1 and (spec.period != "monthly" or spec.charged != fees.IN_ADVANCE):
        raise InvalidValueError("a plan prepaid for several months is monthly, in advance")
    _check_conditions(spec.credit_conditions)
    if spec.managed_by is None and spec.level == ACCOUNT_LEVEL and not spec.shared_with_resellers:
        return


def _check_fee(fee: Decimal) -> None:
    if not fee.is_finite() or not 0 <= fee < MAX_FEE:
        raise InvalidValueError("a fee is a decimal from 0")


def _check_conditions(conditions: Sequence[str]) -> None:
    unknown = set(conditions) - set(fees.CONDITIONS)
    if unknown:
        raise InvalidValueError(f"credit conditions are among {', '.join(fees.CONDITIONS)}")


class ServiceOutage(SwitchlogAggregate):
    """A time without service that is not a block (those are the directory's): an expired
    account, a suspended customer, no funds; recorded for subscription credits until the
    contexts owning those states emit them."""

    context = "billing"

    class Recorded(SwitchlogAggregate.Created):
        condition: str
        customer_id: UUID
        reseller_id: UUID | None
        account_id: UUID | None  # None: the whole customer
        start: datetime
        end: datetime | None

    def __init__(
        self,
        condition: str,
        customer_id: UUID,
        reseller_id: UUID | None,
        account_id: UUID | None,
        start: datetime,
        end: datetime | None,
    ) -> None:
        self.condition = condition
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.account_id = account_id
        self.start = start
        self.end = end

    class Ended(SwitchlogAggregate.Event):
        end: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.end = self.end

    def finish(self, end: datetime) -> None:
        if self.end is not None:
            raise ConflictError(f"outage {self.id} ended at {self.end.isoformat()}")
        if end <= self.start:
            raise InvalidValueError("an outage ends after it starts")
        self.trigger_event(self.Ended, end=end)

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(fields["reseller_id"], fields["customer_id"], fields["account_id"]),)

    def owners(self) -> Sequence[Owner]:
        return (Owner(self.reseller_id, self.customer_id, self.account_id),)


OUTAGE_CONDITIONS = ("expired", "suspended", "blocked", "no_funds")


class OutageCommands:
    """Recording times without service (admins)."""

    def record_outage(
        self,
        ctx: CommandContext,
        condition: str,
        customer_id: UUID,
        account_id: UUID | None,
        start: datetime,
        end: datetime | None = None,
    ) -> UUID:
        with self.command(ctx):  # type: ignore[attr-defined]
            ctx.require(Section.BILLING, Access.MODIFY)
            Scope.of(ctx.actor).require_admin()
            if condition not in OUTAGE_CONDITIONS:
                raise InvalidValueError(f"condition is one of {', '.join(OUTAGE_CONDITIONS)}")
            if start.tzinfo is None or (end is not None and end.tzinfo is None):
                raise InvalidValueError("start and end must carry a UTC offset")
            if end is not None and end <= start:
                raise InvalidValueError("an outage ends after it starts")
            customer = self.load(customer_id, Customer)  # type: ignore[attr-defined]
            if account_id is not None:
                account = self.load(account_id, Account)  # type: ignore[attr-defined]
                if account.customer_id != customer.id:
                    raise NotFoundError(f"account {account_id} not found")
            outage = ServiceOutage(
                condition=condition,
                customer_id=customer.id,
                reseller_id=customer.reseller_id,
                account_id=account_id,
                start=start,
                end=end,
            )
            self.save(outage)  # type: ignore[attr-defined]
            return outage.id

    def end_outage(self, ctx: CommandContext, outage_id: UUID, end: datetime) -> None:
        with self.command(ctx):  # type: ignore[attr-defined]
            ctx.require(Section.BILLING, Access.MODIFY)
            Scope.of(ctx.actor).require_admin()
            if end.tzinfo is None:
                raise InvalidValueError("end must carry a UTC offset")
            outage = self.load(outage_id, ServiceOutage)  # type: ignore[attr-defined]
            outage.finish(end)
            self.save(outage)  # type: ignore[attr-defined]


AGGREGATES = (SubscriptionPlan, Subscription, ServiceOutage)
