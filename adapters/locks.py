"""Single-active locks: only one relay publishes at a time; a standby takes over on death."""

from __future__ import annotations

import fcntl
import os
import zlib
from pathlib import Path
from typing import Protocol

import psycopg

from adapters.sql import sqlite_path


class SingleActiveLock(Protocol):
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...


class PostgresAdvisoryLock:
    """A session advisory lock: the server frees it when the holder's connection dies."""

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self._key = zlib.crc32(name.encode())
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def try_acquire(self) -> bool:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._url, autocommit=True)
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        return bool(row and row[0])

    def still_held(self) -> bool:
        try:
            assert self._connection is not None
            self._connection.execute("SELECT 1")
            return True
        except (psycopg.Error, AssertionError):
            return False

    def release(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None


class FileLock:
    """flock on a file beside the SQLite store: the kernel frees it when the holder dies."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def single_active_lock(store_url: str, name: str) -> SingleActiveLock:
    if store_url.startswith("sqlite://"):
        return FileLock(Path(sqlite_path(store_url) + f".{name}.lock"))
    return PostgresAdvisoryLock(store_url, name)
