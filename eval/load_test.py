"""Search load test: `whoknows serve` under a bounded concurrent load of /search on loopback.

    python -m eval.load_test                      # demo index and the synthetic >=100k-chunk index
    python -m eval.load_test --home H --duration 20

Each scenario serves an index in a child process, drives /search with wrk (the Debian package; a small
httpx async generator stands in when wrk is missing) and prints p50, p99 and requests per second, then
runs again while a new snapshot is published mid-load and counts every non-2xx answer and socket error.

The synthetic index is SciFact (5,183 real abstracts, ~10.5k chunks) ingested as ten sources with
different ACLs (public, staff, one team each): real text for the keyword leg, real vectors for the
dense leg, ~105k chunks in all. Identical chunk texts share one embedding, so every abstract is
embedded once and kept in the index's vector cache (seeded from the SciFact eval index's cache when
that exists); later runs reuse the built index outright.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from connectors.base import Acl, ConnectorFailure, DocId, Section, SourceDocument, content_version
from connectors.config import SourceConfig, load_sources_config
from eval.beir import iter_corpus, load_queries
from service.engine import Engine
from service.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
SCIFACT = SHARED / "scifact_beir"
DEFAULT_WORK = REPO / ".whoknows-bench"
COPIES = 10
MAX_RUN_S = 600
LOAD_USER = {"X-Forwarded-User": "loadtest", "X-Forwarded-Groups": "staff,team-02"}
DEMO_QUERIES = [
    "how long do we keep database snapshots",
    "my laptop cannot reach internal tools from home",
    "kubernetes cluster upgrade",
    "postgres connection pooling",
    "refund a customer payment",
    "on-call handbook",
    "helm chart conventions",
    "feature store",
    "how we hire engineers",
    "code of conduct",
    "airflow dags",
    "observability dashboards",
    "pci scope",
    "schema migrations",
    "offices and opening hours",
    "welcome",
]


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


# --- indexes ------------------------------------------------------------------------------------


class ScifactCopy:
    """SciFact as source `scifact-NN`: same titles and text as the eval connector (so the same embedding
    cache keys), a doc id and ACL of its own per copy."""

    def __init__(self, n: int):
        self.n = n
        self.name = f"scifact-{n:02d}"
        kinds = ("public", "staff", "team")
        self.acl = {
            "public": Acl(public=True),
            "staff": Acl(public=False, groups=frozenset({"staff"})),
            "team": Acl(public=False, groups=frozenset({f"team-{n:02d}"})),
        }[kinds[n % 3]]
        self._cursor: str | None = None

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        stamp = datetime(2025, 1, 1 + self.n, tzinfo=UTC)
        for entry in iter_corpus(SCIFACT / "corpus.jsonl"):
            text = entry.text if entry.text.strip() else entry.title
            if not text.strip():
                continue
            yield SourceDocument(
                doc_id=f"{self.name}:{entry.doc_id}",
                source=self.name,
                kind="abstract",
                title=entry.title,
                sections=[Section(text=text)],
                updated_at=stamp,
                version=content_version(text.encode()),
                acl=self.acl,
            )
        self._cursor = stamp.isoformat()

    def list_ids(self) -> Iterator[DocId]:
        for entry in iter_corpus(SCIFACT / "corpus.jsonl"):
            yield f"{self.name}:{entry.doc_id}"

    @property
    def cursor(self) -> str | None:
        return self._cursor


class SwapSource:
    """One small document whose text changes on every run: each run publishes a new snapshot."""

    name = "bench-swap"

    def __init__(self, round_: int):
        self.round = round_

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        text = f"Load test marker round {self.round}: the lighthouse lamp was serviced at {time.time():.3f}."
        yield SourceDocument(
            doc_id=f"{self.name}:marker",
            source=self.name,
            kind="note",
            title="Load test marker",
            sections=[Section(text=text)],
            version=content_version(text.encode()),
            acl=Acl(public=True),
        )

    def list_ids(self) -> Iterator[DocId]:
        yield f"{self.name}:marker"

    @property
    def cursor(self) -> str | None:
        return None


def _config(name: str) -> SourceConfig:
    return SourceConfig.model_validate({"name": name, "type": "bench"})


def build_demo(work: Path) -> Path:
    """The demo intranet (demo/sources.toml) ingested into `<work>/demo`; unchanged files are skipped."""
    home = work / "demo"
    engine = Engine(Settings(home=home))
    configs = load_sources_config(REPO / "demo" / "sources.toml")
    report = engine.pipeline().run([(c, engine.connector_for(c)) for c in configs])
    print(f"demo index: {engine.store.counts()} ({report.status}, {report.duration_s:.1f} s)", flush=True)
    return home


def build_synthetic(work: Path, copies: int = COPIES) -> Path:
    """SciFact x `copies` into `<work>/synthetic` (built once; a marker file records what was built)."""
    home = work / "synthetic"
    marker = home / "built.json"
    if marker.exists() and json.loads(marker.read_text()).get("copies") == copies:
        return home
    settings = Settings(home=home)
    seed = next(
        iter(sorted((REPO / ".whoknows" / "eval").glob("scifact_beir-*/cache/embeddings.sqlite"))), None
    )
    if seed is not None and not settings.cache_path.exists():
        settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(seed) as source, sqlite3.connect(settings.cache_path) as target:
            source.backup(target)  # consistent even while the eval run writes it (WAL)
        print(f"seeded the embedding cache from {seed}", flush=True)
    engine = Engine(settings)
    started = time.perf_counter()
    for n in range(copies):  # one run per copy: the first embeds, the rest reuse the cache
        report = engine.pipeline().run([(_config(f"scifact-{n:02d}"), ScifactCopy(n))])  # type: ignore[list-item]
        s = report.sources[0]
        print(
            f"  scifact-{n:02d}: +{s.documents_added} documents, {s.chunks_embedded} chunks embedded, "
            f"{s.chunks_reused} reused ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    counts = engine.store.counts()
    marker.write_text(json.dumps({"copies": copies, **counts}))
    print(f"synthetic index: {counts}", flush=True)
    return home


# --- serving ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`whoknows serve` in a child process: anonymous on, 127.0.0.1 a trusted proxy, no rate limit."""

    def __init__(self, home: Path, threads: int = 8):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_WAIT_POLICY": "PASSIVE",
            "WHOKNOWS_RATE_LIMIT_PER_MINUTE": "0",
            "WHOKNOWS_ANONYMOUS": "true",
            "WHOKNOWS_TRUSTED_PROXIES": '["127.0.0.1"]',
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
                r = httpx.get(f"{self.url}/ready", timeout=5)
                if r.status_code == 200:
                    return str(r.json()["snapshot"])
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("server not ready in time")

    def snapshot(self) -> str:
        return str(httpx.get(f"{self.url}/ready", timeout=30).json()["snapshot"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --- load generators ----------------------------------------------------------------------------

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


def run_wrk(
    url: str,
    paths: Sequence[str],
    headers: dict[str, str],
    duration_s: int,
    connections: int,
    stop: threading.Event | None = None,
) -> LoadResult:
    """wrk for `duration_s`, or until `stop` is set (wrk prints its summary on SIGINT)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_lua(paths, headers))
        script = fh.name
    length = MAX_RUN_S if stop is not None else duration_s
    try:
        proc = subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{length}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                script,
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if stop is not None:
            stop.wait(MAX_RUN_S)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=length + 60)
    finally:
        os.unlink(script)
    if "requests in" not in out:
        raise SystemExit(f"wrk failed ({proc.returncode}): {err or out}")
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


def run_httpx(
    url: str,
    paths: Sequence[str],
    headers: dict[str, str],
    duration_s: int,
    connections: int,
    stop: threading.Event | None = None,
) -> LoadResult:
    """The stand-in generator: `connections` workers, one request at a time each, for `duration_s` or
    until `stop` is set."""

    async def go() -> tuple[list[float], int, int, float]:
        latencies: list[float] = []
        bad = errors = 0
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
            started = time.perf_counter()
            stop_at = started + (MAX_RUN_S if stop is not None else duration_s)

            async def worker(offset: int) -> None:
                nonlocal bad, errors
                i = offset
                while time.perf_counter() < stop_at and not (stop is not None and stop.is_set()):
                    t = time.perf_counter()
                    try:
                        r = await client.get(paths[i % len(paths)])
                        bad += not 200 <= r.status_code < 300
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append((time.perf_counter() - t) * 1000)
                    i += connections

            await asyncio.gather(*(worker(n) for n in range(connections)))
            return latencies, bad, errors, time.perf_counter() - started

    latencies, bad, errors, seconds = asyncio.run(go())
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult("httpx", seconds, len(latencies), len(latencies) / seconds, q[49], q[98], bad, errors)


def drive(
    url: str, paths: Sequence[str], duration_s: int, connections: int, stop: threading.Event | None = None
) -> LoadResult:
    runner = run_wrk if shutil.which("wrk") else run_httpx
    return runner(url, paths, LOAD_USER, duration_s, connections, stop)


# --- scenarios ----------------------------------------------------------------------------------


def search_paths(queries: Sequence[str], k: int = 10) -> list[str]:
    return [f"/search?k={k}&q={quote(q)}" for q in queries]


def scifact_queries(limit: int = 300) -> list[str]:
    return list(load_queries(SCIFACT / "queries.jsonl").values())[:limit]


def scenario(
    label: str, home: Path, queries: Sequence[str], duration_s: int, connections: int, swap: bool = True
) -> list[tuple[str, LoadResult]]:
    """Steady load, then the same load with a snapshot published a third of the way in."""
    paths = search_paths(queries)
    server = Server(home)
    results: list[tuple[str, LoadResult]] = []
    try:
        before = server.wait_ready()
        drive(server.url, paths, min(5, duration_s), connections)  # warm caches and the model
        results.append((f"{label}", drive(server.url, paths, duration_s, connections)))
        if swap:
            engine = Engine(Settings(home=home))
            stop = threading.Event()
            swap_log: dict[str, float | str] = {}

            def publish() -> None:
                """Publish mid-load, wait until the server serves it, keep the load on a while longer."""
                try:
                    started = time.monotonic()
                    time.sleep(min(5.0, duration_s / 3))
                    report = engine.pipeline().run([(_config(SwapSource.name), SwapSource(int(time.time())))])  # type: ignore[list-item]
                    swap_log["snapshot"] = name = str(report.snapshot)
                    swap_log["published_s"] = time.monotonic() - started
                    deadline = time.monotonic() + 300
                    while server.snapshot() != name and time.monotonic() < deadline:
                        time.sleep(0.2)
                    swap_log["serving_s"] = time.monotonic() - started
                    time.sleep(max(3.0, duration_s - (time.monotonic() - started)))
                finally:
                    stop.set()

            thread = threading.Thread(target=publish)
            thread.start()
            result = drive(server.url, paths, duration_s, connections, stop)
            thread.join()
            if server.snapshot() != swap_log.get("snapshot"):
                raise SystemExit(f"{label}: the server never switched to {swap_log.get('snapshot')}")
            results.append((f"{label} + snapshot swap", result))
            print(
                f"{label}: {before} -> {swap_log['snapshot']} published at {swap_log['published_s']:.1f} s, "
                f"served from {swap_log['serving_s']:.1f} s of a {result.seconds:.0f} s run",
                flush=True,
            )
    finally:
        server.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.load_test",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--home", type=Path, help="serve this index only (default: demo and synthetic)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where built indexes are kept")
    parser.add_argument("--copies", type=int, default=COPIES, help="SciFact copies in the synthetic index")
    parser.add_argument("--no-swap", action="store_true", help="skip the run with a snapshot swap")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic index")
    args = parser.parse_args(list(argv) if argv is not None else None)
    for key, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
        ("OMP_WAIT_POLICY", "PASSIVE"),
    ):
        os.environ.setdefault(key, value)
    results: list[tuple[str, LoadResult]] = []
    if args.home is not None:
        results += scenario(
            str(args.home),
            args.home,
            DEMO_QUERIES + scifact_queries(100),
            args.duration,
            args.connections,
            swap=not args.no_swap,
        )
    else:
        demo = build_demo(args.work)
        results += scenario(
            "demo", demo, DEMO_QUERIES, args.duration, args.connections, swap=not args.no_swap
        )
        if not args.no_synthetic:
            synthetic = build_synthetic(args.work, args.copies)
            counts = json.loads((synthetic / "built.json").read_text())
            results += scenario(
                f"synthetic ({counts['chunks']} chunks)",
                synthetic,
                scifact_queries(),
                args.duration,
                args.connections,
                swap=not args.no_swap,
            )
    print(
        f"\n## Search load: {args.connections} connections, {args.duration} s per run, {os.cpu_count()} cores"
    )
    for label, result in results:
        print(result.line(label))
    failed = sum(r.non_2xx + r.socket_errors for _, r in results)
    print(f"failed requests in all runs: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
