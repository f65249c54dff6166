"""Mentoring notifications: one JSON POST per event to `WHOKNOWS_MENTORING_WEBHOOK_URL`.

The body is `{"event": ..., "sent_at": ..., "request": ..., "mentor": ..., "requester": ...}`; headers
name the event (`X-WhoKnows-Event`) and the delivery (`X-WhoKnows-Delivery`, a fresh id) and, with a
secret, carry `X-WhoKnows-Signature: sha256=<hex HMAC-SHA256 of the body>` so the receiver can check
the sender. One attempt within the timeout; a failure is recorded on the request, never fails it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

import httpx

from index.store.documents import utc_now
from service.settings import Settings

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-WhoKnows-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    """Where mentoring events go; `send` answers None when delivered, else why not."""

    def __init__(self, url: str, secret: str | None, timeout_s: float):
        self.url = url
        self._secret = secret
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Webhook | None:
        if settings.mentoring_webhook_url is None:
            return None
        secret = settings.mentoring_webhook_secret
        return cls(
            settings.mentoring_webhook_url,
            secret.get_secret_value() if secret is not None else None,
            settings.mentoring_webhook_timeout_s,
        )

    def send(self, event: str, payload: dict[str, Any]) -> str | None:
        body = json.dumps({"event": event, "sent_at": utc_now(), **payload}, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WhoKnows-webhook",
            "X-WhoKnows-Event": event,
            "X-WhoKnows-Delivery": uuid.uuid4().hex,
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            error = f"the webhook could not be reached: {type(exc).__name__}"
            log.warning("mentoring webhook: %s", error)
            return error
        if not response.is_success:
            error = f"the webhook answered {response.status_code}"
            log.warning("mentoring webhook: %s", error)
            return error
        return None
