"""Running batch uploads of the CPE inventory: a job reads its file in batches of rows and
hands each batch to the provisioning service, which appends it with the job's progress.

While a job runs, its process holds a lock named after it (a file lock beside a SQLite
store, a PostgreSQL advisory lock), which the kernel or the server frees if the process
dies. A job the log still shows running whose lock is free was interrupted: it is marked
failed when next looked at; the rows it applied stay applied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Protocol
from uuid import UUID, uuid4

from adapters.cpe_files import FileSummary, inspect, upload_rows
from adapters.locks import SingleActiveLock, single_active_lock
from adapters.sql import sqlite_path
from domain.provisioning.cpe_rows import RowError, UploadRow
from domain.provisioning.cpe_upload import BatchOutcome, UploadLookups
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import ConflictError

log = logging.getLogger(__name__)

INTERRUPTED = (
    "interrupted: the process running the upload stopped. The rows applied so far are kept;"
    " upload the file again to apply the rest (rows applied already count as unchanged)"
)
Progress = Callable[[int, int, BatchOutcome], None]


class UploadService(Protocol):
    def start_upload(
        self, ctx: CommandContext, upload_id: UUID, filename: str, file_format: str, rows: int
    ) -> UUID: ...
    def apply_upload_batch(
        self,
        ctx: CommandContext,
        upload_id: UUID,
        rows: list[UploadRow | list[RowError]],
        last_row: int,
        lookups: UploadLookups,
    ) -> BatchOutcome: ...
    def finish_upload(self, ctx: CommandContext, upload_id: UUID) -> None: ...
    def fail_upload(self, ctx: CommandContext, upload_id: UUID, reason: str) -> None: ...
    def upload_status(self, upload_id: UUID) -> str: ...


class UploadJobs:
    """Starts upload jobs (in a thread, or in the caller's) and notices interrupted ones."""

    def __init__(
        self, service: UploadService, store_url: str, folder: Path, batch_size: int = 500
    ) -> None:
        self.service = service
        self.store_url = store_url
        self.folder = folder
        self.batch_size = batch_size
        self._running: set[UUID] = set()
        self._threads: dict[UUID, threading.Thread] = {}

    def spool_path(self, filename: str) -> Path:
        """Where an upload's bytes wait for its job (removed when the job ends)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{uuid4()}{Path(filename).suffix.lower()[:8]}"

    def start(self, ctx: CommandContext, path: Path, filename: str) -> UUID:
        """Check the file as a whole, record the job, and run it in a background thread."""
        job_id, summary, lock = self._begin(ctx, path, filename)
        thread = threading.Thread(
            target=self._run,
            args=(ctx, job_id, path, summary, lock, None),
            name=f"cpe-upload-{job_id}",
            daemon=True,
        )
        self._threads[job_id] = thread
        thread.start()
        return job_id

    def run(
        self, ctx: CommandContext, path: Path, filename: str, progress: Progress | None = None
    ) -> UUID:
        """The same job, run to its end in the caller's thread (the CLI shows progress)."""
        job_id, summary, lock = self._begin(ctx, path, filename, keep_file=True)
        self._run(ctx, job_id, path, summary, lock, progress, keep_file=True)
        return job_id

    def wait(self, job_id: UUID, timeout: float | None = None) -> None:
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)

    def check_alive(self, job_id: UUID) -> bool:
        """Mark failed a job the log shows running that no process runs any more; True
        when it was (the caller then waits for its read model to show it)."""
        if job_id in self._running:
            return False
        lock = self._lock(job_id)
        if not lock.try_acquire():
            return False  # another process runs it
        try:
            if self.service.upload_status(job_id) == "running":
                system = CommandContext(Actor.system("cpe-uploads"))
                self.service.fail_upload(system, job_id, INTERRUPTED)
            return True
        except ConflictError:
            return True  # someone else noticed first
        finally:
            self._unlock(job_id, lock)

    # -- the job -----------------------------------------------------------------------
    def _begin(
        self, ctx: CommandContext, path: Path, filename: str, keep_file: bool = False
    ) -> tuple[UUID, FileSummary, SingleActiveLock]:
        try:
            summary = inspect(path, filename)
        except BaseException:
            if not keep_file:
                path.unlink(missing_ok=True)
            raise
        job_id = uuid4()
        lock = self._lock(job_id)
        lock.try_acquire()
        self._running.add(job_id)
        try:
            self.service.start_upload(
                ctx, job_id, Path(filename).name, summary.file_format, summary.rows_total
            )
        except BaseException:
            self._running.discard(job_id)
            self._unlock(job_id, lock)
            if not keep_file:
                path.unlink(missing_ok=True)
            raise
        return job_id, summary, lock

    def _run(
        self,
        ctx: CommandContext,
        job_id: UUID,
        path: Path,
        summary: FileSummary,
        lock: SingleActiveLock,
        progress: Progress | None,
        keep_file: bool = False,
    ) -> None:
        try:
            lookups = UploadLookups()
            done = 0
            for batch in _batches(upload_rows(path, summary), self.batch_size):
                rows = [row for _number, row in batch]
                outcome = self.service.apply_upload_batch(ctx, job_id, rows, batch[-1][0], lookups)
                done += len(rows)
                if progress is not None:
                    progress(done, summary.rows_total, outcome)
            self.service.finish_upload(ctx, job_id)
        except Exception as error:
            log.exception("CPE upload %s failed", job_id)
            try:
                self.service.fail_upload(ctx, job_id, f"{type(error).__name__}: {error}")
            except Exception:
                log.exception("CPE upload %s: could not record the failure", job_id)
        finally:
            self._unlock(job_id, lock)
            self._running.discard(job_id)
            if not keep_file:
                path.unlink(missing_ok=True)

    def _lock(self, job_id: UUID) -> SingleActiveLock:
        return single_active_lock(self.store_url, f"cpe-upload-{job_id}")

    def _unlock(self, job_id: UUID, lock: SingleActiveLock) -> None:
        lock.release()
        if self.store_url.startswith("sqlite:"):
            Path(f"{sqlite_path(self.store_url)}.cpe-upload-{job_id}.lock").unlink(missing_ok=True)


def _batches(
    rows: Iterator[tuple[int, UploadRow | list[RowError]]], size: int
) -> Iterator[list[tuple[int, UploadRow | list[RowError]]]]:
    while batch := list(islice(rows, size)):
        yield batch
