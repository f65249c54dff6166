"""Who is calling: an API token, trusted proxy headers, or anonymous; and what the caller may do.

The peer address is the TCP peer (uvicorn runs with proxy_headers off): X-Forwarded-For never decides
whether proxy headers are trusted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from fastapi import HTTPException, Request

from index.acl import Principal
from service.security.tokens import TokenStore
from service.settings import Settings

log = logging.getLogger(__name__)

USER_SCOPES = frozenset({"search", "ask", "experts"})
ANONYMOUS_SCOPES = USER_SCOPES
MAX_HEADER_NAME = 256
MAX_GROUPS = 200


@dataclass(frozen=True)
class Caller:
    """The resolved identity of one request. `error` is set when authentication failed."""

    principal: Principal
    scopes: frozenset[str]
    via: str  # token | proxy | anonymous | none
    rate_key: str
    error: str | None = None
    bad_token: bool = False


@lru_cache(maxsize=64)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            log.error("ignoring invalid trusted proxy entry %r", entry)
    return tuple(out)


def is_trusted_proxy(settings: Settings, host: str | None) -> bool:
    if not host or not settings.trusted_proxies:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _networks(tuple(settings.trusted_proxies)))


def identity_sources(settings: Settings, tokens: TokenStore) -> list[str]:
    """How callers can be identified; empty means nobody could use the service."""
    out = []
    if settings.anonymous:
        out.append("anonymous")
    if settings.trusted_proxies:
        out.append("proxy")
    if tokens.active_count():
        out.append("tokens")
    return out


def _clean(value: str) -> str | None:
    value = value.strip()
    if not value or len(value) > MAX_HEADER_NAME or any(ord(ch) < 32 for ch in value):
        return None
    return value


def _proxy_caller(settings: Settings, request: Request, peer: str) -> Caller | None:
    raw_user = request.headers.get(settings.user_header)
    user = _clean(raw_user) if raw_user is not None else None
    if user is None:
        return None
    raw_groups = request.headers.get(settings.groups_header, "").split(",")[:MAX_GROUPS]
    groups = [g for g in (_clean(x) for x in raw_groups) if g]
    scopes = USER_SCOPES | ({"admin"} if set(groups) & set(settings.admin_groups) else set())
    principal = request.app.state.engine.principal(user, groups)
    return Caller(principal, frozenset(scopes), "proxy", f"user:{user}")


def _client_key(settings: Settings, request: Request, peer: str, trusted: bool) -> str:
    """Anonymous callers behind a trusted proxy are told apart by the address the proxy appended."""
    if trusted:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        if forwarded:
            return f"ip:{forwarded[:64]}"
    return f"ip:{peer}"


def token_caller(
    tokens: TokenStore,
    presented: str,
    rate_key: str,
    principal_of: Callable[[str | None, Sequence[str]], Principal],
) -> Caller:
    """The caller an API token stands for; an error Caller (rate-limited under `rate_key`) when it is
    unknown or revoked. HTTP requests and `whoknows mcp` over stdio both identify through this;
    `principal_of` turns the token's login and groups into a Principal (with the source accounts the
    people directory links to that login: `Engine.principal`)."""
    token = tokens.verify(presented)
    if token is None:
        return Caller(
            Principal.anonymous(),
            frozenset(),
            "none",
            rate_key,
            error="invalid or revoked token",
            bad_token=True,
        )
    return Caller(principal_of(token.user, token.groups), token.scopes, "token", f"token:{token.id}")


def anonymous_caller(settings: Settings, rate_key: str) -> Caller:
    """A caller without credentials: public documents only, or refused when anonymous access is off."""
    if settings.anonymous:
        return Caller(Principal.anonymous(), ANONYMOUS_SCOPES, "anonymous", rate_key)
    return Caller(Principal.anonymous(), frozenset(), "none", rate_key, error="authentication required")


def identify(request: Request) -> Caller:
    """Resolve (once per request) who is calling. Never raises: failures are recorded on the Caller."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    settings: Settings = request.app.state.settings
    tokens: TokenStore = request.app.state.tokens
    peer = request.client.host if request.client else "unknown"
    trusted = is_trusted_proxy(settings, peer)
    caller: Caller | None = None
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            caller = Caller(
                Principal.anonymous(),
                frozenset(),
                "none",
                f"ip:{peer}",
                error="unsupported Authorization header; use 'Bearer <token>'",
                bad_token=True,
            )
        else:
            caller = token_caller(tokens, credentials, f"ip:{peer}", request.app.state.engine.principal)
    if caller is None and trusted:
        caller = _proxy_caller(settings, request, peer)
    elif caller is None and request.headers.get(settings.user_header) is not None:
        log.warning("ignoring %s from %s: not a trusted proxy", settings.user_header, peer)
    if caller is None:
        caller = anonymous_caller(settings, _client_key(settings, request, peer, trusted))
    request.state.caller = caller
    return caller


def _unauthorized(caller: Caller) -> HTTPException:
    challenge = 'Bearer realm="whoknows"'
    if caller.bad_token:
        challenge += ', error="invalid_token"'
    return HTTPException(status_code=401, detail=caller.error, headers={"WWW-Authenticate": challenge})


def principal_from_request(request: Request) -> Principal:
    """The caller's identity for the ACL; 401 when there is none and anonymous access is off."""
    caller = identify(request)
    if caller.error:
        raise _unauthorized(caller)
    return caller.principal


def require_scope(scope: str) -> Callable[[Request], Caller]:
    """A dependency: 401 without a usable identity, 403 when the identity lacks `scope`."""

    def check(request: Request) -> Caller:
        caller = identify(request)
        if caller.error:
            raise _unauthorized(caller)
        if scope not in caller.scopes:
            if caller.via == "anonymous":
                raise _unauthorized(
                    Caller(
                        caller.principal,
                        frozenset(),
                        "none",
                        caller.rate_key,
                        error=f"the {scope!r} scope needs a signed-in user or a token",
                    )
                )
            raise HTTPException(status_code=403, detail=f"this identity lacks the {scope!r} scope")
        return caller

    check.__name__ = f"require_{scope}"
    return check
