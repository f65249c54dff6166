"""Search at a company's scale: a million-chunk index built from SciFact, and what it costs.

    python -m eval.load.scale [--work DIR] [--chunks 1000000] [--no-server]
    python -m eval.load.scale --measure HOME     # only the search timings, on any built index

How the index is built, without embedding a million texts: SciFact is ingested once through the real
pipeline (the eval index: 5,183 abstracts, ~10k chunks with their all-MiniLM-L6-v2 vectors). Each
synthetic chunk joins the texts of two real chunks drawn at random (seeded) and takes the normalised
sum of their two vectors, so every synthetic chunk is distinct in text and vector while its words and
neighbourhoods stay real. Ten chunks make a document; documents take one of ten ACLs in turn (public,
staff, team-00 ... team-07), and the caller measured here (staff and team-02) may see three tenths.
The chunks go straight into the store (the pipeline's embedding is what is being skipped); the
snapshot is then built by the product's own builder, so the full build time is the product's.

It prints: the full build (keyword segments, IVF-SQ8 training and adding, and the snapshot's copy of the
store), a reindex that changes 1% of the documents (new chunks and deleted ones: an incremental build,
with its copy of the store), one hybrid search in process
(p50, p99), the ANN's recall@10 against exact search over the same visible vectors, and, unless
--no-server, `whoknows serve` under wrk with 8 connections and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

from connectors.base import Acl, Section, SourceDocument
from eval.load.driver import LoadPlan, drive
from eval.load.indexes import REPO, SCIFACT
from eval.load.server import Server
from eval.retrieval.beir import load_queries
from eval.retrieval.run import dataset_engine, ingest_dataset, percentile
from index.acl import Principal
from index.retrieval.hybrid import HybridRetriever
from index.snapshot.build import SnapshotBuilder
from index.snapshot.snapshot import Filters
from index.store.documents import ChunkRow, Store
from service.engine import Engine
from service.settings import Settings

CHUNKS_PER_DOC = 10
ACLS = [Acl(public=True), Acl(groups=frozenset({"staff"}))] + [
    Acl(groups=frozenset({f"team-{n:02d}"})) for n in range(8)
]
CALLER = Principal.of("loadtest", ["staff", "team-02"])
CALLER_HEADERS = {"X-Forwarded-User": "loadtest", "X-Forwarded-Groups": "staff,team-02"}
CHANGE_SHARE = 0.01
TIE_TOLERANCE = 1e-6
CONCURRENT_THREADS = 8  # as many as the load test's connections
CONCURRENT_S = 8  # float32 inner products of equal vectors may differ in the last bits
DEFAULT_WORK = REPO / ".whoknows-bench"


@dataclass
class Base:
    """The real chunks the synthetic ones are made of."""

    titles: list[str]
    texts: list[str]
    vectors: np.ndarray


def base_chunks(settings: Settings) -> Base:
    engine = dataset_engine(settings, SCIFACT)
    report = ingest_dataset(engine, SCIFACT)
    print(
        f"scifact base index: {engine.store.counts()['chunks']} chunks ({report.duration_s:.0f} s)",
        flush=True,
    )
    titles, texts, blobs = [], [], []
    for batch in engine.store.chunk_rows():
        for _, _, title, _, text, vector in batch:
            titles.append(title)
            texts.append(text)
            blobs.append(vector)
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(texts), -1)
    return Base(titles, texts, vectors)


def synthetic_rows(base: Base, rng: np.random.Generator, n: int) -> tuple[list[str], list[ChunkRow]]:
    """`n` chunks, each two real chunks joined; their titles (from the first chunk of each pair)."""
    pairs = rng.integers(0, len(base.texts), size=(n, 2))
    vectors = base.vectors[pairs[:, 0]] + base.vectors[pairs[:, 1]]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [
        ChunkRow(f"c{i}", i % CHUNKS_PER_DOC, "", None, f"{base.texts[a]}\n\n{base.texts[b]}", vectors[i])
        for i, (a, b) in enumerate(pairs)
    ]
    return [base.titles[a] for a, _ in pairs], rows


def doc_of(n: int, title: str, round_: int = 0) -> SourceDocument:
    return SourceDocument(
        doc_id=f"scale:{n}",
        source=f"scale-{n % len(ACLS)}",
        kind="abstract",
        title=title,
        sections=[Section(text=title or "synthetic")],
        version=f"{n}-{round_}",
        acl=ACLS[n % len(ACLS)],
    )


def fill_store(store: Store, base: Base, chunks: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    docs = chunks // CHUNKS_PER_DOC
    started = time.perf_counter()
    step = 2_000
    for first in range(0, docs, step):
        last = min(docs, first + step)
        titles, rows = synthetic_rows(base, rng, (last - first) * CHUNKS_PER_DOC)
        with store.transaction() as db:
            for d in range(first, last):
                part = rows[(d - first) * CHUNKS_PER_DOC : (d - first + 1) * CHUNKS_PER_DOC]
                part = [ChunkRow(f"scale:{d}#{r.n}", r.n, "", None, r.text, r.vector) for r in part]
                internal = store.upsert_document(db, doc_of(d, titles[(d - first) * CHUNKS_PER_DOC]), f"h{d}")
                store.replace_chunks(db, internal, part)
            store.bump_generation()
        if (first // step) % 25 == 0:
            print(
                f"  stored {last * CHUNKS_PER_DOC:,} chunks ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


def change_documents(store: Store, base: Base, share: float, round_: int) -> tuple[list[int], list[int]]:
    """Re-write `share` of the documents with new chunks; returns (removed, added) chunk row ids."""
    rng = np.random.default_rng(1000 + round_)
    docs = store.counts()["documents"]
    chosen = sorted(rng.choice(docs, size=max(1, int(docs * share)), replace=False).tolist())
    titles, rows = synthetic_rows(base, rng, len(chosen) * CHUNKS_PER_DOC)
    removed: list[int] = []
    added: list[int] = []
    with store.transaction() as db:
        for i, d in enumerate(chosen):
            part = rows[i * CHUNKS_PER_DOC : (i + 1) * CHUNKS_PER_DOC]
            part = [ChunkRow(f"scale:{d}#{r.n}", r.n, "", None, r.text, r.vector) for r in part]
            internal = store.upsert_document(
                db, doc_of(d, titles[i * CHUNKS_PER_DOC], round_), f"h{d}-{round_}"
            )
            gone, new = store.replace_chunks(db, internal, part)
            removed += gone
            added += new
        store.bump_generation()
    return removed, added


def build_index(home: Path, base: Base, chunks: int, engine: Engine) -> dict[str, float]:
    """The synthetic store and its first snapshot (reused when already built at this size)."""
    marker = home / "built.json"
    if marker.exists() and json.loads(marker.read_text()).get("chunks") == chunks:
        print(f"reusing {home}", flush=True)
        return dict(json.loads(marker.read_text()))
    store = engine.store
    t = time.perf_counter()
    fill_store(store, base, chunks)
    stored_s = time.perf_counter() - t
    builder = SnapshotBuilder(store, engine.snapshots, engine.embedder)
    t = time.perf_counter()
    name = builder.build(store.generation())
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    engine.snapshots.attach_store(name, store)
    copy_s = time.perf_counter() - t
    full_s = build_s + copy_s
    engine.snapshots.load(name, engine.embedder)
    engine.snapshots.publish(name)
    phases = builder.last.phases if builder.last else {}
    facts = {"chunks": chunks, "store_s": stored_s, "full_build_s": full_s, "store_copy_s": copy_s, **phases}
    marker.write_text(json.dumps(facts))
    print(
        f"full build: {full_s:.1f} s (index {build_s:.1f} s: {phases}; the store copy {copy_s:.1f} s); "
        f"store filled in {stored_s:.0f} s",
        flush=True,
    )
    return facts


def incremental(engine: Engine, base: Base, round_: int) -> tuple[float, int]:
    store, snapshots = engine.store, engine.snapshots
    live = snapshots.load_current(engine.embedder)
    assert live is not None
    removed, added = change_documents(store, base, CHANGE_SHARE, round_)
    builder = SnapshotBuilder(store, snapshots, engine.embedder)
    t = time.perf_counter()
    name = builder.build(store.generation(), live, removed, added)
    snapshots.attach_store(name, store)
    build_s = time.perf_counter() - t
    snapshots.load(name, engine.embedder)
    snapshots.publish(name)
    return build_s, len(added)


def latencies(retriever: HybridRetriever, queries: Sequence[str], mode: str) -> dict[str, float]:
    retriever.search(queries[0], CALLER, k=10, mode=mode)
    seconds = []
    for q in queries:
        t = time.perf_counter()
        retriever.search(q, CALLER, k=10, mode=mode)
        seconds.append(time.perf_counter() - t)
    return {"p50": percentile(seconds, 50) * 1000, "p99": percentile(seconds, 99) * 1000}


def ann_recall(engine: Engine, queries: Sequence[str], k: int = 10) -> float:
    """recall@k of the dense leg (IVF-SQ8 with exact re-scoring) against exact search over the caller's
    visible vectors (all of them read from the store). Tie-aware: a result counts when its exact score
    reaches the k-th best, since among equal vectors (copies of one text) any k are the exact top k."""
    snap = engine.snapshot()
    assert snap is not None
    view = snap.view(CALLER)
    slots = np.flatnonzero(view.candidate_mask)
    vectors = engine.store.vectors(snap.rowids(slots).tolist(), snap.manifest.dim)
    hits = 0
    rowids = snap.rowids(slots)  # ascending, as slots are
    for q in queries:
        v = engine.embedder.embed_query(q)
        exact_scores = vectors @ v
        kth = float(np.partition(exact_scores, len(exact_scores) - k)[len(exact_scores) - k])
        got = np.asarray(
            [c.rowid for c in engine.retriever.dense_chunks(v, CALLER, Filters(), k)], dtype=np.int64
        )
        hits += int(np.count_nonzero(exact_scores[np.searchsorted(rowids, got)] >= kth - TIE_TOLERANCE))
    return hits / (k * len(queries))


def measure(engine: Engine, queries: Sequence[str]) -> None:
    """One search at a time in process, per mode (each query is new to the process in the first run, so
    its embedding is included there), and the dense leg's recall@10 against exact search."""
    snap = engine.snapshot()
    if snap is None:
        raise SystemExit("no snapshot to measure")
    print(f"snapshot {snap.name}: {snap.manifest.index_type}, {snap.live_chunks:,} live chunks", flush=True)
    for mode, label in (
        ("hybrid", "hybrid (each query new: embedding and first reads of the index included)"),
        ("bm25", "bm25"),
        ("dense", "dense"),
        ("hybrid", "hybrid (the same queries again: index warm, embeddings from the query cache)"),
    ):
        lat = latencies(engine.retriever, queries, mode)
        print(
            f"one {label} search in process, {len(queries)} queries: "
            f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms",
            flush=True,
        )
    for threads in (1, CONCURRENT_THREADS):
        print(
            f"hybrid searches in process, {threads} thread(s) at once for {CONCURRENT_S} s: "
            f"{concurrent_rate(engine.retriever, queries, threads):.1f} searches/s",
            flush=True,
        )
    print(
        f"ANN recall@10 against exact search (caller's visible vectors): {ann_recall(engine, queries[:200]):.3f}",
        flush=True,
    )


def concurrent_rate(retriever: HybridRetriever, queries: Sequence[str], threads: int) -> float:
    """Searches per second with `threads` threads searching back to back (as a server's request
    threads do): what one process gets out of the machine's cores."""
    done = [0] * threads
    stop_at = time.perf_counter() + CONCURRENT_S

    def work(n: int) -> None:
        i = n
        while time.perf_counter() < stop_at:
            retriever.search(queries[i % len(queries)], CALLER, k=10)
            done[n] += 1
            i += threads

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / CONCURRENT_S


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve_under_load(
    home: Path, queries: Sequence[str], duration_s: int, connections: int
) -> tuple[str, float]:
    server = Server(home)
    try:
        server.wait_ready()
        paths = [f"/search?k=10&q={quote(q)}" for q in queries]
        plan = LoadPlan(server.url, paths, CALLER_HEADERS, duration_s, connections)
        drive(LoadPlan(server.url, paths, CALLER_HEADERS, min(5, duration_s), connections))  # warm
        result = drive(plan)
        return result.line(f"{connections} connections, /search"), peak_rss_mb(server.proc.pid)
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.load.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk load")
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--base-home", type=Path, default=None, help="home holding the scifact eval index")
    parser.add_argument(
        "--measure", type=Path, default=None, metavar="HOME", help="only time searches on an existing index"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    queries = list(load_queries(SCIFACT / "queries.jsonl").values())[:300]
    if args.measure is not None:
        measure(Engine(Settings(home=args.measure)), queries)
        return 0
    # the scifact eval index of `make eval` (the default home), built here when missing
    settings = Settings() if args.base_home is None else Settings(home=args.base_home)
    base = base_chunks(settings)
    home = args.work / f"scale-{args.chunks}"
    engine = Engine(Settings(home=home))
    facts = build_index(home, base, args.chunks, engine)
    inc_s, inc_chunks = incremental(engine, base, int(time.time()))
    print(
        f"1% change ({inc_chunks:,} chunks new, as many dead): incremental build {inc_s:.1f} s = "
        f"{inc_s / facts['full_build_s']:.1%} of the full build ({facts['full_build_s']:.0f} s)",
        flush=True,
    )
    measure(engine, queries)
    if not args.no_server:
        os.environ.setdefault("WHOKNOWS_EMBED_BACKEND", settings.embed_backend)
        line, rss = serve_under_load(home, queries, args.duration, 8)
        print(f"{line}\nserver peak RSS: {rss:.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
