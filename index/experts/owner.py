"""Which person a signed-in user is, for changing a profile as one's own: the one rule every such change uses."""

from __future__ import annotations

import sqlite3

from index.experts.profile import PersonRow, people_by_ids, people_of_user, person_by_person_id


def own_person(db: sqlite3.Connection, user: str | None) -> PersonRow | None:
    """The person `user` is: the one whose person id is the user id; else the only person whose directory
    e-mail, linked account on any source, or account e-mail is the user id. None when nobody matches or
    several people do (the directory must then link the account, or an admin act for them)."""
    if not user:
        return None
    exact = person_by_person_id(db, user)
    if exact is not None:
        return exact
    matches = people_of_user(db, user)
    if len(matches) != 1:
        return None
    return people_by_ids(db, matches).get(next(iter(matches)))
