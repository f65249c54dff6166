"""The experts evaluation as text: the CLI's table (one row per site and their mean) and its JSON, and
the `make eval` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eval.experts.run import ExpertsEvalResult, evaluate_experts
from service.settings import Settings

# The six Stack Exchange dev sites of ../shared/data (the protocol's strict variant).
SITES = (
    "stackexchange_ai_2016",
    "stackexchange_conlang_meta_2020",
    "stackexchange_matheducators_2014",
    "stackexchange_italian_2014",
    "stackexchange_coffee_2015",
    "stackexchange_augur_2018",
)
METRICS = ("map", "mrr", "p@1", "ndcg@10")
SYSTEMS = ("experts", "popularity", "bm25_vote")


class _ReportContext(Protocol):
    settings: Settings
    data_root: Path


def systems_of(r: ExpertsEvalResult) -> dict[str, dict[str, float]]:
    return {"experts": r.metrics, **r.baselines}


def mean_row(results: list[ExpertsEvalResult]) -> dict[str, dict[str, float]]:
    """Each system's measures averaged over the sites (each site weighs the same)."""
    return {
        name: {m: float(np.mean([systems_of(r)[name][m] for r in results])) for m in METRICS}
        for name in SYSTEMS
    }


def sites_json(results: list[ExpertsEvalResult]) -> dict[str, Any]:
    mean = mean_row(results)
    return {
        "sites": [r.as_dict() for r in results],
        "mean": {
            "questions": sum(r.questions for r in results),
            **{m: round(v, 4) for m, v in mean["experts"].items()},
            "baselines": {n: {m: round(v, 4) for m, v in mean[n].items()} for n in SYSTEMS[1:]},
        },
    }


def format_sites(results: list[ExpertsEvalResult]) -> list[str]:
    """The CLI's table: per site and system MAP / MRR / P@1 / nDCG@10, then the mean and the latency."""
    lines = []
    for r in results:
        i = r.ingest
        lines.append(
            f"{r.dataset} ({r.variant}) split {r.split}: {r.questions} questions, {r.candidates} candidates; "
            f"ingest {i['documents_added']} added, {i['documents_unchanged']} unchanged, "
            f"{i['chunks_embedded']} chunks embedded in {i['duration_s']}s"
        )
    lines += ["", f"  {'site':<34} {'system':<11} {'MAP':>6} {'MRR':>6} {'P@1':>6} {'nDCG@10':>8}"]
    rows = [(r.dataset.removeprefix("stackexchange_"), systems_of(r)) for r in results]
    if len(results) > 1:
        rows.append(("mean", mean_row(results)))
    for site, by_system in rows:
        for name in SYSTEMS:
            m = by_system[name]
            lines.append(
                f"  {site:<34} {name:<11} {m['map']:6.3f} {m['mrr']:6.3f} {m['p@1']:6.3f} {m['ndcg@10']:8.3f}"
            )
    lines.append("")
    for r in results:
        t = r.latency_ms
        lines.append(
            f"  /experts latency on {r.dataset}: p50 {t['p50']:.0f} ms, p95 {t['p95']:.0f} ms; after the query "
            f"embedding p50 {t['after_embedding_p50']:.0f} ms, p95 {t['after_embedding_p95']:.0f} ms"
        )
    return lines


def experts_section(ctx: _ReportContext) -> list[str]:
    """`make eval`: the shipped ranker beside both baselines on every dev site, and the latency."""
    results = [evaluate_experts(ctx.settings, ctx.data_root / name) for name in SITES]
    lines = [
        "## Experts",
        "",
        "Stack Exchange protocol of ../shared/data/README.md (strict); MAP, MRR, P@1, nDCG@10. The shipped",
        "ranker was fitted on these sites: the held-out (leave-one-site-out) table comes from",
        "`python -m eval.experts.train` (eval/EXPERTS.md).",
        "",
        "| site | questions | candidates | system | MAP | MRR | P@1 | nDCG@10 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for name, m in systems_of(r).items():
            cells = " | ".join(f"{m[k]:.3f}" for k in METRICS)
            lines.append(f"| {r.dataset} | {r.questions} | {r.candidates} | {name} | {cells} |")
    for name, m in mean_row(results).items():
        lines.append(f"| mean | | | {name} | {' | '.join(f'{m[k]:.3f}' for k in METRICS)} |")
    lines += ["", "/experts latency p50 / p95 in ms (whole; after the query embedding):"]
    lines += [
        f"- {r.dataset}: {r.latency_ms['p50']:.0f} / {r.latency_ms['p95']:.0f}; "
        f"{r.latency_ms['after_embedding_p50']:.0f} / {r.latency_ms['after_embedding_p95']:.0f}"
        for r in results
    ]
    return lines
