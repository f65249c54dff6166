"""The FastAPI application factory: settings in, app out, no globals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.state.base import StateStoreError
from index.vectors.embedder import Embedder
from service.api.admin import router as admin_router
from service.api.ask import router as ask_router
from service.api.chat import OPENAI_PREFIX, openai_error
from service.api.chat import router as chat_router
from service.api.curation import router as curation_router
from service.api.documents import router as documents_router
from service.api.experts import router as experts_router
from service.api.feedback import router as feedback_router
from service.api.mentoring import router as mentoring_router
from service.api.ops import router as ops_router
from service.api.passages import router as passages_router
from service.api.profiles import router as profiles_router
from service.api.search import router as search_router
from service.deps import asker_of_app
from service.engine import Engine
from service.mcp.http import MCP_METHODS, MCP_PATH, McpEndpoint
from service.mcp.identity import http_caller
from service.mcp.server import build_mcp_server
from service.ops.jobs import ReindexRunner
from service.ops.metrics import Metrics
from service.ops.requests import RequestMiddleware
from service.security.auth import require_scope
from service.security.limits import BodyLimitMiddleware, make_limiter, rate_limit
from service.security.tokens import TokenStore
from service.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere: no CDN, no inline script, no framing.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    """nosniff and no referrer on every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper if scope["type"] == "http" else send)


def _include_api(app: FastAPI) -> None:
    """Every API router behind the rate limit and its scope."""

    def guarded(scope: str) -> list[Any]:
        return [Depends(rate_limit), Depends(require_scope(scope))]

    app.include_router(search_router, dependencies=guarded("search"))
    app.include_router(passages_router, dependencies=guarded("search"))
    app.include_router(documents_router, dependencies=guarded("search"))
    app.include_router(feedback_router, dependencies=guarded("experts"))
    # People's own profiles: the `experts` scope, then the person or an admin (api/self_service.py);
    # /people/{id}/... before the experts router's /people/{id:path}, which would take those paths
    app.include_router(profiles_router, dependencies=guarded("experts"))
    app.include_router(mentoring_router, dependencies=guarded("experts"))
    app.include_router(experts_router, dependencies=guarded("experts"))
    app.include_router(ask_router, dependencies=guarded("ask"))
    app.include_router(chat_router, dependencies=guarded("ask"))
    app.include_router(admin_router, dependencies=guarded("admin"))
    app.include_router(curation_router, dependencies=guarded("admin"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the app serves: the MCP transport's task group, and the request thread pool's size."""
    threads: int | None = getattr(app.state, "request_threads", None)
    if threads:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    async with app.state.mcp.run():
        yield


def create_app(settings: Settings, engine: Engine | None = None, embedder: Embedder | None = None) -> FastAPI:
    """Build the app around one Engine; tests pass their own settings (and may share an engine).

    The ASGI server must run the lifespan (uvicorn does by default): /mcp needs it.
    """
    # FastAPI's own telemetry would record query strings (the user's words) on its spans: off, and
    # service/ops/requests.py traces requests instead.
    app = FastAPI(
        title="WhoKnows",
        version="0.1.0",
        description="Semantic intranet search and expert finder",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.settings = settings
    app.state.engine = engine = engine or Engine(settings, embedder=embedder)
    app.state.tokens = TokenStore(engine.state)
    app.state.rate_limiter = make_limiter(settings, engine.state)
    app.state.metrics = metrics = Metrics(engine)
    app.state.reindex = ReindexRunner(engine)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(OPENAI_PREFIX):
            return openai_error(exc.status_code, str(exc.detail), exc.headers)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        if request.url.path.startswith(OPENAI_PREFIX):
            fields = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors)
            return openai_error(422, f"invalid request: {fields}")
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StateStoreError)
    async def state_unavailable(request: Request, exc: StateStoreError) -> Response:
        log.error("state store error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "the state store is unavailable; try again"}, status_code=503)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if request.url.path.startswith(OPENAI_PREFIX):
            return openai_error(500, "internal server error")
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.include_router(ops_router)
    _include_api(app)
    mcp_server = build_mcp_server(engine, lambda: asker_of_app(app), http_caller, metrics)
    app.state.mcp = McpEndpoint(mcp_server)
    app.add_route(MCP_PATH, app.state.mcp, methods=MCP_METHODS, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        response = FileResponse(STATIC / "index.html", media_type="text/html")
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.headers["Cache-Control"] = "no-cache"
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestMiddleware, metrics=metrics, tracer=engine.tracer)
    return app
