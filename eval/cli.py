"""`whoknows eval ...` (`python -m eval ...`): one command per evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from connectors.base import ConnectorError
from eval.answers.run import evaluate_answers, format_answers
from eval.experts.report import format_sites, sites_json
from eval.experts.run import evaluate_experts
from eval.retrieval.beir import BeirFormatError
from eval.retrieval.run import evaluate_retrieval
from index.experts.model import ExpertSettings
from index.experts.ranker import RankerFileError, load_ranker
from index.retrieval.hybrid import MODES
from service.cli.common import JsonOption, fail, main_options, settings_of

eval_app = typer.Typer(
    name="eval",
    help="Measure quality on labelled data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
eval_app.callback()(main_options)


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

    try:
        result = evaluate_answers(settings_of(ctx), dataset, split, limit, run_calibration=calibrate)
    except BeirFormatError as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else "\n".join(format_answers(result)))


@eval_app.command("experts")
def experts(
    ctx: typer.Context,
    stackexchange: Annotated[
        list[Path],
        typer.Option(
            "--stackexchange",
            help="a Stack Exchange dump folder (Posts.xml, optionally Users.xml, ...); repeat for several sites",
        ),
    ],
    whole_threads: Annotated[
        bool,
        typer.Option(
            "--whole-threads",
            help="index pre-split threads whole, later answers included (how the README's reference "
            "figures were measured)",
        ),
    ] = False,
    ranker: Annotated[
        Path | None,
        typer.Option("--ranker", help="score with this ranker.json instead of the shipped one"),
    ] = None,
    formula: Annotated[
        bool, typer.Option("--formula", help="score with the hand-set formula instead of the fitted ranker")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Expert finding by the shared data's protocol: the ranker beside popularity and BM25 voting, one row
    per site and their mean."""

    if formula and ranker is not None:
        raise fail("--formula and --ranker exclude each other")
    chosen = (
        ExpertSettings(scorer="formula")
        if formula
        else ExpertSettings(ranker_path=str(ranker) if ranker else None)
    )
    try:
        if ranker is not None:
            load_ranker(ranker)  # a bad file fails before any indexing
        results = [
            evaluate_experts(settings_of(ctx), folder, whole_threads=whole_threads, expert_settings=chosen)
            for folder in stackexchange
        ]
    except (ConnectorError, RankerFileError, ValueError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(sites_json(results), indent=2) if as_json else "\n".join(format_sites(results)))


def main() -> None:
    eval_app(prog_name="whoknows eval")
