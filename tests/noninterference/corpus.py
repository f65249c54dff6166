"""Random corpora for the non-interference check: sources with ACL ceilings, documents with user, group,
public and mixed ACLs (some wider than their source, some narrower), people with accounts on several
sources (some in the directory, some named differently in hidden documents, some namesakes), failures,
and callers. Every choice comes from one seeded `random.Random`, so a seed is a reproducible case."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.base import (
    Acl,
    ConnectorFailure,
    Contribution,
    DirectoryPerson,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
)
from index.acl import Principal

TOPICS = {
    "kafka": "Kafka brokers consumer lag partitions offsets retention compaction",
    "postgres": "PostgreSQL backups replication vacuum pooling failover restore",
    "kubernetes": "Kubernetes clusters node pools helm charts ingress autoscaling",
    "payments": "Stripe payments invoices refunds idempotency chargebacks ledger",
    "hiring": "interview loops offers referrals onboarding probation feedback",
    "travel": "travel expenses hotels receipts per diem flights approvals",
}
GROUPS = ["staff", "hr", "legal", "security", "eng"]
LOGINS = ["ana", "ben", "cy", "dee", "eli", "fay"]
ROLES = [Role.AUTHOR, Role.EDITOR, Role.ANSWERER, Role.ACCEPTED_ANSWERER, Role.COMMENTER, Role.ASKER]
KINDS = {"wiki": "wiki", "forum": "forum", "mail": "mail", "docs": "doc"}
NOW = datetime(2026, 5, 1, tzinfo=UTC)  # documents are dated before the frozen clock the check runs at


@dataclass(frozen=True)
class Person:
    name: str
    email: str | None
    accounts: dict[str, str]  # source -> account
    alias: str | None  # the name some documents give them instead ("Jane Doe (Falcon M&A)")
    login: str | None  # their directory id (a login) when the directory lists them


@dataclass
class Corpus:
    seed: int
    ceilings: dict[str, Acl]  # source -> its ACL
    documents: dict[str, list[SourceDocument | ConnectorFailure]]  # source -> what its connector yields
    directory: list[DirectoryPerson]
    callers: list[tuple[str, str | None, list[str]]]  # (name, login, groups)
    queries: list[str]
    markers: dict[str, str] = field(default_factory=dict)  # doc id -> a word found nowhere else

    def all_documents(self) -> list[SourceDocument]:
        return [d for docs in self.documents.values() for d in docs if isinstance(d, SourceDocument)]


def _acl(rng: random.Random) -> Acl:
    """user, group, public or mixed; sometimes naming nobody at all."""
    roll = rng.random()
    if roll < 0.25:
        return Acl(public=True)
    if roll < 0.55:
        return Acl(groups=frozenset(rng.sample(GROUPS, rng.randint(1, 2))))
    if roll < 0.7:
        return Acl(users=frozenset(rng.sample(LOGINS, rng.randint(1, 2))))
    if roll < 0.95:
        return Acl(users=frozenset({rng.choice(LOGINS)}), groups=frozenset({rng.choice(GROUPS)}))
    return Acl()


def _people(rng: random.Random, sources: list[str]) -> list[Person]:
    firsts = ["Jane", "Omar", "Lena", "Alex", "Priya", "Tom", "Mia", "Sven"]
    lasts = ["Doe", "Haddad", "Berg", "Kim", "Raman", "Nowak", "Costa", "Lund"]
    people: list[Person] = []
    logins = rng.sample(LOGINS, 4)
    for i in range(rng.randint(5, 8)):
        one_word = rng.random() < 0.2  # a lone first name links nothing but the same handle
        name = firsts[i] if one_word else f"{firsts[i]} {lasts[rng.randrange(len(lasts))]}"
        handle = name.lower().replace(" ", ".")
        email = f"{handle}@corp.example" if rng.random() < 0.6 else None
        accounts = {
            s: handle if rng.random() < 0.5 else f"{handle}{rng.randint(1, 9)}"
            for s in rng.sample(sources, rng.randint(1, 3))
        }
        alias = (
            f"{name} ({rng.choice(['Falcon M&A', 'Project Kite', 'Board'])})" if rng.random() < 0.3 else None
        )
        login = logins[i] if i < len(logins) and rng.random() < 0.6 else None
        people.append(Person(name, email, accounts, alias, login))
    if rng.random() < 0.7:  # a namesake on another source: the same lone name, another person
        src = rng.choice(sources)
        people.append(Person("Alex", None, {src: f"alex.{rng.randint(10, 99)}"}, None, None))
    return people


def make_corpus(seed: int) -> Corpus:
    rng = random.Random(seed)
    sources = list(KINDS)
    ceilings = {
        "wiki": Acl(public=True),
        "forum": Acl(groups=frozenset({"staff"})),
        "mail": rng.choice([Acl(public=True), Acl(groups=frozenset({"staff", "eng"}))]),
        "docs": rng.choice([Acl(groups=frozenset({"staff"})), Acl(public=True)]),
    }
    people = _people(rng, sources)
    documents: dict[str, list[SourceDocument | ConnectorFailure]] = {s: [] for s in sources}
    markers: dict[str, str] = {}
    for i in range(rng.randint(12, 20)):
        source = rng.choice(sources)
        topic = rng.choice(sorted(TOPICS))
        words = TOPICS[topic].split()
        marker = f"zq{seed}x{i}w"
        doc_id = f"{source}:d{i:02d}"
        markers[doc_id] = marker
        text = " ".join(rng.sample(words, 5)) + f". Notes {rng.randint(1, 99)} on {topic} ({marker})."
        if rng.random() < 0.5:
            text += "\n\n" + " ".join(rng.sample(words, 4)) + f", more on {topic}."
        contributions = []
        present = [p for p in people if source in p.accounts]
        for person in rng.sample(present, min(len(present), rng.randint(1, 2))):
            named = person.alias if person.alias and rng.random() < 0.5 else person.name
            contributions.append(
                Contribution(
                    person=PersonRef(account=person.accounts[source], name=named, email=person.email),
                    role=rng.choice(ROLES),
                    at=NOW - timedelta(days=rng.randint(0, 800)),
                    weight=float(rng.randint(0, 6)),
                )
            )
        acl = _acl(rng)
        if rng.random() < 0.15:  # restricted to a directory-linked source account (item 7)
            linked = [p for p in people if p.login and source in p.accounts]
            if linked:
                acl = Acl(accounts=frozenset({f"{source}:{rng.choice(linked).accounts[source]}"}))
        documents[source].append(
            SourceDocument(
                doc_id=doc_id,
                source=source,
                kind=KINDS[source],
                title=f"{topic.title()} {rng.choice(['notes', 'runbook', 'thread', 'faq'])} {i} {marker}",
                url=f"https://intranet.example/{source}/d{i:02d}",
                sections=[Section(text=t) for t in text.split("\n\n")],
                created_at=NOW - timedelta(days=900),
                updated_at=NOW - timedelta(days=rng.randint(0, 400)),
                version=content_version(text.encode()),
                acl=acl,
                contributions=contributions,
                tags=[topic],
            )
        )
    if rng.random() < 0.5:  # an unreadable document: its failure counts for admins only
        broken = rng.choice(sources)
        documents[broken].append(
            ConnectorFailure(source=broken, doc_id=f"{broken}:broken", error="unreadable")
        )
    directory = [
        DirectoryPerson(
            person_id=p.login,
            name=p.name,
            emails=(p.email,) if p.email else (),
            team=rng.choice(["Platform", "Data", "People"]),
            title="Engineer",
            timezone="Europe/Berlin",
            mentor_opt_in=rng.random() < 0.5,
            mentor_capacity=rng.randint(0, 3),
            accounts=tuple(sorted(p.accounts.items())),
            groups=(),
        )
        for p in people
        if p.login
    ]
    callers: list[tuple[str, str | None, list[str]]] = [("anonymous", None, [])]
    for n in range(3):
        login = rng.choice([*[d.person_id for d in directory], *LOGINS])
        callers.append((f"caller{n}", login, sorted(rng.sample(GROUPS, rng.randint(0, 2)))))
    topics = rng.sample(sorted(TOPICS), 3)
    queries = [
        " ".join(rng.sample(TOPICS[topics[0]].split(), 3)),
        f"who knows about {topics[1]}",
        f"how do we handle {' '.join(rng.sample(TOPICS[topics[2]].split(), 2))}?",
    ]
    return Corpus(seed, ceilings, documents, directory, callers, queries, markers)


def effective_acl(corpus: Corpus, doc: SourceDocument) -> Acl:
    """The ACL the pipeline stores: the document's own inside its source's."""
    return doc.acl.within_ceiling(corpus.ceilings[doc.source])


def principal_names(principal: Principal) -> set[str]:
    return set(principal.principals())
