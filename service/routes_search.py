"""GET /search: hybrid search within the caller's ACL."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from index.acl import Principal
from index.retrieval import Filters
from service.auth import principal_from_request
from service.engine import Engine
from service.models import SearchResponse

router = APIRouter()


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


@router.get("/search", response_model=SearchResponse, tags=["search"])
def search(
    request: Request,
    q: Annotated[str, Query(description="what to search for; plain words, no query syntax")] = "",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    source: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    mode: Annotated[str, Query(pattern="^(hybrid|bm25|dense)$")] = "hybrid",
    principal: Principal = Depends(principal_from_request),
) -> SearchResponse:
    engine = engine_of(request)
    limit = engine.settings.max_query_chars
    if len(q) > limit:
        raise HTTPException(status_code=422, detail=f"q is {len(q)} characters long; the limit is {limit}")
    started = time.perf_counter()
    filters = Filters(sources=tuple(source or ()), kinds=tuple(kind or ()))
    hits = engine.retriever.search(q, principal, k=k, mode=mode, filters=filters) if q.strip() else []
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(query=q, hits=hits, took_ms=round(took, 2))
