"""Keyword engines side by side on the same chunks: the FTS5 `bm25()` WhoKnows used before, Tantivy (PyPI
`tantivy`), bm25s (scipy-sparse BM25) and WhoKnows' own segments (index/keyword/).

    python -m eval.retrieval.engines --home H        # H: a home whose scifact eval index exists

Each engine indexes the chunks of an ingested home (title weighted 2 over heading and body, Porter
stems) and ranks documents by their best chunk. On scifact test it reports nDCG@10 and Recall@100;
on the >=100k-chunk load index (`python -m eval.load`'s synthetic home) the per-query latency for a
caller who may see a third of it. The engines differ in one thing the product needs: only WhoKnows'
segments compute BM25's statistics over what the caller may see; Tantivy's and bm25s' come from the
whole index (their ACL is a filter after scoring), which leaks how often words occur in hidden
documents. That, not speed, is why the product keeps its own segments.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import Run, evaluate_run
from eval.retrieval.beir import corpus_id_of, load_beir
from eval.retrieval.run import dataset_home, percentile
from index.acl import Principal
from index.keyword.analyzer import Analyzer
from index.retrieval.hybrid import CHUNKS_PER_DOCUMENT
from index.retrieval.text import fts_match, query_terms
from index.snapshot.snapshot import Snapshot
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from service.settings import load_settings

DATA_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
POOL = 100  # documents per query, as the product's keyword leg
LOAD_PRINCIPAL = Principal.of("loadtest", ["staff", "team-02"])

# chunk slot order -> (rowid, doc external id, partition, title, heading, text)
Chunk = tuple[int, str, int, str, str, str]
Search = Callable[[str], list[tuple[int, float]]]  # query -> (chunk position, score), best first


@dataclass
class EngineResult:
    engine: str
    build_s: float
    metrics: dict[str, float]
    latency_ms: dict[str, float]


def read_chunks(home: Path) -> tuple[list[Chunk], Snapshot, np.ndarray]:
    """The home's live chunks in slot order, its snapshot, and each chunk's visibility for LOAD_PRINCIPAL."""
    snap = SnapshotStore(home).load_current()
    if snap is None:
        raise SystemExit(f"no snapshot in {home}")
    store = Store(home, readonly=True)
    live = np.flatnonzero(snap.slot_live)
    text = {
        r[0]: r[1:]
        for batch in store.chunk_rows(snap.slot_rowid[live].tolist())
        for r in ((row[0], row[2], row[3], row[4]) for row in batch)
    }
    doc_ids = {int(r[0]): str(r[1]) for r in store.db.execute("SELECT id, doc_id FROM documents")}
    chunks = [
        (
            int(snap.slot_rowid[s]),
            doc_ids[int(snap.slot_docid[s])],
            int(snap.doc_partition[snap.slot_doc[s]]),
            *text[int(snap.slot_rowid[s])],
        )
        for s in live
    ]
    view = snap.view(LOAD_PRINCIPAL)
    return chunks, snap, np.asarray(view.stat_mask[live])


def fts5_engine(chunks: Sequence[Chunk], folder: Path, visible: np.ndarray) -> Search:
    """The engine before: an FTS5 table, porter stems, bm25() with the title weighted 2."""
    db = sqlite3.connect(folder / "fts5.sqlite", check_same_thread=False)
    db.execute(
        "CREATE VIRTUAL TABLE f USING fts5(title, heading, body, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.execute("CREATE TABLE v (pos INTEGER PRIMARY KEY, visible INTEGER)")
    db.executemany(
        "INSERT INTO f(rowid, title, heading, body) VALUES (?,?,?,?)",
        ((i, c[3], c[4], c[5]) for i, c in enumerate(chunks)),
    )
    db.executemany("INSERT INTO v VALUES (?, ?)", ((i, int(x)) for i, x in enumerate(visible)))
    db.commit()

    def search(query: str) -> list[tuple[int, float]]:
        match = fts_match(query_terms(query))
        if match is None:
            return []
        rows = db.execute(
            "SELECT f.rowid, -bm25(f, 2.0, 1.0, 1.0) FROM f JOIN v ON v.pos = f.rowid "
            "WHERE f MATCH ? AND v.visible = 1 ORDER BY bm25(f, 2.0, 1.0, 1.0), f.rowid LIMIT ?",
            (match, POOL * CHUNKS_PER_DOCUMENT),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    return search


def tantivy_engine(chunks: Sequence[Chunk], folder: Path, visible: np.ndarray) -> Search:
    import tantivy

    builder = tantivy.SchemaBuilder()
    for name in ("title", "heading", "body"):
        builder.add_text_field(name, tokenizer_name="en_stem", index_option="freq")
    builder.add_integer_field("pos", stored=True, indexed=False, fast=True)
    builder.add_integer_field("visible", indexed=True, fast=True)
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(heap_size=256_000_000, num_threads=1)
    for i, c in enumerate(chunks):
        writer.add_document(
            tantivy.Document(title=c[3], heading=c[4], body=c[5], pos=i, visible=int(visible[i]))
        )
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    allowed = tantivy.Query.term_query(schema, "visible", 1)

    def search(query: str) -> list[tuple[int, float]]:
        words = query_terms(query)  # words only: nothing the query parser could read as syntax
        if not words:
            return []
        text = index.parse_query(" ".join(words), ["title", "heading", "body"], field_boosts={"title": 2.0})
        both = tantivy.Query.boolean_query([(tantivy.Occur.Must, text), (tantivy.Occur.Must, allowed)])
        hits = searcher.search(both, POOL * CHUNKS_PER_DOCUMENT, count=False).hits
        return [(int(searcher.doc(a)["pos"][0]), float(s)) for s, a in hits]

    return search


def bm25s_engine(chunks: Sequence[Chunk], folder: Path, visible: np.ndarray) -> Search:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("porter")
    texts = [f"{c[3]} {c[3]} {c[4]} {c[5]}" for c in chunks]  # the title twice: its weight of 2
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index(
        bm25s.tokenize(texts, stopwords=None, stemmer=stemmer, show_progress=False), show_progress=False
    )
    mask = visible.astype(np.float32)

    def search(query: str) -> list[tuple[int, float]]:
        words = query_terms(query)
        if not words:
            return []
        tokens = bm25s.tokenize([" ".join(words)], stopwords=None, stemmer=stemmer, show_progress=False)
        k = min(POOL * CHUNKS_PER_DOCUMENT, len(texts))
        ids, scores = retriever.retrieve(tokens, k=k, show_progress=False, weight_mask=mask)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]

    return search


def segments_engine(snap: Snapshot, live_slots: np.ndarray) -> Search:
    """The product's engine, as the keyword leg calls it (statistics over the caller's view)."""
    analyzer = Analyzer()
    position = {int(s): i for i, s in enumerate(live_slots)}

    def search(query: str) -> list[tuple[int, float]]:
        view = snap.view(LOAD_PRINCIPAL)
        terms = analyzer.query_terms(query_terms(query))
        slots, scores = snap.keyword.search(terms, view.stat_mask, view.stats, POOL * CHUNKS_PER_DOCUMENT)
        return [(position[int(s)], float(x)) for s, x in zip(slots, scores, strict=True)]

    return search


def best_per_document(hits: list[tuple[int, float]], chunks: Sequence[Chunk]) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for pos, score in hits:
        doc = chunks[pos][1]
        best[doc] = max(score, best.get(doc, float("-inf")))
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:POOL]


def measure(
    name: str, make: Callable[[], Search], chunks: Sequence[Chunk], queries: dict[str, str]
) -> tuple[EngineResult, Run]:
    started = time.perf_counter()
    search = make()
    build_s = time.perf_counter() - started
    search(next(iter(queries.values())))
    run: Run = {}
    seconds = []
    for qid, text in queries.items():
        t = time.perf_counter()
        hits = search(text)
        seconds.append(time.perf_counter() - t)
        run[qid] = [(corpus_id_of(d), s) for d, s in best_per_document(hits, chunks)]
    latency = {"p50": percentile(seconds, 50) * 1000, "p95": percentile(seconds, 95) * 1000}
    return EngineResult(name, build_s, {}, latency), run


def compare(
    home: Path, queries: dict[str, str], qrels: dict[str, dict[str, int]] | None
) -> list[EngineResult]:
    chunks, snap, visible = read_chunks(home)
    if qrels is not None:  # quality: the corpus is public, everyone sees everything
        visible = np.ones(len(chunks), dtype=bool)
    live_slots = np.flatnonzero(snap.slot_live)
    out = []
    with tempfile.TemporaryDirectory(prefix="engines-") as tmp:
        makers: dict[str, Callable[[], Search]] = {
            "FTS5 bm25() (before)": lambda: fts5_engine(chunks, Path(tmp), visible),
            "tantivy": lambda: tantivy_engine(chunks, Path(tmp) / "tantivy", visible),
            "bm25s": lambda: bm25s_engine(chunks, Path(tmp), visible),
            "WhoKnows segments": lambda: segments_engine(snap, live_slots),
        }
        (Path(tmp) / "tantivy").mkdir()
        for name, make in makers.items():
            result, run = measure(name, make, chunks, queries)
            if qrels is not None:
                result.metrics = evaluate_run(qrels, run)
            out.append(result)
    return out


def _build(r: EngineResult) -> str:
    return "with the snapshot" if r.engine == "WhoKnows segments" else f"{r.build_s:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.retrieval.engines", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--home", type=Path, default=None, help="WhoKnows home with the scifact eval index")
    parser.add_argument("--load-home", type=Path, default=None, help="the >=100k-chunk load index home")
    parser.add_argument("--data", type=Path, default=DATA_ROOT)
    args = parser.parse_args(argv)
    settings = load_settings(args.home)
    scifact = (args.data / "scifact_beir").resolve()
    dataset = load_beir(scifact, "test")
    print(f"## scifact test ({len(dataset.queries)} queries), bm25 mode: documents by their best chunk")
    print("| engine | nDCG@10 | Recall@100 | p50 ms | p95 ms | build s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in compare(dataset_home(settings.home, scifact), dataset.queries, dataset.qrels):
        m = r.metrics
        print(
            f"| {r.engine} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {r.latency_ms['p50']:.1f} | {r.latency_ms['p95']:.1f} | {_build(r)} |"
        )
    if args.load_home is not None:
        queries = dict(list(dataset.queries.items())[:200])
        chunks = Store(args.load_home, readonly=True).counts()["chunks"]
        print(
            f"\n## load index ({chunks} chunks), {len(queries)} scifact queries as {sorted(LOAD_PRINCIPAL.groups)}"
        )
        print("| engine | p50 ms | p95 ms | build s |")
        print("| --- | --- | --- | --- |")
        for r in compare(args.load_home, queries, None):
            print(f"| {r.engine} | {r.latency_ms['p50']:.1f} | {r.latency_ms['p95']:.1f} | {_build(r)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
