"""`python -m eval.experts.train`: fit the expert ranker across the six Stack Exchange dev sites, choose
every setting by leave-one-site-out, print the per-fold table, and write index/experts/ranker.json.

1. Each site is indexed by the protocol (strict: the site as it stood at its split), cached under the home.
2. Features for every test question, under every feature setting of the grid (dataset.py).
3. Held-out folds: for each site, the config chosen on the other five (by their own leave-one-out),
   fitted on those five, is scored on it through the product's path (ExpertFinder with that model),
   beside popularity, BM25 voting and the hand-set formula.
4. Shipped: the config with the best mean over the six held-out folds, fitted on all six sites.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.experts.dataset import FeatureSetting, SiteRows, collect
from eval.experts.fit import Config, Scores, best, fit, grid, held_out
from eval.experts.report import METRICS, SITES
from eval.experts.run import Prepared, experts_ranker, prepare, systems
from index.experts.finder import ExpertFinder
from index.experts.model import ExpertSettings
from index.experts.ranker import SHIPPED, LinearRanker
from service.settings import load_settings

DEPTHS = (100, 300)
RANK_KS = (30.0,)
HALF_LIVES = (0.1,)


@dataclass
class Fold:
    site: str
    questions: int
    candidates: int
    chosen: Config
    systems: dict[str, dict[str, float]]  # "WhoKnows", "popularity", "bm25_vote", "formula"


def feature_settings(quick: bool) -> list[FeatureSetting]:
    if quick:  # one setting: for a fast check of the pipeline, not for shipping
        return [FeatureSetting(300, 30.0, 0.1)]
    return [FeatureSetting(d, k, h) for d in DEPTHS for k in RANK_KS for h in HALF_LIVES]


def fold(site: SiteRows, chosen: Config, model: LinearRanker) -> Fold:
    """The held-out site scored through the product's path, beside the baselines and the formula."""
    prepared: Prepared = site.prepared
    finder = ExpertFinder(prepared.engine.retriever, ExpertSettings(), ranker=model)
    rankers = systems(prepared, finder)
    formula = ExpertFinder(prepared.engine.retriever, ExpertSettings(scorer="formula"))
    return Fold(
        site=site.name,
        questions=len(prepared.questions),
        candidates=len(prepared.candidates),
        chosen=chosen,
        systems={
            "WhoKnows": prepared.score(rankers["experts"]),
            "popularity": prepared.score(rankers["popularity"]),
            "bm25_vote": prepared.score(rankers["bm25_vote"]),
            "formula": prepared.score(experts_ranker(formula, prepared.split)),
        },
    )


def mean_of(folds: list[Fold], system: str) -> dict[str, float]:
    return {m: float(np.mean([f.systems[system][m] for f in folds])) for m in METRICS}


def table(folds: list[Fold]) -> list[str]:
    names = ("WhoKnows", "popularity", "bm25_vote", "formula")
    head = " | ".join(f"{n} MAP / MRR / P@1 / nDCG@10" for n in names)
    lines = [f"| site | questions | candidates | {head} |", "| --- | --- | --- |" + " --- |" * len(names)]

    def cells(m: dict[str, float]) -> str:
        return " / ".join(f"{m[k]:.3f}" for k in METRICS)

    for f in folds:
        row = " | ".join(cells(f.systems[n]) for n in names)
        lines.append(f"| {f.site} | {f.questions} | {f.candidates} | {row} |")
    mean = " | ".join(cells(mean_of(folds, n)) for n in names)
    lines.append(f"| mean | {sum(f.questions for f in folds)} | | {mean} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.experts.train", description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="data folder for the indexed sites")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=SHIPPED, help="where the fitted ranker is written")
    parser.add_argument("--folds", type=Path, default=None, help="also write each fold's ranker here")
    parser.add_argument("--quick", action="store_true", help="one feature setting (a pipeline check)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = load_settings(args.home)
    say = (lambda *_: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    sites = []
    for name in SITES:
        say(f"{name}: indexing and features")
        sites.append(collect(prepare(settings, args.data_root / name), feature_settings(args.quick)))
    configs = grid(feature_settings(args.quick))
    say(f"{len(configs)} configs, leave-one-site-out")
    outer: Scores = held_out(sites, configs)
    shipped = best(outer)
    folds = []
    for site in sites:
        chosen = best(held_out(sites, configs, exclude=site.name))
        model = fit([s for s in sites if s is not site], chosen)
        if args.folds is not None:
            args.folds.mkdir(parents=True, exist_ok=True)
            model.save(args.folds / f"ranker-without-{site.name}.json")
        folds.append(fold(site, chosen, model))
        say(f"{site.name}: chosen without it: {chosen.label()}")
    final = fit(sites, shipped)
    final.save(args.out)
    result: dict[str, Any] = {
        "shipped": shipped.label(),
        "shipped_held_out_mean": {
            m: round(float(np.mean([v[m] for v in outer[shipped].values()])), 4) for m in METRICS
        },
        "shipped_held_out": {
            site: {m: round(v, 4) for m, v in measures.items()} for site, measures in outer[shipped].items()
        },
        "folds": [
            {
                "site": f.site,
                "questions": f.questions,
                "candidates": f.candidates,
                "chosen": f.chosen.label(),
                **{n: {k: round(v, 4) for k, v in m.items()} for n, m in f.systems.items()},
            }
            for f in folds
        ],
        "mean": {n: {k: round(v, 4) for k, v in mean_of(folds, n).items()} for n in folds[0].systems},
        "best_held_out_map_by_depth": {
            str(d): round(
                max(
                    float(np.mean([v["map"] for v in outer[c].values()]))
                    for c in configs
                    if c.features.depth == d
                ),
                4,
            )
            for d in sorted({c.features.depth for c in configs})
        },
        "ranker": str(args.out),
        "weights": dict(zip(final.features, (round(w, 4) for w in final.weights), strict=True)),
        "duration_s": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("\n".join(table(folds)))
    print(
        f"\nshipped: {result['shipped']}; its mean over the six held-out folds {result['shipped_held_out_mean']}"
    )
    print(
        "weights (on standardised features): " + ", ".join(f"{k} {v}" for k, v in result["weights"].items())
    )
    print(f"written {args.out} in {result['duration_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
