"""Every contribution of a store read once and kept until the store changes, so a question does not
re-read and re-parse the whole contributions table.

What is cached holds no permission: each question still asks the store which documents the asker may
see (`visible_docs`, fresh every time) and keeps only their contributions, so a changed ACL takes
effect at once. The cache is refreshed when the store's fingerprint moves: its generation (bumped by
every change to chunks) and the row counts, largest ids and sums of the contribution and account tables
(a re-recorded document, a changed vote or a re-linked account each move one of them).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime

from index.acl import Principal, visible_sql
from index.experts.profile import ContributionRow
from index.store.documents import Store

_ALL_SQL = (
    "SELECT c.id, c.doc, a.person, c.role, c.at, c.weight FROM contributions c "
    "JOIN accounts a ON a.source = c.source AND a.account = c.account ORDER BY c.id"
)
_FINGERPRINT_SQL = (
    "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
    "(SELECT COUNT(*) || ':' || IFNULL(MAX(id), 0) || ':' || TOTAL(weight) || ':' || TOTAL(doc) "
    "|| ':' || TOTAL(length(role)) || ':' || TOTAL(length(at)) FROM contributions), "
    "(SELECT COUNT(*) || ':' || TOTAL(person) FROM accounts), (SELECT COUNT(*) FROM documents)"
)


@dataclass(frozen=True)
class _Snapshot:
    fingerprint: tuple[object, ...]
    rows: tuple[ContributionRow, ...]


class ContributionCache:
    """The contributions of one store, by the store's fingerprint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    def all_rows(self, db: sqlite3.Connection) -> tuple[ContributionRow, ...]:
        fingerprint = tuple(db.execute(_FINGERPRINT_SQL).fetchone())
        snap = self._snapshot
        if snap is not None and snap.fingerprint == fingerprint:
            return snap.rows
        with self._lock:
            rows = tuple(
                ContributionRow(r[0], r[1], r[2], r[3], _at(r[4]), float(r[5])) for r in db.execute(_ALL_SQL)
            )
            self._snapshot = _Snapshot(fingerprint, rows)
            return rows


def visible_docs(db: sqlite3.Connection, principal: Principal) -> set[int]:
    """The documents `principal` may see, asked of the store every time."""
    acl, params = visible_sql(principal)
    return {int(r[0]) for r in db.execute(f"SELECT d.id FROM documents d WHERE {acl}", params)}


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# One cache per open store, dropped with it (a weak key: the store's owner decides its lifetime).
_CACHES: weakref.WeakKeyDictionary[Store, ContributionCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def visible_contribution_rows(store: Store, principal: Principal) -> list[ContributionRow]:
    """Every contribution to a document `principal` may see, in contribution id order."""
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = ContributionCache()
    rows = cache.all_rows(store.db)
    visible = visible_docs(store.db, principal)
    return [r for r in rows if r.doc in visible]
