"""Two `whoknows serve` replicas on one PostgreSQL state store (Debian's server on loopback).

Each replica has a home folder of its own and shares nothing with the other but
WHOKNOWS_DATABASE_URL: a token made through one works on the other, one revoked through either is
refused by both on the very next request, and a caller's rate limit is one bucket across both.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.postgres_server import Postgres, free_port, postgres  # noqa: F401  (the session's server)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def replica_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    return {
        **env,
        "WHOKNOWS_DATABASE_URL": url,
        "WHOKNOWS_ANONYMOUS": "false",
        "WHOKNOWS_RATE_LIMIT_PER_MINUTE": "5",
    }


def whoknows(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip


@contextmanager
def replica(home: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = home.parent / f"{home.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "--home", str(home), "serve", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "replica not up in time"
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_replicas_share_tokens_revocation_and_rate_limits(postgres: Postgres, tmp_path: Path) -> None:  # noqa: F811
    import psycopg

    database = f"replicas_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    env = replica_env(postgres.url(database))
    home_a, home_b = tmp_path / "a", tmp_path / "b"

    made = whoknows(home_a, env, "tokens", "create", "--user", "ana", "--groups", "staff", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    other = json.loads(whoknows(home_a, env, "tokens", "create", "--user", "bob", "--json").stdout)

    with ExitStack() as stack:
        a = stack.enter_context(replica(home_a, env))
        b = stack.enter_context(replica(home_b, env))
        auth = {"Authorization": f"Bearer {token['token']}"}
        assert httpx.get(f"{b}/sources", headers=auth).status_code == 200  # made through A, works on B
        assert httpx.get(f"{a}/sources", headers=auth).status_code == 200

        revoked = whoknows(home_b, env, "tokens", "revoke", token["id"])
        assert revoked.returncode == 0, revoked.stderr
        refused = httpx.get(f"{a}/sources", headers=auth)  # the very next request on A
        assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]
        assert httpx.get(f"{b}/sources", headers=auth).status_code == 401

        bob = {"Authorization": f"Bearer {other['token']}"}
        codes = [httpx.get(f"{(a, b)[i % 2]}/sources", headers=bob).status_code for i in range(6)]
        assert codes == [200] * 5 + [429]  # 5 a minute in all, not 5 per replica
        limited = httpx.get(f"{a}/sources", headers=bob)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1

    listed = json.loads(whoknows(home_b, env, "tokens", "list", "--all", "--json").stdout)
    assert {t["id"]: t["revoked_at"] is not None for t in listed} == {token["id"]: True, other["id"]: False}
    assert all(t["last_used_at"] for t in listed)
    assert not (home_a / "state.db").exists() and not (home_b / "state.db").exists()  # state is in PostgreSQL
