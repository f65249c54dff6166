"""Operations: /livez (the process answers), /readyz (a snapshot is loaded), /metrics (Prometheus).

/health and /ready stay as aliases of /livez and /readyz for the probes already configured. The public
readiness body says ready or not ready and nothing else: a vector count or a snapshot name would tell an
anonymous visitor how much hidden content there is and when it changes. The details (snapshot, vectors,
model, why not ready) are at `/readyz?verbose=1` with the admin scope.

Error bodies here never carry an exception's text (it can name data paths); the log has it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from index.snapshot.snapshot import Snapshot
from service.api.models import HealthResponse
from service.deps import EngineDep, SettingsDep
from service.engine import Engine
from service.ops.metrics import Metrics
from service.security.auth import identify, require_scope

log = logging.getLogger(__name__)
router = APIRouter(tags=["ops"])
NO_INDEX = "no index loaded; run `whoknows ingest` first"
LOAD_FAILED = "the index could not be loaded; the server log says why"


@router.get("/livez", response_model=HealthResponse)
@router.get("/health", response_model=HealthResponse)
def livez() -> HealthResponse:
    """The process is alive and answering."""
    return HealthResponse(status="ok")


def _serving(engine: Engine) -> tuple[Snapshot | None, str | None]:
    """The loaded snapshot, or None and why not (for the admin's eyes only)."""
    snap = engine.loaded_snapshot
    if snap is not None:
        return snap, None
    try:
        snap = engine.snapshot()
    except Exception:  # a broken index is "not ready", never a 500
        log.exception("readiness check: loading the index failed")
        return None, LOAD_FAILED
    return (snap, None) if snap is not None else (None, NO_INDEX)


def _details(snap: Snapshot | None, reason: str | None) -> dict[str, Any]:
    if snap is None:
        return {"reason": reason}
    m = snap.manifest
    return {
        "snapshot": m.name,
        "vectors": snap.live_chunks,
        "backend": m.backend,
        "index_type": m.index_type,
        "model": m.model_name,
        "dim": m.dim,
        "created_at": m.created_at,
    }


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"description": "no index loaded yet"}, 401: {}, 403: {}},
)
@router.get("/ready", response_model=HealthResponse, responses={503: {"description": "no index loaded yet"}})
def readyz(request: Request, engine: EngineDep, verbose: bool = False) -> Response:
    """200 `{"status": "ready"}` once a vector snapshot serves, 503 `{"status": "not ready"}` before.
    `verbose=1` (admin scope) adds the snapshot's name, size, model and build time, or why not ready."""
    if verbose:
        require_scope("admin")(request)
    snap, reason = _serving(engine)
    body: dict[str, Any] = {"status": "ready" if snap is not None else "not ready"}
    if verbose:
        body.update(_details(snap, reason))
    return JSONResponse(body, status_code=200 if snap is not None else 503)


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
