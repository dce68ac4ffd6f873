"""The audit trail as a table that stays readable in an 80-column terminal."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from rich import box
from rich.table import Table
from rich.text import Text

_TIME = "%Y-%m-%d %H:%M:%S"
_FIXED = ("pos", "time (UTC)", "subject")  # never wrapped
_SEPARATOR = 2  # columns apart, with the box, padding and edges chosen below


def audit_table(items: list[dict[str, Any]], width: int) -> Table:
    """One row per event; the type heads its changes, so neither it nor the time is cut.

    Position, time and the short subject id never wrap. The actor column gets what is left
    once the longest type fits, and the changes fold under the type in the remaining width.
    """
    rows = [_row(item) for item in items]
    fixed = sum(
        max([len(header), *(len(row[i].plain) for row in rows)]) for i, header in enumerate(_FIXED)
    )
    longest_type = max((len(item["type"]) for item in items), default=0)
    actor_width = max(8, width - fixed - longest_type - 4 * _SEPARATOR)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for header in _FIXED:
        table.add_column(header, justify="right" if header == "pos" else "left", no_wrap=True)
    table.add_column("actor", overflow="fold", max_width=actor_width)
    table.add_column("event", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _row(item: dict[str, Any]) -> list[Text]:
    actor = item["actor"]
    who = Text(actor["login"] or _short(actor["id"]))
    who.append(f"\n{actor['realm']}", style="dim")
    event = Text(item["type"], style="bold")
    for field, change in item["changes"].items():
        event.append(f"\n{field}: {change['before']!r} -> {change['after']!r}")
    return [
        Text(str(item["position"])),
        Text(datetime.fromisoformat(item["time"]).strftime(_TIME)),
        Text(_short(item["subject"])),
        who,
        event,
    ]


def _short(identifier: str) -> str:
    """A UUID's first 8 hex digits, like a short commit id (--json prints whole ids)."""
    try:
        UUID(identifier)
    except ValueError:
        return identifier
    return identifier[:8]
