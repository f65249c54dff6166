"""What a page's REST answer means: who may read it, who wrote it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import Acl, PersonRef, acl_of_clauses


@dataclass(frozen=True)
class Restriction:
    """Who a page's own read restriction lets in; pages without one inherit their ancestors' only."""

    users: frozenset[str]
    groups: frozenset[str]


def read_restriction(content: dict[str, Any]) -> Restriction | None:
    """`restrictions.read.restrictions.{user,group}.results` as a Restriction; None when nobody is named."""
    read = content.get("restrictions")
    for key in ("read", "restrictions"):
        read = read.get(key) if isinstance(read, dict) else None
    if not isinstance(read, dict):
        return None
    users = {principal for u in _results(read.get("user")) if (principal := acl_user(u))}
    groups = {str(g.get("name")) for g in _results(read.get("group")) if g.get("name")}
    if not users and not groups:
        return None
    return Restriction(frozenset(users), frozenset(groups))


def effective_acl(source: str, ceiling: Acl, levels: list[Restriction]) -> Acl:
    """No restriction anywhere up the tree: the source's ACL. Otherwise a reader must pass every level, as
    Confluence has it, and the source's ACL as well (a restriction narrows the source, never widens it).
    Each level is a clause of the accounts (`account:<source>:<id>`) and groups it names."""
    if not levels:
        return ceiling
    clauses = [
        sorted([f"account:{source}:{u}" for u in r.users] + [f"group:{g}" for g in r.groups]) for r in levels
    ]
    return acl_of_clauses(clauses).within_ceiling(ceiling)


def acl_user(user: dict[str, Any]) -> str | None:
    """The account a restriction names: the same key `user_ref` gives the person's contributions
    (accountId, else username, else userKey), so the people directory's link for that account is what
    lets a signed-in user in. An e-mail never stands for a login: `alice@x` on Confluence and the SSO
    user `alice@x` are the same person only when the directory says so."""
    for key in ("accountId", "username", "userKey"):
        value = user.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def user_ref(user: dict[str, Any]) -> PersonRef | None:
    account = next(
        (
            str(user[k])
            for k in ("accountId", "username", "userKey")
            if isinstance(user.get(k), str) and user[k]
        ),
        None,
    )
    name = user.get("displayName") or user.get("publicName")
    email = user.get("email") if isinstance(user.get("email"), str) and user.get("email") else None
    account = account or (str(name) if name else None)
    if account is None:
        return None
    return PersonRef(account=account, name=str(name) if name else None, email=email)


def _results(value: Any) -> list[dict[str, Any]]:
    results = value.get("results") if isinstance(value, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
