"""Training data for the fitted expert ranker: for every test question of every site, each ranked
person's features (index/experts/features.py) as the product computes them, with their grade.

The features come from the product's own path (`ExpertFinder.rank_retrieved`, the asker as the caller),
for every feature setting of the grid (depth, rank_k, activity half-life): choosing among them is part
of the leave-one-site-out selection (eval/experts/fit.py). Retrieval is done once per question and depth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from eval.experts.run import Prepared, asker_principal
from index.experts.finder import ExpertFinder, topic_of
from index.experts.model import ExpertSettings
from index.retrieval.fusion import DocResult


@dataclass(frozen=True)
class FeatureSetting:
    """The settings the features depend on."""

    depth: int
    rank_k: float
    half_life_share: float

    def expert_settings(self) -> ExpertSettings:
        return ExpertSettings(
            scorer="formula",
            depth=self.depth,
            rank_k=self.rank_k,
            activity_half_life_share=self.half_life_share,
        )

    def as_dict(self) -> dict[str, float]:
        return {"depth": self.depth, "rank_k": self.rank_k, "activity_half_life_share": self.half_life_share}


@dataclass
class QuestionRows:
    """One test question: the people the product ranked for it, their features and grades."""

    qid: str
    people: list[str]  # person ids, in the finder's order under the formula (ties by id)
    x: np.ndarray  # one row of features per person
    grade: np.ndarray  # 0 not an answerer, 1 answerer, 2 accepted


@dataclass
class SiteRows:
    """A site's questions under each feature setting, and what the protocol scores them on."""

    prepared: Prepared
    by_setting: dict[FeatureSetting, list[QuestionRows]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.prepared.dataset.removeprefix("stackexchange_")


def collect(prepared: Prepared, settings: Iterable[FeatureSetting]) -> SiteRows:
    """Every test question's ranked people and features, for each feature setting."""
    settings = list(settings)
    site = SiteRows(prepared)
    retriever = prepared.engine.retriever
    finders = {fs: ExpertFinder(retriever, fs.expert_settings()) for fs in settings}
    for fs in settings:
        site.by_setting[fs] = []
    for q in prepared.questions:
        principal = asker_principal(q)
        topic = topic_of(q.text)
        retrieved: dict[int, list[DocResult]] = {}
        for fs in settings:
            if fs.depth not in retrieved:
                retrieved[fs.depth] = retriever.rank(topic, principal, mode="hybrid", depth=fs.depth)
            ranking = finders[fs].rank_retrieved(topic, retrieved[fs.depth], principal, now=prepared.split)
            people = [row.person_id for _, row in ranking.people]
            x = np.array([ranking.features[row.id] for _, row in ranking.people], dtype=np.float64)
            grade = np.array([q.relevant.get(p, 0) for p in people], dtype=np.int64)
            site.by_setting[fs].append(QuestionRows(q.qid, people, x.reshape(len(people), -1), grade))
    return site
