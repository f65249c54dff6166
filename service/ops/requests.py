"""What happens around every HTTP request: an id, a server span, the Prometheus counters, one access line.

One middleware does all four so they agree on the route, the status and the duration they report.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.ops.logs import ACCESS_LOGGER, current_request_id, request_id_from
from service.ops.metrics import Metrics, route_label

access_log = logging.getLogger(ACCESS_LOGGER)
REQUEST_ID_HEADER = "x-request-id"


def _auth_of(scope: Scope) -> str | None:
    """How the caller was identified (token, proxy, anonymous; none: refused); never who. None for routes
    that identify nobody (the probes)."""
    caller = (scope.get("state") or {}).get("caller")
    return str(caller.via) if caller is not None else None


class RequestMiddleware:
    """Per request: X-Request-ID (the client's if plausible, else new) on the response and on every log
    line; a SERVER span named `METHOD route` (a W3C traceparent from the caller is its parent); the
    request counter and latency histogram by route template; an access line at info level."""

    def __init__(self, app: ASGIApp, metrics: Metrics, tracer: Tracer | None = None):
        self.app = app
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_from(headers.get(REQUEST_ID_HEADER))
        id_token = current_request_id.set(request_id)
        method = str(scope.get("method", ""))
        started = time.perf_counter()
        status = 500
        span = None
        span_token = None
        if self.tracer is not None:
            parent = propagate.extract(headers)
            span = self.tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "whoknows.request_id": request_id},
            )
            span_token = otel_context.attach(trace.set_span_in_context(span, parent))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed_s = time.perf_counter() - started
            route = route_label(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed_s)
            if span is not None:
                span.update_name(f"{method} {route}")
                span.set_attributes({"http.route": route, "http.response.status_code": status})
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                span.end()
            if span_token is not None:
                otel_context.detach(span_token)
            access_log.info(
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                elapsed_s * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed_s * 1000, 2),
                    "auth": _auth_of(scope),
                },
            )
            current_request_id.reset(id_token)
