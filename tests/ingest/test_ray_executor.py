"""`reindex --executor ray` on a real Ray cluster on loopback (a head and a worker node, one CPU each).

The vectors match the local path's within float tolerance, not bit for bit: each path embeds the
passages in different batches (the Ray batches are smaller, and sentence-transformers pads every batch
to its longest passage) with a different number of torch threads, which changes the order of the
float additions. Observed differences are around 1e-7 on unit vectors; the test allows 1e-5.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from connectors.base import Connector
from connectors.config import SourceConfig, SourceContext
from connectors.registry import build_connector, load_sources_config
from eval.bench import sources_file, write_scifact
from eval.ray_cluster import LocalRayCluster, local_ray_cluster
from index.snapshot.snapshot import Snapshot
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from index.vectors.faiss_index import SlotSelector
from index.vectors.faiss_index import search as faiss_search
from ingest.executors.ray_data import RayDataExecutor
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from service.settings import OFFLINE_ENVIRONMENT, Settings
from tests.ingest.test_executors import check_executor_contract

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    with local_ray_cluster(workers=1) as running:
        yield running


@pytest.fixture
def ray_cluster(cluster: LocalRayCluster) -> LocalRayCluster:
    """The module's cluster with a live worker node (a test that killed one gets it back)."""
    cluster.ensure_workers(1)
    return cluster


def reindex_cmd(home: Path, config: Path, cluster: LocalRayCluster) -> list[str]:
    return [
        sys.executable, "-m", "service.cli", "--home", str(home), "reindex", "--config", str(config),
        "--json", "--executor", "ray", "--ray-address", cluster.address,
    ]  # fmt: skip


def child_env(batch_size: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    return {**env, "WHOKNOWS_RAY_BATCH_SIZE": str(batch_size), "WHOKNOWS_RAY_WORKERS": "2"}


def chunk_vectors(home: Path) -> dict[str, np.ndarray]:
    db = sqlite3.connect(home / "whoknows.db")
    try:
        rows = db.execute("SELECT chunk_id, vector FROM chunks").fetchall()
    finally:
        db.close()
    return {cid: np.frombuffer(blob, dtype=np.float32) for cid, blob in rows}


def cached(home: Path) -> dict[str, np.ndarray]:
    path = home / "cache" / "embeddings.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(path, timeout=5)
    try:
        rows = db.execute("SELECT key, vector FROM vectors").fetchall()
    except sqlite3.OperationalError:  # the run has not created its table yet
        rows = []
    finally:
        db.close()
    return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows}


def top_chunks(home: Path, snapshot: Snapshot, query: np.ndarray) -> list[str]:
    """The snapshot's top 5 for `query`, as chunk ids (chunk row ids are each store's own)."""
    db = sqlite3.connect(home / "whoknows.db")
    try:
        names = dict(db.execute("SELECT id, chunk_id FROM chunks").fetchall())
    finally:
        db.close()
    everything = SlotSelector(snapshot.slot_live)
    _, slots = faiss_search(snapshot.vectors, query, 5, everything, snapshot.manifest.nprobe)
    return [names[int(r)] for r in snapshot.rowids(slots)]


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def test_ray_reindex_gives_the_local_vectors(ray_cluster: LocalRayCluster, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "scifact"
    write_scifact(corpus, limit=30)
    config = sources_file(tmp_path / "sources.toml", [("scifact", corpus)])

    local = tmp_path / "local"
    reference = IngestPipeline(
        Store(local), SnapshotStore(local), embedder, VectorCache(local / "cache" / "embeddings.sqlite", 384)
    ).run([_files_source(config)], kind="reindex")
    assert reference.status == "ok"

    home = tmp_path / "ray"
    proc = subprocess.run(
        reindex_cmd(home, config, ray_cluster),
        env=child_env(8),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # stdout holds the report alone, whatever Ray prints
    ours, theirs = chunk_vectors(home), chunk_vectors(local)
    assert report["status"] == "ok" and report["sources"][0]["chunks_embedded"] == len(theirs) >= 40
    executor = report["executor"]
    nodes = {worker.split("/")[1] for worker in executor["workers"]}
    assert executor["name"] == "ray" and len(nodes) == 2, executor  # both nodes embedded
    assert executor["batches"] == -(-len(theirs) // 8)  # each batch of 8 came back, and was cached, alone

    difference = max_difference(ours, theirs)
    print(f"max |ray - local| over {len(ours)} chunk vectors: {difference:.2e}")
    assert difference <= TOLERANCE
    assert max_difference(cached(home), cached(local)) <= TOLERANCE  # the same cache, key for key

    snapshot = SnapshotStore(home).load_current(embedder)
    assert snapshot is not None and snapshot.live_chunks == len(ours)
    query = embedder.embed_query("diffusion tensor imaging of the newborn brain white matter")
    local_snapshot = SnapshotStore(local).load_current(embedder)
    assert local_snapshot is not None
    assert top_chunks(home, snapshot, query) == top_chunks(local, local_snapshot, query)


def test_ray_executor_keeps_the_executor_contract(ray_cluster: LocalRayCluster, embedder) -> None:  # type: ignore[no-untyped-def]
    executor = RayDataExecutor(
        embedder.model_name,
        embedder.dim,
        backend=embedder.backend,
        model_dir=str(Settings().model_dir),
        address=ray_cluster.address,
        batch_size=2,
        worker_env=OFFLINE_ENVIRONMENT,
    )
    try:
        check_executor_contract(executor, embedder)
    finally:
        executor.close()


def test_a_worker_killed_mid_run_loses_no_finished_batch(
    ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    corpus = tmp_path / "scifact"
    write_scifact(corpus, limit=40)
    config = sources_file(tmp_path / "sources.toml", [("scifact", corpus)])
    home = tmp_path / "ray"
    proc = subprocess.Popen(
        reindex_cmd(home, config, ray_cluster), env=child_env(4), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 400
        while len(cached(home)) < 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before the worker could be killed"
        before_kill = cached(home)
        [worker] = ray_cluster.live_workers()
        worker.kill()  # SIGKILL to the node's raylet, agents and actor processes
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    report = json.loads(out)
    after = cached(home)
    total = len(chunk_vectors(home)) if report["status"] == "ok" else None
    print(f"{len(before_kill)} passages cached when the worker was killed; run {report['status']}")
    assert len(before_kill) >= 8 and (total is None or len(before_kill) < total)
    assert before_kill.keys() <= after.keys(), "a batch that had come back was lost"
    assert all(np.abs(after[k] - v).max() <= TOLERANCE for k, v in before_kill.items())

    if proc.returncode == 0:  # Ray retried the lost node's batches on the head node's actor
        assert report["sources"][0]["chunks_embedded"] == total and report["snapshot"], err[-2000:]
    else:  # the job failed: cleanly, nothing published, and the next run embeds only the rest
        assert proc.returncode == 4 and report["snapshot"] is None and "Ray" in report["error"]
        ray_cluster.ensure_workers(1)
        rerun = subprocess.run(
            reindex_cmd(home, config, ray_cluster), env=child_env(4), cwd=REPO, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        again = json.loads(rerun.stdout)
        assert again["sources"][0]["chunks_embedded"] == len(chunk_vectors(home)) - len(after)


def _files_source(config: Path) -> tuple[SourceConfig, Connector]:
    [source] = load_sources_config(config)
    return source, build_connector(source, SourceContext(base_dir=config.parent))
