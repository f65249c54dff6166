"""WhoKnows as a LangChain retriever: hybrid retrieval within one principal's ACL, chunks as Documents."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from index.acl import Principal
from index.retrieval.hybrid import MODES, Filters, HybridRetriever


class WhoKnowsRetriever(BaseRetriever):
    """`k` Documents for a query: the best chunk of each of the `k` best documents `principal` may see.

    page_content is the chunk's text; metadata has doc_id, chunk_id, title, url, source, kind, heading,
    page and score. A caller sees exactly what `whoknows search` would show them, never more.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    principal: Principal = Field(default_factory=Principal.anonymous)
    k: int = Field(default=4, ge=1, le=100)
    mode: str = "hybrid"
    filters: Filters = Field(default_factory=Filters)

    def model_post_init(self, context: Any) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r} (one of {', '.join(MODES)})")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if not query.strip():
            return []
        r = self.retriever
        ranked = r.rank(query, self.principal, self.mode, self.filters, depth=max(self.k, r.settings.depth))
        ranked = ranked[: self.k]
        if not ranked:
            return []
        docs = r.store.documents_by_ids([x.doc for x in ranked])
        marks = ",".join("?" * len(ranked))
        chunks = {
            row[0]: row[1:]
            for row in r.store.db.execute(
                f"SELECT id, chunk_id, heading, page, text FROM chunks WHERE id IN ({marks})",
                [x.chunk for x in ranked],
            )
        }
        out = []
        for x in ranked:
            doc, chunk = docs.get(x.doc), chunks.get(x.chunk)
            if doc is None or chunk is None:  # removed since ranking
                continue
            chunk_id, heading, page, text = chunk
            out.append(
                Document(
                    page_content=text,
                    id=chunk_id,
                    metadata={
                        "doc_id": doc.doc_id,
                        "chunk_id": chunk_id,
                        "title": doc.title,
                        "url": doc.url,
                        "source": doc.source,
                        "kind": doc.kind,
                        "heading": heading,
                        "page": page,
                        "score": round(x.score, 6),
                    },
                )
            )
        return out
