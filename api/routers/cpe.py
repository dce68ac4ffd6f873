"""HTTP: IP phone (CPE) inventory: device models, CPE profiles, phones, allocation to customers,
ports assigned to extensions, batch uploads.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routing import ProblemRoute

router = APIRouter(route_class=ProblemRoute)
