"""The state store in a local SQLite file: the default, for one machine (one process or several)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.state.base import Params, Rows, StateSession, StateStoreError
from index.state.migrations import migrate_state

log = logging.getLogger(__name__)

# Tables an older WhoKnows kept in the index database (whoknows.db), copied once into a new state file
# so that an upgrade keeps every API token working and the run history.
LEGACY_TABLES = {
    "api_tokens": 'id, "user", groups, scopes, hash, created_at, revoked_at, last_used_at',
    "runs": "id, kind, started_at, finished_at, status, report",
}


WAL_RETRY_S = 0.02  # between tries to switch a new file to WAL while another connection holds it


class _Session:
    def __init__(self, conn: sqlite3.Connection, where: str):
        self._conn = conn
        self._where = where

    def query(self, sql: str, params: Params = ()) -> Rows:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self._where}: {exc}") from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return self._conn.execute(sql, tuple(params)).rowcount
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self._where}: {exc}") from exc


class SqliteStateStore:
    """One SQLite file in WAL mode, a connection per thread; writers wait up to `busy_timeout_s`."""

    backend = "sqlite"

    def __init__(self, path: Path, legacy_db: Path | None = None, busy_timeout_s: float = 5.0):
        self.path = path
        self.location = str(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateStoreError(f"state store {path}: cannot create its folder: {exc}") from exc
        before = migrate_state(self)
        if before == 0 and legacy_db is not None and legacy_db.exists():
            self._import_legacy(legacy_db)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                self._wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise StateStoreError(f"state store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL, waiting like any writer: turning a new file to WAL needs it to itself, and SQLite
        answers "database is locked" at once, without its busy wait, while another process (replicas
        starting together) holds it."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(WAL_RETRY_S)

    def query(self, sql: str, params: Params = ()) -> Rows:
        return _Session(self._conn(), self.location).query(sql, params)

    def execute(self, sql: str, params: Params = ()) -> int:
        return _Session(self._conn(), self.location).execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[StateSession]:
        conn = self._conn()
        session = _Session(conn, self.location)
        session.execute("BEGIN IMMEDIATE")
        try:
            yield session
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        session.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _import_legacy(self, legacy_db: Path) -> None:
        """Copy tokens and run reports from an index database that still holds them (read-only)."""
        try:
            source = sqlite3.connect(f"file:{legacy_db}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            log.warning("not importing tokens from %s: %s", legacy_db, exc)
            return
        try:
            with self.transaction() as tx:
                for table, columns in LEGACY_TABLES.items():
                    exists = source.execute(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                    ).fetchone()
                    if not exists:
                        continue
                    rows = source.execute(f"SELECT {columns} FROM {table}").fetchall()
                    marks = ",".join("?" * len(columns.split(",")))
                    for row in rows:
                        tx.execute(f"INSERT INTO {table}({columns}) VALUES ({marks})", row)
                    if rows:
                        log.warning(
                            "imported %d rows of %s from %s into %s", len(rows), table, legacy_db, self.path
                        )
        except sqlite3.Error as exc:
            log.warning("not importing tokens from %s: %s", legacy_db, exc)
        finally:
            source.close()
