"""People as one viewer may see them: the id and name shown come from the directory or from documents
the viewer may see, never from a hidden one.

A person the directory lists is shown by the directory's id, and to signed-in viewers by the directory's
name. Anyone else is shown by one of their accounts the viewer can see, `<source>:<account>` (the smallest,
so every viewer who sees the same accounts gets the same id), and by the name their latest visible
contribution gives them. The id assigned when an account was first ingested is never shown: it comes
from whatever document named the person first, hidden or not, and its suffix (`jane.doe.2`) would tell
that a namesake exists.

Contributions stored before schema 3 carry no name of their own: until their document is written again,
the name the account was first seen with stands in for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from index.acl import Principal, visible_sql
from index.store.documents import SQLITE_BATCH


@dataclass(frozen=True)
class SeenAs:
    """How a viewer sees a person."""

    person_id: str
    name: str | None


def account_person_id(source: str, account: str) -> str:
    """The id of a person outside the directory, from one of their accounts (like a document id)."""
    return f"{source}:{account}"


@dataclass(frozen=True)
class _Work:
    source: str
    account: str
    name: str
    at: str
    doc_id: str


def seen_as(db: sqlite3.Connection, principal: Principal, people: Iterable[int]) -> dict[int, SeenAs]:
    """Internal person id -> how `principal` sees them. People outside the directory with no contribution
    the viewer may see are left out: for this viewer they do not exist."""
    wanted = sorted(set(people))
    out: dict[int, SeenAs] = {}
    acl, params = visible_sql(principal)
    for start in range(0, len(wanted), SQLITE_BATCH):
        batch = wanted[start : start + SQLITE_BATCH]
        marks = ",".join("?" * len(batch))
        directory = {
            int(r[0]): (str(r[1]), r[2], bool(r[3]))
            for r in db.execute(
                f"SELECT id, person_id, name, in_directory FROM people WHERE id IN ({marks})", batch
            )
        }
        work: dict[int, list[_Work]] = {}
        for person, source, account, name, at, doc_id in db.execute(
            "SELECT a.person, c.source, c.account, COALESCE(c.name, a.name, c.account), COALESCE(c.at, ''), "
            "d.doc_id FROM contributions c JOIN accounts a ON a.source = c.source AND a.account = c.account "
            f"JOIN documents d ON d.id = c.doc WHERE a.person IN ({marks}) AND {acl}",
            [*batch, *params],
        ):
            work.setdefault(int(person), []).append(_Work(source, account, name, at, doc_id))
        for person, (person_id, name, in_directory) in directory.items():
            mine = work.get(person, [])
            if in_directory:
                shown = name if not principal.is_anonymous else _latest_name(mine)
                out[person] = SeenAs(person_id, shown)
            elif mine:
                source, account = min((w.source, w.account) for w in mine)
                out[person] = SeenAs(account_person_id(source, account), _latest_name(mine))
    return out


def _latest_name(work: list[_Work]) -> str | None:
    """The name the latest visible contribution gives (ties: the first document id, then account)."""
    if not work:
        return None
    ordered = sorted(work, key=lambda w: (w.doc_id, w.source, w.account, w.name))
    return max(ordered, key=lambda w: w.at).name


def find_person(db: sqlite3.Connection, principal: Principal, person_id: str) -> int | None:
    """The internal id of the person `person_id` names for this viewer: a directory id, or an account
    (`<source>:<account>`) with a contribution the viewer may see. None: no such person for them."""
    row = db.execute(
        "SELECT id FROM people WHERE person_id = ? AND in_directory = 1", (person_id,)
    ).fetchone()
    if row:
        return int(row[0])
    source, sep, account = person_id.partition(":")
    if not sep or not source or not account:
        return None
    acl, params = visible_sql(principal)
    row = db.execute(
        "SELECT a.person FROM accounts a JOIN contributions c ON c.source = a.source AND c.account = a.account "
        f"JOIN documents d ON d.id = c.doc WHERE a.source = ? AND a.account = ? AND {acl} LIMIT 1",
        [source, account, *params],
    ).fetchone()
    return int(row[0]) if row else None
