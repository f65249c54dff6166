"""Expert ranking arithmetic: settings, what one contribution is worth, recency, and the final score.

    a(c)  = role_weight(role) x quality(weight) x 0.5 ** (age_days / evidence_half_life_days)
    rel(d) = (k + 1) / (k + rank of d among the documents retrieved for the question)
    E(p)  = sum over retrieved documents d of rel(d) x sum of a(c) for p's contributions c to d
    T(p)  = E(p) / (A(p) + smoothing)          A(p) = sum of a(c) over all p's visible contributions
    P(p)  = (1 - m) x recent share + m x all-time share of the visible activity mass
    score = P(p) x T(p) ** topic_weight

E is Balog's document-centric Model 2 (voting). Dividing by A turns it into the share of a person's
work that is about the question (profile-centric, Model 1-like), so a prolific person does not win every
query; P brings activity back as a prior, weighted to recent activity, because the people who answer
next are the ones active now. Recency in P is measured on the visible activity's own clock (the share of
all visible contributions made since), so one setting fits a forum that moves in days and a wiki that
moves in months. eval/EXPERTS.md has the measurements behind every default.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from connectors.base import Role

# Roles a person can hold in a document, and their weight as evidence of knowing its subject. An
# accepted answer also carries an ANSWERER contribution, so ACCEPTED_ANSWERER is a bonus on top.
DEFAULT_ROLE_WEIGHTS: tuple[tuple[str, float], ...] = (
    (Role.AUTHOR.value, 1.0),
    (Role.OWNER.value, 0.8),
    (Role.ANSWERER.value, 1.0),
    (Role.ACCEPTED_ANSWERER.value, 0.5),
    (Role.EDITOR.value, 0.5),
    (Role.COMMENTER.value, 0.1),
    (Role.ASKER.value, 0.1),
)

# What one unit of Contribution.weight means per role, for the log-damped quality factor: a vote for
# answers, a kilobyte changed for authors and editors. Roles not listed have no quality signal.
QUALITY_UNITS: dict[str, float] = {
    Role.ANSWERER.value: 1.0,
    Role.ACCEPTED_ANSWERER.value: 1.0,
    Role.AUTHOR.value: 1000.0,
    Role.EDITOR.value: 1000.0,
    Role.OWNER.value: 1000.0,
}

RETRIEVAL_MODES = ("hybrid", "bm25", "dense")
RELEVANCE = ("rank", "score")
# "learned": the fitted ranker of ranker.json over index/experts/features.py; "formula": P x T ** lambda.
SCORERS = ("learned", "formula")
# What the knobs left unset mean for the formula; the learned ranker's file sets its own.
FORMULA_DEFAULTS: dict[str, float] = {"depth": 100, "rank_k": 30.0, "activity_half_life_share": 0.1}


@dataclass(frozen=True)
class ExpertSettings:
    """Knobs of the expert ranker. The defaults are the ones `whoknows eval experts` reports; none is
    tuned per dataset (eval/EXPERTS.md). Depth, rank_k and activity_half_life_share left unset (None)
    are the fitted ranker's (its file records what it was trained with) or FORMULA_DEFAULTS; `resolve`
    fills them in."""

    scorer: str = "learned"
    ranker_path: str | None = None  # a ranker.json other than the shipped one
    depth: int | None = None  # documents retrieved per question
    retrieval_mode: str = "hybrid"
    relevance: str = "rank"  # how retrieved documents are weighted: "rank" or "score" (relevance_weights)
    rank_k: float | None = None  # flatness of the rank weights of retrieved documents (as in RRF)
    score_power: float = 1.0  # with relevance "score": below 1 flattens the scaled scores
    role_weights: tuple[tuple[str, float], ...] = DEFAULT_ROLE_WEIGHTS
    quality_weight: float = 0.0  # 1 + this x log(1 + votes or kB): no gain measured, off (EXPERTS.md)
    quality_floor: float = 0.25
    evidence_half_life_days: float = 730.0  # knowledge goes stale slowly
    activity_half_life_share: float | None = None  # the prior halves every this share of the activity
    long_term_share: float = 0.15  # m: the all-time share of the prior
    smoothing: float = 3.0  # mu, in contribution units: one lucky answer does not make an expert
    topic_weight: float = 2.0  # lambda: topical focus counts more than the prior
    prior_weight: float = 1.0  # exponent of the prior (0: no prior; for the ablation)
    normalise: bool = True  # divide the evidence by the activity (False: plain Model 2 voting)
    evidence_per_person: int = 3
    related_depth: int = 20  # the why-line counts documents among this many best for the question
    topics_per_person: int = 5

    def __post_init__(self) -> None:
        if self.retrieval_mode not in RETRIEVAL_MODES:
            raise ValueError(f"unknown retrieval mode {self.retrieval_mode!r} (one of {RETRIEVAL_MODES})")
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {self.scorer!r} (one of {SCORERS})")
        positive = (self.depth, self.rank_k, self.activity_half_life_share, self.evidence_half_life_days)
        if any(v is not None and v <= 0 for v in positive):
            raise ValueError("depth, rank_k and half-lives must be positive")
        if self.relevance not in RELEVANCE:
            raise ValueError(f"unknown relevance {self.relevance!r} (one of {RELEVANCE})")
        if not 0.0 <= self.long_term_share <= 1.0:
            raise ValueError(f"long_term_share must be within 0..1, got {self.long_term_share}")
        if self.smoothing < 0 or self.topic_weight < 0:
            raise ValueError("smoothing and topic_weight must not be negative")

    def resolve(self, learned: dict[str, float] | None = None) -> ExpertSettings:
        """These settings with the unset knobs filled: from the learned ranker's `settings`, else the formula's."""
        base = {**FORMULA_DEFAULTS, **(learned or {})} if self.scorer == "learned" else FORMULA_DEFAULTS
        return replace(
            self,
            depth=self.depth or int(base["depth"]),
            rank_k=self.rank_k or float(base["rank_k"]),
            activity_half_life_share=self.activity_half_life_share or float(base["activity_half_life_share"]),
        )

    @property
    def documents(self) -> int:
        return self.depth or int(FORMULA_DEFAULTS["depth"])

    @property
    def k(self) -> float:
        return self.rank_k or FORMULA_DEFAULTS["rank_k"]

    @property
    def half_life_share(self) -> float:
        return self.activity_half_life_share or FORMULA_DEFAULTS["activity_half_life_share"]

    @cached_property
    def _role_map(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, weight in self.role_weights:
            out.setdefault(name, weight)  # the first listing of a role counts
        return out

    def role_weight(self, role: str) -> float:
        return self._role_map.get(role, 0.0)


def quality(role: str, weight: float, settings: ExpertSettings) -> float:
    """Log-damped quality of one contribution (answer score, edit size); 1.0 when the role has none."""
    unit = QUALITY_UNITS.get(role)
    if unit is None or settings.quality_weight == 0.0:
        return 1.0
    scaled = weight / unit
    signed = math.copysign(math.log1p(abs(scaled)), scaled)
    return max(settings.quality_floor, 1.0 + settings.quality_weight * signed)


def evidence_decay(at: datetime | None, now: datetime, settings: ExpertSettings) -> float:
    """Calendar decay of a contribution as evidence of knowledge; undated ones count as old as a half-life."""
    if at is None:
        return 0.5
    age_days = max(0.0, (now - at).total_seconds() / 86400.0)
    return float(0.5 ** (age_days / settings.evidence_half_life_days))


def contribution_mass(
    role: str, weight: float, at: datetime | None, now: datetime, settings: ExpertSettings
) -> float:
    """a(c): what one contribution says about its person's knowledge of the document's subject."""
    base = settings.role_weight(role)
    if base == 0.0:
        return 0.0
    return base * quality(role, weight, settings) * evidence_decay(at, now, settings)


class ActivityClock:
    """Recency on the visible activity's own clock: the share of visible contributions made after a time.

    Built from the timestamps of every contribution the asker may see, so a hidden document never moves it.
    Undated contributions count as the oldest.
    """

    def __init__(self, stamps: Sequence[datetime | None]):
        self._sorted = sorted(s for s in stamps if s is not None)
        self._total = len(stamps)

    @property
    def total(self) -> int:
        return self._total

    def share_after(self, at: datetime | None) -> float:
        if self._total == 0:
            return 0.0
        if at is None:
            return 1.0
        newer = len(self._sorted) - bisect.bisect_right(self._sorted, at)
        return newer / self._total

    def recency(self, at: datetime | None, settings: ExpertSettings) -> float:
        return float(0.5 ** (self.share_after(at) / settings.half_life_share))


@dataclass(frozen=True)
class PersonSignals:
    """The terms of one person's score, kept for the explanation and the ablation."""

    evidence: float  # E(p)
    activity: float  # A(p)
    recent_share: float  # this person's share of the recency-weighted visible activity
    total_share: float  # and of the all-time activity
    departed: bool = False  # no longer active: recency says nothing about asking them, their work remains

    def topical(self, settings: ExpertSettings) -> float:
        if self.evidence <= 0.0:
            return 0.0
        return self.evidence / (self.activity + settings.smoothing) if settings.normalise else self.evidence

    def prior(self, settings: ExpertSettings) -> float:
        m = 1.0 if self.departed else settings.long_term_share
        return (1.0 - m) * self.recent_share + m * self.total_share

    def score(self, settings: ExpertSettings) -> float:
        topical = self.topical(settings)
        if topical <= 0.0:
            return 0.0
        prior = self.prior(settings) ** settings.prior_weight if settings.prior_weight else 1.0
        return prior * topical**settings.topic_weight


def relevance_weights(scores: Sequence[float], settings: ExpertSettings) -> list[float]:
    """Weights of the retrieved documents, best first, the best 1.

    "rank": (k + 1) / (k + rank), the retriever's order only. "score": the retriever's scores min-max
    scaled over the retrieved list, so its fusion's scale does not matter, only the shape.
    """
    if settings.relevance == "rank" or not scores:
        k = settings.k
        return [(k + 1.0) / (k + i + 1.0) for i in range(len(scores))]
    top, bottom = max(scores), min(scores)
    if top - bottom <= 0.0:
        return [1.0] * len(scores)
    return [((s - bottom) / (top - bottom)) ** settings.score_power for s in scores]
