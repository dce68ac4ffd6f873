"""Domain errors: every one carries a stable machine-readable code."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a command can be refused with."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValueError(DomainError):
    """A value does not satisfy a domain rule (unknown currency, time zone...)."""

    code = "invalid_value"


class NotFoundError(DomainError):
    """The subject does not exist, or the actor may not know that it exists."""

    code = "not_found"


class ForbiddenError(DomainError):
    """The actor's realm or role does not allow this command."""

    code = "forbidden"


class ConflictError(DomainError):
    """Another writer changed the aggregate first (optimistic concurrency)."""

    code = "conflict"


class PreconditionFailedError(ConflictError):
    """The caller's condition (`If-Match` version) no longer holds: it saw an older state."""

    code = "precondition_failed"


class DuplicateError(DomainError):
    """A human id (name, login) is already held by another subject."""

    code = "duplicate"


class ClosedError(DomainError):
    """The subject is closed and accepts no further changes."""

    code = "closed"


class AuthenticationError(DomainError):
    """Credentials or token do not identify an active principal."""

    code = "unauthenticated"


class MissingActorError(DomainError):
    """A command was issued without saying who issued it."""

    code = "missing_actor"


class InvalidFilterError(InvalidValueError):
    """A subscription filter or resume position that cannot be honoured."""

    code = "invalid_filter"


class PermissionDeniedError(ForbiddenError):
    """The actor's role does not allow this section (Restrict, or Read for a change)."""

    code = "permission_denied"
