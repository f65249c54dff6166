"""A reindex killed with SIGKILL mid-way leaves the old snapshot serving; the next run recovers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.acl import Principal
from index.retrieval.hybrid import HybridRetriever
from index.snapshot.store import SnapshotStore
from index.store.documents import Store

pytestmark = pytest.mark.slow

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
]


def write_docs(folder: Path, start: int, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        body = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(120))
        (folder / f"note-{i:04d}.md").write_text(f"# Note {i}\n\nTopic {i}: {body}.\n\nOwner team {i % 9}.\n")


def whoknows(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "WHOKNOWS_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def cached_vectors(home: Path) -> int:
    path = home / "cache" / "embeddings.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigkill_mid_run_keeps_old_snapshot_and_next_run_recovers(tmp_path, embedder):
    home, docs = tmp_path / "home", tmp_path / "docs"
    write_docs(docs, 0, 5)
    (docs / "vpn.md").write_text("# VPN\n\nThe office VPN gateway is vpn.northwind.example on port 51820.\n")
    config = tmp_path / "sources.toml"
    config.write_text('[[sources]]\nname = "notes"\ntype = "files"\npath = "docs"\nacl = { public = true }\n')
    first = whoknows(home, "reindex", "--config", str(config), "--json")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    old_snapshot = SnapshotStore(home).current_name()

    write_docs(docs, 5, 250)
    run = whoknows(home, "reindex", "--config", str(config), "--json")
    deadline = time.monotonic() + 240
    while cached_vectors(home) < 6 + 64 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    assert run.poll() is None, "the run finished before it could be killed; make the corpus bigger"
    run.send_signal(signal.SIGKILL)
    run.wait()

    snaps = SnapshotStore(home)
    assert snaps.current_name() == old_snapshot
    store = Store(home)
    assert store.counts()["documents"] == 6
    retriever = HybridRetriever(store, lambda: snaps.load_current(embedder), embedder)
    hits = retriever.search("which port does the VPN use", Principal(), k=1)
    assert hits[0].doc_id == "notes:vpn.md"
    embedded_before_kill = cached_vectors(home) - 6

    again = whoknows(home, "reindex", "--config", str(config), "--json")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    import json

    report = json.loads(out)["sources"][0]
    assert report["documents_added"] == 250
    assert report["chunks_reused"] >= embedded_before_kill > 0  # the killed run's work was kept
    assert Store(home).counts()["documents"] == 256
    assert SnapshotStore(home).current_name() != old_snapshot
