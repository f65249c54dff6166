"""Fitting the expert ranker and choosing its settings by leave-one-site-out.

The model is linear over standardised features, fitted with a logistic loss on pairs of people within a
question: every answerer against every person with a lower grade (the accepted answerer against the
other answerers too), each question weighing the same. Every choice (which features, the regularisation,
and the feature settings: depth, rank_k, activity half-life) is a `Config`; a config is scored on a site
by a model fitted on the other sites only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import __version__ as sklearn_version
from sklearn.linear_model import LogisticRegression

from eval.experts.dataset import FeatureSetting, QuestionRows, SiteRows
from eval.experts.run import complete, score_runs
from index.experts.features import FEATURES
from index.experts.ranker import LinearRanker

# Feature sets the selection chooses among: everything, without the answer-only signals (acceptance,
# votes), without the focus, the bare evidence-and-activity model, and the formula's two terms (the
# prior and the focus, in log form) with fitted weights.
SUBSETS: dict[str, tuple[str, ...]] = {
    "all": FEATURES,
    "no answer signals": tuple(f for f in FEATURES if f not in ("accepted", "answer_votes")),
    "no focus": tuple(f for f in FEATURES if f != "focus"),
    "evidence and activity": ("vote", "vote_top10", "vote_top30", "best_rank", "activity", "recent"),
    "prior and focus": ("recent", "focus"),
}
C_VALUES = (0.3, 3.0)  # inverse L2 strength on standardised features


@dataclass(frozen=True)
class Config:
    features: FeatureSetting
    subset: str
    c: float

    def label(self) -> str:
        f = self.features
        return (
            f"depth {f.depth}, k {f.rank_k:g}, half-life {f.half_life_share:g}, {self.subset}, C {self.c:g}"
        )


def grid(settings: Iterable[FeatureSetting]) -> list[Config]:
    return [Config(fs, subset, c) for fs, subset, c in itertools.product(settings, SUBSETS, C_VALUES)]


def _pairs(questions: Sequence[QuestionRows]) -> tuple[np.ndarray, np.ndarray]:
    """Feature differences (better minus worse) and each pair's weight (1 / the question's pairs)."""
    diffs, weights = [], []
    for q in questions:
        better, worse = np.nonzero(q.grade[:, None] > q.grade[None, :])
        if len(better) == 0:
            continue
        diffs.append(q.x[better] - q.x[worse])
        weights.append(np.full(len(better), 1.0 / len(better)))
    if not diffs:
        return np.zeros((0, len(FEATURES))), np.zeros(0)
    return np.vstack(diffs), np.concatenate(weights)


def fit(sites: Sequence[SiteRows], config: Config) -> LinearRanker:
    """The ranker fitted on `sites` (their questions under the config's feature setting)."""
    questions = [q for s in sites for q in s.by_setting[config.features]]
    rows = np.vstack([q.x for q in questions if len(q.x)])
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale <= 1e-9] = 1.0
    use = np.array([f in SUBSETS[config.subset] for f in FEATURES])
    diffs, weights = _pairs(questions)
    z = diffs[:, use] / scale[use]
    # each pair both ways round, so the classes balance and no intercept is needed
    x = np.vstack([z, -z])
    y = np.concatenate([np.ones(len(z)), np.zeros(len(z))])
    model = LogisticRegression(C=config.c, fit_intercept=False, max_iter=1000)
    model.fit(x, y, sample_weight=np.concatenate([weights, weights]))
    coef = np.zeros(len(FEATURES))
    coef[use] = model.coef_[0]
    trained: dict[str, Any] = {
        "sites": sorted(s.name for s in sites),
        "questions": len(questions),
        "pairs": len(z),
        "features_used": config.subset,
        "c": config.c,
        "loss": "pairwise logistic (scikit-learn LogisticRegression, L2, no intercept)",
        "scikit_learn": sklearn_version,
        "command": "python -m eval.experts.train",
    }
    return LinearRanker(
        features=FEATURES,
        weights=tuple(float(w) for w in coef),
        mean=tuple(float(m) for m in mean),
        scale=tuple(float(s) for s in scale),
        settings=config.features.as_dict(),
        trained=trained,
    )


def rank(ranker: LinearRanker, q: QuestionRows) -> list[str]:
    """The people of one question by the ranker's score, ties broken by person id (as the finder does)."""
    scores = [ranker.score(row) for row in q.x]
    return [p for _, p in sorted(zip(scores, q.people, strict=True), key=lambda sp: (-sp[0], sp[1]))]


def score_site(ranker: LinearRanker, site: SiteRows, features: FeatureSetting) -> dict[str, float]:
    """The protocol's measures for the ranker's order on every test question of the site."""
    prepared = site.prepared
    candidates = prepared.candidates
    by_qid = {q.qid: q for q in site.by_setting[features]}
    runs = {
        q.qid: complete(rank(ranker, by_qid[q.qid]), candidates, prepared.people.get(q.asker or ""))
        for q in prepared.questions
    }
    return score_runs(prepared.questions, runs)


Scores = dict[Config, dict[str, dict[str, float]]]  # config -> site -> measures


def held_out(sites: Sequence[SiteRows], configs: Sequence[Config], exclude: str | None = None) -> Scores:
    """Every config on every site (but `exclude`), fitted on the other sites (never `exclude`)."""
    out: Scores = {c: {} for c in configs}
    pool = [s for s in sites if s.name != exclude]
    for test in pool:
        train = [s for s in pool if s is not test]
        for c in configs:
            out[c][test.name] = score_site(fit(train, c), test, c.features)
    return out


def best(scores: Scores, measure: str = "map") -> Config:
    """The config with the best mean over the sites it was scored on (the first of equals, in grid order)."""
    means = {c: float(np.mean([m[measure] for m in by_site.values()])) for c, by_site in scores.items()}
    top = max(means.values())
    return next(c for c in scores if means[c] >= top - 1e-12)
