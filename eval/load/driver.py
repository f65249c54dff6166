"""Load generators for the search load test: wrk with a Lua script, or an httpx stand-in, and what they measured."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

MAX_RUN_S = 600


@dataclass(frozen=True)
class LoadPlan:
    """GET `paths` in turn from `url` with `headers` over `connections` connections, for `duration_s`
    or, when `stop` is given, until it is set."""

    url: str
    paths: Sequence[str]
    headers: dict[str, str]
    duration_s: int
    connections: int
    stop: threading.Event | None = None


@dataclass
class LoadResult:
    """What one load run measured."""

    tool: str
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    def line(self, label: str) -> str:
        return (
            f"{label:<42} {self.rps:8.1f} req/s  p50 {self.p50_ms:7.1f} ms  p99 {self.p99_ms:7.1f} ms  "
            f"{self.requests:6d} requests  non-2xx {self.non_2xx}  socket errors {self.socket_errors}  ({self.tool})"
        )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _lua(paths: Sequence[str], headers: dict[str, str]) -> str:
    lines = ["local paths = {"] + [f'  "{p}",' for p in paths] + ["}"]
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    lines += [
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        "  return wrk.format('GET', paths[(i % #paths) + 1])",
        "end",
    ]
    return "\n".join(lines) + "\n"


def parse_wrk(out: str, duration_s: int) -> LoadResult:
    """wrk's `--latency` summary as a LoadResult (`duration_s` when wrk does not say how long it ran)."""
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    seconds_match = re.search(r"requests in ([\d.]+)(ms|s|m)", out)
    seconds = _ms("".join(seconds_match.groups())) / 1000 if seconds_match else float(duration_s)
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, flags=re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return LoadResult(
        tool="wrk",
        seconds=seconds,
        requests=requests,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(pct["50"]),
        p99_ms=_ms(pct["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


def run_wrk(plan: LoadPlan) -> LoadResult:
    """wrk for the plan's `duration_s`, or until its `stop` is set (wrk prints its summary on SIGINT)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_lua(plan.paths, plan.headers))
        script = fh.name
    length = MAX_RUN_S if plan.stop is not None else plan.duration_s
    try:
        proc = subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{plan.connections}",
                f"-d{length}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                script,
                plan.url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if plan.stop is not None:
            plan.stop.wait(MAX_RUN_S)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=length + 60)
    finally:
        os.unlink(script)
    if "requests in" not in out:
        raise SystemExit(f"wrk failed ({proc.returncode}): {err or out}")
    return parse_wrk(out, plan.duration_s)


def run_httpx(plan: LoadPlan) -> LoadResult:
    """The stand-in generator: the plan's `connections` workers, one request at a time each."""

    async def go() -> tuple[list[float], int, int, float]:
        latencies: list[float] = []
        bad = errors = 0
        limits = httpx.Limits(max_connections=plan.connections)
        async with httpx.AsyncClient(
            base_url=plan.url, headers=plan.headers, timeout=30, limits=limits
        ) as client:
            started = time.perf_counter()
            stop_at = started + (MAX_RUN_S if plan.stop is not None else plan.duration_s)

            async def worker(offset: int) -> None:
                nonlocal bad, errors
                i = offset
                while time.perf_counter() < stop_at and not (plan.stop is not None and plan.stop.is_set()):
                    t = time.perf_counter()
                    try:
                        r = await client.get(plan.paths[i % len(plan.paths)])
                        bad += not 200 <= r.status_code < 300
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append((time.perf_counter() - t) * 1000)
                    i += plan.connections

            await asyncio.gather(*(worker(n) for n in range(plan.connections)))
            return latencies, bad, errors, time.perf_counter() - started

    latencies, bad, errors, seconds = asyncio.run(go())
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult("httpx", seconds, len(latencies), len(latencies) / seconds, q[49], q[98], bad, errors)


def drive(plan: LoadPlan) -> LoadResult:
    """Run the plan with wrk when it is installed, with the httpx stand-in otherwise."""
    runner = run_wrk if shutil.which("wrk") else run_httpx
    return runner(plan)
