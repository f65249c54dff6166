"""API response models (pydantic at the edges)."""

from __future__ import annotations

from pydantic import BaseModel

from index.retrieval.hybrid import SearchHit


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]
    took_ms: float


class HealthResponse(BaseModel):
    status: str
