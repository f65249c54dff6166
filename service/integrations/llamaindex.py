"""WhoKnows as a LlamaIndex retriever (`pip install 'whoknows[llamaindex]'`): a `BaseRetriever` whose nodes
are the passages a WhoKnows server returns to the token's holder, never more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from service.integrations.client import WhoKnowsClient, check_mode, passage_metadata


def _node(passage: dict[str, Any]) -> NodeWithScore:
    node = TextNode(
        id_=passage["chunk_id"],
        text=passage["text"],
        metadata=passage_metadata(passage),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=passage["doc_id"])},
    )
    return NodeWithScore(node=node, score=passage["score"])


class WhoKnowsRetriever(BaseRetriever):
    """The best chunk of each of the `k` best documents for a query, as scored TextNodes.

    A node's text is the chunk's text, its id the chunk id, its `ref_doc_id` the document id; metadata
    holds doc_id, chunk_id, title, url, source, kind, heading, page and updated_at.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        k: int = 4,
        mode: str = "hybrid",
        sources: Sequence[str] = (),
        kinds: Sequence[str] = (),
        timeout_s: float = 30.0,
        **kwargs: Any,
    ):
        self.client = WhoKnowsClient(url, token, timeout_s)
        self.k = k
        self.mode = check_mode(mode)
        self.sources = tuple(sources)
        self.kinds = tuple(kinds)
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle.query_str
        if not query.strip():
            return []
        return [_node(p) for p in self.client.passages(query, self.k, self.mode, self.sources, self.kinds)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle.query_str
        if not query.strip():
            return []
        found = await self.client.apassages(query, self.k, self.mode, self.sources, self.kinds)
        return [_node(p) for p in found]
