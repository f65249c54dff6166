"""GET /passages: what /search finds, with the text of each hit's best chunk, for retrieve-then-generate
clients (the LlamaIndex and Haystack retrievers, the MCP `search` tool).

Each hit's chunk is read back through `visible_document`, the same ACL-checked read as /documents: a
document whose access was narrowed between ranking and reading is dropped, never shown.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from index.acl import Principal
from index.retrieval.hybrid import Filters
from index.store.browse import visible_document
from service.deps import EngineDep, PrincipalDep, checked_query
from service.engine import Engine

router = APIRouter()
# Passages per request: each one reads its document's chunks, and a prompt holds a handful anyway.
MAX_K = 50


class Passage(BaseModel):
    doc_id: str
    chunk_id: str
    title: str
    url: str | None
    source: str
    kind: str
    heading: str = Field(description="the section the chunk sits in ('A > B'), empty at the top")
    page: int | None
    updated_at: str | None
    score: float
    text: str = Field(description="the chunk's full text")


class PassagesResponse(BaseModel):
    query: str
    passages: list[Passage]


def find_passages(
    engine: Engine,
    principal: Principal,
    query: str,
    k: int,
    mode: str = "hybrid",
    filters: Filters | None = None,
) -> list[Passage]:
    """The best chunk of each of the `k` best documents `principal` may see, best first."""
    if not query.strip():
        return []
    out = []
    for hit in engine.retriever.search(query, principal, k=k, mode=mode, filters=filters):
        view = visible_document(engine.reader, principal, hit.doc_id)
        chunk = next((c for c in view.chunks if c.chunk_id == hit.chunk_id), None) if view else None
        if chunk is None:  # removed or narrowed since ranking
            continue
        out.append(
            Passage.model_validate(
                {**asdict(hit), "heading": chunk.heading, "page": chunk.page, "text": chunk.text}
            )
        )
    return out


@router.get("/passages", response_model=PassagesResponse, tags=["search"])
def passages(
    engine: EngineDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(description="what to search for; plain words, no query syntax")] = "",
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    source: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    mode: Annotated[str, Query(pattern="^(hybrid|bm25|dense)$")] = "hybrid",
) -> PassagesResponse:
    checked_query(engine.settings, "q", q)
    filters = Filters(sources=tuple(source or ()), kinds=tuple(kind or ()))
    return PassagesResponse(query=q, passages=find_passages(engine, principal, q, k, mode, filters))
