"""Which store a command opens: said on stderr every time, and never created by mistake."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from adapters.observability import configure_logging, serve_metrics
from adapters.settings import Settings
from adapters.sql import sqlite_path
from composition.runtime import Runtime

# Notes and errors go to stderr, so `--json` output on stdout stays machine-readable.
err_console = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)


def fail(message: str) -> NoReturn:
    """Refuse with one line on stderr and exit status 2 (an operator's mistake, not a bug)."""
    err_console.print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(2)


def warn(message: str) -> None:
    err_console.print(Text.assemble(("warning: ", "bold yellow"), message))


def masked(url: str) -> str:
    """A database URL fit to print: any password replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        credentials, _, host = netloc.rpartition("@")
        netloc = f"{credentials.partition(':')[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query, flags=re.IGNORECASE)
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # urlunsplit would also turn sqlite:///x into sqlite:/x
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite store, or None for a server database."""
    return Path(sqlite_path(url)).resolve() if url.startswith("sqlite:") else None


def describe(url: str) -> str:
    path = sqlite_file(url)
    return f"{url} ({path})" if path is not None else masked(url)


def load_settings(create: bool) -> Settings:
    """The environment's settings, after saying which store they name.

    A command that only reads (`create=False`) refuses a SQLite store that does not exist:
    run in the wrong folder, it would otherwise create an empty store and report nothing.
    """
    try:
        settings = Settings()
    except ValidationError as error:
        fail(
            "; ".join(
                f"SWITCHLOG_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                for e in error.errors()
            )
        )
    err_console.print(f"store: {describe(settings.store_url)}")
    if settings.read_model_url:  # the default (beside the store, or in it) goes unsaid
        err_console.print(f"read models: {describe(settings.effective_read_model_url)}")
    path = sqlite_file(settings.store_url)
    if not create and path is not None and not path.exists():
        if "store_url" in settings.model_fields_set:
            where = f"SWITCHLOG_STORE_URL is {settings.store_url}"
        else:
            where = (
                f"SWITCHLOG_STORE_URL is unset, and its default {settings.store_url} is"
                " relative to the current folder"
            )
        fail(
            f"no store at {path} ({where}). Run this where the store is, or set"
            " SWITCHLOG_STORE_URL to it; nothing was created."
        )
    return settings


def open_runtime(create: bool) -> Runtime:
    """The one place the CLI builds its runtime from the environment."""
    return Runtime(load_settings(create))


def worker_runtime() -> Runtime:
    """A long-running process: logs carry correlation ids; metrics on its own port."""
    configure_logging()
    rt = open_runtime(create=True)
    serve_metrics(rt.settings.metrics_port, rt.settings.metrics_host)
    return rt


def until_signalled() -> threading.Event:
    """An event set by SIGTERM or SIGINT: long-running commands stop cleanly on it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop
