"""Reindex faults: a source failing mid-run, a write error, the lock, the cron schedule."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from connectors.base import ConnectorError, ConnectorFailure, SourceDocument
from connectors.config import ConfigError
from index.acl import Principal
from index.retrieval.hybrid import HybridRetriever
from index.snapshot.build import SnapshotBuilder
from index.snapshot.store import SnapshotStore
from index.state.runs import RunLog
from index.state.sqlite_state import SqliteStateStore
from index.store.documents import Store
from ingest.pipeline import IngestPipeline
from ingest.reindex import ReindexBusyError, reindex_lock, run_reindex
from ingest.vector_cache import VectorCache
from tests.helpers import ListConnector, make_doc, source_config

TOPICS = [
    ("vpn", "VPN setup", "Connect to the office VPN with WireGuard; the gateway is vpn.northwind.example."),
    ("printers", "Printers", "The third floor printer is called Heron and needs badge release."),
    ("payroll", "Payroll dates", "Salaries are paid on the 25th of each month."),
    ("deploys", "Deploy freeze", "No production deploys after 16:00 on Fridays."),
]


class FailingMidway(ListConnector):
    """A live source that answers for a while, then its API starts failing."""

    def __init__(self, name: str, docs: list[SourceDocument], fail_after: int):
        super().__init__(name, docs)
        self.fail_after = fail_after

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        for i, d in enumerate(self.docs):
            if i == self.fail_after:
                raise ConnectorError("GET /t/42.json answered 500 three times")
            yield d


@pytest.fixture
def setup(tmp_path, embedder):  # type: ignore[no-untyped-def]
    store = Store(tmp_path)
    snaps = SnapshotStore(tmp_path)
    runs = RunLog(SqliteStateStore(tmp_path / "state.db"))
    pipeline = IngestPipeline(
        store, snaps, embedder, VectorCache(tmp_path / "cache.sqlite", embedder.dim), runs=runs
    )
    docs = [make_doc("live", n, t, x) for n, t, x in TOPICS]
    other = [make_doc("files", "readme", "Readme", "Welcome to the intranet of Northwind.")]
    pipeline.run(
        [
            (source_config("live"), ListConnector("live", docs)),
            (source_config("files"), ListConnector("files", other)),
        ]
    )
    retriever = HybridRetriever(store, lambda: snaps.load_current(embedder), embedder)
    return tmp_path, store, snaps, pipeline, docs, other, retriever


def test_source_failing_midway_keeps_its_documents_and_reports(setup):
    home, store, snaps, pipeline, docs, other, retriever = setup
    cursor_before = store.db.execute("SELECT cursor FROM sync_state WHERE source='live'").fetchone()[0]
    edited = [*docs[:1], make_doc("live", "printers", "Printers", "The printer moved to the fourth floor.")]
    failing = FailingMidway("live", edited + docs[2:], fail_after=1)
    report = run_reindex(
        pipeline,
        home,
        [(source_config("live"), failing), (source_config("files"), ListConnector("files", other))],
    )
    live = report.sources[0]
    assert live.status == "failed" and "answered 500" in (live.error or "")
    assert live.documents_deleted == 0 and report.status == "partial"
    assert store.source_counts() == {"files": 1, "live": 4}
    cursor_after = store.db.execute("SELECT cursor FROM sync_state WHERE source='live'").fetchone()[0]
    assert cursor_after == cursor_before  # the next run fetches the same changes again
    hits = retriever.search("which floor is the Heron printer on", Principal(), k=1)
    assert hits[0].doc_id == "live:printers"
    assert "third floor" in hits[0].snippet.replace("<mark>", "").replace("</mark>", "")
    stored = pipeline.runs.latest()
    assert stored["status"] == "partial" and stored["kind"] == "reindex"
    assert "answered 500" in json.dumps(stored["report"])


def test_write_error_fails_cleanly_and_old_snapshot_serves(setup, monkeypatch):
    home, store, snaps, pipeline, docs, other, retriever = setup
    live_before = snaps.current_name()

    def disk_full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SnapshotBuilder, "build", disk_full)
    changed = [*docs[:3], make_doc("live", "deploys", "Deploy freeze", "Deploys stop at 14:00 on Fridays.")]
    report = run_reindex(pipeline, home, [(source_config("live"), ListConnector("live", changed))])
    assert report.status == "failed" and "No space left" in (report.error or "")
    assert snaps.current_name() == live_before
    assert "14:00" not in str(retriever.search("deploy freeze friday", Principal(), k=1)[0].snippet)
    assert store.generation() == snaps.load_current().manifest.generation  # store rolled back too

    monkeypatch.undo()  # disk has space again: the next run notices the gap and publishes
    again = run_reindex(pipeline, home, [(source_config("live"), ListConnector("live", changed))])
    assert again.status == "ok" and again.snapshot != live_before
    snap = snaps.load_current()
    assert snap is not None and snap.manifest.generation == store.generation()
    assert snap.live_chunks == store.counts()["chunks"]


def test_one_run_at_a_time_and_a_dead_holder_releases(tmp_path):
    with reindex_lock(tmp_path), pytest.raises(ReindexBusyError, match="another reindex is running"):
        with reindex_lock(tmp_path):
            pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from ingest.reindex import reindex_lock; from pathlib import Path\n"
            f"with reindex_lock(Path({str(tmp_path)!r})):\n print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(ReindexBusyError), reindex_lock(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with reindex_lock(tmp_path):
        pass


def test_cron_schedule(tmp_path):
    from service.ops.jobs import CronSchedule

    with pytest.raises(ConfigError, match="not a valid cron expression"):
        CronSchedule("every night", runner=None, config=None)  # type: ignore[arg-type]
    schedule = CronSchedule("0 2 * * *", runner=None, config=None)  # type: ignore[arg-type]
    assert schedule.next_run(datetime(2026, 3, 1, 13, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 2, 0, tzinfo=UTC
    )
