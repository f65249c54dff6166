"""The state store in PostgreSQL (psycopg 3 and a psycopg_pool connection pool): one for every replica."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from index.state.base import Params, Rows, StateSession, StateStoreError
from index.state.migrations import migrate_state


def _pg(sql: str) -> str:
    """Portable SQL to psycopg's placeholders: `?` becomes `%s` (a literal `%` is doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def redacted(params: dict[str, Any]) -> str:
    """postgresql://user@host:port/dbname, never the password."""
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host') or 'localhost'}{port}/{params.get('dbname') or ''}"


class _Session:
    def __init__(self, conn: Any, where: str):
        self._conn = conn
        self._where = where

    def query(self, sql: str, params: Params = ()) -> Rows:
        import psycopg

        try:
            cur = self._conn.execute(_pg(sql), tuple(params))
            return list(cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise StateStoreError(f"state store {self._where}: {exc}") from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        import psycopg

        try:
            return int(self._conn.execute(_pg(sql), tuple(params)).rowcount)
        except psycopg.Error as exc:
            raise StateStoreError(f"state store {self._where}: {exc}") from exc


class PostgresStateStore:
    """A pool of `pool_size` connections; each is checked before use, so a restarted server costs no
    failed request. Opening connects once first so a wrong URL fails at once with libpq's reason."""

    backend = "postgresql"

    def __init__(self, url: str, pool_size: int = 10, connect_timeout_s: float = 5.0):
        try:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError as exc:
            raise StateStoreError(
                "a PostgreSQL state store needs psycopg and psycopg_pool: pip install 'whoknows[postgres]'"
            ) from exc
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StateStoreError(f"not a valid PostgreSQL URL: {exc}") from exc
        self.location = redacted(params)
        timeout = max(1, round(connect_timeout_s))
        try:
            psycopg.connect(url, connect_timeout=timeout).close()
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise StateStoreError(f"cannot connect to {self.location}: {reason}") from exc
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            check=ConnectionPool.check_connection,
            timeout=connect_timeout_s,
            kwargs={"connect_timeout": timeout},
            name="whoknows-state",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StateStoreError(f"cannot connect to {self.location}: {exc}") from exc
        self._errors: tuple[type[BaseException], ...] = (psycopg.Error, PoolTimeout)
        migrate_state(self)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except StateStoreError:
            raise
        except self._errors as exc:
            raise StateStoreError(f"state store {self.location}: {exc}") from exc

    def query(self, sql: str, params: Params = ()) -> Rows:
        with self._connection() as conn:
            return _Session(conn, self.location).query(sql, params)

    def execute(self, sql: str, params: Params = ()) -> int:
        with self._connection() as conn:
            return _Session(conn, self.location).execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[StateSession]:
        # The pool's connection block is one transaction: committed at its end, rolled back on error.
        with self._connection() as conn:
            yield _Session(conn, self.location)

    def close(self) -> None:
        self._pool.close()
