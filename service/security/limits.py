"""Request limits: a token bucket per caller (429 + Retry-After) and a request body cap (413)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.security.auth import identify
from service.settings import Settings


class TokenBuckets:
    """One bucket per key, refilled continuously at `per_minute / 60` a second, holding at most `burst`.

    The least recently seen keys are forgotten beyond `max_keys`, so memory stays bounded under a flood
    of addresses; a forgotten key starts again with a full bucket.
    """

    def __init__(self, per_minute: float, burst: float | None = None, max_keys: int = 50_000):
        self.rate_per_s = per_minute / 60.0
        self.burst = burst if burst is not None else max(1.0, per_minute)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until a token is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate_per_s
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def rate_limit(request: Request) -> None:
    """Dependency on every API route: one token per request from the caller's bucket."""
    buckets: TokenBuckets | None = request.app.state.rate_limiter
    if buckets is None:
        return
    wait = buckets.take(identify(request).rate_key)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise HTTPException(
            status_code=429,
            detail=f"rate limit exceeded; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )


def make_limiter(settings: Settings) -> TokenBuckets | None:
    """No limiter when `rate_limit_per_minute` is 0 or less (load tests, trusted batch clients)."""
    if settings.rate_limit_per_minute <= 0:
        return None
    return TokenBuckets(settings.rate_limit_per_minute)


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 before the app reads them, declared or chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, "invalid Content-Length")
                return
            if size > self.max_bytes:
                await _send_json(send, 413, f"request body over {self.max_bytes} bytes")
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        # Chunked: buffer up to the limit, then replay to the app.
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await _send_json(send, 413, f"request body over {self.max_bytes} bytes")
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
