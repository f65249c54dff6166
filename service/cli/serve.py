"""`whoknows serve`: the API and the search page under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from connectors.config import ConfigError
from index.state.base import StateStoreError
from service.app import create_app
from service.cli.common import fail, settings_of
from service.ops.jobs import CronSchedule
from service.ops.logs import enable_access_log
from service.security.auth import identity_sources


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers_threads: Annotated[int, typer.Option("--threads", help="request threads")] = 16,
    reindex_cron: Annotated[
        str | None,
        typer.Option("--reindex-cron", help='reindex on a cron schedule (UTC), e.g. "0 2 * * *"'),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="sources TOML for scheduled and admin reindexes")
    ] = None,
) -> None:
    """Serve the API and the search page."""

    settings = settings_of(ctx)
    if config is not None:
        settings = settings.model_copy(update={"reindex_config": config})
    try:
        application = create_app(settings)
    except StateStoreError as exc:  # a bad or unreachable WHOKNOWS_DATABASE_URL
        raise fail(str(exc)) from exc
    if not identity_sources(settings, application.state.tokens):
        raise fail(
            "no identity source: anonymous access is off (WHOKNOWS_ANONYMOUS=false), no trusted proxy is "
            "configured (WHOKNOWS_TRUSTED_PROXIES) and the store holds no API token "
            "(`whoknows tokens create`); nobody could use this server"
        )
    if reindex_cron:
        try:
            schedule = CronSchedule(reindex_cron, application.state.reindex, settings.reindex_config)
        except ConfigError as exc:
            raise fail(str(exc)) from exc
        if settings.reindex_config is None:
            raise fail("--reindex-cron needs --config FILE or WHOKNOWS_REINDEX_CONFIG")
        schedule.start()
        typer.echo(
            f"reindex scheduled by cron {reindex_cron!r}; next run {schedule.next_run():%Y-%m-%d %H:%M} UTC"
        )
    application.state.engine.snapshot()  # load the index before the first request
    application.state.engine.embedder  # noqa: B018 - load the model before the first request

    application.state.request_threads = workers_threads  # applied by the app's lifespan
    enable_access_log()
    typer.echo(f"WhoKnows serving {settings.home} on http://{host}:{port}")
    # proxy_headers off: the peer address must be the TCP peer, or X-Forwarded-For could pass a
    # client off as the trusted proxy (service/security/auth.py decides what to trust).
    # log_config None: uvicorn's own loggers go through ours (JSON with WHOKNOWS_LOG_FORMAT=json); the
    # access line is service/ops/requests.py's, which knows the route template and the request id.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
