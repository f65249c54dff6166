"""Operations: /health (alive), /ready (an index is loaded), /metrics (Prometheus).

Error bodies here never carry an exception's text (it can name data paths); the log has it.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.models import HealthResponse
from service.deps import EngineDep, SettingsDep
from service.ops.metrics import Metrics
from service.security.auth import identify, require_scope

router = APIRouter(tags=["ops"])
log = logging.getLogger(__name__)


@router.get("/health", response_model=HealthResponse)
def health() -> HealthResponse:
    """The process is alive and answering."""
    return HealthResponse(status="ok")


@router.get("/ready", response_model=HealthResponse, responses={503: {"description": "no index loaded yet"}})
def ready(engine: EngineDep) -> Response:
    """200 once a vector snapshot is loaded and serving; 503 before (or when there is no index yet)."""
    snap = engine.loaded_snapshot
    if snap is None:
        try:
            snap = engine.snapshot()
        except Exception:  # a broken index is "not ready", never a 500
            log.exception("the index could not be loaded")
            return JSONResponse({"detail": "index not loaded; see the server log"}, status_code=503)
    if snap is None:
        return JSONResponse({"detail": "no index loaded; run `whoknows ingest` first"}, status_code=503)
    return JSONResponse({"status": "ready", "snapshot": snap.name, "vectors": snap.index.ntotal})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus text format. Needs the admin scope; with WHOKNOWS_METRICS_PUBLIC=true others get the
    request metrics only (index totals count restricted documents too)."""
    metrics: Metrics = request.app.state.metrics
    if "admin" in identify(request).scopes:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
    if not settings.metrics_public:
        require_scope("admin")(request)
    return Response(generate_latest(metrics.public), media_type=CONTENT_TYPE_LATEST)  # type: ignore[arg-type]
