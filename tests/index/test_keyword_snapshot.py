"""The keyword engine and the snapshots it lives in: analysis, segments, BM25 arithmetic, incremental
builds that equal full ones, compaction, and the approximate vector index inside the caller's ACL."""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from connectors.base import Acl
from index.acl import Principal
from index.keyword.analyzer import Analyzer
from index.keyword.index import K1, B, FieldWeights, KeywordIndex, VisibleStats, idf
from index.keyword.segment import ChunkTerms, Segment, SegmentWriter
from index.retrieval.hybrid import MODES, HybridRetriever
from index.snapshot.build import SnapshotBuilder
from index.snapshot.snapshot import Filters
from index.snapshot.store import SnapshotStore
from index.store.documents import ChunkRow, Store
from index.vectors.faiss_index import VectorParams
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from tests.helpers import ListConnector, make_doc, source_config

STAFF = Acl(groups=frozenset({"staff"}))
HR = Acl(groups=frozenset({"hr"}))
CALLERS = [Principal.anonymous(), Principal.of("ana", ["staff"]), Principal.of("hana", ["hr", "staff"])]
QUERIES = ["postgres backups retention", "kubernetes node pools", "salary bands", "vpn gateway", "the a of"]


def test_analysis_folds_stems_and_reads_no_syntax() -> None:
    a = Analyzer()
    assert a.terms("Café RUNNING databases") == ["cafe", "run", "databas"]
    assert a.terms('title:"x" AND (y OR -z*) NEAR/3') == ["titl", "x", "and", "y", "or", "z", "near", "3"]
    assert a.terms("snake_case e-mail") == ["snake", "case", "e", "mail"]
    assert a.terms("a" * 65 + " ok") == ["ok"]  # no 65-character terms
    assert a.query_terms(["Backups", "backup", "BACKUPS"]) == ["backup"]
    assert Analyzer(stem=False).terms("Running Databases") == ["running", "databases"]


def test_segment_round_trip(tmp_path: Path) -> None:
    writer = SegmentWriter()
    writer.add(ChunkTerms(0, ["pg"], [], ["pg", "backup", "pg"]))
    writer.add(ChunkTerms(1, [], ["backup"], ["restore"]))
    writer.add(ChunkTerms(5, ["x"] * 300, [], []))  # counts cap at 255
    assert writer.write(tmp_path / "s") == 5  # postings: (pg,0) (backup,0) (backup,1) (restore,1) (x,5)
    seg = Segment(tmp_path / "s")
    slots, tf = seg.postings_of("pg") or (None, None)
    assert slots.tolist() == [0] and tf.tolist() == [[1, 0, 2]]
    slots, tf = seg.postings_of("backup") or (None, None)
    assert slots.tolist() == [0, 1] and tf.tolist() == [[0, 0, 1], [0, 1, 0]]
    assert seg.postings_of("x")[1].tolist() == [[255, 0, 0]]  # type: ignore[index]
    assert seg.postings_of("nothing") is None
    assert writer.lengths == [4, 2, 300]


def test_bm25_is_the_formula_over_the_visible_statistics(tmp_path: Path) -> None:
    writer = SegmentWriter()
    bodies = [["pg", "backup"], ["pg"], ["other", "words", "here"], ["pg", "pg", "pg", "x"]]
    for slot, body in enumerate(bodies):
        writer.add(ChunkTerms(slot, ["pg"] if slot == 0 else [], [], body))
    writer.write(tmp_path / "s")
    lengths = np.asarray(writer.lengths, dtype=np.int32)
    index = KeywordIndex([Segment(tmp_path / "s")], lengths)
    visible = np.asarray([True, True, False, True])
    stats = VisibleStats(3, int(lengths[visible].sum()))
    slots, scores = index.search(["pg"], visible, stats, 10)
    assert slots.tolist() == [0, 3, 1]  # slot 2 is hidden; ties would go by slot
    avgdl = stats.total_length / 3
    w = idf(3, 3)  # pg is in all three visible chunks (the hidden one does not count)
    for slot, score in zip(slots, scores, strict=True):
        f = 2.0 * (slot == 0) + bodies[slot].count("pg")
        dl = lengths[slot]
        assert score == pytest.approx(w * f * (K1 + 1) / (f + K1 * (1 - B + B * dl / avgdl)))
    assert w == pytest.approx(math.log(1 + 0.5 / 3.5))
    # a candidate mask narrows the results, not the statistics
    narrow = np.asarray([False, True, False, True])
    slots2, scores2 = index.search(["pg"], visible, stats, 10, narrow)
    assert slots2.tolist() == [3, 1] and scores2.tolist() == scores[1:].tolist()
    body_only = index.search(["pg"], visible, stats, 10, weights=FieldWeights(0.0, 1.0, 1.0))
    assert body_only[0].tolist()[0] == 3  # without the title weight the thrice-pg chunk wins


def corpus() -> list:  # type: ignore[type-arg]
    return [
        make_doc("hb", "backups", "Postgres backups", "Backups run nightly and are kept for 35 days."),
        make_doc("hb", "k8s", "Kubernetes upgrades", "Node pools are upgraded one zone at a time."),
        make_doc("hb", "vpn", "VPN", "Connect with WireGuard; the gateway is vpn.example.", acl=STAFF),
        make_doc("hb", "pay", "Salary bands", "Band L4 pays between 71,000 and 84,000 a year.", acl=HR),
        make_doc("hb", "restore", "Restores", "Postgres restores use pg_restore; retention is 35 days."),
    ] + [
        make_doc("hb", f"note{i}", f"Team note {i}", f"Weekly note {i} on office plants and backups.")
        for i in range(20)
    ]


def pipeline_for(home: Path, embedder) -> IngestPipeline:  # type: ignore[no-untyped-def]
    store, snaps = Store(home), SnapshotStore(home)
    return IngestPipeline(store, snaps, embedder, VectorCache(home / "cache.sqlite", embedder.dim))


def everything(retriever: HybridRetriever) -> list[object]:
    out: list[object] = []
    for principal in CALLERS:
        for mode in MODES:
            for q in QUERIES:
                out.append([asdict(h) for h in retriever.search(q, principal, k=10, mode=mode)])
    return out


def retriever_of(pipeline: IngestPipeline, embedder) -> HybridRetriever:  # type: ignore[no-untyped-def]
    return HybridRetriever(pipeline.store, lambda: pipeline.snapshots.load_current(embedder), embedder)


def test_incremental_snapshots_equal_a_full_rebuild(tmp_path: Path, embedder) -> None:
    docs = corpus()
    inc = pipeline_for(tmp_path / "inc", embedder)
    connector = ListConnector("hb", docs)
    first = inc.run([(source_config("hb"), connector)])
    assert inc.last_build is not None and inc.last_build.full
    # edit one, delete one, add one, and tighten an ACL without touching text
    docs2 = [
        make_doc("hb", "backups", "Postgres backups", "Backups run nightly and are kept for 90 days now."),
        docs[1],
        docs[2],
        docs[3].model_copy(update={"acl": Acl(users=frozenset({"hana"}))}),
        make_doc("hb", "helm", "Helm charts", "Charts live in the platform repository; kubernetes only."),
        *docs[5:],
    ]
    connector.docs = docs2
    second = inc.run([(source_config("hb"), connector)])
    assert second.snapshot != first.snapshot
    assert inc.last_build is not None and not inc.last_build.full
    snap = inc.snapshots.load_current(embedder)
    assert snap is not None and snap.live_chunks == inc.store.counts()["chunks"]
    assert len(snap.manifest.segments) == 2  # the first segment is shared, one added
    first_seg = Path(inc.snapshots.root / str(first.snapshot) / "keyword" / snap.manifest.segments[0])
    shared = snap.path / "keyword" / snap.manifest.segments[0] / "slots.npy"
    assert os.stat(shared).st_ino == os.stat(first_seg / "slots.npy").st_ino  # hard-linked, not copied

    full = pipeline_for(tmp_path / "full", embedder)
    full.run([(source_config("hb"), ListConnector("hb", docs2))])
    a, b = everything(retriever_of(inc, embedder)), everything(retriever_of(full, embedder))
    # row ids differ between the two stores (deleted rows leave gaps); everything shown is the same
    assert a == b


def test_too_many_dead_slots_compact_into_a_full_build(tmp_path: Path, embedder) -> None:
    docs = corpus()
    p = pipeline_for(tmp_path, embedder)
    connector = ListConnector("hb", docs)
    p.run([(source_config("hb"), connector)])
    connector.docs = docs[:5]  # delete 20 of 25: most slots die
    p.run([(source_config("hb", prune_min_ratio=0.0), connector)])
    assert p.last_build is not None and p.last_build.full and "compaction" in p.last_build.reason
    snap = p.snapshots.load_current(embedder)
    assert snap is not None and len(snap.slot_rowid) == snap.live_chunks == p.store.counts()["chunks"]


def test_the_approximate_index_stays_inside_the_acl_and_finds_the_neighbours(
    tmp_path: Path, embedder
) -> None:
    texts = [
        f"Note {i} about {topic}"
        for i in range(40)
        for topic in ("postgres backups", "kubernetes pools", "salary bands")
    ]
    docs = [
        make_doc("n", f"d{i}", t, t + ". " + t, acl=[Acl(public=True), STAFF, HR][i % 3])
        for i, t in enumerate(texts)
    ]
    home = tmp_path / "ivf"
    store, snaps = Store(home), SnapshotStore(home)
    pipeline = IngestPipeline(store, snaps, embedder, VectorCache(home / "c.sqlite", embedder.dim))
    pipeline.run([(source_config("n"), ListConnector("n", docs))])
    builder = SnapshotBuilder(store, snaps, embedder, params=VectorParams(ann_threshold=50, nprobe=64))
    name = builder.build(store.generation() + 1)
    snap = snaps.load(name, embedder)
    assert snap.manifest.index_type.startswith("IVF")
    retriever = HybridRetriever(store, lambda: snap, embedder)
    hidden = {d.doc_id for d in docs if not d.acl.public}
    for q in ("postgres backups", "salary bands", "kubernetes"):
        vector = embedder.embed_query(q)
        got = retriever.dense_chunks(vector, Principal.anonymous(), Filters(), 10)
        anonymous = Principal.anonymous()
        ids = {
            h.doc_id
            for h in retriever.hits(retriever.dense_leg(vector, anonymous, Filters(), 10), q, anonymous)
        }
        assert ids and not ids & hidden
        assert len(got) == 10
        # every score is the exact cosine (re-scored from the stored vectors), best first
        exact = store.vectors([c.rowid for c in got], embedder.dim) @ vector
        assert [c.score for c in got] == pytest.approx(exact.tolist(), abs=1e-5)
        assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
    # an incremental build grows the IVF snapshot, whose served copy is memory-mapped (FAISS can neither
    # clone nor grow that): one document rewritten, one deleted, both seen at once by the new snapshot
    text = "Zebra migration routes cross the savanna every dry season."
    fresh = make_doc("n", "d0", "zebra migration", text, acl=Acl(public=True))
    with store.transaction() as db:
        internal = store.upsert_document(db, fresh, "h-zebra")
        removed, added = store.replace_chunks(
            db, internal, [ChunkRow("n:d0#0", 0, "", None, text, embedder.embed_passages([text])[0])]
        )
        removed += store.delete_document(db, "n:d3")
    grown = snaps.load(builder.build(store.generation() + 2, snap, removed, added), embedder)
    assert grown.manifest.index_type.startswith("IVF") and builder.last is not None and not builder.last.full
    grown_retriever = HybridRetriever(store, lambda: grown, embedder)
    for mode in ("dense", "bm25"):
        found = [
            h.doc_id
            for h in grown_retriever.search("zebra migration savanna", Principal.anonymous(), mode=mode)
        ]
        assert found[0] == "n:d0" and "n:d3" not in found
