"""The `whoknows` command: every command group registered here, in one place."""

from __future__ import annotations

import typer

from service.cli import ask, experts, ingest, mcp, people, reindex, search, serve, tokens
from service.cli import eval as eval_forward
from service.cli.common import main_options

app = typer.Typer(
    name="whoknows",
    help="WhoKnows: semantic search and expert finder for your intranet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.callback()(main_options)
app.command()(ask.ask)
app.command(**eval_forward.COMMAND)(eval_forward.eval_command)
app.command()(experts.experts)
app.command()(experts.person)
app.command()(ingest.ingest)
app.command()(ingest.status)
app.command()(mcp.mcp)
app.command()(people.people)
app.command()(reindex.reindex)
app.command()(search.search)
app.command()(serve.serve)
app.add_typer(tokens.tokens_app, name="tokens")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
