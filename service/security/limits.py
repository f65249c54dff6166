"""Request limits: a token bucket per caller (429 + Retry-After) and a request body cap (413).

Buckets live in the process by default. With a PostgreSQL state store they are shared by every replica
(`rate_limit_shared`, on by default there), so a caller gets `rate_limit_per_minute` in all, not that
much per replica: one atomic upsert per request refills and spends the caller's bucket.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from typing import Protocol

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.state.base import StateStore
from service.security.auth import identify
from service.settings import Settings


class Limiter(Protocol):
    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until a token is available."""
        ...


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


# The level after refilling: min(burst, tokens + elapsed * rate), elapsed never negative (clock skew
# between replicas). Written with CASE, which both backends read alike, instead of LEAST/MIN; in an
# upsert's SET every expression reads the row as it was, so `spent` and `tokens` see the same level.
_ELAPSED = (
    "CASE WHEN excluded.updated_s > rate_buckets.updated_s "
    "THEN excluded.updated_s - rate_buckets.updated_s ELSE 0 END"
)
_LEVEL = f"CASE WHEN rate_buckets.tokens + ({_ELAPSED}) * ? > ? THEN ? ELSE rate_buckets.tokens + ({_ELAPSED}) * ? END"
_TAKE = (
    "INSERT INTO rate_buckets(key, tokens, updated_s, spent) VALUES (?, ?, ?, 1) ON CONFLICT(key) DO UPDATE SET "
    f"tokens = CASE WHEN ({_LEVEL}) >= 1 THEN ({_LEVEL}) - 1 ELSE ({_LEVEL}) END, "
    f"spent = CASE WHEN ({_LEVEL}) >= 1 THEN 1 ELSE 0 END, "
    "updated_s = CASE WHEN excluded.updated_s > rate_buckets.updated_s THEN excluded.updated_s "
    "ELSE rate_buckets.updated_s END "
    "RETURNING tokens, spent"
)
_LEVELS_IN_TAKE = _TAKE.count(_LEVEL)  # each with its own four parameters


class SharedTokenBuckets:
    """The same buckets as `TokenBuckets`, kept in the state store's `rate_buckets` table.

    One upsert refills the caller's bucket, spends a token when there is one and says whether it did.
    Clocks are the replicas' wall clocks (kept in step by NTP). Buckets that are full again are
    deleted now and then, which changes nothing: a missing bucket starts full.
    """

    PRUNE_EVERY = 1000

    def __init__(self, state: StateStore, per_minute: float, burst: float | None = None):
        self.state = state
        self.rate_per_s = per_minute / 60.0
        self.burst = burst if burst is not None else max(1.0, per_minute)
        self._calls = 0
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        level = (self.rate_per_s, self.burst, self.burst, self.rate_per_s)
        [(left, spent)] = self.state.query(_TAKE, (key, self.burst - 1.0, now, *level * _LEVELS_IN_TAKE))
        with self._lock:
            self._calls += 1
            prune = self._calls % self.PRUNE_EVERY == 0
        if prune:
            full_again_s = self.burst / self.rate_per_s
            self.state.execute("DELETE FROM rate_buckets WHERE updated_s < ?", (now - full_again_s,))
        return 0.0 if int(spent) else (1.0 - float(left)) / self.rate_per_s


def rate_limit(request: Request) -> None:
    """Dependency on every API route: one token per request from the caller's bucket."""
    buckets: Limiter | None = request.app.state.rate_limiter
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


def make_limiter(settings: Settings, state: StateStore) -> Limiter | None:
    """No limiter when `rate_limit_per_minute` is 0 or less (load tests, trusted batch clients); shared
    buckets when `rate_limit_shared` says so (by default: when the state store is PostgreSQL)."""
    if settings.rate_limit_per_minute <= 0:
        return None
    shared = settings.rate_limit_shared
    if shared is None:
        shared = state.backend == "postgresql"
    if shared:
        return SharedTokenBuckets(state, settings.rate_limit_per_minute)
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
