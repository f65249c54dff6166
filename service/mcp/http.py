"""POST /mcp: the MCP server over streamable HTTP, inside the API app.

The SDK's transport runs stateless with JSON responses: every request carries its own bearer token and is
identified on its own, so any replica can serve any request and no session outlives a token's
revocation. In front of it sits the API's own identity check (401 without a usable identity, e.g. no
token where anonymous access is off), the API's rate limit, and an Origin check: the spec asks servers
to refuse browser requests from other sites, which is how DNS rebinding would reach an intranet server.
Host names are not checked here (the SDK's default allows only localhost); that is the reverse proxy's
job, as for every other route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import HTTPException
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from service.security.auth import principal_from_request
from service.security.limits import rate_limit

MCP_PATH = "/mcp"
MCP_METHODS = ["GET", "POST", "DELETE"]


def _cross_origin(request: Request) -> bool:
    """True for a browser request sent from another site (an Origin whose host is not ours)."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


class McpEndpoint:
    """The ASGI app behind the /mcp route: checks, then the SDK's streamable HTTP transport."""

    def __init__(self, server: MCPServer):
        self.transport = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.session_manager = server.session_manager
        self.running = False

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The transport's task group; the app's lifespan holds it open while the app serves."""
        async with self.session_manager.run():
            self.running = True
            try:
                yield
            finally:
                self.running = False

    def _refusal(self, request: Request) -> Response | None:
        if not self.running:
            detail = "the MCP endpoint needs the ASGI lifespan (uvicorn runs it unless told --lifespan off)"
            return JSONResponse({"detail": detail}, status_code=503)
        if _cross_origin(request):
            return JSONResponse({"detail": "cross-origin requests to /mcp are refused"}, status_code=403)
        try:
            principal_from_request(request)
            rate_limit(request)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(Request(scope, receive))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.transport(scope, receive, send)
