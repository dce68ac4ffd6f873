"""The audit trail: one row per event, indexed by subject, actor, type and time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.sql import Database, Row, Transaction
from domain.directory.access import EventFilter, Scope, owner_key
from domain.shared.aggregate import SwitchlogAggregate, event_changes, event_type, iso
from domain.shared.errors import InvalidFilterError
from projections.base import LoggedEventLike, Projection

_NAME_FIELDS = ("name", "login", "mac")  # a phone is found by its MAC address too
MAX_POSITION = 2**63 - 1  # positions are BIGINT columns


class AuditProjection(Projection):
    """Who changed what: the log, flattened into rows an auditor can filter fast."""

    name = "audit"
    # v2: event types are named by context (directory.Customer.Created); v3: owners kept
    version = 6  # v4: subject_type is the aggregate again; v5: owners never duplicated
    # v6: MAC addresses are names a subject is found by
    tables = ("audit_log", "audit_owners", "audit_names")
    schema = (
        "CREATE TABLE IF NOT EXISTS audit_log ("
        " position BIGINT PRIMARY KEY, time TEXT NOT NULL, type TEXT NOT NULL,"
        " subject_id TEXT NOT NULL, subject_type TEXT NOT NULL, version BIGINT NOT NULL,"
        " actor_id TEXT NOT NULL, actor_realm TEXT NOT NULL, actor_role TEXT NOT NULL,"
        " actor_login TEXT, actor_individual TEXT, correlation_id TEXT NOT NULL,"
        " causation_id TEXT, changes TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS audit_subject ON audit_log (subject_id, position)",
        "CREATE INDEX IF NOT EXISTS audit_actor ON audit_log (actor_id, position)",
        "CREATE INDEX IF NOT EXISTS audit_actor_login ON audit_log (actor_login, position)",
        "CREATE INDEX IF NOT EXISTS audit_type ON audit_log (type, position)",
        "CREATE INDEX IF NOT EXISTS audit_realm ON audit_log (actor_realm, position)",
        "CREATE INDEX IF NOT EXISTS audit_time ON audit_log (time, position)",
        "CREATE TABLE IF NOT EXISTS audit_owners (position BIGINT NOT NULL,"
        " reseller_id TEXT NOT NULL, customer_id TEXT NOT NULL, account_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS audit_owner_reseller ON audit_owners (reseller_id, position)",
        "CREATE INDEX IF NOT EXISTS audit_owner_customer ON audit_owners (customer_id, position)",
        "CREATE INDEX IF NOT EXISTS audit_owner_account ON audit_owners (account_id, position)",
        "CREATE UNIQUE INDEX IF NOT EXISTS audit_owner_once ON audit_owners"
        " (position, reseller_id, customer_id, account_id)",
        "CREATE TABLE IF NOT EXISTS audit_names ("
        " name_key TEXT NOT NULL, subject_id TEXT NOT NULL, PRIMARY KEY (name_key, subject_id))",
    )

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        rows: list[tuple[Any, ...]] = []
        owners: list[tuple[Any, ...]] = []
        names: set[tuple[str, str]] = set()
        for item in batch:
            event = item.event
            if not isinstance(event, SwitchlogAggregate.Event) or not event.audited:
                continue
            changes = event_changes(event)
            rows.append(_row(item.position, event, changes))
            # '' for "does not apply": NULLs never collide in a unique index, and a
            # re-delivered event must not add its owners twice.
            owners += [
                (
                    item.position,
                    *(str(i) if i else "" for i in (o.reseller_id, o.customer_id, o.account_id)),
                )
                for o in event.owners
            ]
            for field in _NAME_FIELDS:
                after = changes.get(field, {}).get("after")
                if isinstance(after, str):
                    names.add((after.casefold(), str(event.originator_id)))
        # ON CONFLICT DO NOTHING keeps a re-delivered event from being recorded twice.
        tx.executemany(
            "INSERT INTO audit_log VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (position) DO NOTHING",
            rows,
        )
        tx.executemany(
            "INSERT INTO audit_owners VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", owners
        )
        tx.executemany(
            "INSERT INTO audit_names VALUES (%s, %s) ON CONFLICT DO NOTHING", sorted(names)
        )


def _row(position: int, event: Any, changes: dict[str, Any]) -> tuple[Any, ...]:
    actor = event.actor
    kind = event_type(event)
    return (
        position,
        iso(event.timestamp),
        kind,
        str(event.originator_id),
        kind.split(".")[-2],  # context.Aggregate.Event
        event.originator_version,
        actor.id,
        actor.realm.value,
        actor.role,
        actor.login,
        actor.individual_id,
        event.correlation_id,
        event.causation_id,
        json.dumps(changes, separators=(",", ":")),
    )


@dataclass(frozen=True)
class AuditFilter:
    """An auditor's question; every part is optional."""

    subject: str | None = None
    actor: str | None = None
    realm: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None
    limit: int = 100
    newest_first: bool = True
    visible_to: Scope | None = None  # whose events may be shown (None: everyone's)

    def __post_init__(self) -> None:
        """Refuse what can only be a mistake: an unknown type, a position or time out of range."""
        if self.type:
            (canonical,) = EventFilter.parse({"types": [self.type]}).types
            object.__setattr__(self, "type", canonical)  # an old name finds the new rows
        if self.after is not None and not 0 <= self.after <= MAX_POSITION:
            raise InvalidFilterError(f"after must be a log position, 0 to {MAX_POSITION}")
        for name, moment in (("since", self.since), ("until", self.until)):
            try:
                if moment is not None:
                    iso(moment)
            except OverflowError:
                raise InvalidFilterError(f"{name} is outside the years 1-9999 in UTC") from None


class AuditQueries:
    """Answers audit filters from the audit read model, paginated by log position."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def search(self, f: AuditFilter) -> tuple[list[dict[str, Any]], int | None]:
        """One page of matching rows, and the position to continue after (None at the end)."""
        with self.db.transaction(readonly=True) as tx:
            where, params = self._filters(tx, f)
            if where is None:
                return [], None
            rows: dict[int, Row] = {}
            # "actor" matches an id or a login: one index range scan each, merged here,
            # because an OR makes the planners sort every row the actor ever wrote.
            alternatives = [["actor_id = %s"], ["actor_login = %s"]] if f.actor else [[]]
            for alternative in alternatives:
                sql, args = self._page_sql(
                    f, where + alternative, params + [f.actor] * len(alternative)
                )
                rows.update((r["position"], r) for r in tx.fetchall(sql, args))
        ordered = sorted(rows.values(), key=lambda r: r["position"], reverse=f.newest_first)
        more = len(ordered) > f.limit
        items = [_item(r) for r in ordered[: f.limit]]
        return items, (items[-1]["position"] if more else None)

    def _filters(self, tx: Transaction, f: AuditFilter) -> tuple[list[str] | None, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if f.subject:
            subjects = self._subject_ids(tx, f.subject)
            if not subjects:
                return None, []
            where.append(f"subject_id IN ({', '.join(['%s'] * len(subjects))})")
            params += subjects
        key = owner_key(f.visible_to) if f.visible_to else None
        if key is not None:  # the SQL twin of sees_event, on the same owner key
            where.append(f"position IN (SELECT position FROM audit_owners WHERE {key[0]} = %s)")
            params.append(str(key[1]))
        for column, value in (("actor_realm", f.realm), ("type", f.type)):
            if value:
                where.append(f"{column} = %s")
                params.append(value)
        if f.after is not None:
            where.append("position < %s" if f.newest_first else "position > %s")
            params.append(f.after)
        return where, params

    @staticmethod
    def _page_sql(f: AuditFilter, where: list[str], params: list[Any]) -> tuple[str, list[Any]]:
        order = "DESC" if f.newest_first else "ASC"
        window: list[str] = []
        window_params: list[Any] = []
        if f.since:
            window.append("time >= %s")
            window_params.append(iso(f.since))
        if f.until:
            window.append("time < %s")
            window_params.append(iso(f.until))
        if window and not (f.subject or f.actor):
            # Time is the only selective filter: pick the page's positions from the
            # (time, position) index alone, then fetch just those rows. Ordering the whole
            # window's rows, or walking the log by position, costs 5-10x more on PostgreSQL.
            page = (
                "SELECT position FROM audit_log WHERE "
                + " AND ".join(window + where)
                + f" ORDER BY position {order} LIMIT %s"
            )
            sql = (
                f"WITH page AS MATERIALIZED ({page}) SELECT * FROM audit_log"
                f" WHERE position IN (SELECT position FROM page) ORDER BY position {order}"
            )
            return sql, [*window_params, *params, f.limit + 1]
        clauses = where + window
        sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return f"{sql} ORDER BY position {order} LIMIT %s", [*params, *window_params, f.limit + 1]

    def subject_id(self, subject: str) -> str | None:
        """The aggregate id a subject (id, or a name or login it held) stands for."""
        with self.db.transaction(readonly=True) as tx:
            ids = self._subject_ids(tx, subject)
        return ids[0] if len(ids) == 1 else None

    @staticmethod
    def _subject_ids(tx: Transaction, subject: str) -> list[str]:
        try:
            return [str(UUID(subject))]
        except ValueError:
            rows = tx.fetchall(
                "SELECT subject_id FROM audit_names WHERE name_key = %s", (subject.casefold(),)
            )
            return [r["subject_id"] for r in rows]


def _item(row: Row) -> dict[str, Any]:
    return {
        "position": row["position"],
        "time": row["time"],
        "type": row["type"],
        "subject": row["subject_id"],
        "subject_type": row["subject_type"],
        "version": row["version"],
        "actor": {
            "id": row["actor_id"],
            "realm": row["actor_realm"],
            "role": row["actor_role"],
            "login": row["actor_login"],
            "individual_id": row["actor_individual"],
        },
        "correlation_id": row["correlation_id"],
        "causation_id": row["causation_id"],
        "changes": json.loads(row["changes"]),
    }
