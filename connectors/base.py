"""The connector contract: SourceDocument records, failures as data, and the Connector protocol."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DocId = str


class Role(StrEnum):
    """How a person contributed to a document; the expert ranker weighs roles differently."""

    AUTHOR = "author"
    EDITOR = "editor"
    OWNER = "owner"
    ASKER = "asker"
    ANSWERER = "answerer"
    ACCEPTED_ANSWERER = "accepted_answerer"
    COMMENTER = "commenter"


class Acl(BaseModel):
    """Who may see a document. A source that cannot tell yields the default: private to nobody.

    A reader may see it when it is public, or when they hold one of its principals (`users` are logins,
    `groups` group names, `accounts` "<source>:<account>" accounts of one source) and, for each set in
    `within`, one principal of that set too. `within` is how a ceiling narrows a document's own ACL
    without widening it: a page restricted to `security` in a share for `staff` is for readers in both.
    """

    model_config = ConfigDict(frozen=True)

    public: bool = False
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    within: tuple[frozenset[str], ...] = ()  # principal strings, as `principals()` writes them

    @model_validator(mode="after")
    def _public_is_unconditional(self) -> Acl:
        if self.public and self.within:
            raise ValueError("a public ACL cannot also require `within` principals")
        return self

    def principals(self) -> list[str]:
        """Principal strings as stored: `user:<login>`, `group:<name>` and `account:<source>:<account>`,
        sorted for stable hashing."""
        return sorted(
            [f"user:{u}" for u in self.users]
            + [f"group:{g}" for g in self.groups]
            + [f"account:{a}" for a in self.accounts]
        )

    def clauses(self) -> list[list[str]]:
        """What a reader must hold: one principal of every clause. None for a public document; one empty
        clause (nobody) for a private one that names nobody."""
        if self.public:
            return []
        return [self.principals(), *sorted(sorted(w) for w in self.within)]

    def within_ceiling(self, ceiling: Acl) -> Acl:
        """This ACL never wider than `ceiling` (a source's ACL): who passes both. A public document in a
        restricted source gets the source's ACL; a restricted one keeps its restriction inside it."""
        if ceiling.public:
            return self
        if self.public:
            return ceiling
        return acl_of_clauses([*self.clauses(), *ceiling.clauses()])


def acl_of_clauses(clauses: list[list[str]]) -> Acl:
    """The Acl requiring one principal of every clause, simplified: a clause that holds another one adds
    nothing (`staff` and `staff or contractors` is `staff`). The first clause left is the ACL's own
    principals, the others its `within`, sorted."""
    sets = list(dict.fromkeys(frozenset(c) for c in clauses))
    kept = [c for c in sets if not any(other < c for other in sets)]
    if not kept:
        return Acl(public=True)
    own, rest = kept[0], sorted(kept[1:], key=sorted)
    fields: dict[str, set[str]] = {"user": set(), "group": set(), "account": set()}
    for principal in own:
        kind, sep, name = principal.partition(":")
        if not sep or kind not in fields or not name:
            raise ValueError(f"not a principal: {principal!r} (user:, group: or account:)")
        fields[kind].add(name)
    return Acl(
        users=frozenset(fields["user"]),
        groups=frozenset(fields["group"]),
        accounts=frozenset(fields["account"]),
        within=tuple(rest),
    )


class PersonRef(BaseModel):
    """A person as one source knows them: an account on that source, maybe a name and an email."""

    model_config = ConfigDict(frozen=True)

    account: str
    name: str | None = None
    email: str | None = None


class Contribution(BaseModel):
    """One person's part in a document: a role, when, and a weight (edit size, answer score...)."""

    model_config = ConfigDict(frozen=True)

    person: PersonRef
    role: Role
    at: datetime | None = None
    weight: float = 1.0
    # The person's own words in this document (an answer, a message without quotes), when the source
    # can tell them apart; the profile-centric expert model reads it.
    text: str | None = None

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return to_utc(value) if value is not None else None


class Section(BaseModel):
    """A run of text with its place in the document: a heading path or a page number."""

    model_config = ConfigDict(frozen=True)

    text: str
    heading: tuple[str, ...] = ()
    page: int | None = None


class SourceDocument(BaseModel):
    """One document from a source, as every connector yields it."""

    doc_id: DocId
    source: str
    kind: str
    title: str
    url: str | None = None
    sections: list[Section]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: str
    acl: Acl = Field(default_factory=Acl)
    contributions: list[Contribution] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    path: tuple[str, ...] = ()  # place in a hierarchy (breadcrumbs, folders), outermost first

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return to_utc(value) if value is not None else None

    @field_validator("doc_id")
    @classmethod
    def _doc_id_shape(cls, value: str) -> str:
        source, sep, native = value.partition(":")
        if not sep or not source or not native:
            raise ValueError(f"doc_id must be '<source>:<native id>', got {value!r}")
        return value

    def text(self) -> str:
        """The whole text, sections joined."""
        return "\n\n".join(s.text for s in self.sections)

    def content_hash(self) -> str:
        """Hash of what is embedded: title and sections. ACL or people changes do not change it."""
        h = hashlib.sha256()
        h.update(self.title.encode())
        for s in self.sections:
            h.update(b"\x00")
            h.update("\x1f".join(s.heading).encode())
            h.update(str(s.page).encode())
            h.update(s.text.encode())
        return h.hexdigest()


class DirectoryPerson(BaseModel):
    """A person as the people directory states them: the authority for names, teams and account links."""

    model_config = ConfigDict(frozen=True)

    person_id: str
    name: str
    emails: tuple[str, ...] = ()
    team: str | None = None
    title: str | None = None
    timezone: str | None = None
    manager: str | None = None
    active: bool = True
    mentor_opt_in: bool = False
    mentor_capacity: int | None = None
    accounts: tuple[tuple[str, str], ...] = ()  # (source name, account on that source)
    groups: tuple[str, ...] = ()


class ConnectorFailure(BaseModel):
    """A document that could not be read. The run records it and goes on."""

    source: str
    error: str
    doc_id: DocId | None = None
    path: str | None = None


@runtime_checkable
class Connector(Protocol):
    """A source of documents.

    `load(since)` yields every document changed since the cursor `since` (all when None) and a
    ConnectorFailure for each one that could not be read; after it is exhausted `cursor` holds the
    value to pass as `since` next time. `list_ids()` yields the ids the source still has, for
    pruning; it raises when the listing itself fails, so that nothing is pruned on a partial list.
    """

    name: str

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]: ...

    def list_ids(self) -> Iterator[DocId]: ...

    @property
    def cursor(self) -> str | None: ...


@runtime_checkable
class DirectorySource(Protocol):
    """A source of people rather than documents (a capability a connector declares by having it).

    `directory_entries()` yields a DirectoryPerson per record and a ConnectorFailure per bad one; it
    raises ConnectorError when the directory as a whole cannot be read, so that a broken directory
    changes nobody. The pipeline applies the entries instead of loading documents.
    """

    name: str

    def directory_entries(self) -> Iterator[DirectoryPerson | ConnectorFailure]: ...


class ConnectorError(Exception):
    """A source as a whole could not be read (unreachable API, missing folder)."""


def to_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def content_version(data: bytes) -> str:
    """A version string from raw content."""
    return hashlib.sha256(data).hexdigest()[:32]
