"""The state store contract: short transactions of portable SQL, on a local SQLite file or PostgreSQL.

The index (documents, chunks, vectors) is written by the reindex job alone and published as snapshots;
the state store holds what changes while the service runs and must be the same for every replica:
API tokens and their revocation, shared rate-limit buckets, run reports. It is one interface with two
backends, so a feature adds a migration and a module of SQL, never a backend of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any]
Rows = list[tuple[Any, ...]]


class StateStoreError(Exception):
    """The state store cannot be opened, reached or migrated, or refused a statement; says where."""


class StateSession(Protocol):
    """The statements of one transaction.

    SQL is written once for both backends: `?` placeholders, no literal `?` or `%`, standard types
    (TEXT, INTEGER, DOUBLE PRECISION), `INSERT ... ON CONFLICT` and `RETURNING`; names that are
    reserved words in PostgreSQL (`user`) are double-quoted.
    """

    def query(self, sql: str, params: Params = ()) -> Rows:
        """Run one statement; its rows (none for a statement without a result)."""
        ...

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...


class StateStore(StateSession, Protocol):
    """A pool of sessions. `query` and `execute` on the store itself run in a transaction of their own.

    Nothing is cached between calls: a row another process committed (a revoked token) is what the
    next call reads.
    """

    backend: str  # "sqlite" | "postgresql"
    location: str  # where it lives, for messages: a path, or the URL without its password

    def transaction(self) -> AbstractContextManager[StateSession]:
        """One write transaction, committed when the block ends and rolled back if it raises."""
        ...

    def close(self) -> None: ...
