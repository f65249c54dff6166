"""API tokens: a high-entropy secret shown once, kept only as its sha256, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from index.state.base import StateStore, StateStoreError
from index.store.documents import utc_now

log = logging.getLogger(__name__)

SCOPES = ("search", "ask", "experts", "admin")
TOKEN_PREFIX = "wk"
# wk_<12 hex id>_<43 url-safe characters>; the id is public (list, revoke), the secret is not.
_TOKEN = re.compile(r"^wk_([0-9a-f]{12})_([A-Za-z0-9_-]{32,128})$")
_GROUP = re.compile(r"^[\w.@:-]{1,128}$")
TOUCH_EVERY_S = 60.0


class TokenError(ValueError):
    """A token request that cannot be honoured (unknown scope, bad user or group name)."""


@dataclass(frozen=True)
class ApiToken:
    """A stored token, without its secret."""

    id: str
    user: str
    groups: tuple[str, ...]
    scopes: frozenset[str]
    created_at: str
    revoked_at: str | None
    last_used_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> frozenset[str]:
    scopes = frozenset(s.strip().lower() for s in values if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise TokenError(f"unknown scope {', '.join(unknown)} (known: {', '.join(SCOPES)})")
    if not scopes:
        raise TokenError(f"a token needs at least one scope ({', '.join(SCOPES)})")
    return scopes


def _row(row: Sequence[Any]) -> ApiToken:
    return ApiToken(
        id=row[0],
        user=row[1],
        groups=tuple(json.loads(row[2])),
        scopes=frozenset(json.loads(row[3])),
        created_at=row[4],
        revoked_at=row[5],
        last_used_at=row[6],
    )


_COLUMNS = 'id, "user", groups, scopes, created_at, revoked_at, last_used_at'


class TokenStore:
    """The `api_tokens` table of the state store, shared by every replica.

    `verify` reads the row on every request (no cache), so a token revoked through any process is
    refused by every other on its next request; only the `last_used_at` bookkeeping is rate-limited.
    """

    def __init__(self, state: StateStore):
        self.state = state
        self._touched: dict[str, float] = {}

    def create(self, user: str, groups: Iterable[str], scopes: Iterable[str]) -> tuple[ApiToken, str]:
        """Store a new token; returns it and the secret string, which is never shown again."""
        user = user.strip()
        if not user or not _GROUP.match(user):
            raise TokenError(f"invalid user name {user!r}")
        group_list = sorted({g.strip() for g in groups if g.strip()})
        bad = [g for g in group_list if not _GROUP.match(g)]
        if bad:
            raise TokenError(f"invalid group name {bad[0]!r}")
        scope_set = parse_scopes(scopes)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = utc_now()
        self.state.execute(
            'INSERT INTO api_tokens(id, "user", groups, scopes, hash, created_at) VALUES (?,?,?,?,?,?)',
            (token_id, user, json.dumps(group_list), json.dumps(sorted(scope_set)), hash_secret(secret), now),
        )
        token = ApiToken(token_id, user, tuple(group_list), scope_set, now, None, None)
        return token, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def list(self, include_revoked: bool = True) -> list[ApiToken]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self.state.query(f"SELECT {_COLUMNS} FROM api_tokens{where} ORDER BY created_at, id")
        return [_row(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; False when there is no such active token."""
        changed = self.state.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (utc_now(), token_id)
        )
        return changed > 0

    def active_count(self) -> int:
        return int(self.state.query("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")[0][0])

    def verify(self, presented: str) -> ApiToken | None:
        """The active token `presented` stands for, or None. The hash comparison is constant-time."""
        match = _TOKEN.match(presented.strip())
        if not match:
            return None
        token_id, secret = match.groups()
        rows = self.state.query(f"SELECT {_COLUMNS}, hash FROM api_tokens WHERE id = ?", (token_id,))
        row = rows[0] if rows else None
        if row is None:
            hmac.compare_digest(
                hash_secret(secret), hash_secret("")
            )  # same work whether or not the id exists
            return None
        if not hmac.compare_digest(str(row[7]), hash_secret(secret)) or row[5] is not None:
            return None
        self._touch(token_id)
        return _row(row)

    def _touch(self, token_id: str) -> None:
        """Record use at most once a minute per process; bookkeeping that fails is retried next time
        and never fails the request it belongs to."""
        now = time.monotonic()
        if now - self._touched.get(token_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
            return
        self._touched[token_id] = now
        try:
            self.state.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (utc_now(), token_id))
        except StateStoreError as exc:
            log.warning("could not record the use of token %s: %s", token_id, exc)
            self._touched.pop(token_id, None)
