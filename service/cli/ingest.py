"""`whoknows ingest` and `whoknows status`."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from connectors.config import ConfigError
from connectors.registry import load_sources_config
from index.state.base import StateStoreError
from ingest.executors.base import EmbeddingError
from ingest.reindex import ReindexBusyError, reindex_lock
from ingest.report import RunReport
from service.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, JsonOption, fail, settings_of
from service.cli.progress import progress_reporter
from service.engine import Engine
from service.ops.status import index_status

# Shared by `ingest` and `reindex`: where the passages that need embedding are embedded.
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="where to embed: local (this process) or ray (a Ray cluster); default $WHOKNOWS_EXECUTOR or local",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="HOST:PORT of the Ray head node, or auto (default: $WHOKNOWS_RAY_ADDRESS)"
    ),
]


def run_ingest(
    ctx: typer.Context,
    config: Path,
    source: list[str] | None,
    full: bool,
    as_json: bool,
    kind: str = "ingest",
    executor: str | None = None,
    ray_address: str | None = None,
) -> RunReport:
    """Shared by `ingest` and `reindex`: load the config, run the pipeline, print the report."""
    settings = settings_of(ctx)
    if ray_address is not None:
        settings = settings.model_copy(update={"ray_address": ray_address})
    try:
        configs = load_sources_config(config)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if source:
        unknown = sorted(set(source) - {c.name for c in configs})
        if unknown:
            raise fail(f"{config}: no source named {', '.join(unknown)}")
        configs = [c for c in configs if c.name in source]
    engine = Engine(settings)
    try:
        pairs = [(c, engine.connector_for(c)) for c in configs]
    except ConfigError as exc:
        raise fail(f"{config}: {exc}") from exc
    # With --json, stdout carries the report alone: what libraries print meanwhile (Ray prints its
    # cluster's task retries there) goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        try:
            engine.state  # noqa: B018 - opened first, so a bad WHOKNOWS_DATABASE_URL fails before any work
            embedding = engine.executor(executor)
        except ValueError as exc:
            raise fail(f"--executor (or WHOKNOWS_EXECUTOR): {exc}") from exc
        except (EmbeddingError, StateStoreError) as exc:
            raise fail(str(exc)) from exc
        try:
            with progress_reporter(enabled=not as_json and sys.stderr.isatty()) as progress:
                pipeline = engine.pipeline(progress=progress, executor=embedding)
                report = pipeline.run(pairs, full=full, kind=kind)
        finally:
            embedding.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for s in report.sources:
            typer.echo(
                f"{s.name}: {s.status}  +{s.documents_added} added, {s.documents_updated} updated, "
                f"{s.documents_unchanged} unchanged, {s.documents_deleted} deleted, "
                f"{s.chunks_embedded} chunks embedded, {len(s.failures)} failures"
                + (f"  ({s.error})" if s.error else "")
            )
            for f in s.failures[:20]:
                typer.echo(f"    ! {f.get('path') or f.get('doc_id')}: {f['error']}")
            if len(s.failures) > 20:
                typer.echo(f"    ... and {len(s.failures) - 20} more failures")
        typer.echo(f"snapshot {report.snapshot} (generation {report.generation}) in {report.duration_s:.1f}s")
    return report


def exit_code(report: RunReport) -> int:
    return {"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(report.status, EXIT_FAILED)


def ingest(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", "-c", help="sources TOML file")],
    source: Annotated[list[str] | None, typer.Option("--source", help="only this source")] = None,
    full: Annotated[bool, typer.Option("--full", help="ignore cursors and re-read everything")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Read the configured sources into the index (unchanged documents are skipped)."""

    try:
        with reindex_lock(settings_of(ctx).home):
            report = run_ingest(
                ctx, config, source, full, as_json, executor=executor, ray_address=ray_address
            )
    except ReindexBusyError as exc:
        raise fail(str(exc), 5) from exc
    raise typer.Exit(exit_code(report))


def status(
    ctx: typer.Context,
    as_json: JsonOption = False,
) -> None:
    """What the index holds: counts, sources, the live snapshot."""

    info = index_status(settings_of(ctx))
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"home: {info['home']}")
    counts = info["counts"]
    typer.echo(
        f"documents {counts['documents']}, chunks {counts['chunks']}, people {counts['people']}, "
        f"contributions {counts['contributions']}"
    )
    snap = info["snapshot"]
    typer.echo(
        f"snapshot: {snap['name'] if snap else 'none'}" + (f" ({snap['vectors']} vectors)" if snap else "")
    )
    for s in info["sources"]:
        typer.echo(
            f"  {s['source']}: {s['documents']} documents, last sync {s['last_success_at']} ({s['status']})"
        )
