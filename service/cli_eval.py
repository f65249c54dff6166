"""`whoknows eval ...`: one sub-app, one function per evaluation (retrieval here; experts, answers later)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from service.cli import JsonOption, fail, settings_of

eval_app = typer.Typer(name="eval", help="Measure quality on labelled data.", no_args_is_help=True)


@eval_app.command("retrieval")
def retrieval(
    ctx: typer.Context,
    dataset: Annotated[
        Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    ],
    mode: Annotated[str, typer.Option("--mode", help="hybrid, bm25 or dense")] = "hybrid",
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv")] = "test",
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="documents ranked per query")] = 100,
    run_file: Annotated[Path | None, typer.Option("--run-file", help="TREC run output path")] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest a BEIR dataset (cached per dataset under the home) and score one retrieval mode."""
    from eval.beir import BeirFormatError
    from eval.retrieval_eval import evaluate_retrieval
    from index.retrieval import MODES

    if mode not in MODES:
        raise fail(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    try:
        [result] = evaluate_retrieval(settings_of(ctx), dataset, (mode,), split, k, run_file)
    except BeirFormatError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    ing = result.ingest
    typer.echo(
        f"ingest: {ing['documents_added']} added, {ing['documents_updated']} updated, "
        f"{ing['documents_unchanged']} unchanged, {ing['chunks_embedded']} chunks embedded "
        f"in {ing['duration_s']}s"
    )
    typer.echo(f"{result.dataset} [{result.split}] mode={result.mode} queries={result.queries}")
    for name, value in result.metrics.items():
        typer.echo(f"  {name:<11} {value:.4f}")
    typer.echo(f"  latency p50 {result.latency_ms['p50']:.1f} ms, p95 {result.latency_ms['p95']:.1f} ms")
    typer.echo(f"run file: {result.run_path}")


@eval_app.command("answers")
def answers(
    ctx: typer.Context,
    dataset: Annotated[
        Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    ],
    split: Annotated[
        str, typer.Option("--split", help="qrels/<split>.tsv (calibrate on train only)")
    ] = "test",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N queries")] = None,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="also fit sentence weights and threshold")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Offline answers on a BEIR dataset: citation precision, confident rate, latency (index shared with retrieval)."""
    from eval.answers_eval import evaluate_answers, format_answers
    from eval.beir import BeirFormatError

    try:
        result = evaluate_answers(settings_of(ctx), dataset, split, limit, run_calibration=calibrate)
    except BeirFormatError as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else "\n".join(format_answers(result)))


@eval_app.command("experts")
def experts(
    ctx: typer.Context,
    stackexchange: Annotated[
        Path, typer.Option("--stackexchange", help="a Stack Exchange dump folder (Posts.xml, Users.xml, ...)")
    ],
    whole_threads: Annotated[
        bool,
        typer.Option(
            "--whole-threads",
            help="index pre-split threads whole, later answers included (how the README's reference "
            "figures were measured)",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Expert finding by the shared data's protocol: the ranker beside popularity and BM25 voting."""
    from connectors.base import ConnectorError
    from eval.experts_eval import evaluate_experts
    from eval.experts_report import format_experts

    try:
        result = evaluate_experts(settings_of(ctx), stackexchange, whole_threads=whole_threads)
    except (ConnectorError, ValueError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else "\n".join(format_experts(result)))


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
