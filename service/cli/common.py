"""What the command groups share: the global options, exit codes, settings and principal helpers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from index.acl import Principal
from index.store.documents import Store
from index.store.identity import principal_for
from service.ops.logs import configure_logging
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
    try:
        settings = load_settings(home)
    except ValidationError as exc:
        raise fail("; ".join(_setting_error(e) for e in exc.errors())) from None
    configure_logging(settings.log_format, logging.INFO if verbose else logging.WARNING)
    ctx.obj = settings


def _setting_error(error: Any) -> str:
    """'WHOKNOWS_LOG_FORMAT: Input should be ...': the variable to fix, as the user set it."""
    name = str(error["loc"][0]) if error["loc"] else "settings"
    variable = name if name.isupper() else f"WHOKNOWS_{name.upper()}"
    return f"invalid {variable}: {error['msg']}"


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
