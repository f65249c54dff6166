"""`whoknows people`: who the index knows, their linked accounts and contributions per source."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from index.store.documents import Store
from index.store.people import list_people
from service.cli.common import JsonOption, indexed_settings


def people(
    ctx: typer.Context,
    unresolved: Annotated[
        bool, typer.Option("--unresolved", help="only people no directory entry claims")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 1000,
    as_json: JsonOption = False,
) -> None:
    """People with their linked accounts and contribution counts per source."""
    settings = indexed_settings(ctx)
    found = list_people(Store(settings.home), unresolved_only=unresolved)[:limit]
    if as_json:
        typer.echo(json.dumps({"people": [asdict(p) for p in found]}, indent=2))
        return
    for p in found:
        mark = "" if p.in_directory else "  (not in directory)"
        counts = ", ".join(f"{s} {n}" for s, n in sorted(p.contributions.items())) or "no contributions"
        typer.echo(f"{p.person_id}: {p.name or '?'}{' - ' + p.team if p.team else ''}{mark}")
        accounts = ", ".join(f"{a['source']}:{a['account']} [{a['linked_by']}]" for a in p.accounts)
        typer.echo(f"    accounts: {accounts or 'none'}")
        typer.echo(f"    contributions: {counts}")
    typer.echo(f"{len(found)} people")
