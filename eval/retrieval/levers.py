"""`python -m eval.levers`: what each ranking lever gives on scifact `train`, one at a time, cumulatively.

Every lever is measured through HybridRetriever.rank with one setting changed from the current state;
a lever marked kept becomes part of the state the next one is measured against. The decisions are
the ones recorded in eval/RESULTS.md; `--check` also runs the fusion choices on the sets built from
shared data, where the hybrid must not lose to the better of its two legs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import evaluate_run
from eval.retrieval.beir import BeirConnector, BeirDataset, load_beir, source_config
from eval.retrieval.datasets import RECIPES, build_set
from eval.retrieval.run import dataset_engine, dataset_home, ingest_dataset, rank_with
from index.acl import Principal
from index.retrieval.fusion import DocResult
from index.retrieval.hybrid import Filters, HybridRetriever, RetrievalSettings
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from index.vectors.factory import QueryCache
from ingest.chunking import ChunkingSettings
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from service.engine import Engine
from service.settings import load_settings

DATA_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
# The ranker as it was before issue 3: equal-weight RRF over best-chunk legs.
BASELINE = RetrievalSettings(fusion="rrf", adaptive=False)


class DensePrfRetriever(HybridRetriever):
    """Experiment only (not kept): Rocchio feedback on the dense leg from the fused top documents."""

    feedback_docs = 3
    feedback_weight = 0.5

    def rank(
        self,
        query: str,
        principal: Principal,
        mode: str = "hybrid",
        filters: Filters | None = None,
        depth: int | None = None,
    ) -> list[DocResult]:
        depth = depth or self.settings.depth
        pool, filters = max(depth, self.settings.depth), filters or Filters()
        vector = self.embedder.embed_query(query)
        keyword = self.keyword_leg(query, principal, filters, pool)
        fused = self.fuse(keyword, self.dense_leg(vector, principal, filters, pool), pool)
        feedback = self.store.vectors([r.chunk for r in fused[: self.feedback_docs]], self.embedder.dim)
        if len(feedback):
            vector = vector + self.feedback_weight * feedback.mean(axis=0)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        dense = self.dense_leg(vector, principal, filters, pool)
        return (dense if mode == "dense" else self.fuse(keyword, dense, pool))[:depth]


@dataclass(frozen=True)
class Lever:
    name: str
    change: Callable[[RetrievalSettings], RetrievalSettings]
    kept: bool
    chunking: ChunkingSettings | None = None  # needs its own index of the corpus
    retriever: type[HybridRetriever] = HybridRetriever


def _set(**changes: object) -> Callable[[RetrievalSettings], RetrievalSettings]:
    return lambda s: dataclasses.replace(s, **changes)  # type: ignore[arg-type]


# In the order measured. A lever is kept when it gains at least MIN_GAIN nDCG@10 on train without
# costing Recall@100, and the fusion choices must also hold on the built sets (`--check`).
MIN_GAIN = 0.003
LEVERS = [
    Lever("FTS5 title weight 2 -> 1", _set(title_weight=1.0), kept=False),
    Lever("FTS5 title weight 2 -> 4", _set(title_weight=4.0), kept=False),
    Lever("no stop list", _set(drop_stopwords=False), kept=False),
    Lever("doc score: best chunk + 0.1 x next two", _set(chunk_sum_weight=0.1), kept=False),
    Lever("weighted RRF: k 10, keyword share 0.6", _set(rrf_k=10, keyword_weight=0.6), kept=False),
    Lever("min-max convex combination, 0.5/0.5", _set(fusion="minmax"), kept=False),
    Lever("z-score convex combination, 0.5/0.5", _set(fusion="zscore"), kept=True),
    Lever("z-score, keyword share 0.4", _set(keyword_weight=0.4), kept=False),
    Lever("z-score, keyword share 0.6", _set(keyword_weight=0.6), kept=False),
    Lever("query-adaptive shares (top-1 z of each leg)", _set(adaptive=True), kept=False),
    Lever("pool of 200 documents per leg", _set(depth=200), kept=False),
    Lever("chunks of 2,000 characters (overlap 200)", _set(), False, ChunkingSettings(2000, 200)),
    Lever("dense PRF (Rocchio, fused top 3, weight 0.5)", _set(), False, retriever=DensePrfRetriever),
]


def score(retriever: HybridRetriever, dataset: BeirDataset, mode: str = "hybrid") -> dict[str, float]:
    run, _ = rank_with(retriever, dataset, mode, 100)
    return evaluate_run(dataset.qrels, run)


def chunked_engine(engine: Engine, root: Path, chunking: ChunkingSettings) -> tuple[Store, SnapshotStore]:
    """The corpus indexed again with other chunk sizes, reusing the main index's vector cache."""
    home = engine.settings.home.parent / "levers" / f"{root.name}-chunk{chunking.chunk_size}"
    store, snapshots = Store(home), SnapshotStore(home)
    cache = VectorCache(engine.settings.cache_path, engine.embedder.dim)
    pipeline = IngestPipeline(store, snapshots, engine.embedder, cache, chunking=chunking)
    pipeline.run([(source_config(), BeirConnector(root / "corpus.jsonl"))])
    return store, snapshots


def lever_table(engine: Engine, root: Path, split: str) -> list[str]:
    dataset = load_beir(root, split)
    embedder = QueryCache(engine.embedder, size=100_000)  # twenty passes over the queries embed once

    def make(
        cls: type[HybridRetriever],
        settings: RetrievalSettings,
        store: Store | None = None,
        snaps: SnapshotStore | None = None,
    ) -> HybridRetriever:
        if store is None or snaps is None:
            return cls(engine.store, engine.snapshot, embedder, settings)
        return cls(store, lambda: snaps.load_current(embedder), embedder, settings)

    state = BASELINE
    before = score(make(HybridRetriever, state), dataset)
    lines = [
        f"## Levers on {root.name} {split} ({len(dataset.queries)} queries), hybrid mode",
        "",
        f"baseline (equal-weight RRF k=60): nDCG@10 {before['ndcg@10']:.4f}, R@100 {before['recall@100']:.4f}",
        "",
        "| lever | nDCG@10 before | after | R@100 before | after | kept |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for lever in LEVERS:
        settings = lever.change(state)
        store = snaps = None
        if lever.chunking is not None:
            store, snaps = chunked_engine(engine, root, lever.chunking)
        after = score(make(lever.retriever, settings, store, snaps), dataset)
        lines.append(
            f"| {lever.name} | {before['ndcg@10']:.4f} | {after['ndcg@10']:.4f} | {before['recall@100']:.4f} "
            f"| {after['recall@100']:.4f} | {'yes' if lever.kept else 'no'} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
        if lever.kept:
            state, before = settings, after
    legs = {m: score(make(HybridRetriever, state), dataset, m) for m in ("bm25", "dense")}
    lines += [
        "",
        "legs under the final settings: "
        + ", ".join(f"{m} nDCG@10 {v['ndcg@10']:.4f} R@100 {v['recall@100']:.4f}" for m, v in legs.items()),
    ]
    final = state == RetrievalSettings()
    lines.append(f"final state equals RetrievalSettings() defaults: {final}")
    return lines


FUSION_CHOICES = {
    "RRF k=60 0.5/0.5 (baseline)": BASELINE,
    "RRF k=10 0.6/0.4": RetrievalSettings(fusion="rrf", rrf_k=10, keyword_weight=0.6),
    "min-max 0.5/0.5": RetrievalSettings(fusion="minmax"),
    "z-score 0.5/0.5 (default)": RetrievalSettings(),
    "z-score adaptive": RetrievalSettings(adaptive=True),
}


def robustness_table(settings_home: Path, data_root: Path) -> list[str]:
    """Each fusion choice against the better leg on the sets built from shared data."""
    settings = load_settings(settings_home)
    lines = ["## Fusion choices on the built sets (nDCG@10; hybrid - best leg)", ""]
    header = "| set | bm25 | dense | " + " | ".join(FUSION_CHOICES) + " |"
    lines += [header, "| --- " * (header.count("|") - 1) + "|"]
    for recipe in RECIPES.values():
        root = build_set(recipe, data_root, settings.home / "eval" / "built")
        engine = dataset_engine(settings, root)
        ingest_dataset(engine, root)
        dataset = load_beir(root, "test")
        embedder = QueryCache(engine.embedder, size=100_000)  # twenty passes over the queries embed once
        base = HybridRetriever(engine.store, engine.snapshot, embedder, RetrievalSettings())
        legs = {m: score(base, dataset, m)["ndcg@10"] for m in ("bm25", "dense")}
        best = max(legs.values())
        cells = []
        for choice in FUSION_CHOICES.values():
            value = score(HybridRetriever(engine.store, engine.snapshot, embedder, choice), dataset)[
                "ndcg@10"
            ]
            cells.append(f"{value:.4f} ({value - best:+.4f})")
        lines.append(
            f"| {recipe.name} | {legs['bm25']:.4f} | {legs['dense']:.4f} | " + " | ".join(cells) + " |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def reference_check(engine: Engine, root: Path) -> list[str]:
    """The legs on scifact test with abstracts indexed whole (2,000-character chunks) and as shipped
    (1,000): whole documents are what the reference figures index. Validation only, never tuning."""
    dataset = load_beir(root, "test")
    embedder = QueryCache(engine.embedder, size=100_000)  # twenty passes over the queries embed once
    whole_store, whole_snaps = chunked_engine(engine, root, ChunkingSettings(2000, 200))
    indexes = {
        "chunks of 1,000 (default)": HybridRetriever(engine.store, engine.snapshot, embedder),
        "chunks of 2,000 (abstracts whole)": HybridRetriever(
            whole_store, lambda: whole_snaps.load_current(embedder), embedder
        ),
    }
    lines = [
        "## Legs against the reference figures, scifact test",
        "",
        "| index | bm25 nDCG@10 | bm25 R@100 | dense nDCG@10 | dense R@100 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, retriever in indexes.items():
        b, d = score(retriever, dataset, "bm25"), score(retriever, dataset, "dense")
        lines.append(
            f"| {name} | {b['ndcg@10']:.4f} | {b['recall@100']:.4f} | {d['ndcg@10']:.4f} | {d['recall@100']:.4f} |"
        )
    lines.append("| reference (data README) | 0.662 | 0.876 | 0.645 | 0.925 |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.levers", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="WhoKnows home (default: $WHOKNOWS_HOME)")
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="shared data root")
    parser.add_argument("--split", default="train", help="scifact split to tune on (never test)")
    parser.add_argument("--check", action="store_true", help="also run the fusion choices on the built sets")
    parser.add_argument(
        "--reference-check",
        action="store_true",
        help="also compare the legs on scifact test with the references",
    )
    parser.add_argument("--skip-levers", action="store_true", help="only the checks")
    args = parser.parse_args(argv)
    if args.split == "test":
        parser.error("levers are measured on train; test is for the report only")
    settings = load_settings(args.home)
    root = (args.data / "scifact_beir").resolve()
    engine = dataset_engine(settings, root)
    ingest_dataset(engine, root)
    if not args.skip_levers:
        print("\n".join(lever_table(engine, root, args.split)), flush=True)
    if args.reference_check:
        print("\n" + "\n".join(reference_check(engine, root)), flush=True)
    if args.check:
        print("\n" + "\n".join(robustness_table(settings.home, args.data.resolve())), flush=True)
    print(f"\n(index: {dataset_home(settings.home, root)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
