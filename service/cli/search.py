"""`whoknows search`."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Annotated

import typer

from index.retrieval.hybrid import Filters
from service.cli.common import GroupsOption, JsonOption, fail, indexed_settings, principal_option
from service.engine import Engine


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="what to look for")],
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 10,
    source: Annotated[list[str] | None, typer.Option("--source")] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind")] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, bm25 or dense")] = "hybrid",
    user: Annotated[str | None, typer.Option("--as", help="search as this user")] = None,
    groups: GroupsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the index as a user (anonymous unless --as/--groups)."""
    settings = indexed_settings(ctx)
    if mode not in ("hybrid", "bm25", "dense"):
        raise fail(f"--mode must be hybrid, bm25 or dense, not {mode!r}")
    engine = Engine(settings)
    hits = engine.retriever.search(
        query,
        principal_option(engine.reader, user, groups),
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
