"""Two stateless replicas serving one published snapshot folder, with a reindex job publishing to it.

The job has a home of its own (its store of record, its vector cache) and publishes snapshots into a
shared folder (WHOKNOWS_SNAPSHOTS_DIR). Each replica has an empty home and the same two settings: the
shared folder and the PostgreSQL state store. While a load driver searches both replicas, the job
publishes a new snapshot; both swap to it, no request fails, and neither replica ever writes or needs a
home store.
"""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.postgres_server import Postgres, postgres  # noqa: F401  (the session's server)
from tests.service.test_replicas_postgres import replica, replica_env, whoknows

pytestmark = pytest.mark.slow

PAGES = {
    "backups.md": "# Backups\n\nDatabase backups are kept for 35 days in cold storage.",
    "vpn.md": "# VPN\n\nConnect to the office VPN with WireGuard.",
    "oncall.md": "# On-call\n\nThe platform team rotates pager duty weekly.",
}


def sources(folder: Path) -> Path:
    config = folder.parent / "sources.toml"
    config.write_text(
        f'[[sources]]\nname = "handbook"\ntype = "files"\npath = "{folder}"\nacl = {{ public = true }}\n'
    )
    return config


def answer(url: str) -> str:
    hits = httpx.get(f"{url}/search", params={"q": "how long are backups kept", "k": 1}, timeout=30).json()
    return str(hits["hits"][0]["snippet"]) if hits["hits"] else ""


def test_replicas_serve_the_shared_snapshot_and_swap_without_a_failed_request(
    postgres: Postgres,  # noqa: F811
    tmp_path: Path,
) -> None:
    import psycopg

    database = f"snapshots_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    shared = tmp_path / "shared-snapshots"
    env = {
        **replica_env(postgres.url(database)),
        "WHOKNOWS_SNAPSHOTS_DIR": str(shared),
        "WHOKNOWS_ANONYMOUS": "true",
        "WHOKNOWS_RATE_LIMIT_PER_MINUTE": "0",
    }
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in PAGES.items():
        (docs / name).write_text(text)
    job = tmp_path / "job"
    first = whoknows(job, env, "reindex", "--config", str(sources(docs)), "--json")
    assert first.returncode == 0, first.stderr
    assert (shared / "CURRENT").exists() and not (job / "snapshots").exists()

    failures: list[str] = []
    served = 0
    stop = threading.Event()
    with ExitStack() as stack:
        a = stack.enter_context(replica(tmp_path / "a", env))
        b = stack.enter_context(replica(tmp_path / "b", env))
        assert "35 days" in answer(a) and "35 days" in answer(b)

        def load() -> None:
            nonlocal served
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    for url in (a, b):
                        r = client.get(f"{url}/search", params={"q": "backups retention vpn", "k": 3})
                        served += 1
                        if r.status_code != 200:
                            failures.append(f"{url}: {r.status_code} {r.text[:200]}")

        driver = threading.Thread(target=load, daemon=True)
        driver.start()
        (docs / "backups.md").write_text(
            "# Backups\n\nDatabase backups are kept for 90 days in cold storage."
        )
        second = whoknows(job, env, "reindex", "--config", str(sources(docs)), "--json")
        assert second.returncode == 0, second.stderr
        deadline = time.monotonic() + 60
        while not ("90 days" in answer(a) and "90 days" in answer(b)):
            assert time.monotonic() < deadline, "a replica did not pick up the new snapshot"
            time.sleep(0.2)
        time.sleep(1.0)  # more load on the new snapshot
        stop.set()
        driver.join(timeout=30)
    assert served > 20 and failures == [], failures[:5]
    for home in (tmp_path / "a", tmp_path / "b"):
        assert not (home / "whoknows.db").exists(), "a replica opened a home store"
