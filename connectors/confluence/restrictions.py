"""What a page's REST answer means: who may read it, who wrote it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import Acl, PersonRef


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


def effective_acl(default: Acl, levels: list[Restriction]) -> Acl:
    """No restriction anywhere up the tree: the source's default. Otherwise a reader must pass every level;
    the Acl keeps who passes all of them by name (users named, or groups named, at every level). Someone
    let in by group at one level and by name at another is left out: never wider than Confluence."""
    if not levels:
        return default
    users = frozenset.intersection(*(r.users for r in levels))
    groups = frozenset.intersection(*(r.groups for r in levels))
    return Acl(public=False, users=users, groups=groups)


def acl_user(user: dict[str, Any]) -> str | None:
    """The principal for a restricted user: the e-mail when the API shows it, else username, else accountId.
    Cloud hides e-mails unless a profile allows it; then only a caller signed in under that accountId
    matches, so a restricted page fails closed rather than open."""
    for key in ("email", "username", "accountId", "userKey"):
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
