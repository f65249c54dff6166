"""`whoknows serve --workers N`: N server processes on one port, as real subprocesses on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.test_cli_tokens import REPO, whoknows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def test_workers_serve_one_port_from_several_processes(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    env["WHOKNOWS_ANONYMOUS"] = "true"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "--home",
            str(tmp_path),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        answered = 0
        while time.monotonic() < deadline and answered < 2:
            try:
                # fresh connections, so both workers get some
                answered += httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert answered == 2
        workers = [
            c
            for c in children(proc.pid)
            if "multiprocessing" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")
        ]
        assert len(workers) >= 2  # two spawned workers (and possibly the resource tracker)
        r = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": "anything"}, timeout=30)
        assert r.status_code in (200, 503)  # an empty home: nothing indexed yet, but a real answer
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert "with 2 worker processes" in out


def test_workers_refuse_a_cron_schedule(tmp_path: Path) -> None:
    r = whoknows(
        tmp_path,
        "serve",
        "--port",
        "1",
        "--workers",
        "2",
        "--reindex-cron",
        "0 2 * * *",
        env={"WHOKNOWS_ANONYMOUS": "true"},
    )
    assert r.returncode == 2 and "--reindex-cron runs in one server process" in r.stderr
