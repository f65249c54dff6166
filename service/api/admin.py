"""POST /admin/reindex (start a background reindex of the configured sources) and its status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from connectors.config import ConfigError
from service.ops.jobs import ReindexRunner

router = APIRouter(prefix="/admin", tags=["admin"])
log = logging.getLogger(__name__)


def _runner(request: Request) -> ReindexRunner:
    return request.app.state.reindex  # type: ignore[no-any-return]


@router.post(
    "/reindex",
    status_code=202,
    responses={409: {"description": "a reindex is already running"}, 503: {"description": "no sources file"}},
)
def start_reindex(request: Request, full: bool = False) -> JSONResponse:
    """Start a reindex of `settings.reindex_config` in the background; 409 while one runs."""
    runner = _runner(request)
    try:
        started = runner.start(full=full)
    except ConfigError as exc:  # its text names files and fields: the log has it, the body does not
        log.error("reindex not started: %s", exc)
        raise HTTPException(status_code=503, detail="no usable sources file; see the server log") from exc
    if not started:
        raise HTTPException(status_code=409, detail="a reindex is already running")
    return JSONResponse({"status": "started"}, status_code=202)


@router.get("/reindex")
def reindex_status(request: Request) -> dict[str, Any]:
    """Whether a reindex is running, and the report of the last one."""
    runner = _runner(request)
    return {"running": runner.running, "last": runner.last}
