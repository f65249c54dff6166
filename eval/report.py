"""`make eval`: every evaluation section in turn, printed as Markdown tables.

Extension point: a section is a function `(ReportContext) -> list[str]` (the lines it prints);
append it to SECTIONS (e.g. experts_section, answers_section) and `make eval` runs it after the others.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eval.answers.run import answers_section
from eval.experts.report import experts_section
from eval.metrics import evaluate_run
from eval.retrieval.beir import load_beir
from eval.retrieval.bm25_reference import plain_bm25_metrics
from eval.retrieval.datasets import RECIPES, build_set
from eval.retrieval.run import RetrievalResult, dataset_engine, evaluate_retrieval, rank_with
from index.retrieval.hybrid import HybridRetriever, RetrievalSettings
from service.settings import Settings, load_settings

DATA_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Measured on scifact test by the data's curators (../shared/data/README.md): (nDCG@10, Recall@100).
SCIFACT_REFERENCE = {"bm25": (0.662, 0.876), "dense": (0.645, 0.925), "hybrid": (0.685, 0.955)}
REFERENCE_LABEL = {"bm25": "BM25", "dense": "all-MiniLM-L6-v2", "hybrid": "plain RRF"}
MODES = ("bm25", "dense", "hybrid")
OLD_FUSION = RetrievalSettings(fusion="rrf", rrf_k=60, keyword_weight=0.5)


@dataclass  # not frozen: sections type it as a Protocol with plain (settable) attributes
class ReportContext:
    settings: Settings
    data_root: Path


Section = Callable[[ReportContext], list[str]]


def _row(r: RetrievalResult) -> str:
    m = r.metrics
    return (
        f"| {r.mode} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} | "
        f"{r.latency_ms['p50']:.1f} | {r.latency_ms['p95']:.1f} |"
    )


def _ingest_line(r: RetrievalResult) -> str:
    i = r.ingest
    return (
        f"ingest: {i['documents_added']} added, {i['documents_unchanged']} unchanged, "
        f"{i['chunks_embedded']} chunks embedded, {i['chunks_reused']} reused, {i['duration_s']} s"
    )


def _old_fusion_line(ctx: ReportContext, root: Path) -> list[str]:
    """The ranker before issue 3 (equal-weight RRF) on the same index: what the fusion change gave."""
    engine = dataset_engine(ctx.settings, root)
    old = HybridRetriever(engine.store, engine.snapshot, engine.embedder, OLD_FUSION)
    dataset = load_beir(root, "test")
    m = evaluate_run(dataset.qrels, rank_with(old, dataset, "hybrid", 100)[0])
    return [
        f"same legs, plain RRF k=60 (the ranker before): nDCG@10 {m['ndcg@10']:.3f}, R@100 {m['recall@100']:.3f}"
    ]


def _plain_bm25_line(root: Path) -> list[str]:
    """The keyword leg's scorer configured as the reference's plain BM25: is the leg right before fusion?"""
    with tempfile.TemporaryDirectory(prefix="plain-bm25-") as folder:
        m = plain_bm25_metrics(root, Path(folder), "test")
    ref = SCIFACT_REFERENCE["bm25"]
    return [
        f"the keyword engine as a plain BM25 (abstracts whole, one field, no stemming): nDCG@10 {m['ndcg@10']:.3f} "
        f"({m['ndcg@10'] - ref[0]:+.3f} to the reference), R@100 {m['recall@100']:.3f} "
        f"({m['recall@100'] - ref[1]:+.3f}); the bm25 mode above adds stemming, title weight and chunks"
    ]


def retrieval_section(ctx: ReportContext) -> list[str]:
    """scifact test in every mode beside the reference figures, then the sets built from shared data."""
    lines = ["## Retrieval", ""]
    scifact = ctx.data_root / "scifact_beir"
    results = evaluate_retrieval(ctx.settings, scifact, MODES, "test")
    lines += [
        f"### scifact_beir, split test, {results[0].queries} queries",
        "",
        "| mode | nDCG@10 | Recall@100 | MRR@10 | p50 ms | p95 ms | reference nDCG@10 | reference R@100 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ref = SCIFACT_REFERENCE[r.mode]
        lines.append(f"{_row(r)} {ref[0]:.3f} ({REFERENCE_LABEL[r.mode]}) | {ref[1]:.3f} |")
    lines += [
        "",
        _ingest_line(results[0]),
        "",
        *_old_fusion_line(ctx, scifact),
        *_plain_bm25_line(scifact),
        "",
    ]
    built_root = ctx.settings.home / "eval" / "built"
    for recipe in RECIPES.values():
        root = build_set(recipe, ctx.data_root, built_root)
        res = evaluate_retrieval(ctx.settings, root, MODES, "test")
        best_leg = max(r.metrics["ndcg@10"] for r in res if r.mode != "hybrid")
        hybrid = next(r for r in res if r.mode == "hybrid").metrics["ndcg@10"]
        lines += [
            f"### {recipe.name}, {res[0].queries} queries: {recipe.description}",
            "",
            "| mode | nDCG@10 | Recall@100 | MRR@10 | p50 ms | p95 ms |",
            "| --- | --- | --- | --- | --- | --- |",
            *[_row(r) for r in res],
            "",
            f"hybrid - best leg (nDCG@10): {hybrid - best_leg:+.3f}; {_ingest_line(res[0])}",
            "",
        ]
    lines.append("p50/p95: warm latency of HybridRetriever.rank per query (query embedding included).")
    return lines


SECTIONS: list[Section] = [retrieval_section, answers_section, experts_section]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.report", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="WhoKnows home (default: $WHOKNOWS_HOME)")
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="shared data root")
    names = [s.__name__.removesuffix("_section") for s in SECTIONS]
    parser.add_argument("--only", choices=names, action="append", help="run only this section (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ctx = ReportContext(load_settings(args.home), args.data.resolve())
    started = time.perf_counter()
    for section in SECTIONS:
        if args.only and section.__name__.removesuffix("_section") not in args.only:
            continue
        print("\n".join(section(ctx)), flush=True)
    print(f"\n(report took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
