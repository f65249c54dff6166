"""The state store contract, run against both backends: SQLite (a temp file) and a real PostgreSQL.

Two store objects on one location stand for two processes (each has its own connections or pool).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.state.base import StateStore, StateStoreError
from index.state.connect import connect_state_store
from index.state.migrations import SCHEMA_VERSION
from index.state.runs import RunLog
from service.security.limits import SharedTokenBuckets
from service.security.tokens import TokenStore
from tests.postgres_server import Postgres, postgres  # noqa: F401  (the session's server)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state store location: a SQLite URL, or a new database on the test server."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'state.db'}"
        return
    server: Postgres = request.getfixturevalue("postgres")
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield server.url(name)


def opened(location: str) -> StateStore:
    return connect_state_store(location, Path("/nonexistent/unused.db"))


@pytest.fixture
def two(location: str) -> Iterator[tuple[StateStore, StateStore]]:
    a, b = opened(location), opened(location)
    yield a, b
    a.close()
    b.close()


def test_migrations_are_numbered_recorded_and_applied_once(two: tuple[StateStore, StateStore]) -> None:
    a, b = two
    rows = a.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1)) and all(r[1] for r in rows)
    assert b.query("SELECT COUNT(*) FROM schema_migrations") == [(SCHEMA_VERSION,)]  # b applied nothing


def test_replicas_starting_together_migrate_once(location: str) -> None:
    stores: list[StateStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(opened(location))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(stores) == 3
    assert stores[0].query("SELECT COUNT(*) FROM schema_migrations") == [(SCHEMA_VERSION,)]
    for s in stores:
        s.close()


def test_a_newer_schema_is_refused(two: tuple[StateStore, StateStore], location: str) -> None:
    a, _ = two
    a.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (99, 'future', 'x')")
    with pytest.raises(StateStoreError, match="newer than this WhoKnows"):
        opened(location)


def test_a_token_revoked_through_one_process_is_refused_by_the_other(
    two: tuple[StateStore, StateStore],
) -> None:
    a, b = TokenStore(two[0]), TokenStore(two[1])
    token, secret = a.create("ana", ["staff", "hr"], ["search", "ask"])
    seen = b.verify(secret)
    assert seen is not None and seen.user == "ana" and seen.groups == ("hr", "staff")
    assert b.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None  # a wrong secret
    assert a.active_count() == b.active_count() == 1
    assert b.revoke(token.id) and not b.revoke(token.id)
    assert a.verify(secret) is None  # at once: nothing cached
    [listed] = a.list()
    assert (
        listed.revoked_at is not None
        and listed.last_used_at is not None
        and a.list(include_revoked=False) == []
    )


def test_run_reports(two: tuple[StateStore, StateStore]) -> None:
    writer, reader = RunLog(two[0]), RunLog(two[1])
    assert reader.latest() is None and reader.last_finished_at() is None
    first = writer.start("ingest")
    second = writer.start("reindex")
    assert second > first
    writer.finish(second, "partial", {"sources": [{"name": "wiki", "status": "failed"}]})
    latest = reader.latest()
    assert latest is not None and latest["id"] == second and latest["status"] == "partial"
    assert latest["report"]["sources"][0]["status"] == "failed" and reader.last_finished_at() is not None


def test_a_failed_transaction_writes_nothing(two: tuple[StateStore, StateStore]) -> None:
    a, b = two
    with pytest.raises(RuntimeError), a.transaction() as tx:
        tx.execute("INSERT INTO runs(kind, started_at, status) VALUES ('ingest', 'now', 'running')")
        raise RuntimeError("boom")
    assert b.query("SELECT COUNT(*) FROM runs") == [(0,)]
    with pytest.raises(StateStoreError, match="state store"):
        a.query("SELECT nothing FROM nowhere")


def test_shared_buckets_are_one_bucket_for_every_process(two: tuple[StateStore, StateStore]) -> None:
    a, b = SharedTokenBuckets(two[0], per_minute=6), SharedTokenBuckets(two[1], per_minute=6)  # burst 6
    now = 1_000_000.0
    assert [(a if i % 2 else b).take("user:ana", now) for i in range(6)] == [0.0] * 6
    assert a.take("user:ana", now) == pytest.approx(10.0)  # one token per 10 s
    assert b.take("user:ana", now + 5) == pytest.approx(5.0)  # half a token refilled, none spent
    assert b.take("user:ana", now + 10) == 0.0
    assert a.take("user:ana", now + 10) == pytest.approx(10.0)
    assert a.take("user:ana", now - 3600) > 0  # a replica whose clock is behind refills nothing
    assert b.take("user:bob", now) == 0.0  # another caller has a bucket of its own
