"""GET /search: hybrid search within the caller's ACL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from index.retrieval.hybrid import Filters
from service.api.models import SearchResponse
from service.deps import EngineDep, PrincipalDep, checked_query

router = APIRouter()
# Results per page: the retriever's fusion pool is 100 documents per leg (RetrievalSettings.depth), so a
# larger k would rank documents no leg scored. Part of the API contract (OpenAPI).
MAX_K = 100


@router.get("/search", response_model=SearchResponse, tags=["search"])
def search(
    engine: EngineDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(description="what to search for; plain words, no query syntax")] = "",
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    source: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    mode: Annotated[str, Query(pattern="^(hybrid|bm25|dense)$")] = "hybrid",
) -> SearchResponse:
    checked_query(engine.settings, "q", q)
    filters = Filters(sources=tuple(source or ()), kinds=tuple(kind or ()))
    hits = engine.retriever.search(q, principal, k=k, mode=mode, filters=filters) if q.strip() else []
    return SearchResponse(query=q, hits=hits)
