"""The executor seam: its contract, a run whose executor fails mid-way, and clear errors from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from ingest.executors.base import Batch, EmbeddingError, EmbeddingExecutor
from ingest.executors.local import LocalExecutor
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from tests.helpers import ListConnector, make_doc, source_config

REPO = Path(__file__).resolve().parents[2]
PASSAGES = [
    "Postgres snapshots are retained for 35 days in cold storage.",
    "The platform team rotates pager duty weekly.",
    "Postgres snapshots are retained for 35 days in cold storage.",  # the same passage twice
    "Hotel costs up to 180 euros per night are reimbursed.",
    "Kubernetes node pools are upgraded one zone at a time.",
]


def check_executor_contract(executor: EmbeddingExecutor, embedder: Any) -> None:
    """Every position exactly once, vectors of the executor's model, and nothing for no input."""
    ours = (executor.model_name, executor.backend, executor.dim)
    assert ours == (embedder.model_name, embedder.backend, embedder.dim)
    assert list(executor.embed([])) == []
    seen: dict[int, np.ndarray] = {}
    for positions, vectors in executor.embed(PASSAGES):
        assert vectors.shape == (len(positions), executor.dim) and vectors.dtype == np.float32
        for p, v in zip(positions, vectors, strict=True):
            assert p not in seen
            seen[p] = v
    assert sorted(seen) == list(range(len(PASSAGES)))
    expected = embedder.embed_passages(PASSAGES)
    assert max(float(np.abs(seen[i] - expected[i]).max()) for i in seen) <= 1e-5
    stats = executor.stats()
    assert stats["name"] == executor.name and stats["batches"] >= 1 and stats["workers"]


def test_local_executor_keeps_the_contract(embedder) -> None:  # type: ignore[no-untyped-def]
    check_executor_contract(LocalExecutor(embedder, batch_size=2), embedder)


class DiesAfter:
    """The local executor until `batches` batches are out, then the failure a lost cluster gives."""

    def __init__(self, inner: LocalExecutor, batches: int):
        self.inner, self.batches = inner, batches
        self.name, self.model_name, self.dim = "dying", inner.model_name, inner.dim
        self.backend = inner.backend
        self.window_documents = inner.window_documents

    def embed(self, texts: Sequence[str]) -> Iterator[Batch]:
        for n, batch in enumerate(self.inner.embed(texts)):
            if n == self.batches:
                raise EmbeddingError("the Ray job failed: every worker node is gone")
            yield batch

    def stats(self) -> dict[str, Any]:
        return self.inner.stats()

    def close(self) -> None:
        return None


def test_executor_failing_mid_run_publishes_nothing_and_keeps_finished_batches(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    store, snaps = Store(tmp_path), SnapshotStore(tmp_path)
    cache = VectorCache(tmp_path / "cache.sqlite", embedder.dim)
    first = [make_doc("hb", f"d{i}", f"Doc {i}", text) for i, text in enumerate(PASSAGES[:2])]
    ok = IngestPipeline(store, snaps, embedder, cache).run(
        [(source_config("hb"), ListConnector("hb", first))]
    )
    assert ok.status == "ok"
    live, counts = snaps.current_name(), store.counts()
    cached_before = len(cache_keys(tmp_path / "cache.sqlite"))

    edited = [
        make_doc("hb", f"e{i}", f"Edit {i}", f"{text} Revised in week {i}.")
        for i, text in enumerate(PASSAGES)
    ]
    dying = DiesAfter(LocalExecutor(embedder, batch_size=2), batches=1)
    failed = IngestPipeline(store, snaps, embedder, cache, executor=dying).run(
        [(source_config("hb"), ListConnector("hb", first + edited))]
    )
    assert failed.status == "failed" and "nothing published" in (failed.error or "")
    assert "every worker node is gone" in (failed.error or "")
    assert snaps.current_name() == live and store.counts() == counts  # the old index still serves
    assert len(cache_keys(tmp_path / "cache.sqlite")) == cached_before + 2  # the batch that came back

    again = IngestPipeline(store, snaps, embedder, cache).run(
        [(source_config("hb"), ListConnector("hb", first + edited))]
    )
    assert again.status == "ok" and again.snapshot != live
    assert again.sources[0].chunks_embedded == len(edited) - 2  # the finished batch was not redone


def cache_keys(path: Path) -> list[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return [k for (k,) in db.execute("SELECT key FROM vectors")]
    finally:
        db.close()


def whoknows(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "a.md").write_text("# Backups\n\nSnapshots are kept for 35 days.\n")
    (tmp_path / "sources.toml").write_text('[[sources]]\nname = "d"\ntype = "files"\npath = "docs"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(tmp_path / "home"), *args,
         "--config", str(tmp_path / "sources.toml")],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip


def test_cli_refuses_an_unknown_executor_or_a_ray_address_nothing_answers(tmp_path: Path) -> None:
    r = whoknows(tmp_path, "reindex", "--executor", "spark")
    assert (
        r.returncode == 2
        and "--executor (or WHOKNOWS_EXECUTOR): unknown executor 'spark' (known: local, ray)" in r.stderr
    )
    started = time.monotonic()
    r = whoknows(tmp_path, "reindex", "--executor", "ray", "--ray-address", "127.0.0.1:1")
    assert r.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in r.stderr, r.stderr
    assert time.monotonic() - started < 60  # not Ray's minutes of retries
    r = whoknows(tmp_path, "ingest", "--executor", "ray", "--ray-address", "head-node")
    assert r.returncode == 2 and "expected HOST:PORT of the head node, or 'auto'" in r.stderr
    assert not (tmp_path / "home" / "snapshots").exists()  # nothing ran
