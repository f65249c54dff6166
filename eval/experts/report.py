"""The experts evaluation as text: the CLI's summary and the `make eval` section (tables and ablation)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from eval.experts.run import ExpertsEvalResult, ablation, evaluate_experts, prepare
from index.experts.model import ExpertSettings
from service.settings import Settings

# (dataset folder, whole threads): the protocol on both shared dumps, and the variant the README's
# reference figures were measured on.
RUNS = (
    ("stackexchange_ai_2016", False),
    ("stackexchange_ai_2016", True),
    ("stackexchange_conlang_meta_2020", False),
)
METRICS = ("map", "mrr", "p@1", "ndcg@10")


class _ReportContext(Protocol):
    settings: Settings
    data_root: Path


def _cells(metrics: dict[str, float]) -> str:
    return " | ".join(f"{metrics[m]:.3f}" for m in METRICS)


def format_experts(r: ExpertsEvalResult) -> list[str]:
    """The CLI's plain-text summary of one run."""
    i = r.ingest
    lines = [
        f"ingest: {i['documents_added']} added, {i['documents_unchanged']} unchanged, "
        f"{i['chunks_embedded']} chunks embedded in {i['duration_s']}s",
        f"{r.dataset} ({r.variant}) split {r.split}: {r.questions} test questions, {r.candidates} candidates",
        f"  {'system':<12} {'MAP':>6} {'MRR':>6} {'P@1':>6} {'nDCG@10':>8}",
    ]
    systems = {"experts": r.metrics, **r.baselines}
    for name, m in systems.items():
        lines.append(f"  {name:<12} {m['map']:6.3f} {m['mrr']:6.3f} {m['p@1']:6.3f} {m['ndcg@10']:8.3f}")
    lines.append(
        f"  /experts path latency p50 {r.latency_ms['p50']:.0f} ms, p95 {r.latency_ms['p95']:.0f} ms"
    )
    return lines


def experts_section(ctx: _ReportContext) -> list[str]:
    """`make eval`: the ranker against both baselines on every run, then what each component gives."""
    lines = [
        "## Experts",
        "",
        "Stack Exchange protocol of ../shared/data/README.md; MAP, MRR, P@1, nDCG@10 over the test questions.",
        "",
        "| dataset | variant | split | questions | candidates | system | MAP | MRR | P@1 | nDCG@10 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    results = [evaluate_experts(ctx.settings, ctx.data_root / name, whole) for name, whole in RUNS]
    for r in results:
        head = f"| {r.dataset} | {r.variant} | {r.split} | {r.questions} | {r.candidates} |"
        lines.append(f"{head} **WhoKnows** | {_cells(r.metrics)} |")
        for name, m in r.baselines.items():
            lines.append(f"{head} {name} | {_cells(m)} |")
    lines += ["", "/experts path (rank, explain the top 10) latency p50 / p95 in ms:"]
    lines += [
        f"- {r.dataset} ({r.variant}): {r.latency_ms['p50']:.0f} / {r.latency_ms['p95']:.0f}" for r in results
    ]
    lines += ["", "### Ablation (MAP / P@1)", ""]
    tables = {
        f"{name} ({'whole' if whole else 'strict'})": ablation(
            prepare(ctx.settings, ctx.data_root / name, whole), ExpertSettings()
        )
        for name, whole in RUNS
    }
    names = list(next(iter(tables.values())))
    lines.append("| variant | " + " | ".join(tables) + " |")
    lines.append("| --- |" + " --- |" * len(tables))
    for variant in names:
        cells = " | ".join(f"{t[variant]['map']:.3f} / {t[variant]['p@1']:.3f}" for t in tables.values())
        lines.append(f"| {variant} | {cells} |")
    return lines
