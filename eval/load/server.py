"""`whoknows serve` in a child process on a free loopback port, for the search load test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
# The snapshot's name is admin-only (/readyz?verbose=1); 127.0.0.1 is a trusted proxy for this server and
# its default admin group is whoknows-admins.
ADMIN = {"X-Forwarded-User": "load-test", "X-Forwarded-Groups": "whoknows-admins"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`whoknows serve` in a child process: anonymous on, 127.0.0.1 a trusted proxy, no rate limit."""

    def __init__(self, home: Path, threads: int = 8, env: dict[str, str] | None = None, workers: int = 1):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "WHOKNOWS_RATE_LIMIT_PER_MINUTE": "0",
            "WHOKNOWS_ANONYMOUS": "true",
            "WHOKNOWS_TRUSTED_PROXIES": '["127.0.0.1"]',
            **(env or {}),
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "--home",
                str(home),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--threads",
                str(threads),
                "--workers",
                str(workers),
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 600) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(
                    f"server exited with {self.proc.returncode}:\n{self.log.read().decode()[-3000:]}"
                )
            try:
                r = httpx.get(f"{self.url}/readyz?verbose=1", headers=ADMIN, timeout=5)
                if r.status_code == 200:
                    return str(r.json()["snapshot"])
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("server not ready in time")

    def snapshot(self) -> str:
        return str(httpx.get(f"{self.url}/readyz?verbose=1", headers=ADMIN, timeout=30).json()["snapshot"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
