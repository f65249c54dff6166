"""The one permission check: who is asking, and the SQL that keeps every path to what they may see."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """A caller: a user id with groups. Anonymous (user None, no groups) sees public documents only."""

    user: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()

    @classmethod
    def of(cls, user: str | None, groups: list[str] | tuple[str, ...] | frozenset[str] = ()) -> Principal:
        return cls(user=user or None, groups=frozenset(g for g in groups if g))

    @property
    def is_anonymous(self) -> bool:
        return self.user is None and not self.groups

    def principals(self) -> list[str]:
        """The principal strings this caller holds, as stored in `doc_acl`."""
        out = [f"group:{g}" for g in sorted(self.groups)]
        if self.user:
            out.insert(0, f"user:{self.user}")
        return out


def visible_sql(principal: Principal, doc_alias: str = "d") -> tuple[str, list[str]]:
    """A WHERE fragment (and its parameters) true exactly for the documents `principal` may see.

    Every query that returns content, evidence or counts joins `documents` and adds this fragment.
    """
    names = principal.principals()
    if not names:
        return f"{doc_alias}.acl_public = 1", []
    marks = ",".join("?" * len(names))
    return (
        f"({doc_alias}.acl_public = 1 OR {doc_alias}.id IN "
        f"(SELECT doc FROM doc_acl WHERE principal IN ({marks})))",
        names,
    )


def can_see(principal: Principal, public: bool, doc_principals: list[str] | set[str]) -> bool:
    """The same rule as `visible_sql`, for a document already in memory."""
    return public or bool(set(principal.principals()) & set(doc_principals))
