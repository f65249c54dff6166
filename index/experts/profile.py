"""People as the asker may see them: visible contributions, directory facts, topics, and a person's profile.

Every query here joins `documents` and applies `visible_sql`: a contribution to a document the asker
may not see never counts, never dates a person, never names a topic.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from index.acl import Principal, visible_sql
from index.experts.model import ExpertSettings, contribution_mass
from index.retrieval.resolve import visible_documents
from index.retrieval.text import STOPWORDS
from index.store.documents import SQLITE_BATCH, Store, StoredDocument
from index.store.visible_people import find_person, seen_as

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#.-]*[A-Za-z0-9+#]|[A-Za-z]")


@dataclass(frozen=True)
class ContributionRow:
    """One visible contribution, resolved to its person (internal ids)."""

    id: int
    doc: int
    person: int
    role: str
    at: datetime | None
    weight: float


@dataclass(frozen=True)
class PersonRow:
    """Directory facts about a person (or what the sources told us when the directory does not know them)."""

    id: int
    person_id: str
    name: str | None
    team: str | None
    title: str | None
    timezone: str | None
    active: bool
    mentor_opt_in: bool
    mentor_capacity: int | None
    in_directory: bool
    mentor_accepted: int = 0  # accepted mentoring requests (the state store's; 0 without it)


@dataclass(frozen=True)
class Mentor:
    opt_in: bool
    capacity: int | None
    active: bool
    accepted: int = 0  # accepted mentoring requests: they fill the capacity

    @property
    def available(self) -> bool:
        return self.active and self.opt_in and (self.capacity is None or self.accepted < self.capacity)

    @property
    def busy(self) -> bool:
        """Mentors, but every place is taken: listed, ranked after those with room."""
        return self.active and self.opt_in and self.capacity is not None and self.accepted >= self.capacity


@dataclass(frozen=True)
class Activity:
    """One visible contribution as a profile lists it."""

    doc_id: str
    title: str
    url: str | None
    source: str
    kind: str
    role: str
    date: str | None


@dataclass
class PersonProfile:
    """What the viewer may learn about a person: directory facts and their visible work."""

    person_id: str
    name: str | None
    team: str | None
    title: str | None
    timezone: str | None
    mentor: Mentor
    last_active: str | None
    topics: list[tuple[str, float]]  # expertise areas: topic, share of the person's visible activity
    ask_me_about: list[str]
    documents: list[Activity]  # recent visible work, newest first
    counts: dict[str, int] = field(default_factory=dict)  # role -> documents
    sources: dict[str, int] = field(default_factory=dict)  # source -> documents
    # What the person said about their topics (index/experts/corrections.py): topic -> inferred,
    # confirmed or self-declared; topics not to ask them about; what an admin named them an expert for.
    topic_status: dict[str, str] = field(default_factory=dict)
    do_not_ask: list[str] = field(default_factory=list)
    named_expert_for: list[str] = field(default_factory=list)


def _parse_at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def iso_at(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


_CONTRIBUTION_SQL = (
    "SELECT c.id, c.doc, a.person, c.role, c.at, c.weight FROM contributions c "
    "JOIN accounts a ON a.source = c.source AND a.account = c.account "
    "JOIN documents d ON d.id = c.doc WHERE {acl}{extra} ORDER BY c.id"
)


def visible_contributions(
    db: sqlite3.Connection, principal: Principal, person: int | None = None
) -> list[ContributionRow]:
    """Every contribution to a document `principal` may see (one person's only, when given)."""
    acl, params = visible_sql(principal)
    extra, more = ("", []) if person is None else (" AND a.person = ?", [person])
    rows = db.execute(_CONTRIBUTION_SQL.format(acl=acl, extra=extra), [*params, *more])
    return [ContributionRow(r[0], r[1], r[2], r[3], _parse_at(r[4]), float(r[5])) for r in rows]


_PEOPLE_COLUMNS = (
    "id, person_id, name, team, title, timezone, active, mentor_opt_in, mentor_capacity, in_directory"
)


def _person_row(r: Sequence[object]) -> PersonRow:
    return PersonRow(
        id=int(r[0]),  # type: ignore[call-overload]
        person_id=str(r[1]),
        name=r[2] if isinstance(r[2], str) else None,
        team=r[3] if isinstance(r[3], str) else None,
        title=r[4] if isinstance(r[4], str) else None,
        timezone=r[5] if isinstance(r[5], str) else None,
        active=bool(r[6]),
        mentor_opt_in=bool(r[7]),
        mentor_capacity=int(r[8]) if isinstance(r[8], int) else None,
        in_directory=bool(r[9]),
    )


def people_by_ids(db: sqlite3.Connection, ids: Iterable[int]) -> dict[int, PersonRow]:
    wanted = sorted(set(ids))
    out: dict[int, PersonRow] = {}
    for start in range(0, len(wanted), SQLITE_BATCH):
        batch = wanted[start : start + SQLITE_BATCH]
        marks = ",".join("?" * len(batch))
        for r in db.execute(f"SELECT {_PEOPLE_COLUMNS} FROM people WHERE id IN ({marks})", batch):
            row = _person_row(r)
            out[row.id] = row
    return out


def person_by_person_id(db: sqlite3.Connection, person_id: str) -> PersonRow | None:
    """The directory person with this id. Only the directory's people have a profile of their own to
    manage: someone known only from a source's account has no login to sign in as."""
    r = db.execute(
        f"SELECT {_PEOPLE_COLUMNS} FROM people WHERE person_id = ? AND in_directory = 1", (person_id,)
    ).fetchone()
    return _person_row(r) if r else None


def people_of_user(db: sqlite3.Connection, user: str | None) -> set[int]:
    """The people a signed-in user is: the directory person with that id or e-mail. A login is not a
    source's account of the same spelling unless the directory links them (then it is that person)."""
    if not user:
        return set()
    rows = db.execute(
        "SELECT id FROM people WHERE in_directory = 1 AND (person_id = ? OR email = ?)", (user, user.lower())
    )
    return {int(r[0]) for r in rows}


def mentor_of(person: PersonRow) -> Mentor:
    return Mentor(
        opt_in=person.mentor_opt_in,
        capacity=person.mentor_capacity,
        active=person.active,
        accepted=person.mentor_accepted,
    )


def title_terms(title: str) -> list[str]:
    """Topic candidates from a title: words that are not stop words or numbers, lower-cased."""
    words = [w.lower() for w in _WORD.findall(title)]
    return [w for w in words if len(w) > 2 and w not in STOPWORDS]


def person_topics(
    contributions: Sequence[ContributionRow],
    docs: dict[int, StoredDocument],
    now: datetime,
    settings: ExpertSettings,
    limit: int,
) -> list[tuple[str, float]]:
    """A person's topics from their visible work: the documents' tags weighted by the person's part in
    each, then title words when tags are few. Weights are shares of the person's tagged activity."""
    tags: dict[str, float] = defaultdict(float)
    words: dict[str, float] = defaultdict(float)
    for c in contributions:
        doc = docs.get(c.doc)
        if doc is None:
            continue
        mass = contribution_mass(c.role, c.weight, c.at, now, settings)
        if mass <= 0:
            continue
        for tag in doc.tags:
            tags[tag.lower()] += mass
        for word in set(title_terms(doc.title)):
            words[word] += mass
    ranked = _top(tags, limit)
    if len(ranked) < limit:
        seen = {t for t, _ in ranked}
        ranked += [(w, v) for w, v in _top(words, limit * 2) if w not in seen][: limit - len(ranked)]
    total = math.fsum(v for _, v in ranked) or 1.0
    return [(t, round(v / total, 4)) for t, v in ranked]


def _top(counts: dict[str, float], limit: int) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def build_profile(
    store: Store,
    person_id: str,
    principal: Principal,
    now: datetime,
    settings: ExpertSettings,
    recent: int = 10,
) -> PersonProfile | None:
    """A person's profile within the viewer's ACL, or None when there is no such person for the viewer.

    Someone the directory does not list and whose every contribution is hidden from the viewer does not
    exist for them: answering with their name would tell that a hidden document mentions them. The id
    and name shown are the viewer's (`index.store.visible_people`); `person_id` may be either.
    """
    internal = find_person(store.db, principal, person_id)
    person = people_by_ids(store.db, [internal]).get(internal) if internal is not None else None
    if person is None:
        return None
    contributions = visible_contributions(store.db, principal, person.id)
    shown = seen_as(store.db, principal, [person.id]).get(person.id)
    if shown is None or (not contributions and not person.in_directory):
        return None
    docs = visible_documents(store, principal, sorted({c.doc for c in contributions}))
    topics = person_topics(contributions, docs, now, settings, settings.topics_per_person * 2)
    roles: dict[str, set[int]] = {}
    for c in contributions:
        roles.setdefault(c.role, set()).add(c.doc)
    sources = Counter(docs[d].source for d in {c.doc for c in contributions} if d in docs)
    latest = sorted(
        (c for c in contributions if c.doc in docs),
        key=lambda c: (c.at is not None, c.at or datetime.min, docs[c.doc].doc_id),
        reverse=True,
    )
    activity: list[Activity] = []
    seen: set[tuple[int, str]] = set()
    for c in latest:
        if (c.doc, c.role) in seen:
            continue
        seen.add((c.doc, c.role))
        d = docs[c.doc]
        activity.append(Activity(d.doc_id, d.title, d.url, d.source, d.kind, c.role, iso_at(c.at)))
        if len(activity) >= recent:
            break
    dated = [c.at for c in contributions if c.at is not None]
    return PersonProfile(
        person_id=shown.person_id,
        name=shown.name,
        team=person.team,
        title=person.title,
        timezone=person.timezone,
        mentor=mentor_of(person),
        last_active=iso_at(max(dated)) if dated else None,
        topics=topics,
        ask_me_about=[t for t, _ in topics[: settings.topics_per_person]],
        documents=activity,
        counts={role: len(ds) for role, ds in sorted(roles.items())},
        sources=dict(sorted(sources.items())),
    )
