"""GET /documents/{doc_id} and GET /sources: content and counts, only what the caller may see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel

from index.acl import Principal
from index.store.browse import Contributor, SourceState, synced_at, visible_document, visible_sources
from service.deps import MAX_DOC_ID_CHARS, EngineDep, PrincipalDep, SettingsDep
from service.engine import Engine
from service.security.auth import identify

router = APIRouter()


class ChunkModel(BaseModel):
    chunk_id: str
    n: int
    heading: str
    page: int | None


class DocumentModel(BaseModel):
    doc_id: str
    title: str
    url: str | None
    source: str
    kind: str
    created_at: str | None
    updated_at: str | None
    tags: list[str]
    path: list[str]
    text: str
    chunks: list[ChunkModel]
    contributors: list[Contributor]


class IndexFreshness(BaseModel):
    updated_at: str | None
    age_hours: float | None
    stale: bool
    stale_after_hours: float


class SourcesResponse(BaseModel):
    sources: list[SourceState]
    documents: int
    index: IndexFreshness


@router.get("/documents/{doc_id:path}", response_model=DocumentModel, tags=["search"])
def get_document(
    engine: EngineDep,
    principal: PrincipalDep,
    doc_id: Annotated[
        str, Path(description="the document id, e.g. 'handbook:welcome.md'", max_length=MAX_DOC_ID_CHARS)
    ],
) -> DocumentModel:
    """A document's text and metadata; 404 alike for a missing document and one the caller may not see."""
    view = visible_document(engine.reader, principal, doc_id)
    if view is None:
        raise HTTPException(status_code=404, detail="no such document")
    d = view.document
    return DocumentModel(
        doc_id=d.doc_id,
        title=d.title,
        url=d.url,
        source=d.source,
        kind=d.kind,
        created_at=d.created_at,
        updated_at=d.updated_at,
        tags=d.tags,
        path=d.path,
        text=view.text,
        chunks=[ChunkModel(chunk_id=c.chunk_id, n=c.n, heading=c.heading, page=c.page) for c in view.chunks],
        contributors=view.contributors,
    )


def freshness(
    updated_at: str | None, stale_after_hours: float, now: datetime | None = None
) -> IndexFreshness:
    age: float | None = None
    if updated_at:
        try:
            stamp = datetime.fromisoformat(updated_at)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            age = max(0.0, ((now or datetime.now(UTC)) - stamp).total_seconds() / 3600)
        except ValueError:
            age = None
    return IndexFreshness(
        updated_at=updated_at,
        age_hours=round(age, 2) if age is not None else None,
        stale=age is None or age > stale_after_hours,
        stale_after_hours=stale_after_hours,
    )


@router.get("/sources", response_model=SourcesResponse, tags=["search"])
def list_sources(
    request: Request, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> SourcesResponse:
    """Per source: the documents the caller may see and the last sync; failure counts for admins only.
    The index's freshness is that of the caller's own sources (`synced_at`)."""
    admin = "admin" in identify(request).scopes
    return sources_response(engine, principal, admin, settings.stale_after_hours)


def sources_response(
    engine: Engine, principal: Principal, admin: bool, stale_after_hours: float
) -> SourcesResponse:
    """The sources `principal` may see (an admin also sees empty ones) and the index's freshness; /sources
    and the MCP sources resource."""
    states = visible_sources(engine.reader, principal, include_empty=admin)
    return SourcesResponse(
        sources=states,
        documents=sum(s.documents for s in states),
        index=freshness(synced_at(states), stale_after_hours),
    )
