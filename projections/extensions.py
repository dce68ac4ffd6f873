"""Read models: Products, agreements, extensions and auto attendants, DIDs as aliases,
blocks, the customer's number.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.base import Projection


def projections() -> Sequence[Projection]:
    """This area's projections (provisioning's registration lists them)."""
    return []
