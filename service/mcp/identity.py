"""Who is calling an MCP tool, resolved exactly as the REST API does (service/security/auth.py).

Over HTTP the /mcp gate has already identified the request (bearer token, trusted proxy headers or
anonymous) and left the Caller on the request's state; over stdio the token `whoknows mcp` was started
with is verified again on every message, so a revoked token stops working without a restart. A server
middleware puts the caller in a context variable for the tools and resources of that one message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import MCPServerError, ToolError

from index.acl import Principal
from service.security.auth import Caller, anonymous_caller, token_caller
from service.security.tokens import TokenStore
from service.settings import Settings

# the message being handled (None: asked outside a message, e.g. when `whoknows mcp` starts) -> its caller
CallerOf = Callable[[ServerRequestContext[Any, Any] | None], Caller]
NOBODY = Caller(Principal.anonymous(), frozenset(), "none", "mcp:none", error="authentication required")
STDIO_RATE_KEY = "mcp:stdio"

current_caller: ContextVar[Caller] = ContextVar("whoknows_mcp_caller", default=NOBODY)


def http_caller(ctx: ServerRequestContext[Any, Any] | None) -> Caller:
    """The Caller the /mcp gate resolved for this HTTP request (nobody, if the gate was bypassed)."""
    state = getattr(ctx.request, "state", None) if ctx is not None else None
    caller = getattr(state, "caller", None) if state is not None else None
    return caller if isinstance(caller, Caller) else NOBODY


def stdio_caller(
    settings: Settings, tokens: TokenStore, principal_of: Callable[[str | None, Sequence[str]], Principal]
) -> CallerOf:
    """The Caller of `settings.mcp_token` (WHOKNOWS_MCP_TOKEN), or anonymous when none is set."""

    def resolve(ctx: ServerRequestContext[Any, Any] | None) -> Caller:
        if settings.mcp_token is None:
            return anonymous_caller(settings, STDIO_RATE_KEY)
        return token_caller(tokens, settings.mcp_token.get_secret_value(), STDIO_RATE_KEY, principal_of)

    return resolve


class CallerMiddleware:
    """MCP server middleware: the caller of each inbound message, in `current_caller` while it runs."""

    def __init__(self, caller_of: CallerOf):
        self.caller_of = caller_of

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        token = current_caller.set(self.caller_of(ctx))
        try:
            return await call_next(ctx)
        finally:
            current_caller.reset(token)


def principal_for(scope: str, error: type[MCPServerError] = ToolError) -> Principal:
    """The current caller's principal, if it may use `scope`; else `error` (a ToolError for tools, a
    ResourceError for resources), whose message the model reads."""
    caller = current_caller.get()
    if caller.error:
        raise error(caller.error)
    if scope not in caller.scopes:
        raise error(f"this identity lacks the {scope!r} scope")
    return caller.principal


def is_admin() -> bool:
    return "admin" in current_caller.get().scopes
