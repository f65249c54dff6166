"""Per-source and per-run reports, as printed by `ingest --json` and kept in the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SourceReport:
    """What one source's run did."""

    name: str
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_deleted: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    people: int = 0
    status: str = "ok"  # ok | partial | failed
    error: str | None = None
    prune: str = "done"  # done | skipped: <why>
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunReport:
    """What a whole ingest or reindex run did."""

    sources: list[SourceReport] = field(default_factory=list)
    snapshot: str | None = None
    generation: int = 0
    status: str = "ok"
    error: str | None = None
    duration_s: float = 0.0
    executor: dict[str, Any] | None = None  # where embedding ran: name, batches, workers

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.as_dict() for s in self.sources],
            "snapshot": self.snapshot,
            "generation": self.generation,
            "status": self.status,
            "error": self.error,
            "duration_s": round(self.duration_s, 3),
            "executor": self.executor,
        }

    def finish_status(self) -> str:
        """ok when every source was ok, failed when none got through, partial otherwise."""
        states = [s.status for s in self.sources]
        if self.error is not None:
            self.status = "failed"
        elif not states or all(s == "ok" for s in states):
            self.status = "ok"
        elif all(s == "failed" for s in states):
            self.status = "failed"
        else:
            self.status = "partial"
        return self.status
