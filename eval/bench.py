"""`make bench`: ingest throughput and memory, reindex cost when little changed, embedding on Ray beside
the local path, and the search load test.

Everything runs through the `whoknows` command in child processes, on public data read in place from
../shared/data (scifact abstracts are written out as text files into a scratch folder, never into the
project), with a fresh home per scenario so no cache helps the full ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.load import scale
from eval.load import scenarios as load_scenarios
from eval.load.indexes import build_synthetic
from eval.retrieval import engines

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()


def run_whoknows(home: Path, *args: str, backend: str | None = None) -> tuple[dict[str, Any], float, int]:
    """Run one command; returns its JSON report, wall seconds, and the child's peak RSS in MB."""
    env = {**os.environ, "WHOKNOWS_HOME": str(home)}
    if backend is not None:
        env["WHOKNOWS_EMBED_BACKEND"] = backend
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 3):
        raise SystemExit(f"whoknows {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(proc.stdout), wall, max(peak, before) // 1024


def totals(report: dict[str, Any]) -> dict[str, int]:
    keys = (
        "documents_added",
        "documents_updated",
        "documents_unchanged",
        "documents_deleted",
        "chunks_embedded",
    )
    out = {k: sum(s[k] for s in report["sources"]) for k in keys}
    out["failures"] = sum(len(s["failures"]) for s in report["sources"])
    return out


def write_scifact(folder: Path, limit: int | None = None) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with (SHARED / "scifact_beir" / "corpus.jsonl").open() as fh:
        for line in fh:
            doc = json.loads(line)
            title = " ".join(doc["title"].split())
            (folder / f"{doc['_id']}.md").write_text(f"---\ntitle: {json.dumps(title)}\n---\n{doc['text']}\n")
            count += 1
            if limit and count >= limit:
                break
    return count


def sources_file(path: Path, entries: list[tuple[str, Path]]) -> Path:
    body = "".join(
        f'[[sources]]\nname = "{name}"\ntype = "files"\npath = "{folder}"\nacl = {{ public = true }}\n\n'
        for name, folder in entries
    )
    path.write_text(body)
    return path


def bench_throughput(scratch: Path) -> None:
    """Chunks per second and peak memory on real PDFs plus the Confluence export, for both embedding
    runtimes in the same run (fresh homes: no cache helps either)."""
    config = sources_file(
        scratch / "throughput.toml",
        [("pdfs", SHARED / "pdfs_real"), ("confluence", SHARED / "confluence_html_export_varlab")],
    )
    print("## Ingest throughput: pdfs_real + confluence_html_export_varlab (files connector)")
    rates: dict[str, float] = {}
    for backend in ("torch", "onnx-int8"):
        home = scratch / f"home-throughput-{backend}"
        report, wall, peak = run_whoknows(home, "ingest", "--config", str(config), backend=backend)
        t = totals(report)
        pipeline_s = report["duration_s"]
        rates[backend] = t["chunks_embedded"] / pipeline_s
        print(
            f"{backend:>9}: documents {t['documents_added']}, chunks embedded {t['chunks_embedded']}, "
            f"failures {t['failures']}; pipeline {pipeline_s:.1f} s ({rates[backend]:.1f} chunks/s), "
            f"command wall {wall:.1f} s, peak RSS {peak} MB"
        )
    print(f"onnx-int8 / torch: {rates['onnx-int8'] / rates['torch']:.2f}x (same run, same machine)")


def bench_reindex(scratch: Path, changed_share: float = 0.01) -> None:
    """Issue 8: full ingest, a reindex with nothing changed, and one with 1% of documents changed."""
    corpus = scratch / "scifact-docs"
    n = write_scifact(corpus)
    config = sources_file(
        scratch / "reindex.toml",
        [("scifact", corpus), ("confluence", SHARED / "confluence_html_export_varlab")],
    )
    home = scratch / "home-reindex"
    full, full_wall, peak = run_whoknows(home, "reindex", "--config", str(config))
    ft = totals(full)
    docs = ft["documents_added"]
    print(f"\n## Reindex: scifact as {n} Markdown files + Confluence export ({docs} documents)")
    print(
        f"full ingest: {full['duration_s']:.1f} s pipeline ({full_wall:.1f} s wall), "
        f"{ft['chunks_embedded']} chunks embedded ({ft['chunks_embedded'] / full['duration_s']:.1f}/s), "
        f"peak RSS {peak} MB"
    )
    same, same_wall, _ = run_whoknows(home, "reindex", "--config", str(config))
    st = totals(same)
    share = same["duration_s"] / full["duration_s"]
    print(
        f"nothing changed: {same['duration_s']:.2f} s pipeline ({same_wall:.1f} s wall) = {share:.1%} of full "
        f"(target <= 5%); {st['chunks_embedded']} chunks embedded"
    )
    files = sorted(corpus.iterdir())
    step = max(1, int(1 / changed_share))
    touched = files[::step]
    for f in touched:
        f.write_text(f.read_text() + "\nErratum: a correction was added to this abstract after review.\n")
    changed, changed_wall, _ = run_whoknows(home, "reindex", "--config", str(config))
    ct = totals(changed)
    per_chunk = full["duration_s"] / max(1, ft["chunks_embedded"])
    budget = 0.05 * full["duration_s"] + per_chunk * ct["chunks_embedded"]
    print(
        f"{len(touched)} documents changed ({len(touched) / docs:.1%}): {changed['duration_s']:.2f} s pipeline "
        f"({changed_wall:.1f} s wall), {ct['documents_updated']} updated, {ct['chunks_embedded']} chunks embedded; "
        f"target <= 5% of full + their embedding = {budget:.2f} s"
    )


def bench_ray(scratch: Path, documents: int = 150) -> None:
    """Issue 15: embedding throughput through Ray Data on a 2-node local cluster beside the local path.

    Both reindex the same corpus from empty homes in the same run. The cluster's two nodes have one
    CPU each on the same 2 cores the local path uses alone, so the ratio is Ray's overhead (actor
    start-up and model load per worker, data transfer, scheduling), not a speed-up; on separate
    machines each node adds its own cores.
    """
    from eval.ray_cluster import local_ray_cluster

    corpus = scratch / "ray-scifact"
    write_scifact(corpus, limit=documents)
    config = sources_file(scratch / "ray.toml", [("scifact", corpus)])
    local, local_wall, _ = run_whoknows(scratch / "home-ray-local", "reindex", "--config", str(config))
    with local_ray_cluster(workers=1) as cluster:
        ray, ray_wall, _ = run_whoknows(
            scratch / "home-ray", "reindex", "--config", str(config), "--executor", "ray",
            "--ray-address", cluster.address,
        )  # fmt: skip
    chunks = totals(local)["chunks_embedded"]
    assert totals(ray)["chunks_embedded"] == chunks, "the two paths embedded different passages"
    local_rate, ray_rate = chunks / local["duration_s"], chunks / ray["duration_s"]
    workers = len({w.split("/")[1] for w in ray["executor"]["workers"]})
    print(f"\n## Embedding on Ray: scifact, {documents} abstracts as Markdown, {chunks} chunks")
    print(
        f"local executor: {local['duration_s']:.1f} s pipeline ({local_rate:.1f} chunks/s), {local_wall:.1f} s wall"
    )
    print(
        f"ray executor, 2 nodes x 1 CPU on loopback ({workers} nodes embedded, {ray['executor']['batches']} "
        f"batches came back): {ray['duration_s']:.1f} s pipeline ({ray_rate:.1f} chunks/s), {ray_wall:.1f} s wall"
    )
    print(
        f"ray / local throughput: {ray_rate / local_rate:.2f} (same 2 cores: this is Ray's overhead, not a "
        "speed-up; each real node brings its own cores)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only", choices=["throughput", "reindex", "ray", "load", "engines", "scale"], default=None
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="whoknows-bench-"))
    try:
        if args.only in (None, "throughput"):
            bench_throughput(scratch)
        if args.only in (None, "reindex"):
            bench_reindex(scratch)
        if args.only in (None, "ray"):
            bench_ray(scratch)
        if args.only in (None, "load"):
            load_scenarios.main([])
        if args.only in (None, "engines"):
            print("\n## Keyword engines (python -m eval.retrieval.engines)", flush=True)
            load_home = build_synthetic(load_scenarios.DEFAULT_WORK)
            engines.main(["--load-home", str(load_home)])
        if args.only in (None, "scale"):
            print("\n## A million chunks (python -m eval.load.scale)", flush=True)
            scale.main([])
    finally:
        if args.keep:
            print(f"scratch kept at {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
