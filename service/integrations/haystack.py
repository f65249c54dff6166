"""WhoKnows as a Haystack retriever (`pip install 'whoknows[haystack]'`): a `@component` whose Documents are
the passages a WhoKnows server returns to the token's holder, never more."""

from __future__ import annotations

from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace

from service.integrations.client import WhoKnowsClient, check_mode, passage_metadata

TOKEN_ENV = "WHOKNOWS_API_TOKEN"  # Haystack resolves a Secret from the environment at run time


def _document(passage: dict[str, Any]) -> Document:
    return Document(
        id=passage["chunk_id"],
        content=passage["text"],
        meta=passage_metadata(passage),
        score=passage["score"],
    )


@component
class WhoKnowsRetriever:
    """`query` in, `documents` out: the best chunk of each of the `top_k` best documents, best first.

    A Document's content is the chunk's text, its id the chunk id, its meta doc_id, chunk_id, title,
    url, source, kind, heading, page and updated_at. `token` is a Haystack Secret (by default the
    environment variable WHOKNOWS_API_TOKEN; anonymous when it is unset).
    """

    def __init__(
        self,
        url: str,
        token: Secret | None = None,
        top_k: int = 4,
        mode: str = "hybrid",
        sources: list[str] | None = None,
        kinds: list[str] | None = None,
        timeout_s: float = 30.0,
    ):
        self.url = url
        self.token = token if token is not None else Secret.from_env_var(TOKEN_ENV, strict=False)
        self.top_k = top_k
        self.mode = check_mode(mode)
        self.sources = list(sources or [])
        self.kinds = list(kinds or [])
        self.timeout_s = timeout_s

    def _client(self) -> WhoKnowsClient:
        return WhoKnowsClient(self.url, self.token.resolve_value(), self.timeout_s)

    @component.output_types(documents=list[Document])
    def run(self, query: str, top_k: int | None = None) -> dict[str, list[Document]]:
        if not query.strip():
            return {"documents": []}
        found = self._client().passages(query, top_k or self.top_k, self.mode, self.sources, self.kinds)
        return {"documents": [_document(p) for p in found]}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, top_k: int | None = None) -> dict[str, list[Document]]:
        if not query.strip():
            return {"documents": []}
        found = await self._client().apassages(
            query, top_k or self.top_k, self.mode, self.sources, self.kinds
        )
        return {"documents": [_document(p) for p in found]}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            url=self.url,
            token=self.token.to_dict(),
            top_k=self.top_k,
            mode=self.mode,
            sources=self.sources,
            kinds=self.kinds,
            timeout_s=self.timeout_s,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WhoKnowsRetriever:
        deserialize_secrets_inplace(data["init_parameters"], keys=["token"])
        return default_from_dict(cls, data)
