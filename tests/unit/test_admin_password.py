"""An admin's password reset: a named event that replaces the hash and shows no secret."""

from __future__ import annotations

import pytest

from domain.directory.aggregates import Admin
from domain.shared.actor import Actor, CommandContext, acting_as
from domain.shared.aggregate import event_changes, event_type
from domain.shared.errors import ClosedError
from domain.shared.passwords import hash_password, verify_password

OPERATOR = CommandContext(Actor.system("cli:alice"))


def _admin() -> Admin:
    with acting_as(OPERATOR):
        admin = Admin(login="root", password_hash=hash_password("old-password"), admin_role="admin")
    admin.collect_events()
    return admin


def test_reset_password_records_password_reset_and_only_the_new_password_works() -> None:
    admin = _admin()
    with acting_as(OPERATOR):
        admin.reset_password(hash_password("new-password"))
    (event,) = admin.collect_events()
    assert event_type(event) == "directory.Admin.PasswordReset"
    assert event.actor == OPERATOR.actor  # type: ignore[attr-defined]
    assert event_changes(event) == {"password_hash": {"before": None, "after": "***"}}
    assert verify_password("new-password", admin.password_hash)
    assert not verify_password("old-password", admin.password_hash)


def test_closed_admin_refuses_a_password_reset() -> None:
    admin = _admin()
    with acting_as(OPERATOR):
        admin.close()
        with pytest.raises(ClosedError):
            admin.reset_password(hash_password("new-password"))
