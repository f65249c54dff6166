"""WhoKnows as a LangChain retriever: hybrid retrieval within each call's caller's ACL, chunks as Documents."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, ensure_config, run_in_executor
from pydantic import ConfigDict, Field

from index.acl import Principal
from index.retrieval.hybrid import MODES, Filters, HybridRetriever
from index.retrieval.resolve import resolve_ranked


class WhoKnowsRetriever(BaseRetriever):
    """`k` Documents for a query: the best chunk of each of the `k` best documents the caller may see.

    The caller is given per call, so one chain can serve many users: `invoke(q, principal=p)`, or in a
    chain `chain.invoke(x, config={"configurable": {"principal": p}})`. Without one, `principal` (by
    default anonymous: public documents only) is used. page_content is the chunk's text; metadata has
    doc_id, chunk_id, title, url, source, kind, heading, page and score. A caller sees exactly what
    `whoknows search` would show them, never more.
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

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        return super().invoke(input, config, principal=self._caller(config, kwargs), **kwargs)

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        return await super().ainvoke(input, config, principal=self._caller(config, kwargs), **kwargs)

    def _caller(self, config: RunnableConfig | None, kwargs: dict[str, Any]) -> Principal:
        given = kwargs.pop("principal", None)
        if given is None:
            given = (ensure_config(config).get("configurable") or {}).get("principal")
        if given is None:
            return self.principal
        if not isinstance(given, Principal):
            raise TypeError(f"principal must be an index.acl.Principal, not {type(given).__name__}")
        return given

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        principal: Principal | None = None,
    ) -> list[Document]:
        # LangChain's default runs the sync method without the extra arguments: the caller would be lost
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), principal=principal
        )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, principal: Principal | None = None
    ) -> list[Document]:
        if not query.strip():
            return []
        caller = principal or self.principal
        r = self.retriever
        ranked = r.rank(query, caller, self.mode, self.filters, depth=max(self.k, r.settings.depth))
        return [
            Document(
                page_content=chunk.text,
                id=chunk.chunk_id,
                metadata={
                    "doc_id": chunk.document.doc_id,
                    "chunk_id": chunk.chunk_id,
                    "title": chunk.document.title,
                    "url": chunk.document.url,
                    "source": chunk.document.source,
                    "kind": chunk.document.kind,
                    "heading": chunk.heading,
                    "page": chunk.page,
                    "score": round(x.score, 6),
                },
            )
            for x, chunk in resolve_ranked(r.store, caller, ranked[: self.k])
        ]
