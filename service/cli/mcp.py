"""`whoknows mcp`: the MCP server over stdio, for an assistant that starts WhoKnows itself."""

from __future__ import annotations

import anyio
import typer

from service.asker import build_asker
from service.cli.common import fail, indexed_settings
from service.engine import Engine
from service.mcp.identity import stdio_caller
from service.mcp.server import build_mcp_server
from service.security.tokens import TokenStore


def mcp(ctx: typer.Context) -> None:
    """Serve the MCP tools over stdin/stdout (Claude Desktop, an IDE, any MCP client that runs commands).

    The assistant acts as the holder of the token in WHOKNOWS_MCP_TOKEN, with its user, groups and
    scopes; without one it is anonymous (public documents only), or refused when anonymous access is off.
    """
    settings = indexed_settings(ctx)
    engine = Engine(settings)
    caller_of = stdio_caller(settings, TokenStore(engine.state), engine.principal)
    caller = caller_of(None)
    if caller.error:
        hint = "set WHOKNOWS_MCP_TOKEN to a token from `whoknows tokens create`"
        raise fail(f"{caller.error}; {hint}")
    engine.snapshot()  # load the index and the model before the first message
    engine.embedder  # noqa: B018
    asker = build_asker(engine, settings)
    server = build_mcp_server(engine, lambda: asker, caller_of)
    anyio.run(server.run_stdio_async)
