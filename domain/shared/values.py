"""Value rules shared by contexts: currencies, time zones, human ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.shared.errors import InvalidValueError

# ISO 4217 active codes (2024 list, funds and precious metals left out).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()  # noqa: SIM905
)

_HUMAN_ID = re.compile(r"^[\w.@+\- ]{1,100}$")


def currency(code: str) -> str:
    """An ISO 4217 currency code, upper-cased."""
    normalized = code.strip().upper()
    if normalized not in ISO_4217:
        raise InvalidValueError(f"{code!r} is not an ISO 4217 currency code")
    return normalized


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone(name: str) -> str:
    """An IANA time zone name that this machine's tz database knows."""
    if name not in _zones():
        raise InvalidValueError(f"{name!r} is not an IANA time zone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError(f"{name!r} is not an IANA time zone") from None
    return name


def human_id(value: str, what: str) -> str:
    """A name or login: 1-100 printable word characters, no leading/trailing blanks."""
    if value != value.strip() or not _HUMAN_ID.match(value):
        raise InvalidValueError(f"{what} must be 1-100 letters, digits, spaces or . @ + - _")
    return value


@dataclass(frozen=True)
class Secret:
    """A value that must never be stored, published or logged in clear text.

    Events hold secrets in this wrapper; the store's transcoder encrypts it (the key lives
    in adapters, not here), so a dump of the log or of the Kafka topic shows no secret.
    """

    value: str

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"
