"""Operations: /health (alive), /ready (an index is loaded), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.models import HealthResponse
from service.deps import EngineDep, SettingsDep
from service.ops.metrics import Metrics
from service.security.auth import require_scope

router = APIRouter(tags=["ops"])


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
        except Exception as exc:  # a broken index is "not ready", never a 500
            return JSONResponse({"detail": f"index not loaded: {exc}"}, status_code=503)
    if snap is None:
        return JSONResponse({"detail": "no index loaded; run `whoknows ingest` first"}, status_code=503)
    return JSONResponse({"status": "ready", "snapshot": snap.name, "vectors": snap.live_chunks})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus text format. Needs the admin scope unless WHOKNOWS_METRICS_PUBLIC=true (index totals
    count restricted documents too)."""
    if not settings.metrics_public:
        require_scope("admin")(request)
    registry: Metrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
