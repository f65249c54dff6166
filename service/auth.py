"""Who is calling: trusted proxy headers, API tokens, or anonymous. One dependency for every route."""

from __future__ import annotations

import ipaddress

from fastapi import HTTPException, Request

from index.acl import Principal
from service.settings import Settings


def _trusted(settings: Settings, host: str | None) -> bool:
    if not host or not settings.trusted_proxies:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in settings.trusted_proxies:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def principal_from_request(request: Request) -> Principal:
    """The caller's identity; proxy headers count only when the peer is a configured proxy."""
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else None
    if _trusted(settings, peer):
        user = request.headers.get(settings.user_header)
        if user:
            groups = [g.strip() for g in request.headers.get(settings.groups_header, "").split(",")]
            return Principal.of(user.strip(), groups)
    if settings.anonymous:
        return Principal.anonymous()
    raise HTTPException(status_code=401, detail="authentication required")
