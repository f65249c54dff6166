"""Retrieval evaluation on a BEIR folder: ingest it through the real pipeline, rank every query, score."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.metrics import Run, evaluate_run, write_trec_run
from eval.retrieval.beir import BeirConnector, BeirDataset, corpus_id_of, load_beir, source_config
from index.acl import Principal
from index.retrieval.hybrid import MODES, HybridRetriever
from ingest.report import RunReport
from service.engine import Engine
from service.settings import Settings

log = logging.getLogger(__name__)


def dataset_home(home: Path, root: Path) -> Path:
    """The index of one dataset folder: `<home>/eval/<folder name>-<hash of its absolute path>`."""
    absolute = root.resolve()
    digest = hashlib.sha256(str(absolute).encode()).hexdigest()[:8]
    return home / "eval" / f"{absolute.name}-{digest}"


def dataset_engine(settings: Settings, root: Path) -> Engine:
    """An engine over the dataset's own home, with every other setting as the service has it."""
    return Engine(settings.model_copy(update={"home": dataset_home(settings.home, root)}))


def ingest_dataset(engine: Engine, root: Path) -> RunReport:
    """Run the corpus through the ingest pipeline; unchanged abstracts are skipped, cached vectors reused."""
    connector = BeirConnector(root / "corpus.jsonl")
    return engine.pipeline().run([(source_config(), connector)])


@dataclass
class RetrievalResult:
    """One mode's scores on one dataset split, and how long the queries took."""

    dataset: str
    split: str
    mode: str
    queries: int
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    run_path: Path | None = None
    ingest: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset, "mode": self.mode, "queries": self.queries}
        out.update({k: round(v, 4) for k, v in self.metrics.items()})
        out["split"] = self.split
        out["latency_ms"] = {k: round(v, 2) for k, v in self.latency_ms.items()}
        out["run_file"] = str(self.run_path) if self.run_path else None
        out["ingest"] = self.ingest
        return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))
    return ordered[index]


def rank_queries(engine: Engine, dataset: BeirDataset, mode: str, k: int) -> tuple[Run, list[float]]:
    """Every query through the service's own retriever; returns the run and per-query seconds."""
    return rank_with(engine.retriever, dataset, mode, k)


def rank_with(retriever: HybridRetriever, dataset: BeirDataset, mode: str, k: int) -> tuple[Run, list[float]]:
    """Every query through `retriever.rank` as an anonymous user (the corpus is public)."""
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r} (one of {', '.join(MODES)})")
    principal = Principal.anonymous()
    first = next(iter(dataset.queries.values()), "")
    retriever.rank(first, principal, mode=mode, depth=k)  # warm: model, snapshot and SQLite pages loaded
    run: Run = {}
    seconds: list[float] = []
    for qid, text in dataset.queries.items():
        started = time.perf_counter()
        ranked = retriever.rank(text, principal, mode=mode, depth=k)
        seconds.append(time.perf_counter() - started)
        ids = retriever.store.documents_by_ids([r.doc for r in ranked])
        run[qid] = [(corpus_id_of(ids[r.doc].doc_id), r.score) for r in ranked if r.doc in ids]
    return run, seconds


def evaluate_mode(
    engine: Engine, dataset: BeirDataset, mode: str, k: int = 100, run_path: Path | None = None
) -> RetrievalResult:
    run, seconds = rank_queries(engine, dataset, mode, k)
    metrics = evaluate_run(dataset.qrels, run)
    if run_path is not None:
        write_trec_run(run_path, run, tag=f"whoknows-{mode}")
    latency = {"p50": percentile(seconds, 50) * 1000, "p95": percentile(seconds, 95) * 1000}
    return RetrievalResult(
        dataset.name, dataset.split, mode, len(dataset.queries), metrics, latency, run_path
    )


def default_run_path(engine: Engine, dataset: BeirDataset, mode: str) -> Path:
    return engine.settings.home / "runs" / f"{dataset.split}-{mode}.trec"


def evaluate_retrieval(
    settings: Settings,
    root: Path,
    modes: tuple[str, ...] = ("hybrid",),
    split: str = "test",
    k: int = 100,
    run_path: Path | None = None,
) -> list[RetrievalResult]:
    """Load, ingest (incrementally) and evaluate `modes`; `run_path` only applies to a single mode."""
    dataset = load_beir(root, split)
    engine = dataset_engine(settings, root)
    report = ingest_dataset(engine, root)
    summary = _ingest_summary(report)
    results = []
    for mode in modes:
        path = (
            run_path if run_path is not None and len(modes) == 1 else default_run_path(engine, dataset, mode)
        )
        result = evaluate_mode(engine, dataset, mode, k, path)
        result.ingest = summary
        results.append(result)
    return results


def _ingest_summary(report: RunReport) -> dict[str, Any]:
    src = report.sources[0]
    return {
        "status": report.status,
        "documents_added": src.documents_added,
        "documents_updated": src.documents_updated,
        "documents_unchanged": src.documents_unchanged,
        "documents_deleted": src.documents_deleted,
        "chunks_embedded": src.chunks_embedded,
        "chunks_reused": src.chunks_reused,
        "failures": len(src.failures),
        "duration_s": round(report.duration_s, 1),
    }
