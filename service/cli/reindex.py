"""`whoknows reindex`: the nightly job. Exit codes for cron: 0 ok, 3 partial, 4 failed, 5 busy, 2 usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ingest.reindex import ReindexBusyError, reindex_lock
from service.cli.common import fail, settings_of
from service.cli.ingest import ExecutorOption, RayAddressOption, exit_code, run_ingest

EXIT_BUSY = 5


def reindex(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="sources TOML (default: $WHOKNOWS_REINDEX_CONFIG)"),
    ] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="only this source")] = None,
    full: Annotated[bool, typer.Option("--full", help="ignore cursors; re-read every document")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Catch the index up with its sources (changed documents only), then publish a new snapshot."""
    settings = settings_of(ctx)
    path = config or settings.reindex_config
    if path is None:
        raise fail("no sources file: pass --config FILE or set WHOKNOWS_REINDEX_CONFIG")
    try:
        with reindex_lock(settings.home):
            report = run_ingest(
                ctx, path, source, full, as_json, kind="reindex", executor=executor, ray_address=ray_address
            )
    except ReindexBusyError as exc:
        if as_json:
            typer.echo(json.dumps({"status": "busy", "error": str(exc)}))
        raise fail(str(exc), EXIT_BUSY) from exc
    raise typer.Exit(exit_code(report))
