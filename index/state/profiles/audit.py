"""The audit log of people's profiles: every change, who made it, in which role, and when."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from index.state.base import StateSession, StateStore
from index.store.documents import utc_now

ROLES = ("self", "admin", "user")  # on their own profile, on someone else's as an admin, as a colleague
# Entries a person does not see about themselves: who voted on them stays with the voter.
PRIVATE_TO_ACTOR = ("feedback",)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the caller's user id, the person they are (when the directory knows), and
    the role they act in on the profile changed."""

    user: str
    person_id: str | None
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown actor role {self.role!r} (one of {ROLES})")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    actor_person: str | None
    actor_role: str
    person_id: str
    action: str
    detail: dict[str, Any]


def record(tx: StateSession, actor: Actor, person_id: str, action: str, detail: dict[str, Any]) -> None:
    """One entry, written in the transaction of the change it records (both or neither)."""
    tx.execute(
        "INSERT INTO profile_audit(at, actor, actor_person, actor_role, person_id, action, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (utc_now(), actor.user, actor.person_id, actor.role, person_id, action, json.dumps(detail)),
    )


_COLUMNS = "id, at, actor, actor_person, actor_role, person_id, action, detail"


def _entry(r: Sequence[Any]) -> AuditEntry:
    return AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))


class AuditLog:
    """Reading the `profile_audit` table, newest first."""

    def __init__(self, state: StateStore):
        self.state = state

    def entries(
        self, person_id: str | None = None, actor: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Every entry (an admin's view), or those about one profile and/or made by one user."""
        where, params = [], []
        if person_id is not None:
            where.append("person_id = ?")
            params.append(person_id)
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.state.query(
            f"SELECT {_COLUMNS} FROM profile_audit{clause} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [_entry(r) for r in rows]

    def of_person(self, person_id: str, users: Iterable[str], limit: int = 500) -> list[AuditEntry]:
        """What a person may see: changes to their profile (but not who voted on them) and what they
        did themselves, as that person or under any of `users`."""
        names = sorted(set(users))
        hidden = ",".join("?" * len(PRIVATE_TO_ACTOR))
        mine = f" OR actor IN ({','.join('?' * len(names))})" if names else ""
        rows = self.state.query(
            f"SELECT {_COLUMNS} FROM profile_audit WHERE (person_id = ? AND action NOT IN ({hidden})) "
            f"OR actor_person = ?{mine} ORDER BY id DESC LIMIT ?",
            (person_id, *PRIVATE_TO_ACTOR, person_id, *names, limit),
        )
        return [_entry(r) for r in rows]
