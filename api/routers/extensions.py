"""HTTP: Products, agreements, extensions and auto attendants, DIDs as aliases,
blocks, the customer's number.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routing import ProblemRoute

router = APIRouter(route_class=ProblemRoute)
