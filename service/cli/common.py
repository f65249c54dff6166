"""What the command groups share: the global options, exit codes, settings and principal helpers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from index.acl import Principal
from index.store.documents import Store
from index.store.identity import principal_for
from service.settings import Settings, load_settings

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL, EXIT_FAILED = 0, 2, 3, 4

# Options several commands share; typer copies an option's settings per command.
GroupsOption = Annotated[str | None, typer.Option("--groups", help="the user's groups, comma separated")]
JsonOption = Annotated[bool, typer.Option("--json")]


def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option("--home", help="data folder (default: $WHOKNOWS_HOME or ./.whoknows)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress details")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = load_settings(home)


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def indexed_settings(ctx: typer.Context) -> Settings:
    """The settings of a command that reads the index; fails with a hint when none has been built."""
    settings = settings_of(ctx)
    if not settings.db_path.exists():
        raise fail(f"no index at {settings.home}; run `whoknows ingest --config FILE` first")
    return settings


def principal_option(store: Store, user: str | None, groups: str | None) -> Principal:
    """`--as USER --groups a,b`, with the source accounts the directory links to USER; neither means
    anonymous (public documents only)."""
    group_list = [g.strip() for g in (groups or "").split(",") if g.strip()]
    return principal_for(store.db, user, group_list)
