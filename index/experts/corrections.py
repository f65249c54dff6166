"""What people and admins say about the ranking, applied after the ranker's score as a step of its own.

The ranker (finder.py, features.py, ranker.py) scores people from their visible work. This step then
applies, read from the state store at every question so that a change counts at once:

    the person opted out (listed false)                 -> not suggested for any question
    a topic they hid ("not me") or do not want to be     -> not suggested for that question (their
      asked about matches the question                     documents stay wherever they are found)
    a topic they confirmed or added matches              -> score x confirm_boost
    votes on them for this question                      -> score x exp(v), v = vote_weight x the sum of
                                                            the votes, clamped to +-feedback_cap

and orders: the person the question names first, then everyone with room before busy mentors (at
capacity: listed, never hidden), named experts before the rest, then the corrected score, ties by id.
An admin's named expert for a topic the question matches, or for the source of most of its best
documents, is added when the ranker did not find them (and the viewer may know of them).

A topic matches a question when each of its terms (words folded and stemmed, stop words dropped) is
among the question's terms. Each voter has one vote per question and person (a new vote replaces the
old), so one user moves anyone's score on a question by at most exp(+-vote_weight), about 18%, however
often they vote, and all voters together by at most exp(+-feedback_cap). With nothing recorded, no
mentor at capacity and a question that is nobody's name, every score and the order are the ranker's.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from index.acl import Principal, visible_sql
from index.experts.profile import Mentor, PersonProfile, PersonRow, mentor_of, people_by_ids
from index.keyword.analyzer import Analyzer
from index.retrieval.fusion import DocResult
from index.retrieval.text import STOPWORDS
from index.state.base import StateStore
from index.state.profiles.feedback import FeedbackStore
from index.state.profiles.mentoring import MentoringStore
from index.state.profiles.settings import NamedExpert, PersonSettings, ProfileStore, TopicCorrection
from index.store.identity import name_key

CLAIMED = ("confirmed", "added")  # topic statuses that raise a person
BUSY_LABEL = "busy: at mentoring capacity"


@dataclass(frozen=True)
class CorrectionSettings:
    confirm_boost: float = 1.5
    vote_weight: float = 0.17  # exp(0.17) = 1.185: one user moves anyone by under a fifth
    feedback_cap: float = 0.7  # exp(0.7) = 2.0: everyone's votes together at most halve or double a score
    # A source's named experts join a question when its documents make at least this share of the
    # question's best `named_source_depth` retrieved documents (those the asker may see).
    named_source_share: float = 0.5
    named_source_depth: int = 5

    def __post_init__(self) -> None:
        if self.confirm_boost < 1.0:
            raise ValueError(f"confirm_boost must be 1 or more, got {self.confirm_boost}")
        if self.vote_weight < 0 or self.feedback_cap < self.vote_weight:
            raise ValueError("vote_weight must be >= 0 and feedback_cap >= vote_weight")
        if not 0.0 < self.named_source_share <= 1.0 or self.named_source_depth < 1:
            raise ValueError("named_source_share must be within (0, 1] and named_source_depth 1 or more")

    def feedback_factor(self, votes: Sequence[int]) -> float:
        """The score multiplier of a person's votes on one question (one vote of +-1 per voter)."""
        shift = self.vote_weight * sum(max(-1, min(1, v)) for v in votes)
        return math.exp(max(-self.feedback_cap, min(self.feedback_cap, shift)))


@lru_cache(maxsize=1)
def _analyzer() -> Analyzer:
    return Analyzer()


def topic_terms(text: str) -> frozenset[str]:
    """The terms a topic or a question is matched by: its words, folded and stemmed, stop words dropped."""
    words = _analyzer().words(text)
    return frozenset(_analyzer().stems([w for w in words if w not in STOPWORDS] or words))


def topic_key(text: str) -> str:
    """A topic's terms in one string: topics (and questions) with the same key are the same."""
    return " ".join(sorted(topic_terms(text)))


def covers(key: str, terms: frozenset[str]) -> bool:
    """Whether a topic (by its key) matches a question (by its terms)."""
    wanted = key.split()
    return bool(wanted) and all(t in terms for t in wanted)


@dataclass(frozen=True)
class CorrectionNote:
    """What the step did to one person, for the explanation."""

    ranker_score: float
    factor: float = 1.0
    confirmed: tuple[str, ...] = ()  # the person's own topics the question matched
    named_for: tuple[str, ...] = ()  # "topic X" or "source Y", named by an admin
    votes: int = 0  # net votes counted
    busy: bool = False
    named_in_question: bool = False

    def labels(self) -> list[str]:
        out = [f"named expert for {what}" for what in self.named_for]
        out += [f"confirmed by them: {topic}" for topic in self.confirmed]
        if self.busy:
            out.append(BUSY_LABEL)
        return out

    def signals(self) -> dict[str, float]:
        return {"ranker_score": round(self.ranker_score, 8), "correction": round(self.factor, 6)}


@dataclass(frozen=True)
class RankedPeople:
    """What the finder hands over: its people for one question, best first, and what adding someone needs."""

    query: str  # the topic (the asking removed)
    people: list[tuple[float, PersonRow]]
    ranked: Sequence[DocResult]  # the retrieved documents, best first
    visible: set[int]  # people with visible work
    admit: Callable[[PersonRow], bool]  # the finder's filters and the asker's exclusion


@dataclass(frozen=True)
class Corrected:
    people: list[tuple[float, PersonRow]]
    notes: dict[int, CorrectionNote] = field(default_factory=dict)


def chosen_mentor(
    chosen: PersonSettings | None, opt_in: bool, capacity: int | None
) -> tuple[bool, int | None]:
    """Mentoring as the person chose it, the directory's where they did not."""
    if chosen is None:
        return opt_in, capacity
    return (
        opt_in if chosen.mentor_opt_in is None else chosen.mentor_opt_in,
        capacity if chosen.mentor_capacity is None else chosen.mentor_capacity,
    )


class Corrections:
    """People's own corrections, read from the state store on every call (nothing is cached, so what
    another replica recorded a moment ago counts)."""

    def __init__(self, state: StateStore, settings: CorrectionSettings | None = None):
        self.settings = settings or CorrectionSettings()
        self.profiles = ProfileStore(state)
        self.feedback = FeedbackStore(state)
        self.mentoring = MentoringStore(state)

    def overlay(self, rows: dict[int, PersonRow]) -> dict[int, PersonRow]:
        """The people with their own mentoring choices over the directory's and their accepted requests."""
        ids = [row.person_id for row in rows.values()]
        chosen = self.profiles.settings_of(ids)
        accepted = self.mentoring.accepted_counts(ids)
        out = {}
        for pid, row in rows.items():
            opt_in, capacity = chosen_mentor(
                chosen.get(row.person_id), row.mentor_opt_in, row.mentor_capacity
            )
            out[pid] = replace(
                row,
                mentor_opt_in=opt_in,
                mentor_capacity=capacity,
                mentor_accepted=accepted.get(row.person_id, 0),
            )
        return out

    def apply(self, db: sqlite3.Connection, given: RankedPeople) -> Corrected:
        """The ranker's people corrected and reordered (the module's docstring has the rules)."""
        s = self.settings
        terms = topic_terms(given.query)
        named_for = self._named_for(db, given, terms)
        named_here = _named_by_question(db, given.query)
        found = {row.person_id for _, row in given.people}
        extra_ids = {pid for pid in named_here if pid not in found}
        extra_ids |= {pid for pid in named_for if pid not in found}
        candidates = list(given.people)
        if extra_ids:
            rows = people_by_ids(db, _internal_ids(db, extra_ids))
            for row in sorted(self.overlay(rows).values(), key=lambda r: r.person_id):
                if given.admit(row) and (row.id in given.visible or row.in_directory):
                    candidates.append((0.0, row))
        ids = [row.person_id for _, row in candidates]
        chosen = self.profiles.settings_of(ids)
        topics = self.profiles.topics_of(ids)
        votes = self.feedback.for_query(" ".join(sorted(terms))) if terms else {}
        scored: list[tuple[tuple[bool, bool, bool, float, int], float, PersonRow]] = []
        notes: dict[int, CorrectionNote] = {}
        for place, (score, row) in enumerate(candidates):
            if _declined(chosen.get(row.person_id), topics.get(row.person_id, []), terms):
                continue
            confirmed = tuple(
                c.topic
                for c in topics.get(row.person_id, [])
                if c.status in CLAIMED and covers(c.topic_key, terms)
            )
            mine = votes.get(row.person_id, [])
            factor = (s.confirm_boost if confirmed else 1.0) * s.feedback_factor(mine)
            note = CorrectionNote(
                ranker_score=score,
                factor=factor,
                confirmed=confirmed,
                named_for=tuple(named_for.get(row.person_id, ())),
                votes=sum(mine),
                busy=mentor_of(row).busy,
                named_in_question=row.person_id in named_here,
            )
            corrected = score * factor
            # equal corrected scores keep the ranker's order (its tie-break is the id the viewer sees)
            key = (not note.named_in_question, note.busy, not note.named_for, -corrected, place)
            scored.append((key, corrected, row))
            notes[row.id] = note
        scored.sort(key=lambda entry: entry[0])
        return Corrected([(corrected, row) for _, corrected, row in scored], notes)

    def _named_for(
        self, db: sqlite3.Connection, given: RankedPeople, terms: frozenset[str]
    ) -> dict[str, list[str]]:
        """person id -> what an admin named them an expert for, among what this question is about."""
        named = self.profiles.named_experts()
        depth = self.settings.named_source_depth
        shares = source_shares(db, given.ranked[:depth]) if any(n.kind == "source" for n in named) else {}
        out: dict[str, list[str]] = defaultdict(list)
        for n in named:
            if _named_matches(n, terms, shares, self.settings.named_source_share):
                out[n.person_id].append(f"{n.kind} {n.value}")
        return dict(out)

    def correct_profile(
        self, db: sqlite3.Connection, profile: PersonProfile, principal: Principal
    ) -> PersonProfile:
        """A profile as the person corrected it: hidden topics gone, claimed ones marked confirmed (backed by
        visible work) or self-declared, their mentoring choices and topics to ask or not to ask about."""
        pid = profile.person_id
        chosen = self.profiles.settings_of([pid]).get(pid)
        corrections = self.profiles.topics_of([pid]).get(pid, [])
        accepted = self.mentoring.accepted_counts([pid]).get(pid, 0)
        hidden = {c.topic_key for c in corrections if c.status == "hidden"}
        claimed = {c.topic_key: c for c in corrections if c.status in CLAIMED}
        topics = [(t, w) for t, w in profile.topics if topic_key(t) not in hidden]
        status = {t: "confirmed" if topic_key(t) in claimed else "inferred" for t, _ in topics}
        evidenced: set[str] = set().union(*(topic_terms(t) for t, _ in topics))
        shown = {topic_key(t) for t, _ in topics}
        for key, c in sorted(claimed.items()):
            if key not in shown:
                topics.append((c.topic, 0.0))
                status[c.topic] = "confirmed" if set(key.split()) <= evidenced else "self-declared"
        do_not_ask = list(chosen.do_not_ask) if chosen else []
        avoid = {topic_key(t) for t in do_not_ask} | hidden
        if chosen is not None and chosen.ask_me_about is not None:
            ask = list(chosen.ask_me_about)
        else:
            ask = [t for t, _ in topics if status[t] != "self-declared"][: len(profile.ask_me_about)]
        opt_in, capacity = chosen_mentor(chosen, profile.mentor.opt_in, profile.mentor.capacity)
        return replace(
            profile,
            topics=topics,
            topic_status=status,
            ask_me_about=[t for t in ask if topic_key(t) not in avoid],
            do_not_ask=do_not_ask,
            named_expert_for=self._shown_named(db, pid, principal),
            mentor=Mentor(opt_in=opt_in, capacity=capacity, active=profile.mentor.active, accepted=accepted),
        )

    def _shown_named(self, db: sqlite3.Connection, person_id: str, principal: Principal) -> list[str]:
        """What an admin named the person an expert for; a source only to viewers who see some of it."""
        out = []
        for n in self.profiles.named_experts():
            if n.person_id != person_id:
                continue
            if n.kind == "source" and not _sees_source(db, principal, n.value_key):
                continue
            out.append(f"{n.kind} {n.value}")
        return out


def _declined(chosen: PersonSettings | None, topics: list[TopicCorrection], terms: frozenset[str]) -> bool:
    """The person opted out, or said "not me" or "do not ask me" about what the question asks."""
    if chosen is not None and not chosen.is_listed:
        return True
    if any(c.status == "hidden" and covers(c.topic_key, terms) for c in topics):
        return True
    return chosen is not None and any(covers(topic_key(t), terms) for t in chosen.do_not_ask)


def _named_matches(n: NamedExpert, terms: frozenset[str], shares: dict[str, float], share: float) -> bool:
    if n.kind == "topic":
        return covers(n.value_key, terms)
    return shares.get(n.value_key, 0.0) >= share


def source_shares(db: sqlite3.Connection, top: Sequence[DocResult]) -> dict[str, float]:
    """source -> its share of the documents `top` (retrieved for the asker, so all visible to them)."""
    if not top:
        return {}
    marks = ",".join("?" * len(top))
    sources = [
        row[0]
        for row in db.execute(f"SELECT source FROM documents WHERE id IN ({marks})", [r.doc for r in top])
    ]
    counts: dict[str, float] = defaultdict(float)
    for source in sources:
        counts[source] += 1.0 / len(top)
    return dict(counts)


def _named_by_question(db: sqlite3.Connection, query: str) -> set[str]:
    """The people a question is the name (two words or more) or the person id of."""
    key = name_key(query)
    text = query.strip()
    if not text:
        return set()
    by_name = (key,) if key and len(key.split()) >= 2 else ()
    where = "person_id = ?" + (" OR name_key = ?" if by_name else "")
    return {str(r[0]) for r in db.execute(f"SELECT person_id FROM people WHERE {where}", (text, *by_name))}


def _internal_ids(db: sqlite3.Connection, person_ids: Iterable[str]) -> list[int]:
    wanted = sorted(set(person_ids))
    marks = ",".join("?" * len(wanted))
    return [int(r[0]) for r in db.execute(f"SELECT id FROM people WHERE person_id IN ({marks})", wanted)]


def _sees_source(db: sqlite3.Connection, principal: Principal, source: str) -> bool:
    acl, params = visible_sql(principal)
    row = db.execute(f"SELECT 1 FROM documents d WHERE d.source = ? AND {acl} LIMIT 1", [source, *params])
    return row.fetchone() is not None
