"""Background reindex runs inside the service: POST /admin/reindex and the optional cron schedule."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.config import ConfigError
from connectors.registry import load_sources_config
from ingest.reindex import ReindexBusyError, run_reindex
from service.engine import Engine

log = logging.getLogger(__name__)


SEE_LOG = "failed; the server log has the details"


def served_report(report: dict[str, Any]) -> dict[str, Any]:
    """A run report as GET /admin/reindex shows it: counts and statuses, never an exception's text or a
    failed document's path (`whoknows reindex --json` and the log have those)."""
    sources = []
    for source in report.get("sources", []):
        shown = {**source, "failures": len(source.get("failures") or [])}
        if shown.get("error"):
            shown["error"] = SEE_LOG
        if str(shown.get("prune", "done")).startswith("skipped"):
            shown["prune"] = "skipped"
        sources.append(shown)
    return {**report, "sources": sources, "error": SEE_LOG if report.get("error") else None}


class ReindexRunner:
    """Runs at most one reindex at a time in a thread; the file lock also keeps out other processes."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, config: Path | None = None, full: bool = False) -> bool:
        """Start a run in the background; False if one is already running here."""
        path = config or self.engine.settings.reindex_config
        if path is None:
            raise ConfigError("no sources file configured (set WHOKNOWS_REINDEX_CONFIG or pass --config)")
        configs = load_sources_config(path)  # fail fast, in the caller, on a bad config
        with self._lock:
            if self.running:
                return False
            self._thread = threading.Thread(
                target=self._run, args=(path, configs, full), daemon=True, name="reindex"
            )
            self._thread.start()
        return True

    def _run(self, path: Path, configs: list, full: bool) -> None:  # type: ignore[type-arg]
        started = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            pairs = [(c, self.engine.connector_for(c)) for c in configs]
            report = run_reindex(self.engine.pipeline(), self.engine.settings.home, pairs, full=full)
            self.last = {"started_at": started, "config": path.name, **served_report(report.as_dict())}
        except ReindexBusyError:
            self.last = {"started_at": started, "status": "busy", "error": "another reindex holds the lock"}
        except Exception:
            log.exception("reindex failed")
            self.last = {"started_at": started, "status": "failed", "error": SEE_LOG}
        self.engine.snapshot()  # pick up the new snapshot now rather than on the next request


class CronSchedule:
    """`serve --reindex-cron "0 2 * * *"`: a daemon thread starting a reindex at each cron time (UTC)."""

    def __init__(self, expression: str, runner: ReindexRunner, config: Path | None):
        from croniter import croniter

        if not croniter.is_valid(expression):
            raise ConfigError(f"--reindex-cron: {expression!r} is not a valid cron expression")
        self.expression = expression
        self.runner = runner
        self.config = config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="reindex-cron")

    def next_run(self, now: datetime | None = None) -> datetime:
        from croniter import croniter

        base = now or datetime.now(UTC)
        result: datetime = croniter(self.expression, base).get_next(datetime)
        return result

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait_s = max(0.0, (self.next_run() - datetime.now(UTC)).total_seconds())
            if self._stop.wait(wait_s):
                return
            try:
                if not self.runner.start(self.config):
                    log.warning("scheduled reindex skipped: one is still running")
            except ConfigError as exc:
                log.error("scheduled reindex not started: %s", exc)
            time.sleep(1)  # never fire twice within the same second
