"""Open the state store a URL names: none means the local SQLite file, postgresql:// means PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from index.state.base import StateStore, StateStoreError

SCHEMES = ("postgresql", "postgres", "sqlite")


def connect_state_store(
    url: str | None, default_path: Path, legacy_db: Path | None = None, pool_size: int = 10
) -> StateStore:
    """`None`: SQLite at `default_path` (importing tokens from `legacy_db` when new); `sqlite:///PATH`:
    SQLite at /PATH; `postgresql://user:password@host:port/db` (or `postgres://`): PostgreSQL."""
    if url is None or not url.strip():
        from index.state.sqlite_state import SqliteStateStore

        return SqliteStateStore(default_path, legacy_db=legacy_db)
    url = url.strip()
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        if not path.startswith("/") or path == "/":
            raise StateStoreError(f"sqlite URL {url!r}: expected sqlite:///ABSOLUTE/PATH/state.db")
        from index.state.sqlite_state import SqliteStateStore

        return SqliteStateStore(Path(path))
    if scheme in ("postgresql", "postgres"):
        from index.state.postgres_state import PostgresStateStore

        return PostgresStateStore(url, pool_size=pool_size)
    shown = f"{scheme}://..." if scheme else "a value without a scheme"
    raise StateStoreError(
        f"unsupported database URL ({shown}); expected postgresql://USER:PASSWORD@HOST:PORT/DB or "
        "sqlite:///PATH"
    )
