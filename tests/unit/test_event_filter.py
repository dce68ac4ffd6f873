"""The one event filter validator that audit, SSE, WebSocket and webhooks share."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain.directory.access import EventFilter
from domain.shared.errors import InvalidFilterError


def test_a_filter_names_types_subject_and_customer() -> None:
    subject, customer = uuid4(), uuid4()
    parsed = EventFilter.parse(
        {"types": ["Customer.Created"], "subject": str(subject), "customer": customer}
    )
    # An old name (before events were named by context) is an alias of the new one.
    assert parsed == EventFilter(frozenset({"directory.Customer.Created"}), subject, customer)


@pytest.mark.parametrize("empty", [None, {}, {"types": None, "subject": "", "customer": None}])
def test_an_empty_filter_follows_everything(empty: Any) -> None:
    assert EventFilter.parse(empty) == EventFilter()


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"typez": ["Customer.Created"]}, "typez"),
        ({"types": ["Customer.Updatd"]}, "Customer.Updatd"),
        ({"types": "Customer.Created"}, "list"),
        ({"types": [1]}, "list"),
        ({"subject": "not-a-uuid"}, "subject"),
        ({"customer": 7}, "customer"),
        (["Customer.Created"], "object"),
    ],
)
def test_mistakes_are_refused_with_what_was_wrong(raw: Any, named: str) -> None:
    with pytest.raises(InvalidFilterError, match=named):
        EventFilter.parse(raw)
