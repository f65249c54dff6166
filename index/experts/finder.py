"""Who knows X: people ranked by their visible work on the question, each with evidence and a why-line.

Only documents the asker may see are retrieved, and every count, date, topic and prior is computed
from contributions to documents the asker may see: the answer is exactly what it would be if the hidden
documents did not exist. The arithmetic lives in index/experts/model.py.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import Role
from index.acl import Principal
from index.experts.contribution_cache import visible_contribution_rows
from index.experts.corrections import CorrectionNote, Corrections, RankedPeople
from index.experts.features import PersonStats, SiteStats, feature_vector, named
from index.experts.model import (
    ActivityClock,
    ExpertSettings,
    PersonSignals,
    contribution_mass,
    relevance_weights,
)
from index.experts.profile import (
    ContributionRow,
    Mentor,
    PersonProfile,
    PersonRow,
    build_profile,
    iso_at,
    mentor_of,
    people_by_ids,
    people_of_user,
    person_topics,
)
from index.experts.ranker import SHIPPED, LinearRanker, load_ranker
from index.retrieval.hybrid import DocResult, HybridRetriever, SearchHit
from index.retrieval.resolve import visible_documents
from index.store.documents import Store, StoredDocument
from index.store.visible_people import SeenAs, seen_as

# "who knows about X", "who can help me with X", "is there anyone who knows X": the asking, not the topic.
_ASKING = re.compile(
    r"^\s*(?:(?:is\s+there\s+)?any(?:one|body)\s+(?:who\s+)?knows?"
    r"|who\s+(?:else\s+)?(?:knows|knew|can\s+(?:help|assist)(?:\s+(?:me|us))?"
    r"|(?:is|are)\s+(?:an?\s+|the\s+)?(?:experts?|specialists?))"
    r"|(?:find|ask)\s+(?:an?\s+)?experts?)"
    r"(?:\s+(?:about|with|on|in|for|of|at))?\s+",
    re.IGNORECASE,
)


def topic_of(query: str) -> str:
    """The question without the asking ("who knows about X" -> "X"), so only the topic is retrieved."""
    if not _ASKING.match(query):
        return query
    topic = _ASKING.sub("", query, count=1).strip(" ?!.")
    return topic or query


@dataclass(frozen=True)
class ExpertFilters:
    """Who may be listed. The asker never is; inactive (departed) people only on request."""

    include_inactive: bool = False
    mentors_only: bool = False  # opted in as a mentor and active (busy ones too: ranked after, never hidden)
    team: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A visible document that shows the person's knowledge, with their part in it."""

    doc_id: str
    title: str
    url: str | None
    source: str
    kind: str
    role: str  # the person's strongest part in it (see ROLE_ORDER)
    roles: list[str]
    snippet: str
    date: str | None  # the person's latest contribution to it
    score: float


@dataclass
class Expert:
    """One ranked person, explained."""

    person_id: str
    name: str | None
    team: str | None
    title: str | None
    score: float
    why: str
    evidence: list[Evidence]
    topics: list[str]
    last_active: str | None
    mentor: Mentor
    signals: dict[str, float] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # what people's corrections did (corrections.py)


@dataclass
class _Person:
    """Accumulators for one person during a query."""

    activity: list[float] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)
    evidence: list[float] = field(default_factory=list)
    by_doc: dict[int, list[ContributionRow]] = field(default_factory=lambda: defaultdict(list))
    mass_by_doc: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    contributions: list[ContributionRow] = field(default_factory=list)
    stats: PersonStats = field(default_factory=PersonStats)


@dataclass
class Ranking:
    """People scored for one query, with what is needed to explain any of them."""

    query: str
    people: list[tuple[float, PersonRow]]
    accumulators: dict[int, _Person]
    signals: dict[int, PersonSignals]
    rel: dict[int, float]
    ranked: dict[int, DocResult]
    position: dict[int, int]  # document -> its rank in the retrieved list
    features: dict[int, list[float]] = field(default_factory=dict)  # person -> the fitted ranker's inputs
    notes: dict[int, CorrectionNote] = field(default_factory=dict)  # person -> what the corrections did
    seen: dict[int, SeenAs] = field(default_factory=dict)  # how the asker sees each person
    principal: Principal = field(default_factory=Principal.anonymous)

    def explain(self, finder: ExpertFinder, k: int, now: datetime) -> list[Expert]:
        """The k best people, explained; their documents and snippets fetched in one go."""
        top = self.people[:k]
        docs = visible_documents(
            finder.store,
            self.principal,
            sorted({c.doc for _, row in top for c in self.accumulators[row.id].contributions}),
        )
        shown = {row.id: finder._shown(self.accumulators[row.id], self.rel, docs) for _, row in top}
        wanted = sorted({d for ds in shown.values() for d in ds[1]}, key=lambda d: self.position[d])
        ranked = [self.ranked[d] for d in wanted]
        hits = {h.doc_id: h for h in finder.retriever.hits(ranked, self.query, self.principal)}
        return [
            finder._explain(
                row,
                self.seen[row.id],
                score,
                self.accumulators[row.id],
                self.signals[row.id],
                shown[row.id],
                docs,
                hits,
                self.position,
                self.features.get(row.id),
                now,
                self.notes.get(row.id),
            )
            for score, row in top
        ]


class ExpertFinder:
    """Ranks people for a question through the one retrieval path, within the asker's ACL."""

    def __init__(
        self,
        retriever: HybridRetriever,
        settings: ExpertSettings | None = None,
        ranker: LinearRanker | None = None,
        corrections: Corrections | None = None,
    ):
        """`ranker` overrides the file of `settings.ranker_path` (the shipped ranker.json by default);
        `corrections` (people's own, from the state store) are applied after its score when given."""
        self.retriever = retriever
        self.corrections = corrections
        settings = settings or ExpertSettings()
        self.ranker: LinearRanker | None = None
        if settings.scorer == "learned":
            path = Path(settings.ranker_path) if settings.ranker_path else SHIPPED
            self.ranker = ranker or load_ranker(path)
        self.settings = settings.resolve(dict(self.ranker.settings) if self.ranker else None)

    @property
    def store(self) -> Store:
        return self.retriever.store

    def rank_experts(
        self,
        query: str,
        principal: Principal,
        k: int = 10,
        filters: ExpertFilters | None = None,
        now: datetime | None = None,
    ) -> list[Expert]:
        """The k people who best know what `query` asks about, best first, ties broken by person id."""
        now = now or datetime.now(UTC)
        ranking = self.rank_people(query, principal, filters, now)
        return ranking.explain(self, k, now)

    def rank_people(
        self,
        query: str,
        principal: Principal,
        filters: ExpertFilters | None = None,
        now: datetime | None = None,
    ) -> Ranking:
        """Every admitted person with visible evidence, scored, best first; explained on demand."""
        if not query.strip():
            return Ranking(query, [], {}, {}, {}, {}, {})
        query = topic_of(query)
        s = self.settings
        ranked = self.retriever.rank(query, principal, mode=s.retrieval_mode, depth=s.documents)
        return self.rank_retrieved(query, ranked, principal, filters, now)

    def rank_retrieved(
        self,
        query: str,
        ranked: Sequence[DocResult],
        principal: Principal,
        filters: ExpertFilters | None = None,
        now: datetime | None = None,
    ) -> Ranking:
        """`rank_people` on documents already retrieved for `query` (best first) by this principal."""
        filters = filters or ExpertFilters()
        now = now or datetime.now(UTC)
        s = self.settings
        rel = dict(zip((r.doc for r in ranked), relevance_weights([r.score for r in ranked], s), strict=True))
        position = {r.doc: i for i, r in enumerate(ranked)}
        people, signals, clock = self._signals(principal, rel, now)
        rows = people_by_ids(self.store.db, signals)
        if self.corrections is not None:
            rows = self.corrections.overlay(rows)  # the person's mentoring choices before any filter
        excluded = people_of_user(self.store.db, principal.user)
        for pid, row in rows.items():
            if not row.active:  # only listed on request (include_inactive)
                signals[pid] = replace(signals[pid], departed=True)
        site = SiteStats.of({pid: p.stats for pid, p in people.items()})
        features = {
            pid: feature_vector(
                people[pid].stats,
                site,
                rel,
                position,
                clock.share_after(people[pid].stats.last_at),
                sig.departed,
            )
            for pid, sig in signals.items()
        }
        admitted = [
            pid for pid in signals if pid in rows and pid not in excluded and _admitted(rows[pid], filters)
        ]
        if self.ranker is not None:
            ranker = self.ranker
            scored = [(math.exp(ranker.score(features[pid])), rows[pid]) for pid in admitted]
        else:
            scored = [(signals[pid].score(s), rows[pid]) for pid in admitted]
        scored = [(score, row) for score, row in scored if score > 0.0]
        # ids as the asker sees them (never one a hidden document gave): they name and break ties
        seen = seen_as(self.store.db, principal, [row.id for _, row in scored])
        scored = [(score, row) for score, row in scored if row.id in seen]
        scored.sort(key=lambda sr: (-sr[0], seen[sr[1].id].person_id))
        ranked_by_doc = {r.doc: r for r in ranked}
        ranking = Ranking(
            query,
            scored,
            people,
            signals,
            rel,
            ranked_by_doc,
            position,
            features,
            seen=seen,
            principal=principal,
        )
        if self.corrections is None:
            return ranking
        return self._corrected(
            ranking, ranked, lambda row: row.id not in excluded and _admitted(row, filters)
        )

    def _corrected(
        self, ranking: Ranking, ranked: Sequence[DocResult], admit: Callable[[PersonRow], bool]
    ) -> Ranking:
        """The ranking after people's corrections, a step of its own after the score (corrections.py)."""
        assert self.corrections is not None
        given = RankedPeople(ranking.query, ranking.people, ranked, set(ranking.accumulators), admit)
        out = self.corrections.apply(self.store.db, given)
        added = [row.id for _, row in out.people if row.id not in ranking.seen]
        seen = {**ranking.seen, **seen_as(self.store.db, ranking.principal, added)} if added else ranking.seen
        signals = dict(ranking.signals)
        for _, row in out.people:  # someone named by an admin or by the question may have no evidence
            signals.setdefault(row.id, PersonSignals(0.0, 0.0, 0.0, 0.0))
        people = [(score, row) for score, row in out.people if row.id in seen]
        return replace(ranking, people=people, signals=signals, notes=out.notes, seen=seen)

    def profile(
        self, person_id: str, principal: Principal, now: datetime | None = None
    ) -> PersonProfile | None:
        """A person's profile within the viewer's ACL (None: no such person for this viewer), as the
        person corrected it when corrections are given."""
        found = build_profile(self.store, person_id, principal, now or datetime.now(UTC), self.settings)
        if found is None or self.corrections is None:
            return found
        return self.corrections.correct_profile(self.store.db, found, principal)

    # --- scoring --------------------------------------------------------------------------------

    def _signals(
        self, principal: Principal, rel: dict[int, float], now: datetime
    ) -> tuple[dict[int, _Person], dict[int, PersonSignals], ActivityClock]:
        """Per person: evidence on the retrieved documents, activity, and shares of the visible activity."""
        s = self.settings
        contributions = visible_contribution_rows(self.store, principal)
        clock = ActivityClock([c.at for c in contributions])
        people: dict[int, _Person] = defaultdict(_Person)
        for c in contributions:
            mass = contribution_mass(c.role, c.weight, c.at, now, s)
            if mass <= 0.0:
                continue
            p = people[c.person]
            recency = clock.recency(c.at, s)
            p.activity.append(mass)
            p.recent.append(mass * recency)
            p.stats.add(c.role, mass, recency, c.weight, c.at)
            if c.doc in rel:
                p.evidence.append(rel[c.doc] * mass)
                p.by_doc[c.doc].append(c)
                p.mass_by_doc[c.doc].append(mass)
                p.stats.add_evidence(c.doc, c.role, mass)
            p.contributions.append(c)
        # math.fsum: exact sums, so the order rows come back in never changes a score
        total_activity = math.fsum(v for p in people.values() for v in p.activity) or 1.0
        total_recent = math.fsum(v for p in people.values() for v in p.recent) or 1.0
        signals = {
            pid: PersonSignals(
                evidence=math.fsum(p.evidence),
                activity=math.fsum(p.activity),
                recent_share=math.fsum(p.recent) / total_recent,
                total_share=math.fsum(p.activity) / total_activity,
            )
            for pid, p in people.items()
            if p.evidence
        }
        return people, signals, clock

    # --- explanation ----------------------------------------------------------------------------

    def _shown(
        self, person: _Person, rel: dict[int, float], docs: dict[int, StoredDocument]
    ) -> tuple[dict[int, float], list[int], list[int]]:
        """The person's retrieved documents scored, all of them in order, and those shown as evidence."""
        doc_scores = {d: rel[d] * math.fsum(masses) for d, masses in person.mass_by_doc.items()}
        # the evidence: the person's strongest retrieved documents, ties broken by document id
        order = sorted(doc_scores, key=lambda d: (-doc_scores[d], docs[d].doc_id if d in docs else ""))
        return doc_scores, [d for d in order if d in docs][: self.settings.evidence_per_person], order

    def _explain(
        self,
        row: PersonRow,
        seen: SeenAs,
        score: float,
        person: _Person,
        signals: PersonSignals,
        shown_docs: tuple[dict[int, float], list[int], list[int]],
        docs: dict[int, StoredDocument],
        hits: dict[str, SearchHit],
        position: dict[int, int],
        features: list[float] | None,
        now: datetime,
        note: CorrectionNote | None = None,
    ) -> Expert:
        s = self.settings
        doc_scores, shown, order = shown_docs
        evidence = []
        for d in shown:
            doc = docs[d]
            mine = person.by_doc[d]
            dated = [c.at for c in mine if c.at is not None]
            hit = hits.get(doc.doc_id)
            evidence.append(
                Evidence(
                    doc_id=doc.doc_id,
                    title=doc.title,
                    url=doc.url,
                    source=doc.source,
                    kind=doc.kind,
                    role=primary_role({c.role for c in mine}),
                    roles=sorted({c.role for c in mine}),
                    snippet=hit.snippet if hit is not None else "",
                    date=iso_at(max(dated)) if dated else None,
                    score=round(doc_scores[d], 6),
                )
            )
        topics = person_topics(person.contributions, docs, now, s, s.topics_per_person)
        dated_all = [c.at for c in person.contributions if c.at is not None]
        why = why_line(person.by_doc, docs, [d for d in order if position[d] < s.related_depth] or order[:1])
        if note is not None and not order:  # added by the corrections: no visible evidence
            why = (
                f"named expert for {', '.join(note.named_for)}" if note.named_for else "the person you named"
            )
        return Expert(
            person_id=seen.person_id,
            name=seen.name,
            team=row.team,
            title=row.title,
            score=round(score, 8),
            why=why,
            evidence=evidence,
            topics=[t for t, _ in topics],
            last_active=iso_at(max(dated_all)) if dated_all else None,
            mentor=mentor_of(row),
            signals={
                "topical": round(signals.topical(s), 8),
                "prior": round(signals.prior(s), 8),
                "documents": float(len(doc_scores)),
                **({f: round(v, 6) for f, v in named(features).items()} if features is not None else {}),
                **(note.signals() if note is not None else {}),
            },
            labels=note.labels() if note is not None else [],
        )


def _admitted(row: PersonRow, filters: ExpertFilters) -> bool:
    if not row.active and not filters.include_inactive:
        return False
    if filters.mentors_only and not (row.mentor_opt_in and row.active):
        return False
    return not (filters.team and (row.team or "").casefold() != filters.team.strip().casefold())


# Which part of a person's work in a document speaks for them first.
ROLE_ORDER = tuple(
    r.value
    for r in (
        Role.ACCEPTED_ANSWERER,
        Role.AUTHOR,
        Role.OWNER,
        Role.ANSWERER,
        Role.EDITOR,
        Role.ASKER,
        Role.COMMENTER,
    )
)


def primary_role(roles: set[str]) -> str:
    return min(roles, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else len(ROLE_ORDER), r))


_ANSWER_ROLES = {Role.ANSWERER.value, Role.ACCEPTED_ANSWERER.value}
_WRITER_ROLES = {Role.AUTHOR.value, Role.OWNER.value}


def why_line(
    by_doc: dict[int, list[ContributionRow]], docs: dict[int, StoredDocument], order: Sequence[int]
) -> str:
    """One line from the person's part in the retrieved documents, e.g.
    "answered 4 threads on neural-networks, 2 accepted; wrote 'Postgres backups runbook'"."""
    roles = {d: {c.role for c in cs} for d, cs in by_doc.items() if d in docs}
    ranked = [d for d in order if d in roles]
    answered = [d for d in ranked if roles[d] & _ANSWER_ROLES]
    accepted = [d for d in answered if Role.ACCEPTED_ANSWERER.value in roles[d]]
    written = [d for d in ranked if roles[d] & _WRITER_ROLES]
    edited = [d for d in ranked if Role.EDITOR.value in roles[d] and d not in written]
    commented = [d for d in ranked if roles[d] == {Role.COMMENTER.value}]
    asked = [d for d in ranked if Role.ASKER.value in roles[d] and not roles[d] & _ANSWER_ROLES]
    parts: list[str] = []
    if answered:
        tag = _common_tag([docs[d] for d in answered])
        part = f"answered {_n(len(answered), 'related thread')}" + (f" on {tag}" if tag else "")
        parts.append(part + (f", {len(accepted)} accepted" if accepted else ""))
    if written:
        first = docs[written[0]]
        more = f" and {_n(len(written) - 1, 'more')}" if len(written) > 1 else ""
        parts.append(f"wrote the {_kind(first.kind)} '{first.title}'{more}")
    if edited:
        parts.append(f"edited {_n(len(edited), 'related page')}")
    if commented:
        parts.append(f"commented on {_n(len(commented), 'related discussion')}")
    if asked:
        parts.append(f"asked {_n(len(asked), 'related question')}")
    return "; ".join(parts) or "took part in related documents"


def _n(count: int, noun: str) -> str:
    if noun == "more":
        return f"{count} more"
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _kind(kind: str) -> str:
    return {"wiki": "wiki page", "doc": "page", "forum": "post", "mail": "message"}.get(kind, kind)


def _common_tag(docs: Sequence[StoredDocument]) -> str | None:
    """The tag most of these documents share (at least two of them), ties broken alphabetically."""
    counts = Counter(t.lower() for d in docs for t in set(d.tags))
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return best[0][0] if best and best[0][1] >= 2 else None
