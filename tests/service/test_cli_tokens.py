"""`whoknows tokens` and the identity check of `whoknows serve`, run as real subprocesses."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from index.state.sqlite_state import SqliteStateStore
from index.store.documents import Store
from service.security.tokens import TokenStore, hash_secret

REPO = Path(__file__).resolve().parents[2]


def whoknows(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        timeout=120,
    )


def test_create_list_revoke(tmp_path: Path) -> None:
    created = whoknows(
        tmp_path, "tokens", "create", "--user", "ana", "--groups", "hr,staff", "--scopes", "search,ask"
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("wk_") and len(secret) > 50
    assert "shown only now" in created.stderr

    listed = whoknows(tmp_path, "tokens", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert row["user"] == "ana" and row["groups"] == ["hr", "staff"] and row["scopes"] == ["ask", "search"]
    assert secret not in listed.stdout and secret.split("_", 2)[2] not in listed.stdout

    db = sqlite3.connect(tmp_path / "state.db")
    stored = db.execute("SELECT hash FROM api_tokens").fetchone()[0]
    assert len(stored) == 64 and secret.split("_", 2)[2] not in json.dumps(
        db.execute("SELECT * FROM api_tokens").fetchall()
    )
    tokens = TokenStore(SqliteStateStore(tmp_path / "state.db"))
    assert tokens.verify(secret) is not None

    revoked = whoknows(tmp_path, "tokens", "revoke", row["id"])
    assert revoked.returncode == 0 and row["id"] in revoked.stdout
    assert tokens.verify(secret) is None
    again = whoknows(tmp_path, "tokens", "revoke", row["id"])
    assert again.returncode == 2 and "no active token" in again.stderr
    assert "no tokens" in whoknows(tmp_path, "tokens", "list").stdout
    assert "revoked" in whoknows(tmp_path, "tokens", "list", "--all").stdout


def test_create_refuses_unknown_scopes_and_bad_names(tmp_path: Path) -> None:
    r = whoknows(tmp_path, "tokens", "create", "--user", "ana", "--scopes", "search,root")
    assert r.returncode == 2 and "unknown scope root" in r.stderr
    r = whoknows(tmp_path, "tokens", "create", "--user", "ana bob", "--scopes", "search")
    assert r.returncode == 2 and "invalid user name" in r.stderr


def test_serve_refuses_to_start_without_any_identity_source(tmp_path: Path) -> None:
    r = whoknows(tmp_path, "serve", "--port", "1", env={"WHOKNOWS_ANONYMOUS": "false"})
    assert r.returncode == 2
    assert "no identity source" in r.stderr and "whoknows tokens create" in r.stderr


def test_a_bad_or_unreachable_database_url_is_a_clear_error(tmp_path: Path) -> None:
    r = whoknows(tmp_path, "tokens", "list", env={"WHOKNOWS_DATABASE_URL": "mysql://root:pw@db/whoknows"})
    assert r.returncode == 2 and "WHOKNOWS_DATABASE_URL: unsupported database URL (mysql://...)" in r.stderr
    url = "postgresql://whoknows:hunter2secret@127.0.0.1:1/whoknows"
    for args in (("tokens", "create", "--user", "ana"), ("serve", "--port", "1")):
        r = whoknows(tmp_path, *args, env={"WHOKNOWS_DATABASE_URL": url})
        assert r.returncode == 2, r.stderr
        assert (
            "WHOKNOWS_DATABASE_URL: cannot connect to postgresql://whoknows@127.0.0.1:1/whoknows" in r.stderr
        )
        assert "hunter2secret" not in r.stderr + r.stdout and "Traceback" not in r.stderr
    r = whoknows(tmp_path, "tokens", "list", env={"WHOKNOWS_DATABASE_URL": "sqlite://relative.db"})
    assert r.returncode == 2 and "expected sqlite:///ABSOLUTE/PATH/state.db" in r.stderr


def test_tokens_of_an_older_install_keep_working(tmp_path: Path) -> None:
    """Before the state store, tokens lived in the index database; the first open copies them over."""
    Store(tmp_path).close()  # an index database whose schema still has the api_tokens table
    db = sqlite3.connect(tmp_path / "whoknows.db")
    db.execute(
        "INSERT INTO api_tokens(id, user, groups, scopes, hash, created_at) VALUES (?,?,?,?,?,?)",
        (
            "0123456789ab",
            "ana",
            '["staff"]',
            '["search"]',
            hash_secret("s" * 43),
            "2026-01-01T00:00:00+00:00",
        ),
    )
    db.commit()
    db.close()
    [row] = json.loads(whoknows(tmp_path, "tokens", "list", "--json").stdout)
    assert row["id"] == "0123456789ab" and row["user"] == "ana" and row["groups"] == ["staff"]
    tokens = TokenStore(SqliteStateStore(tmp_path / "state.db"))
    assert tokens.verify(f"wk_0123456789ab_{'s' * 43}") is not None
