"""A real PostgreSQL on loopback for tests: Debian's server, its own data folder in a temp dir.

`initdb` and `pg_ctl` refuse to run as root, so as root they run as the `postgres` user that
Debian's package creates (through `runuser`), on a data folder that user owns; as anyone else they
run as that user. The server listens on 127.0.0.1 only, on a free port, without a Unix socket, with
password (scram-sha-256) authentication, and is stopped (`pg_ctl stop -m immediate` if need be) and
its folder removed when the fixture ends, even on failure. Needs the package `postgresql`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "whoknows"
DATABASE = "whoknows"


def postgres_bin(tool: str) -> Path:
    """`tool` from the newest /usr/lib/postgresql/N/bin (Debian keeps them off PATH), else from PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for folder in versions:
        if (folder / tool).exists():
            return folder / tool
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"PostgreSQL's {tool} not found: install the Debian package postgresql (make test does)")
    return Path(found)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL tool, as the `postgres` user when we are root."""
    command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    folder = Path(tempfile.mkdtemp(prefix="wkpg-"))
    data, log = folder / "data", folder / "server.log"
    password = secrets.token_urlsafe(16)
    (folder / "pw").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "pw", "postgres")
    port = free_port()
    started = False
    try:
        run(str(postgres_bin("initdb")), "-D", str(data), "-U", USER, "--pwfile", str(folder / "pw"),
            "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
        run(
            str(postgres_bin("pg_ctl")),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        started = True
        server = Postgres(port, password)
        import psycopg

        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield server
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"PostgreSQL did not start: {exc.stderr}\n{log.read_text() if log.exists() else ''}")
    finally:
        if started:
            try:
                run(str(postgres_bin("pg_ctl")), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
            except subprocess.SubprocessError:
                run(str(postgres_bin("pg_ctl")), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server
