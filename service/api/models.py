"""API response models (pydantic at the edges)."""

from __future__ import annotations

from pydantic import BaseModel

from index.retrieval.hybrid import SearchHit


class SearchResponse(BaseModel):
    """No timing: how long a query took depends on hidden documents near it too."""

    query: str
    hits: list[SearchHit]


class HealthResponse(BaseModel):
    status: str
