"""Run reports of ingest and reindex runs, kept in the state store so every replica sees the last one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from index.state.base import StateStore


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunLog:
    """The `runs` table: one row per run, `running` until it finishes with its status and report."""

    def __init__(self, state: StateStore):
        self.state = state

    def start(self, kind: str, started_at: str | None = None) -> int:
        """A run begins; `started_at` (UTC, ISO) is also what its sources' last sync records."""
        rows = self.state.query(
            "INSERT INTO runs(kind, started_at, status) VALUES (?, ?, 'running') RETURNING id",
            (kind, started_at or _now()),
        )
        return int(rows[0][0])

    def finish(self, run_id: int, status: str, report: dict[str, Any]) -> None:
        self.state.execute(
            "UPDATE runs SET finished_at = ?, status = ?, report = ? WHERE id = ?",
            (_now(), status, json.dumps(report), run_id),
        )

    def last_finished_at(self) -> str | None:
        rows = self.state.query("SELECT MAX(finished_at) FROM runs WHERE finished_at IS NOT NULL")
        return str(rows[0][0]) if rows and rows[0][0] else None

    def latest(self) -> dict[str, Any] | None:
        """The newest run: id, kind, started_at, finished_at, status and its report."""
        rows = self.state.query(
            "SELECT id, kind, started_at, finished_at, status, report FROM runs ORDER BY id DESC LIMIT 1"
        )
        if not rows:
            return None
        run_id, kind, started, finished, status, report = rows[0]
        return {
            "id": int(run_id),
            "kind": kind,
            "started_at": started,
            "finished_at": finished,
            "status": status,
            "report": json.loads(report),
        }
