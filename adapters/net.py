"""Where webhooks may be sent: public addresses only, unless configured otherwise (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from domain.shared.errors import InvalidValueError


class ForbiddenTargetError(InvalidValueError):
    """The URL resolves to a loopback, private, link-local or otherwise internal address."""

    code = "forbidden_target"


def check_public_target(url: str, allow_private: bool) -> None:
    """Refuse URLs whose host resolves to an address that is not on the public internet."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise InvalidValueError(f"cannot resolve webhook host {host!r}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise ForbiddenTargetError(
                f"webhook host {host!r} resolves to {address}, which is not a public address"
            )
