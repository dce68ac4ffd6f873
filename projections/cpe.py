"""Read models: IP phone (CPE) inventory: device models, CPE profiles, phones with their
ports, and batch uploads with their progress and errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.directory.access import Scope
from domain.provisioning.cpe_model import CpeProfile, CpeUpload, DeviceModel, Phone
from domain.shared.aggregate import iso, plain
from projections.base import LoggedEventLike, Projection

_PHONE_COLUMNS = (
    "id, name, model_id, ports, mac, profile_id, managed_by, shared, inventory_id,"
    " customer_id, customer_reseller_id, ports_free, status, version, created_at, updated_at"
)

_PHONE_CHANGES = (
    Phone.Allocated,
    Phone.Released,
    Phone.Removed,
    Phone.PortAssigned,
    Phone.PortUnassigned,
)


class CpeProjection(Projection):
    """The inventory as lists: models, profiles, phones (one row each, ports beside them)
    and upload jobs with their errors."""

    name = "cpe"
    tables = (
        "cpe_models",
        "cpe_profiles",
        "cpe_phones",
        "cpe_ports",
        "cpe_uploads",
        "cpe_upload_errors",
    )
    schema = (
        "CREATE TABLE IF NOT EXISTS cpe_models (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " ports INTEGER NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS cpe_profiles (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS cpe_phones (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " model_id TEXT NOT NULL, ports INTEGER NOT NULL, mac TEXT NOT NULL, profile_id TEXT,"
        " managed_by TEXT, shared INTEGER NOT NULL, inventory_id BIGINT NOT NULL,"
        " customer_id TEXT, customer_reseller_id TEXT, ports_free INTEGER NOT NULL,"
        " status TEXT NOT NULL, version BIGINT NOT NULL, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS cpe_phones_mac ON cpe_phones (mac)",
        "CREATE INDEX IF NOT EXISTS cpe_phones_customer ON cpe_phones (customer_id)",
        "CREATE INDEX IF NOT EXISTS cpe_phones_managed_by ON cpe_phones (managed_by)",
        "CREATE TABLE IF NOT EXISTS cpe_ports (phone_id TEXT NOT NULL, port INTEGER NOT NULL,"
        " account_id TEXT NOT NULL, PRIMARY KEY (phone_id, port))",
        "CREATE INDEX IF NOT EXISTS cpe_ports_account ON cpe_ports (account_id)",
        "CREATE TABLE IF NOT EXISTS cpe_uploads (id TEXT PRIMARY KEY, filename TEXT NOT NULL,"
        " file_format TEXT NOT NULL, reseller_id TEXT, actor_id TEXT NOT NULL,"
        " status TEXT NOT NULL, reason TEXT, rows_total BIGINT NOT NULL, last_row BIGINT NOT NULL,"
        " rows_applied BIGINT NOT NULL, rows_unchanged BIGINT NOT NULL,"
        " rows_failed BIGINT NOT NULL, version BIGINT NOT NULL, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS cpe_upload_errors (upload_id TEXT NOT NULL,"
        " row_number BIGINT NOT NULL, column_name TEXT NOT NULL, value TEXT NOT NULL,"
        " reason TEXT NOT NULL, PRIMARY KEY (upload_id, row_number, column_name))",
    )

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        # An upload adds phones by the thousand: their rows go in with one executemany.
        added: list[tuple[Any, ...]] = []
        for item in batch:
            event = item.event
            if isinstance(event, Phone.Added):
                added.append(_added_row(event))
                continue
            if added and isinstance(event, _PHONE_CHANGES):
                self._insert_phones(tx, added)
                added = []
            self.handle(event, tx, item.position)
        if added:
            self._insert_phones(tx, added)

    @staticmethod
    def _insert_phones(tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join(["%s"] * 16)
        tx.executemany(
            f"INSERT INTO cpe_phones ({_PHONE_COLUMNS}) VALUES ({marks})"
            " ON CONFLICT (id) DO NOTHING",
            rows,
        )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Events of other aggregates leave the inventory unchanged."""

    @apply.register
    def _model(self, event: DeviceModel.Added, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO cpe_models VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (str(event.originator_id), event.name, event.ports, iso(event.timestamp)),
        )

    @apply.register
    def _profile(self, event: CpeProfile.Added, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO cpe_profiles VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (str(event.originator_id), event.name, iso(event.timestamp)),
        )

    @apply.register
    def _phone_added(self, event: Phone.Added, tx: Transaction, position: int) -> None:
        self._insert_phones(tx, [_added_row(event)])

    @apply.register
    def _phone_changed(
        self,
        event: Phone.Allocated | Phone.Released | Phone.Removed,
        tx: Transaction,
        position: int,
    ) -> None:
        changed = {name: plain(after) for name, (_before, after) in event.changes.items()}
        _advance(tx, event, changed)

    @apply.register
    def _assigned(self, event: Phone.PortAssigned, tx: Transaction, position: int) -> None:
        if _advance(tx, event, {}, ports_free=-1):
            tx.execute(
                "INSERT INTO cpe_ports VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (str(event.originator_id), event.port, str(event.account_id)),
            )

    @apply.register
    def _unassigned(self, event: Phone.PortUnassigned, tx: Transaction, position: int) -> None:
        if _advance(tx, event, {}, ports_free=+1):
            tx.execute(
                "DELETE FROM cpe_ports WHERE phone_id = %s AND port = %s",
                (str(event.originator_id), event.port),
            )

    # -- uploads -----------------------------------------------------------------------
    @apply.register
    def _upload_started(self, event: CpeUpload.Started, tx: Transaction, position: int) -> None:
        time = iso(event.timestamp)
        tx.execute(
            "INSERT INTO cpe_uploads VALUES (%s, %s, %s, %s, %s, 'running', NULL, %s, 1, 0, 0, 0,"
            " %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.filename,
                event.file_format,
                plain(event.reseller_id),
                event.actor.id,
                event.rows_total,
                event.originator_version,
                time,
                time,
            ),
        )

    @apply.register
    def _batch_applied(self, event: CpeUpload.BatchApplied, tx: Transaction, position: int) -> None:
        failed = len({e["row"] for e in event.errors})
        tx.execute(
            "UPDATE cpe_uploads SET last_row = %s, rows_applied = rows_applied + %s,"
            " rows_unchanged = rows_unchanged + %s, rows_failed = rows_failed + %s,"
            " version = %s, updated_at = %s WHERE id = %s AND version < %s",
            (
                event.last_row,
                event.applied,
                event.unchanged,
                failed,
                event.originator_version,
                iso(event.timestamp),
                str(event.originator_id),
                event.originator_version,
            ),
        )
        if event.errors:  # no rowcount inside a pipeline (-1): the key makes it idempotent
            upload = str(event.originator_id)
            tx.executemany(
                "INSERT INTO cpe_upload_errors VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(upload, e["row"], e["column"], e["value"], e["reason"]) for e in event.errors],
            )

    @apply.register
    def _upload_ended(
        self, event: CpeUpload.Finished | CpeUpload.Failed, tx: Transaction, position: int
    ) -> None:
        after = {name: new for name, (_old, new) in event.changes.items()}
        tx.execute(
            "UPDATE cpe_uploads SET status = %s, reason = %s, version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s",
            (
                after["status"],
                after.get("reason"),
                event.originator_version,
                iso(event.timestamp),
                str(event.originator_id),
                event.originator_version,
            ),
        )


def _added_row(event: Phone.Added) -> tuple[Any, ...]:
    time = iso(event.timestamp)
    return (
        str(event.originator_id),
        event.name,
        str(event.model_id),
        event.ports,
        event.mac,
        plain(event.profile_id),
        plain(event.managed_by),
        1 if event.shared else 0,
        event.inventory_id,
        None,
        None,
        event.ports,
        "active",
        event.originator_version,
        time,
        time,
    )


def _advance(tx: Transaction, event: Any, changed: dict[str, Any], ports_free: int = 0) -> bool:
    """Apply a phone's event once: the version guard makes a re-delivered event a no-op."""
    sets = "".join(f"{name} = %s, " for name in changed)
    return bool(
        tx.execute(
            f"UPDATE cpe_phones SET {sets}ports_free = ports_free + %s, version = %s,"
            " updated_at = %s WHERE id = %s AND version < %s",
            [
                *changed.values(),
                ports_free,
                event.originator_version,
                iso(event.timestamp),
                str(event.originator_id),
                event.originator_version,
            ],
        )
    )


class CpeQueries:
    """The inventory as each realm may see it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def models(self) -> list[Row]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall("SELECT id, name, ports FROM cpe_models ORDER BY name, id")

    def profiles(self) -> list[Row]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall("SELECT id, name FROM cpe_profiles ORDER BY name, id")

    def phones(
        self, scope: Scope, filters: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[Row], int | None]:
        where, params = _visible(scope)
        for column, value in filters.items():
            if value is not None:
                where.append(f"p.{column} = %s")
                params.append(plain(value))
        rows = self._select(
            where, params, f"ORDER BY p.inventory_id LIMIT {limit + 1} OFFSET {offset}"
        )
        more = len(rows) > limit
        return rows[:limit], (offset + limit if more else None)

    def phone(self, scope: Scope, phone_id: str) -> Row | None:
        where, params = _visible(scope)
        rows = self._select([*where, "p.id = %s"], [*params, phone_id], "")
        return rows[0] if rows else None

    def _select(self, where: list[str], params: list[Any], tail: str) -> list[Row]:
        sql = (
            "SELECT p.*, m.name AS model, f.name AS profile, r.name AS managed_by_name,"
            " c.name AS customer_name FROM cpe_phones p"
            " LEFT JOIN cpe_models m ON m.id = p.model_id"
            " LEFT JOIN cpe_profiles f ON f.id = p.profile_id"
            " LEFT JOIN resellers r ON r.id = p.managed_by"
            " LEFT JOIN customers c ON c.id = p.customer_id"
            " WHERE " + " AND ".join(where) + " " + tail
        )
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql, params)
            ports = self._ports(tx, [r["id"] for r in rows])
        for row in rows:
            row["shared"] = bool(row["shared"])
            row["assignments"] = ports.get(row["id"], [])
        return rows

    @staticmethod
    def _ports(tx: Transaction, phone_ids: list[str]) -> dict[str, list[Row]]:
        found: dict[str, list[Row]] = {}
        if not phone_ids:
            return found
        marks = ", ".join(["%s"] * len(phone_ids))
        rows = tx.fetchall(
            "SELECT o.phone_id, o.port, o.account_id, a.login AS account_login"
            " FROM cpe_ports o LEFT JOIN accounts a ON a.id = o.account_id"
            f" WHERE o.phone_id IN ({marks}) ORDER BY o.phone_id, o.port",
            phone_ids,
        )
        for row in rows:
            found.setdefault(row.pop("phone_id"), []).append(row)
        return found

    def upload(self, scope: Scope, upload_id: str) -> Row | None:
        sql = "SELECT * FROM cpe_uploads WHERE id = %s"
        params: list[Any] = [upload_id]
        if not scope.unrestricted:
            sql += " AND reseller_id = %s"
            params.append(str(scope.reseller_id))
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone(sql, params)

    def count_errors(self, upload_id: str) -> int:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT COUNT(*) AS n FROM cpe_upload_errors WHERE upload_id = %s", (upload_id,)
            )
        return int(row["n"]) if row else 0

    def upload_errors(self, upload_id: str, limit: int | None = None) -> list[Row]:
        sql = (
            'SELECT row_number AS "row", column_name AS "column", value, reason'
            " FROM cpe_upload_errors WHERE upload_id = %s ORDER BY row_number, column_name"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(sql, (upload_id,))


def _visible(scope: Scope) -> tuple[list[str], list[Any]]:
    """The SQL twin of `sees_phone`: the phones a realm may see."""
    where = ["p.status = 'active'"]
    if scope.unrestricted:
        return where, []
    if scope.reseller_id is not None:
        return [*where, "(p.managed_by = %s OR p.shared = 1)"], [str(scope.reseller_id)]
    if scope.customer_id is not None:
        return [*where, "p.customer_id = %s"], [str(scope.customer_id)]
    return [*where, "1 = 0"], []


def projections() -> Sequence[Projection]:
    """This area's projections (provisioning's registration lists them)."""
    return [CpeProjection()]
