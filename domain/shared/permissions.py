"""Self-care sections and the access a role gives to each: the one place that decides it.

A role maps every section to Modify, Read or Restrict (seed 002, "Roles"). A command's
context carries the actor's resolved permissions; services and read routes call
`require(ctx_or_permissions, section, needed)` before they act. Admins and the system act
with `FULL` (every section Modify).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from domain.shared.errors import InvalidValueError, PermissionDeniedError


class Section(StrEnum):
    INDIVIDUALS = "individuals"
    EXTENSIONS = "extensions"
    PHONES = "phones"
    CALL_CONTROL = "call_control"
    BILLING = "billing"
    ALLOWED_ROLES = "allowed_roles"


class Access(StrEnum):
    RESTRICT = "restrict"
    READ = "read"
    MODIFY = "modify"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def covers(self, needed: Access) -> bool:
        return self.rank >= needed.rank


_RANK = {Access.RESTRICT: 0, Access.READ: 1, Access.MODIFY: 2}

Permissions = Mapping[Section, Access]

#: allowed_roles can only be read or restricted (seed 002); everything else can be modified.
CEILING: Permissions = MappingProxyType(
    {s: Access.READ if s is Section.ALLOWED_ROLES else Access.MODIFY for s in Section}
)
FULL: Permissions = CEILING
#: The default role of the customer and account realms: everything but call control.
REALM_DEFAULT: Permissions = MappingProxyType({**CEILING, Section.CALL_CONTROL: Access.RESTRICT})


def parse_permissions(raw: Mapping[str, str]) -> dict[Section, Access]:
    """A role's permissions from its API form; a section left out is Restrict."""
    result = dict.fromkeys(Section, Access.RESTRICT)
    for name, value in raw.items():
        try:
            section, access = Section(name), Access(value)
        except ValueError:
            raise InvalidValueError(
                f"{name!r}: {value!r} is not a section permission; sections are "
                f"{', '.join(Section)} and values {', '.join(Access)}"
            ) from None
        if not CEILING[section].covers(access):
            raise InvalidValueError(f"{section.value} can only be read or restrict")
        result[section] = access
    return result


def within(granted: Permissions, limit: Permissions) -> bool:
    """Whether a role gives nothing beyond `limit` (an individual granting a role)."""
    return all(limit.get(s, Access.RESTRICT).covers(a) for s, a in granted.items())


def require(permissions: Permissions | None, section: Section, needed: Access) -> None:
    """Refuse (403 permission_denied, naming the section) unless `permissions` allow it.
    None means no role applies (admin, reseller, system): everything is allowed."""
    if permissions is None:
        return
    have = permissions.get(section, Access.RESTRICT)
    if not have.covers(needed):
        verb = "change" if needed is Access.MODIFY else "see"
        raise PermissionDeniedError(
            f"your role gives {have.value} on the {section.value} section; "
            f"to {verb} it needs {needed.value}"
        )
