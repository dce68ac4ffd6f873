"""Read models: IP phone (CPE) inventory: device models, CPE profiles, phones, allocation to
customers,
ports assigned to extensions, batch uploads.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.base import Projection


def projections() -> Sequence[Projection]:
    """This area's projections (provisioning's registration lists them)."""
    return []
