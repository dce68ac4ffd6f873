"""IP phone (CPE) inventory: device models, CPE profiles, phones, allocation to customers,
ports assigned to extensions, batch uploads.
"""

from __future__ import annotations

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.application import SwitchlogApplication

#: This module's aggregates (provisioning's registration lists them).
AGGREGATES: tuple[type[SwitchlogAggregate], ...] = ()


class CpeCommands(SwitchlogApplication):
    """Provisioning's use cases for this area (mixed into ProvisioningService)."""
