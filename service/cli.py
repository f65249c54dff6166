"""The `whoknows` command: global options and the command groups, each in its own module."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from index.acl import Principal
from service.settings import Settings, load_settings

app = typer.Typer(
    name="whoknows",
    help="WhoKnows: semantic search and expert finder for your intranet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL, EXIT_FAILED = 0, 2, 3, 4

# Options several commands share; typer copies an option's settings per command.
GroupsOption = Annotated[str | None, typer.Option("--groups", help="the user's groups, comma separated")]
JsonOption = Annotated[bool, typer.Option("--json")]


@app.callback()
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


def principal_option(user: str | None, groups: str | None) -> Principal:
    """`--as USER --groups a,b`; neither means anonymous (public documents only)."""
    group_list = [g.strip() for g in (groups or "").split(",") if g.strip()]
    return Principal.of(user, group_list)


def _register() -> None:
    from service import (
        cli_ask,
        cli_eval,
        cli_experts,
        cli_ingest,
        cli_people,
        cli_reindex,
        cli_search,
        cli_serve,
        cli_tokens,
    )

    cli_ask.register(app)
    cli_eval.register(app)
    cli_experts.register(app)
    cli_ingest.register(app)
    cli_people.register(app)
    cli_reindex.register(app)
    cli_search.register(app)
    cli_serve.register(app)
    cli_tokens.register(app)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a package; never reach for a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # torch and faiss each bring an OpenMP runtime whose idle threads spin; with both spinning, a dense
    # query on 2 cores took 20x longer. Read when the runtimes load, so it is set before any import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _register()
    app()


if __name__ == "__main__":
    main()
