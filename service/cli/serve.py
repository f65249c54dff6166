"""`whoknows serve`: the API and the search page under uvicorn, in one process or several."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from connectors.config import ConfigError
from index.state.base import StateStoreError
from service.app import create_app
from service.cli.common import fail, settings_of
from service.ops.jobs import CronSchedule
from service.ops.logs import configure_logging, enable_access_log
from service.security.auth import identity_sources
from service.settings import Settings, load_settings

# What a worker process needs from the command line; the rest of its settings come from the environment
# as the parent's did. Not WHOKNOWS_-prefixed: they are this command's, not settings.
WORKER_THREADS_ENV = "_WHOKNOWS_SERVE_THREADS"
WORKER_VERBOSE_ENV = "_WHOKNOWS_SERVE_VERBOSE"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers_threads: Annotated[int, typer.Option("--threads", help="request threads")] = 16,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="server processes: each has its own interpreter (one process uses about one core), "
            "all serve the same snapshot (its files are mapped once in memory)",
        ),
    ] = 1,
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
    if reindex_cron and workers > 1:
        raise fail(
            "--reindex-cron runs in one server process: use --workers 1, or run `whoknows reindex` from cron"
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
    if workers > 1:
        _serve_workers(settings, host, port, workers, workers_threads)
        return
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


def _serve_workers(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """`workers` processes, each with its own listening socket on the same port (SO_REUSEPORT), so the
    kernel spreads connections over them evenly. With one shared socket (uvicorn's own workers) the first
    process to wake takes whole bursts of connections, and keep-alive clients stay where they landed:
    measured, two such workers served no more than one."""
    os.environ["WHOKNOWS_HOME"] = str(settings.home)
    if settings.reindex_config is not None:
        os.environ["WHOKNOWS_REINDEX_CONFIG"] = str(settings.reindex_config)
    os.environ[WORKER_THREADS_ENV] = str(threads)
    os.environ[WORKER_VERBOSE_ENV] = "1" if logging.getLogger().level <= logging.INFO else "0"
    probe = _listening_socket(host, port)  # fail here, once, when the port is taken
    probe.close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(host, port), daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    typer.echo(f"WhoKnows serving {settings.home} on http://{host}:{port} with {workers} worker processes")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and all(p.is_alive() for p in processes):
        stop.wait(0.5)
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGINT)  # uvicorn's graceful shutdown: finish requests in flight
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    failed = [p.exitcode for p in processes if p.exitcode not in (0, -signal.SIGINT)]
    if failed and not stop.is_set():
        raise fail(f"a worker process exited with {failed[0]}", code=1)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    return sock


def _worker_main(host: str, port: int) -> None:
    """One worker process: the app from the environment, served on its own socket."""
    sock = _listening_socket(host, port)
    config = uvicorn.Config(
        worker_app,
        factory=True,
        log_level="warning",
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def worker_app() -> FastAPI:
    """One worker process's app (`--workers N`): the settings the parent checked, read again here."""
    settings = load_settings()
    configure_logging(
        settings.log_format, logging.INFO if os.environ.get(WORKER_VERBOSE_ENV) == "1" else logging.WARNING
    )
    application = create_app(settings)
    application.state.engine.snapshot()  # load the index before the first request
    application.state.engine.embedder  # noqa: B018 - load the model before the first request
    application.state.request_threads = int(os.environ.get(WORKER_THREADS_ENV, "16"))
    enable_access_log()
    return application
