"""Retrieval: keyword (BM25 over the snapshot's inverted index) and dense (FAISS) legs, both inside the
caller's ACL, fused per document."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

from index.acl import Principal
from index.keyword.analyzer import Analyzer
from index.keyword.index import FieldWeights
from index.retrieval.fusion import DocResult, Leg, fuse_convex, fuse_rrf
from index.retrieval.resolve import resolve_ranked
from index.retrieval.text import make_snippet, query_terms
from index.snapshot.snapshot import Filters, Snapshot
from index.store.documents import Store
from index.vectors.embedder import Embedder
from index.vectors.faiss_index import RESCORE_MIN
from index.vectors.faiss_index import search as faiss_search

MODES = ("bm25", "dense", "hybrid")
# A leg asks for this many chunks per document it must return: one document's chunks collapse into
# one result, so fetching chunks 1:1 would leave the document pool short.
CHUNKS_PER_DOCUMENT = 4
# Searches (ranking and reading back their hits) at once per process, one per core; the others wait.
# Their numpy and FAISS calls release Python's lock only in stretches, so more at once take turns at it
# and get slower: 8 threads searching the 103k-chunk load index did 40 searches/s unbounded, 82/s two
# at a time.
RANKING_CONCURRENCY = max(1, os.cpu_count() or 1)


FUSIONS = ("rrf", "zscore", "minmax")


@dataclass(frozen=True)
class RetrievalSettings:
    """Knobs of the ranker; eval/RESULTS.md records what each gave (`python -m eval.levers`)."""

    depth: int = 100  # documents taken from each leg before fusion (and normalised over)
    fusion: str = "zscore"  # one of FUSIONS: reciprocal rank, or a convex combination of z- or min-max scores
    keyword_weight: float = 0.5  # the keyword leg's share of the fusion; the dense leg gets the rest
    adaptive: bool = False  # scale each leg's share by its confidence on the query (convex fusions)
    rrf_k: int = 60
    chunk_sum_weight: float = 0.0  # a document scores its best chunk plus this share of its next two
    drop_stopwords: bool = True
    title_weight: float = 2.0
    heading_weight: float = 1.0
    body_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r} (one of {', '.join(FUSIONS)})")
        if not 0.0 <= self.keyword_weight <= 1.0:
            raise ValueError(f"keyword_weight must be within 0..1, got {self.keyword_weight}")


@dataclass(frozen=True)
class ChunkScore:
    rowid: int
    doc: int
    score: float


@dataclass
class SearchHit:
    """A search result as the API and CLI return it."""

    doc_id: str
    title: str
    url: str | None
    source: str
    kind: str
    snippet: str
    updated_at: str | None
    score: float
    chunk_id: str
    heading: str = ""
    page: int | None = None
    tags: list[str] = field(default_factory=list)


def best_per_doc(chunks: Sequence[ChunkScore], sum_weight: float = 0.0) -> list[DocResult]:
    """Document ranking by each document's best chunk (plus `sum_weight` times its next two best);
    the chunk shown is the best one; ties broken by document id."""
    by_doc: dict[int, list[ChunkScore]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc, []).append(c)
    results = []
    for doc, cs in by_doc.items():
        cs.sort(key=lambda c: (-c.score, c.rowid))
        score = cs[0].score + sum_weight * sum(c.score for c in cs[1:3]) if sum_weight else cs[0].score
        results.append(DocResult(doc, score, cs[0].rowid))
    results.sort(key=lambda r: (-r.score, r.doc))
    return results


class HybridRetriever:
    """The one retrieval path used by search, answers, experts and evaluation."""

    def __init__(
        self,
        store: Store | Callable[[], Store],
        snapshot: Callable[[], Snapshot | None],
        embedder: Embedder,
        settings: RetrievalSettings | None = None,
        analyzer: Analyzer | None = None,
    ):
        self._store = store
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()
        self.analyzer = analyzer or Analyzer()
        self._slots = threading.BoundedSemaphore(RANKING_CONCURRENCY)
        self._holding = threading.local()  # whether this thread holds a turn: a search ranks inside one

    @property
    def store(self) -> Store:
        """What documents, chunks and people are read from: the live snapshot's own copy of the store
        (so a request reads the version it ranked against, and a replica needs no home), else the
        store given (snapshots made before they carried a copy)."""
        snap = self.snapshot()
        if snap is not None and snap.store is not None:
            return snap.store
        return self._store if isinstance(self._store, Store) else self._store()

    # --- legs -----------------------------------------------------------------------------------

    def keyword_chunks(
        self, terms: list[str], principal: Principal, filters: Filters, limit: int
    ) -> list[ChunkScore]:
        """The `limit` best chunks by BM25 over what `principal` may see (statistics included)."""
        snap = self.snapshot()
        if snap is None:
            return []
        stems = self.analyzer.query_terms(terms)
        view = snap.view(principal, filters)
        if view.empty or not stems:
            return []
        s = self.settings
        weights = FieldWeights(s.title_weight, s.heading_weight, s.body_weight)
        slots, scores = snap.keyword.search(
            stems, view.stat_mask, view.stats, limit, view.candidate_mask, weights
        )
        return self._chunk_scores(snap, slots, scores)

    def dense_chunks(
        self, vector: np.ndarray, principal: Principal, filters: Filters, limit: int
    ) -> list[ChunkScore]:
        """The `limit` nearest chunks `principal` may see: the ACL is a selector inside the FAISS search."""
        snap = self.snapshot()
        if snap is None:
            return []
        view = snap.view(principal, filters)
        if view.empty:
            return []
        exact = not isinstance(snap.vectors, faiss.IndexIVF)
        fetch = limit if exact else max(limit, RESCORE_MIN)
        scores, slots = faiss_search(snap.vectors, vector, fetch, view.selector, snap.manifest.nprobe)
        if not exact and len(slots):
            # approximate candidates, exact scores: re-scored with the vectors the store keeps
            exact_vectors = self.store.vectors(snap.rowids(slots).tolist(), snap.manifest.dim)
            scores = exact_vectors @ np.asarray(vector, dtype=np.float32)
            order = np.lexsort((slots, -scores))[:limit]
            scores, slots = scores[order], slots[order]
        return self._chunk_scores(snap, slots, scores)

    @staticmethod
    def _chunk_scores(snap: Snapshot, slots: np.ndarray, scores: np.ndarray) -> list[ChunkScore]:
        rowids = snap.rowids(slots)
        docs = snap.docs_of(slots)
        return [ChunkScore(int(r), int(d), float(x)) for r, d, x in zip(rowids, docs, scores, strict=True)]

    # --- rankings -------------------------------------------------------------------------------

    def rank(
        self,
        query: str,
        principal: Principal,
        mode: str = "hybrid",
        filters: Filters | None = None,
        depth: int | None = None,
    ) -> list[DocResult]:
        """Documents for `query` that `principal` may see, best first."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r} (one of {', '.join(MODES)})")
        with self._slot():
            return self._rank(query, principal, mode, filters or Filters(), depth)

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the RANKING_CONCURRENCY turns, taken once per thread however deep the calls nest."""
        if getattr(self._holding, "held", False):
            yield
            return
        with self._slots:
            self._holding.held = True
            try:
                yield
            finally:
                self._holding.held = False

    def _rank(
        self, query: str, principal: Principal, mode: str, filters: Filters, depth: int | None
    ) -> list[DocResult]:
        depth = depth or self.settings.depth
        # Each leg contributes a fixed-size pool, so normalised scores (and the order of the top
        # results) do not change with how many results the caller asked for.
        pool = max(depth, self.settings.depth)
        keyword: list[DocResult] = []
        dense: list[DocResult] = []
        if mode in ("bm25", "hybrid"):
            keyword = self.keyword_leg(query, principal, filters, pool)
        if mode in ("dense", "hybrid") and query.strip():
            dense = self.dense_leg(self.embedder.embed_query(query), principal, filters, pool)
        if mode == "bm25":
            return keyword[:depth]
        if mode == "dense":
            return dense[:depth]
        return self.fuse(keyword, dense, pool)[:depth]

    def keyword_leg(self, query: str, principal: Principal, filters: Filters, pool: int) -> list[DocResult]:
        """The `pool` best documents by BM25 over chunks, each scored by its best chunk."""
        s = self.settings
        terms = query_terms(query, s.drop_stopwords)
        chunks = self.keyword_chunks(terms, principal, filters, pool * CHUNKS_PER_DOCUMENT)
        return best_per_doc(chunks, s.chunk_sum_weight)[:pool]

    def dense_leg(
        self, vector: np.ndarray, principal: Principal, filters: Filters, pool: int
    ) -> list[DocResult]:
        """The `pool` best documents by inner product with the query vector, each scored by its best chunk."""
        chunks = self.dense_chunks(vector, principal, filters, pool * CHUNKS_PER_DOCUMENT)
        return best_per_doc(chunks, self.settings.chunk_sum_weight)[:pool]

    def fuse(self, keyword: list[DocResult], dense: list[DocResult], pool: int) -> list[DocResult]:
        """The two legs as one ranking, by the configured fusion."""
        s = self.settings
        legs = [
            Leg(keyword, s.keyword_weight, pool, absent_score=0.0),  # BM25 gives non-matching documents 0
            Leg(dense, 1.0 - s.keyword_weight, pool),
        ]
        if s.fusion == "rrf":
            return fuse_rrf(legs, s.rrf_k)
        return fuse_convex(legs, s.fusion, s.adaptive)

    def search(
        self,
        query: str,
        principal: Principal,
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
    ) -> list[SearchHit]:
        with self._slot():  # ranking and reading back the hits in one turn
            ranked = self.rank(query, principal, mode, filters, depth=max(k, self.settings.depth))[:k]
            return self.hits(ranked, query, principal)

    def hits(self, ranked: Sequence[DocResult], query: str, principal: Principal) -> list[SearchHit]:
        """Decorate ranked documents with metadata and a highlighted snippet of their best chunk, read
        through the ACL check again (`resolve_ranked`): what changed since ranking is never shown."""
        terms = query_terms(query)
        return [
            SearchHit(
                doc_id=chunk.document.doc_id,
                title=chunk.document.title,
                url=chunk.document.url,
                source=chunk.document.source,
                kind=chunk.document.kind,
                snippet=make_snippet(chunk.text, terms),
                updated_at=chunk.document.updated_at,
                score=round(r.score, 6),
                chunk_id=chunk.chunk_id,
                heading=chunk.heading,
                page=chunk.page,
                tags=chunk.document.tags,
            )
            for r, chunk in resolve_ranked(self.store, principal, ranked)
        ]
