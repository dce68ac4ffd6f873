"""Products, agreements, extensions and auto attendants, DIDs as aliases,
blocks, the customer's number.
"""

from __future__ import annotations

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.application import SwitchlogApplication

#: This module's aggregates (provisioning's registration lists them).
AGGREGATES: tuple[type[SwitchlogAggregate], ...] = ()


class ExtensionCommands(SwitchlogApplication):
    """Provisioning's use cases for this area (mixed into ProvisioningService)."""
