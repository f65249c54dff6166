"""`whoknows search`."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Annotated

import typer

from index.acl import Principal
from index.retrieval import Filters
from service.cli import fail, settings_of
from service.engine import Engine


def principal_option(user: str | None, groups: str | None) -> Principal:
    """`--as USER --groups a,b`; neither means anonymous (public documents only)."""
    group_list = [g.strip() for g in (groups or "").split(",") if g.strip()]
    return Principal.of(user, group_list)


def register(app: typer.Typer) -> None:
    @app.command()
    def search(
        ctx: typer.Context,
        query: Annotated[str, typer.Argument(help="what to look for")],
        k: Annotated[int, typer.Option("--k", min=1, max=100)] = 10,
        source: Annotated[list[str] | None, typer.Option("--source")] = None,
        kind: Annotated[list[str] | None, typer.Option("--kind")] = None,
        mode: Annotated[str, typer.Option("--mode", help="hybrid, bm25 or dense")] = "hybrid",
        user: Annotated[str | None, typer.Option("--as", help="search as this user")] = None,
        groups: Annotated[
            str | None, typer.Option("--groups", help="the user's groups, comma separated")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Search the index as a user (anonymous unless --as/--groups)."""
        settings = settings_of(ctx)
        if not settings.db_path.exists():
            raise fail(f"no index at {settings.home}; run `whoknows ingest --config FILE` first")
        if mode not in ("hybrid", "bm25", "dense"):
            raise fail(f"--mode must be hybrid, bm25 or dense, not {mode!r}")
        engine = Engine(settings)
        hits = engine.retriever.search(
            query,
            principal_option(user, groups),
            k=k,
            mode=mode,
            filters=Filters(sources=tuple(source or ()), kinds=tuple(kind or ())),
        )
        if as_json:
            typer.echo(json.dumps({"hits": [asdict(h) for h in hits]}, indent=2))
            return
        if not hits:
            typer.echo("no results")
        for i, h in enumerate(hits, 1):
            snippet = re.sub(r"</?mark>", "*", h.snippet)
            typer.echo(f"{i:2}. {h.title}  [{h.source}/{h.kind}]  {h.doc_id}  score {h.score:.4f}")
            typer.echo(f"    {snippet}")
