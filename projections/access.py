"""Read models of self-care access: roles, who holds which role, customer individuals, and
the outbox of credentials emails.

`AccessQueries.permissions` is what the API asks on every sectioned request: one indexed
query on these tables, no store read; a changed role counts once its event is projected
(the routes that change roles wait for that: read-your-writes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache, singledispatchmethod
from types import MappingProxyType
from typing import Any

from adapters.secrets import SecretBox
from adapters.sql import Database, Row, Transaction
from domain.directory.access import Scope
from domain.directory.aggregates import Customer
from domain.directory.individuals import Individual
from domain.directory.roles import AccountAccess, CustomerAccess, Role
from domain.shared.actor import Actor, Realm
from domain.shared.aggregate import iso, plain
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.permissions import REALM_DEFAULT, Access, Permissions, Section, parse_permissions
from projections.base import Projection

_INDIVIDUAL_COLUMNS = (
    "customer_id",
    "reseller_id",
    "login",
    "email",
    "role_id",
    "time_zone",
    "activation_date",
    "expiration_date",
    "status",
)
NOTHING: Permissions = MappingProxyType(dict.fromkeys(Section, Access.RESTRICT))


class AccessProjection(Projection):
    """Roles, customers' allowed and own roles, accounts' roles, and individuals."""

    name = "access"
    tables = ("roles", "customer_access", "account_access", "individuals")
    schema = (
        "CREATE TABLE IF NOT EXISTS roles (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " permissions TEXT NOT NULL, version BIGINT NOT NULL, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS customer_access (id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL UNIQUE, allowed_role_ids TEXT NOT NULL, role_id TEXT,"
        " version BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS account_access (id TEXT PRIMARY KEY,"
        " account_id TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL, role_id TEXT,"
        " version BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS individuals (id TEXT PRIMARY KEY,"
        + "".join(f" {c} TEXT," for c in _INDIVIDUAL_COLUMNS)
        + " version BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS individuals_customer ON individuals (customer_id, created_at)",
        "CREATE INDEX IF NOT EXISTS individuals_reseller ON individuals (reseller_id)",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave access unchanged."""

    @apply.register
    def _role_created(self, event: Role.Created, tx: Transaction, position: int) -> None:
        time = iso(event.timestamp)
        tx.execute(
            "INSERT INTO roles VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                json.dumps(event.permissions, sort_keys=True),
                event.originator_version,
                time,
                time,
            ),
        )

    @apply.register
    def _customer_access(
        self, event: CustomerAccess.Created, tx: Transaction, position: int
    ) -> None:
        tx.execute(
            "INSERT INTO customer_access VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                json.dumps(event.allowed_role_ids),
                plain(event.role_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _account_access(self, event: AccountAccess.Created, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO account_access VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.account_id),
                str(event.customer_id),
                plain(event.role_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _individual_created(
        self, event: Individual.Created, tx: Transaction, position: int
    ) -> None:
        time = iso(event.timestamp)
        row = [
            str(event.originator_id),
            str(event.customer_id),
            plain(event.reseller_id),
            event.login,
            event.email,
            str(event.role_id),
            event.time_zone,
            event.activation_date,
            event.expiration_date,
            "open",
            event.originator_version,
            time,
            time,
        ]
        names = ", ".join(["id", *_INDIVIDUAL_COLUMNS, "version", "created_at", "updated_at"])
        tx.execute(
            f"INSERT INTO individuals ({names}) VALUES ({', '.join(['%s'] * len(row))})"
            " ON CONFLICT (id) DO NOTHING",
            row,
        )

    @apply.register
    def _changed(
        self,
        event: Role.Renamed
        | Role.PermissionsChanged
        | CustomerAccess.AllowedRolesChanged
        | CustomerAccess.RoleChanged
        | AccountAccess.RoleChanged
        | Individual.RoleChanged
        | Individual.DetailsChanged
        | Individual.AccessDatesChanged
        | Individual.LoginChanged
        | Individual.PasswordChanged
        | Individual.Closed,
        tx: Transaction,
        position: int,
    ) -> None:
        table, columns = _CHANGES[type(event).__qualname__.split(".")[0]]
        changed = {}
        for name, (_before, after) in event.changes.items():
            if name in columns:
                value = plain(after)
                changed[name] = (
                    json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
                )
        _update(tx, table, event, changed, dated=table in ("roles", "individuals"))

    @apply.register
    def _password_set(self, event: Individual.PasswordSet, tx: Transaction, position: int) -> None:
        _update(tx, "individuals", event, {}, dated=True)

    @apply.register
    def _customer_moved(self, event: Customer.Moved, tx: Transaction, position: int) -> None:
        tx.execute(
            "UPDATE individuals SET reseller_id = %s WHERE customer_id = %s",
            (plain(event.changes["reseller_id"][1]), str(event.originator_id)),
        )


_CHANGES = {
    "Role": ("roles", {"name", "permissions"}),
    "CustomerAccess": ("customer_access", {"allowed_role_ids", "role_id"}),
    "AccountAccess": ("account_access", {"role_id"}),
    "Individual": ("individuals", set(_INDIVIDUAL_COLUMNS)),
}


def _update(tx: Transaction, table: str, event: Any, changed: dict[str, Any], dated: bool) -> None:
    """Set the changed columns; the version guard makes a re-delivered event a no-op."""
    values = dict(changed)
    if dated:
        values["updated_at"] = iso(event.timestamp)
    values["version"] = event.originator_version
    sets = ", ".join(f"{name} = %s" for name in values)
    tx.execute(
        f"UPDATE {table} SET {sets} WHERE id = %s AND version < %s",
        [*values.values(), str(event.originator_id), event.originator_version],
    )


class CredentialsOutbox(Projection):
    """Each new individual's credentials email, queued once for the SMTP deliverer.

    The set-password link's secret is sealed here as in the log, and wiped once sent.
    """

    name = "credentials_emails"
    replay_safe = False  # it queues emails: a scratch replay must never send anything
    tables = ("credentials_emails",)
    schema = (
        "CREATE TABLE IF NOT EXISTS credentials_emails (message_id TEXT PRIMARY KEY,"
        " individual_id TEXT NOT NULL, position BIGINT NOT NULL, recipient TEXT NOT NULL,"
        " login TEXT NOT NULL, time_zone TEXT NOT NULL, activation_date TEXT,"
        " expiration_date TEXT, link_expires_at TEXT, token TEXT, status TEXT NOT NULL,"
        " attempts INTEGER NOT NULL, next_attempt_at TEXT NOT NULL, lease_until TEXT,"
        " last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT)",
        "CREATE INDEX IF NOT EXISTS credentials_emails_due ON credentials_emails"
        " (status, next_attempt_at)",
    )

    def __init__(self, secrets: SecretBox, clock: Clock = SYSTEM_CLOCK) -> None:
        self.secrets = secrets
        self.clock = clock

    def drop(self, tx: Transaction) -> None:
        """The outbox is kept: a rebuild must not send anything a second time."""

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Only new and closed individuals matter here."""

    @apply.register
    def _created(self, event: Individual.Created, tx: Transaction, position: int) -> None:
        token = (
            self.secrets.seal(f"{event.originator_id}.{event.secret.value}")
            if event.secret is not None
            else None
        )
        now = iso(self.clock.now())
        tx.execute(
            "INSERT INTO credentials_emails (message_id, individual_id, position, recipient,"
            " login, time_zone, activation_date, expiration_date, link_expires_at, token,"
            " status, attempts, next_attempt_at, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s)"
            " ON CONFLICT (message_id) DO NOTHING",
            (
                f"credentials-{event.originator_id.hex}-{event.originator_version}",
                str(event.originator_id),
                position,
                event.email,
                event.login,
                event.time_zone,
                event.activation_date,
                event.expiration_date,
                iso(event.link_expires_at) if event.link_expires_at else None,
                token,
                now,
                now,
            ),
        )

    @apply.register
    def _closed(self, event: Individual.Closed, tx: Transaction, position: int) -> None:
        tx.execute(
            "UPDATE credentials_emails SET status = 'cancelled', token = NULL"
            " WHERE individual_id = %s AND status = 'pending'",
            (str(event.originator_id),),
        )


@lru_cache(maxsize=1024)
def _permissions(stored: str) -> Permissions:
    return MappingProxyType(parse_permissions(json.loads(stored)))


class AccessQueries:
    """Reads of the access read model: permissions per request, roles, individuals."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def permissions(self, actor: Actor) -> Permissions | None:
        """The actor's role, section by section; None when no role limits it (admins,
        resellers, the system). A customer or account without a role of its own has the
        realm's default; an individual whose role its customer may no longer use (or that
        is not projected yet) has nothing."""
        if actor.realm not in (Realm.CUSTOMER, Realm.ACCOUNT):
            return None
        with self.db.transaction(readonly=True) as tx:
            if actor.individual_id is not None:
                row = tx.fetchone(
                    "SELECT i.role_id, r.permissions, a.allowed_role_ids FROM individuals i"
                    " LEFT JOIN roles r ON r.id = i.role_id"
                    " LEFT JOIN customer_access a ON a.customer_id = i.customer_id"
                    " WHERE i.id = %s",
                    (actor.individual_id,),
                )
                allowed = row is not None and row["role_id"] in json.loads(
                    row["allowed_role_ids"] or "[]"
                )
                return (
                    _permissions(row["permissions"]) if allowed and row["permissions"] else NOTHING
                )  # type: ignore[index]
            table, key = (
                ("customer_access", "customer_id")
                if actor.realm is Realm.CUSTOMER
                else ("account_access", "account_id")
            )
            row = tx.fetchone(
                f"SELECT r.permissions FROM {table} a JOIN roles r ON r.id = a.role_id"
                f" WHERE a.{key} = %s",
                (actor.id,),
            )
        return _permissions(row["permissions"]) if row else REALM_DEFAULT

    def role(self, role_id: str) -> Row | None:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT * FROM roles WHERE id = %s", (role_id,))
        return _role_row(row) if row else None

    def roles(
        self, ids: Sequence[str] | None, limit: int, offset: int
    ) -> tuple[list[Row], int | None]:
        sql, params = "SELECT * FROM roles", []
        if ids is not None:
            if not ids:
                return [], None
            sql += f" WHERE id IN ({', '.join(['%s'] * len(ids))})"
            params = list(ids)
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                sql + " ORDER BY name, id LIMIT %s OFFSET %s", [*params, limit + 1, offset]
            )
        more = len(rows) > limit
        return [_role_row(r) for r in rows[:limit]], (offset + limit if more else None)

    def customer_access(self, customer_id: str) -> Row | None:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT * FROM customer_access WHERE customer_id = %s", (customer_id,)
            )
        if row is not None:
            row["allowed_role_ids"] = json.loads(row["allowed_role_ids"])
        return row

    def account_access(self, account_id: str) -> Row | None:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone("SELECT * FROM account_access WHERE account_id = %s", (account_id,))

    def individual(self, scope: Scope, individual_id: str) -> Row | None:
        where, params = _scope_clause(scope)
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone(
                "SELECT * FROM individuals WHERE " + " AND ".join(["id = %s", *where]),
                [individual_id, *params],
            )

    def individuals(
        self, scope: Scope, customer_id: str, limit: int, offset: int
    ) -> tuple[list[Row], int | None]:
        where, params = _scope_clause(scope)
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT * FROM individuals WHERE "
                + " AND ".join(["customer_id = %s", *where])
                + " ORDER BY created_at, id LIMIT %s OFFSET %s",
                [customer_id, *params, limit + 1, offset],
            )
        more = len(rows) > limit
        return rows[:limit], (offset + limit if more else None)


def _role_row(row: Row) -> Row:
    return {**row, "permissions": dict(_permissions(row["permissions"]))}


def _scope_clause(scope: Scope) -> tuple[list[str], list[Any]]:
    """The SQL twin of `Scope.sees_customer` for rows of a customer (accounts see none)."""
    if scope.unrestricted:
        return [], []
    if scope.reseller_id is not None:
        return ["reseller_id = %s"], [str(scope.reseller_id)]
    if scope.customer_id is not None:
        return ["customer_id = %s"], [str(scope.customer_id)]
    return ["1 = 0"], []
