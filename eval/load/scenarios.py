"""Search load test: `whoknows serve` under a bounded concurrent load of /search on loopback.

    python -m eval.load_test                      # demo index and the synthetic >=100k-chunk index
    python -m eval.load_test --home H --duration 20

Each scenario serves an index in a child process, drives /search with wrk (the Debian package; a small
httpx async generator stands in when wrk is missing) and prints p50, p99 and requests per second, then
runs again while a new snapshot is published mid-load and counts every non-2xx answer and socket error.
On the synthetic index it then serves it with `whoknows serve --workers 2` (two processes on one port),
and serves its snapshot folder from two replicas (each with an empty home of its own, as the deployment
recipes run them) beside one.

The synthetic index is SciFact (5,183 real abstracts, ~10.5k chunks) ingested as ten sources with
different ACLs (public, staff, one team each): real text for the keyword leg, real vectors for the
dense leg, ~105k chunks in all. Identical chunk texts share one embedding, so every abstract is
embedded once and kept in the index's vector cache (seeded from the SciFact eval index's cache when
that exists); later runs reuse the built index outright.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from eval.load.driver import LoadPlan, LoadResult, drive
from eval.load.indexes import COPIES, REPO, SCIFACT, build_demo, build_synthetic, publish_marker
from eval.load.server import Server
from eval.retrieval.beir import load_queries
from service.engine import Engine
from service.settings import Settings

DEFAULT_WORK = REPO / ".whoknows-bench"
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
        plan = LoadPlan(server.url, paths, LOAD_USER, duration_s, connections)
        drive(replace(plan, duration_s=min(5, duration_s)))  # warm caches and the model
        results.append((f"{label}", drive(plan)))
        if swap:
            engine = Engine(Settings(home=home))
            stop = threading.Event()
            swap_log: dict[str, float | str] = {}

            def publish() -> None:
                """Publish mid-load, wait until the server serves it, keep the load on a while longer."""
                try:
                    started = time.monotonic()
                    time.sleep(min(5.0, duration_s / 3))
                    swap_log["snapshot"] = name = publish_marker(engine)
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
            result = drive(replace(plan, stop=stop))
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


def replicas(
    label: str, home: Path, queries: Sequence[str], duration_s: int, connections: int, count: int = 2
) -> list[tuple[str, LoadResult]]:
    """`count` replicas, each with an empty home of its own, serving the one snapshot folder of `home`
    (as the deployment recipes run them), with the connections split between them; beside it, the
    same load on one of them alone. On one machine the replicas share its cores: the ratio shows what a
    second process buys there (its own interpreter lock), not what a second machine would."""
    paths = search_paths(queries)
    snapshots = Settings(home=home).snapshots_path
    with tempfile.TemporaryDirectory(prefix="whoknows-replicas-") as scratch:
        servers = [
            Server(Path(scratch) / f"replica-{n}", env={"WHOKNOWS_SNAPSHOTS_DIR": str(snapshots)})
            for n in range(count)
        ]
        try:
            names = {server.wait_ready() for server in servers}
            if len(names) != 1:
                raise SystemExit(f"{label}: replicas serve different snapshots {sorted(names)}")
            plans = [
                LoadPlan(
                    server.url, paths[n::count] or paths, LOAD_USER, duration_s, max(1, connections // count)
                )
                for n, server in enumerate(servers)
            ]
            for plan in plans:
                drive(replace(plan, duration_s=min(5, duration_s)))  # warm each replica
            one = drive(LoadPlan(servers[0].url, paths, LOAD_USER, duration_s, connections))
            together = drive_all(plans)
        finally:
            for server in servers:
                server.stop()
    return [(f"{label}, 1 replica", one), (f"{label}, {count} replicas", together)]


def worker_processes(
    label: str, home: Path, queries: Sequence[str], duration_s: int, connections: int, workers: int = 2
) -> list[tuple[str, LoadResult]]:
    """One `whoknows serve --workers N`: N processes on one port, the kernel spreading connections."""
    paths = search_paths(queries)
    server = Server(home, workers=workers)
    try:
        server.wait_ready()
        plan = LoadPlan(server.url, paths, LOAD_USER, duration_s, connections)
        drive(replace(plan, duration_s=min(5, duration_s)))  # warm every worker
        return [(f"{label}, serve --workers {workers}", drive(plan))]
    finally:
        server.stop()


def drive_all(plans: Sequence[LoadPlan]) -> LoadResult:
    """The plans at once (one load generator each), summed: requests and errors add up, p50 and p99
    are the worst replica's (a conservative reading of the combined distribution)."""
    results: list[LoadResult] = [None] * len(plans)  # type: ignore[list-item]

    def run(n: int) -> None:
        results[n] = drive(plans[n])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(
        tool=results[0].tool,
        seconds=max(r.seconds for r in results),
        requests=sum(r.requests for r in results),
        rps=sum(r.rps for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.load",
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
    parser.add_argument(
        "--no-replicas", action="store_true", help="skip two workers, and two replicas beside one"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
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
            if not args.no_replicas:
                results += worker_processes(
                    f"synthetic ({counts['chunks']} chunks)",
                    synthetic,
                    scifact_queries(),
                    args.duration,
                    args.connections,
                )
                results += replicas(
                    f"synthetic ({counts['chunks']} chunks)",
                    synthetic,
                    scifact_queries(),
                    args.duration,
                    args.connections,
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
