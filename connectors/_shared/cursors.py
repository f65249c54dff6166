"""Cursors of incremental runs: reading the one a run is given, and the one a live-API run leaves."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from connectors.base import to_utc


def parse_cursor_leniently(since: str | None, log: logging.Logger) -> datetime | None:
    """The cursor as a UTC time; one that is not ISO 8601 is logged to `log` and reads everything (None)."""
    if not since:
        return None
    try:
        return to_utc(datetime.fromisoformat(since))
    except ValueError:
        log.warning("unreadable cursor %r: reading everything", since)
        return None


def held_cursor(since: datetime | None, newest: datetime | None, failed: list[datetime | None]) -> str | None:
    """`newest` (the newest change read), but never at or past the change of an item that failed, so the
    next run asks for it again; nor back before `since`. A failed item without a date holds it at `since`."""
    cursor = newest
    if failed:
        if any(d is None for d in failed):
            cursor = since
        else:
            bound = min(d for d in failed if d is not None) - timedelta(milliseconds=1)
            cursor = bound if cursor is None else min(cursor, bound)
            if since is not None:
                cursor = max(cursor, since)
    return cursor.isoformat() if cursor is not None else None
