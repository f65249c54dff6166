"""The state store of this install, opened from settings: `WHOKNOWS_DATABASE_URL`, else <home>/state.db."""

from __future__ import annotations

from index.state.base import StateStore, StateStoreError
from index.state.connect import connect_state_store
from service.settings import Settings


def open_state(settings: Settings) -> StateStore:
    """Open (and migrate) the state store; a bad or unreachable URL is an error naming the setting."""
    url = settings.database_url.get_secret_value() if settings.database_url is not None else None
    try:
        return connect_state_store(
            url, settings.state_path, legacy_db=settings.db_path, pool_size=settings.database_pool_size
        )
    except StateStoreError as exc:
        raise StateStoreError(f"WHOKNOWS_DATABASE_URL: {exc}" if url else str(exc)) from exc
