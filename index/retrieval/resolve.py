"""Ranked ids into what a caller is shown: the one place search, experts, answers and the LangChain
retriever read documents and chunks after ranking, each row read with the ACL check in the same query.

Ranking and reading are separate queries: a reindex that tightens a document's ACL can commit between
them. A row that fails the check here is dropped (as is one deleted meanwhile), never shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from index.acl import Principal, visible_sql
from index.retrieval.fusion import DocResult
from index.store.documents import DOC_COLUMNS, SQLITE_BATCH, Store, StoredDocument, _document

_DOC_COLUMNS = ", ".join(f"d.{c.strip()}" for c in DOC_COLUMNS.split(","))
_DOCUMENTS = f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.id"
_CHUNKS = (
    f"SELECT c.id, c.chunk_id, c.n, c.heading, c.page, c.text, {_DOC_COLUMNS} FROM chunks c "
    "JOIN documents d ON d.id = c.doc WHERE c.id"
)


@dataclass(frozen=True)
class ResolvedChunk:
    """A chunk the caller may see, with its document."""

    rowid: int
    document: StoredDocument
    chunk_id: str
    n: int
    heading: str
    page: int | None
    text: str


def _visible_rows(store: Store, principal: Principal, select: str, ids: Sequence[int]) -> Iterator[tuple]:  # type: ignore[type-arg]
    """Rows of `select` (a query over `documents d` ending in `WHERE <id column>`) for `ids`, in
    batches, each row passing the ACL check in the query that reads it."""
    acl, params = visible_sql(principal, by_row=True)  # a batch of ids: each row's own ACL
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), SQLITE_BATCH):
        batch = wanted[start : start + SQLITE_BATCH]
        marks = ",".join("?" * len(batch))
        yield from store.db.execute(f"{select} IN ({marks}) AND {acl}", [*batch, *params])


def visible_documents(store: Store, principal: Principal, ids: Sequence[int]) -> dict[int, StoredDocument]:
    """Internal document id -> document, for those of `ids` that `principal` may see now."""
    docs = (_document(row) for row in _visible_rows(store, principal, _DOCUMENTS, ids))
    return {doc.id: doc for doc in docs}


def visible_chunks(store: Store, principal: Principal, rowids: Sequence[int]) -> dict[int, ResolvedChunk]:
    """Chunk row id -> chunk and document, for those of `rowids` whose document `principal` may see now."""
    return {
        int(row[0]): ResolvedChunk(int(row[0]), _document(row[6:]), row[1], row[2], row[3], row[4], row[5])
        for row in _visible_rows(store, principal, _CHUNKS, rowids)
    }


def resolve_ranked(
    store: Store, principal: Principal, ranked: Sequence[DocResult]
) -> list[tuple[DocResult, ResolvedChunk]]:
    """Each ranked document with its chosen chunk, in rank order, leaving out what `principal` may no
    longer see (or what no longer exists)."""
    chunks = visible_chunks(store, principal, [r.chunk for r in ranked])
    out = []
    for r in ranked:
        chunk = chunks.get(r.chunk)
        if chunk is not None and chunk.document.id == r.doc:
            out.append((r, chunk))
    return out
