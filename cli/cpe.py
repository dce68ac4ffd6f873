"""`switchlog cpe`: the IP phone inventory from the command line (batch uploads)."""

from __future__ import annotations

import typer

cpe_app = typer.Typer(help="IP phone (CPE) inventory: batch uploads", no_args_is_help=True)
