"""Passages: the chunks of the best-ranked documents, with their text, metadata and stored vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.acl import Principal, visible_sql
from index.retrieval.hybrid import DocResult
from index.retrieval.resolve import visible_documents
from index.retrieval.text import overlap_length
from index.store.documents import Store


@dataclass(frozen=True)
class Passage:
    """One chunk as evidence: where it comes from, its text, and how it relates to the question."""

    rowid: int
    doc: int
    doc_rank: int  # 0 for the best-ranked document
    doc_id: str
    chunk_id: str
    n: int
    title: str
    url: str | None
    source: str
    kind: str
    heading: str
    page: int | None
    text: str
    similarity: float  # cosine of the question to the chunk's stored vector
    context: str  # the chunk's section with neighbouring chunks merged (overlaps removed)
    start: int  # where the chunk's text sits in `context`
    end: int
    run: int  # row id of the first chunk of `context`: passages with the same run share it


MIN_OVERLAP = 12
MAX_OVERLAP = 600


def merge_runs(
    chunks: Sequence[tuple[int, int, str, int | None, str]],
) -> dict[int, tuple[int, str, int, int]]:
    """Consecutive chunks of one section (same heading and page) merged into one text.

    `chunks` are (row id, document, heading, page, text) in document order; returns row id -> (run id, run text,
    start, end), so a sentence the chunker cut in two can be read whole.
    """
    out: dict[int, tuple[int, str, int, int]] = {}
    run: list[tuple[int, int, int]] = []
    merged = ""
    key: tuple[int, str, int | None] | None = None
    run_id = 0

    def close() -> None:
        for rowid, start, end in run:
            out[rowid] = (run_id, merged, start, end)

    for rowid, doc, heading, page, text in chunks:
        if (doc, heading, page) != key or not run:
            if run:
                close()
            run, merged, key, run_id = [], "", (doc, heading, page), rowid
        if not merged:
            run.append((rowid, 0, len(text)))
            merged = text
            continue
        k = overlap_length(merged, text, MAX_OVERLAP, MIN_OVERLAP)
        sep = "" if k else "\n"
        start = len(merged) + len(sep) - k
        merged = merged + sep + text[k:]
        run.append((rowid, start, start + len(text)))
    if run:
        close()
    return out


def _chunks_of(
    store: Store, principal: Principal, docs: Sequence[int]
) -> list[tuple[int, int, str, int, str, int | None, str, bytes]]:
    """The chunks of `docs` that `principal` may see, read with the ACL check (`index.retrieval.resolve`)."""
    if not docs:
        return []
    acl, params = visible_sql(principal, by_row=True)  # a few documents: each row's own ACL
    marks = ",".join("?" * len(docs))
    rows = store.db.execute(
        "SELECT c.id, c.doc, c.chunk_id, c.n, c.heading, c.page, c.text, c.vector FROM chunks c "
        f"JOIN documents d ON d.id = c.doc WHERE c.doc IN ({marks}) AND {acl} ORDER BY c.doc, c.n, c.id",
        [*docs, *params],
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def load_passages(
    store: Store,
    principal: Principal,
    ranked: Sequence[DocResult],
    question_vector: np.ndarray,
    max_docs: int,
    max_passages: int,
    chunks_per_doc: int = 3,
) -> list[Passage]:
    """The chunks of the first `max_docs` documents most similar to the question, best first.

    Each document contributes the chunk retrieval chose for it plus its `chunks_per_doc` most similar
    chunks (a fact often sits in a chunk other than the one that won the ranking). Similarity uses the
    vectors stored with the chunks, so nothing is embedded here. Ties broken by document rank, then row id.
    """
    top = list(ranked[:max_docs])
    if not top or max_passages <= 0:
        return []
    doc_rank = {r.doc: i for i, r in enumerate(top)}
    chosen = {r.chunk for r in top}
    docs = visible_documents(store, principal, list(doc_rank))
    rows = _chunks_of(store, principal, list(doc_rank))
    q = np.asarray(question_vector, dtype=np.float32)
    runs = merge_runs([(r[0], r[1], r[4], r[5], r[6]) for r in rows])
    candidates: dict[int, list[Passage]] = {}
    for rowid, doc, chunk_id, n, heading, page, text, blob in rows:
        meta = docs.get(doc)
        if meta is None:  # deleted, or no longer visible to the asker, since ranking
            continue
        vector = np.frombuffer(blob, dtype=np.float32)
        similarity = float(vector @ q) if vector.shape == q.shape else 0.0
        candidates.setdefault(doc, []).append(
            Passage(
                rowid=rowid,
                doc=doc,
                doc_rank=doc_rank[doc],
                doc_id=meta.doc_id,
                chunk_id=chunk_id,
                n=n,
                title=meta.title,
                url=meta.url,
                source=meta.source,
                kind=meta.kind,
                heading=heading,
                page=page,
                text=text,
                similarity=similarity,
                context=runs[rowid][1],
                start=runs[rowid][2],
                end=runs[rowid][3],
                run=runs[rowid][0],
            )
        )
    # Every document keeps the chunk retrieval chose for it; the other slots go to the most similar chunks.
    firsts: list[Passage] = []
    others: list[Passage] = []
    for doc in sorted(candidates, key=lambda d: doc_rank[d]):
        by_similarity = sorted(candidates[doc], key=lambda p: (-p.similarity, p.rowid))
        own = [p for p in by_similarity if p.rowid in chosen]
        rest = [p for p in by_similarity if p.rowid not in chosen]
        firsts.extend(own[:1])
        others.extend(own[1:] + rest[: max(0, chunks_per_doc - len(own))])
    others.sort(key=lambda p: (-p.similarity, p.doc_rank, p.rowid))
    picked = firsts[:max_passages] + others[: max(0, max_passages - len(firsts))]
    picked.sort(key=lambda p: (-p.similarity, p.doc_rank, p.rowid))
    return picked
