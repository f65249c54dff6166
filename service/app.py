"""The FastAPI application factory: settings in, app out, no globals."""

from __future__ import annotations

from fastapi import FastAPI

from ingest.embedding import Embedder
from service.engine import Engine
from service.jobs import ReindexRunner
from service.models import HealthResponse
from service.routes_search import router as search_router
from service.settings import Settings


def create_app(settings: Settings, engine: Engine | None = None, embedder: Embedder | None = None) -> FastAPI:
    """Build the app around one Engine; tests pass their own settings (and may share an engine)."""
    app = FastAPI(title="WhoKnows", version="0.1.0", description="Semantic intranet search and expert finder")
    app.state.settings = settings
    app.state.engine = engine or Engine(settings, embedder=embedder)
    app.state.reindex = ReindexRunner(app.state.engine)

    @app.get("/health", response_model=HealthResponse, tags=["ops"])
    def health() -> HealthResponse:
        return HealthResponse(status="ok")

    app.include_router(search_router)
    return app
