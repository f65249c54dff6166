"""The reindex job: one run at a time under a lock the kernel releases if the run dies."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import Connector
from connectors.config import SourceConfig
from ingest.pipeline import IngestPipeline
from ingest.report import RunReport

LOCK_FILE = "reindex.lock"


class ReindexBusyError(Exception):
    """Another reindex holds the lock."""


@contextmanager
def reindex_lock(home: Path) -> Iterator[None]:
    """An exclusive flock on `<home>/reindex.lock`. A killed run's lock dies with its process."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = path.read_text(errors="replace").strip() or "unknown"
            raise ReindexBusyError(f"another reindex is running ({holder}); lock {path}") from exc
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "since": datetime.now(UTC).isoformat()}).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_reindex(
    pipeline: IngestPipeline,
    home: Path,
    sources: Sequence[tuple[SourceConfig, Connector]],
    full: bool = False,
) -> RunReport:
    """Catch the index up with its sources: changed documents only, pruning guarded, snapshot published."""
    with reindex_lock(home):
        return pipeline.run(sources, full=full, kind="reindex")
