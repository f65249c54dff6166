"""API response models (pydantic at the edges)."""

from __future__ import annotations

from pydantic import BaseModel


class HitModel(BaseModel):
    doc_id: str
    title: str
    url: str | None
    source: str
    kind: str
    snippet: str
    updated_at: str | None
    score: float
    chunk_id: str
    heading: str = ""
    page: int | None = None
    tags: list[str] = []


class SearchResponse(BaseModel):
    query: str
    hits: list[HitModel]
    took_ms: float


class HealthResponse(BaseModel):
    status: str
