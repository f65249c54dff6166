"""`whoknows ask`."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from service.asker import answer_dict, build_asker
from service.cli.common import GroupsOption, JsonOption, fail, indexed_settings, principal_option
from service.engine import Engine


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="a question in plain words")],
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="documents to draw passages from")] = 5,
    user: Annotated[str | None, typer.Option("--as", help="ask as this user")] = None,
    groups: GroupsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the documents the user may see, with citations and colleagues to ask."""

    settings = indexed_settings(ctx)
    if not question.strip():
        raise fail("the question is empty")
    engine = Engine(settings)
    asker = build_asker(engine)
    answer = asyncio.run(asker.answer(question, principal_option(engine.reader, user, groups), k))
    if as_json:
        typer.echo(json.dumps(answer_dict(answer), indent=2, ensure_ascii=False))
        return
    typer.echo(answer.answer)
    if answer.citations:
        typer.echo("")
    for c in answer.citations:
        where = c.url or c.doc_id
        typer.echo(f"[{c.n}] {c.title}  {where}")
        typer.echo(f'    "{c.quote}"')
    if answer.experts:
        typer.echo(
            "\nAsk: " + ", ".join(f"{e.name} ({e.team})" if e.team else e.name for e in answer.experts)
        )
    note = f"{answer.mode}, {'confident' if answer.confident else 'not confident'}"
    if answer.fallback_reason:
        note += f"; fell back: {answer.fallback_reason}"
    typer.echo(f"\n({note})")
    for w in answer.warnings:
        typer.secho(f"warning: {w}", err=True, fg=typer.colors.YELLOW)
