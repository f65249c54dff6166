"""The retry loop the live-API connectors share, with Retry-After parsing and JSON answer decoding."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from connectors.base import to_utc

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # rate limited, or a server or proxy in trouble

Answer = TypeVar("Answer")


@dataclass(frozen=True, slots=True)
class Retry:
    """A try that failed in a way worth another: why, the server's Retry-After, the HTTP status if any."""

    problem: str
    wait_s: float | None = None
    status: int | None = None


def with_retries(
    attempt: Callable[[], Answer | Retry], tries: int, pause: Callable[[int, Retry], None]
) -> Answer | Retry:
    """Call `attempt` up to `tries` times until it gives an answer rather than a Retry, calling
    `pause(n, retry)` after the n-th try (from 1) when another follows. An error `attempt` raises is final
    and passes through. Returns the answer, or the last Retry when every try asked for another."""
    last = Retry("no attempt")
    for n in range(1, tries + 1):
        outcome = attempt()
        if not isinstance(outcome, Retry):
            return outcome
        last = outcome
        if n < tries:
            pause(n, outcome)
    return last


def doubling_delay_s(n: int, retry: Retry, backoff_s: float) -> float:
    """The wait after the n-th try (from 1): the server's Retry-After, else `backoff_s` doubled per try."""
    return retry.wait_s if retry.wait_s is not None else backoff_s * 2 ** (n - 1)


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date (a past date is 0); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (to_utc(when) - datetime.now(UTC)).total_seconds())


def decode_json(response: httpx.Response, what: str, error: Callable[[str], Exception]) -> Any:
    """The JSON body, or `error("<what>: why")`. Bytes are decoded by json: UTF-8/16/32 are detected."""
    try:
        return json.loads(response.content)
    except UnicodeDecodeError as exc:
        raise error(f"{what}: the answer is not UTF-8 JSON (byte {exc.start})") from None
    except ValueError as exc:
        raise error(f"{what}: invalid JSON ({exc})") from None
