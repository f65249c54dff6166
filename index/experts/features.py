"""What the fitted ranker sees of one person for one question, all from documents the asker may see.

Per person, one pass over the visible contributions gathers their work (writing, answering, editing:
the roles that show knowledge) and talk (asking, commenting), recency, acceptances and answer votes;
the retrieved documents add their evidence for the question. `feature_vector` turns that into the
model's inputs. The ranker is fitted on pairs of people within a question, so anything that is the
same for everyone in a question (the site's size, the question's retrieval scores) drops out: the
features are logs and shares, robust to a change of the retriever's score scale (only ranks are used).

Answer-only signals (acceptance, votes) are centred on the site's own average, so a person without
answers (a wiki's authors) sits at 0 on them, neither helped nor hurt: the model ranks authors and
editors by the same work and evidence features that it learned on answerers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Role

WORK_ROLES = frozenset(
    r.value for r in (Role.AUTHOR, Role.OWNER, Role.ANSWERER, Role.ACCEPTED_ANSWERER, Role.EDITOR)
)
ANSWER, ACCEPTED = Role.ANSWERER.value, Role.ACCEPTED_ANSWERER.value

# The model's inputs, in the order of the weights in ranker.json. eval/EXPERTS.md defines each.
FEATURES = (
    "vote",  # log(1 + sum over retrieved documents of rank weight x the person's work in it)
    "vote_top10",  # log(1 + the person's work in the 10 best documents), unweighted
    "vote_top30",
    "best_rank",  # -log(1 + rank of the person's best retrieved document)
    "talk",  # log(1 + rank-weighted asking and commenting on retrieved documents)
    "activity",  # log(1 + all the person's visible work)
    "focus",  # log of the share of the person's work that the question retrieved
    "recent",  # log of the person's share of the recency-weighted visible activity
    "last_seen",  # minus the share of the visible activity made after the person's last contribution
    "accepted",  # smoothed accepted share of the person's answers minus the site's rate
    "answer_votes",  # smoothed mean log votes of the person's answers minus the site's mean
    "work_share",  # work / (work + talk) of the person's visible activity
)

FOCUS_SMOOTHING = 3.0  # contribution units: one lucky answer does not make a person focused
ANSWER_SMOOTHING = 2.0  # answers: a person's acceptance and votes shrink to the site's until they have some
SHARE_FLOOR = 1e-4


@dataclass
class PersonStats:
    """One person's visible activity, and their part in the documents retrieved for the question."""

    work: float = 0.0
    talk: float = 0.0
    recent: float = 0.0  # work and talk, weighted by recency on the activity clock
    answers: int = 0
    accepted: int = 0
    answer_votes: float = 0.0  # sum of signed log(1 + |votes|) over their answers
    last_at: datetime | None = None
    work_by_doc: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    talk_by_doc: dict[int, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, role: str, mass: float, recency: float, weight: float, at: datetime | None) -> None:
        """One visible contribution (`mass` as the model weighs it, `weight` the source's votes or size)."""
        if role in WORK_ROLES:
            self.work += mass
        else:
            self.talk += mass
        self.recent += mass * recency
        if role == ANSWER:
            self.answers += 1
            self.answer_votes += math.copysign(math.log1p(abs(weight)), weight)
        elif role == ACCEPTED:
            self.accepted += 1
        if at is not None and (self.last_at is None or at > self.last_at):
            self.last_at = at

    def add_evidence(self, doc: int, role: str, mass: float) -> None:
        (self.work_by_doc if role in WORK_ROLES else self.talk_by_doc)[doc] += mass

    @property
    def has_evidence(self) -> bool:
        return bool(self.work_by_doc or self.talk_by_doc)


@dataclass(frozen=True)
class SiteStats:
    """What the features are measured against: the whole visible activity."""

    recent: float
    total: float
    accept_rate: float
    mean_answer_votes: float

    @classmethod
    def of(cls, people: Mapping[int, PersonStats]) -> SiteStats:
        answers = sum(p.answers for p in people.values())
        return cls(
            recent=math.fsum(p.recent for p in people.values()) or 1.0,
            total=math.fsum(p.work + p.talk for p in people.values()) or 1.0,
            accept_rate=sum(p.accepted for p in people.values()) / answers if answers else 0.0,
            mean_answer_votes=math.fsum(p.answer_votes for p in people.values()) / answers
            if answers
            else 0.0,
        )


def feature_vector(
    p: PersonStats,
    site: SiteStats,
    rel: Mapping[int, float],
    position: Mapping[int, int],
    last_seen_share: float,
    departed: bool,
) -> list[float]:
    """The person's features for the question, in FEATURES order (see there)."""
    work_docs = sorted(p.work_by_doc, key=lambda d: position[d])
    vote = math.fsum(rel[d] * p.work_by_doc[d] for d in work_docs)
    top10 = math.fsum(p.work_by_doc[d] for d in work_docs if position[d] < 10)
    top30 = math.fsum(p.work_by_doc[d] for d in work_docs if position[d] < 30)
    best = position[work_docs[0]] if work_docs else len(position)
    talk = math.fsum(rel[d] * m for d, m in p.talk_by_doc.items())
    # someone who left is asked about their body of work, not their recent activity
    recent = (p.work + p.talk) / site.total if departed else p.recent / site.recent
    n = p.answers + ANSWER_SMOOTHING
    accepted = (p.accepted + ANSWER_SMOOTHING * site.accept_rate) / n - site.accept_rate
    votes = (p.answer_votes + ANSWER_SMOOTHING * site.mean_answer_votes) / n - site.mean_answer_votes
    mass = p.work + p.talk
    return [
        math.log1p(vote),
        math.log1p(top10),
        math.log1p(top30),
        -math.log1p(best),
        math.log1p(talk),
        math.log1p(p.work),
        math.log((vote + 0.05) / (p.work + FOCUS_SMOOTHING)),
        math.log(max(recent, SHARE_FLOOR)),
        -last_seen_share,
        accepted if p.answers else 0.0,
        votes if p.answers else 0.0,
        p.work / mass if mass > 0 else 0.0,
    ]


def named(values: Sequence[float]) -> dict[str, float]:
    return dict(zip(FEATURES, values, strict=True))
