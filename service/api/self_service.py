"""Who the caller is to a profile: the person they are (index/experts/owner.py), and whether they are an
admin (the `admin` scope: a token's, or a proxy user's in WHOKNOWS_ADMIN_GROUPS). Nobody but the person
and an admin may read or change a profile's settings; every self-service route goes through `acting_on`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import AfterValidator, StringConstraints

from index.acl import Principal
from index.experts.corrections import topic_key
from index.experts.owner import own_person
from index.experts.profile import PersonRow, person_by_person_id
from index.state.profiles.audit import Actor
from service.deps import engine_of
from service.security.auth import identify

MAX_TOPIC_CHARS = 80


def _topic(value: str) -> str:
    value = " ".join(value.split())
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("a topic may not hold control characters")
    if not topic_key(value):
        raise ValueError("a topic needs at least one word")
    return value


# A topic as people type it: one line, at least one word, spaces collapsed.
Topic = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOPIC_CHARS), AfterValidator(_topic)]


@dataclass(frozen=True)
class Me:
    principal: Principal
    person: PersonRow | None  # None: signed out, or nobody's person
    admin: bool

    @property
    def user(self) -> str | None:
        return self.principal.user

    @property
    def person_id(self) -> str | None:
        return self.person.person_id if self.person is not None else None

    @property
    def voter(self) -> str:
        """One key per person however they sign in (token or proxy), else the user id."""
        return self.person_id or self.signed_in()

    def signed_in(self) -> str:
        """The user id; 401 for an anonymous caller."""
        if self.principal.user is None:
            raise HTTPException(
                status_code=401,
                detail="sign in first: this needs a signed-in user",
                headers={"WWW-Authenticate": 'Bearer realm="whoknows"'},
            )
        return self.principal.user

    def actor(self, role: str = "user") -> Actor:
        return Actor(self.signed_in(), self.person_id, role)


def me_of(request: Request) -> Me:
    """The caller (already identified and scope-checked by the router's dependencies)."""
    caller = identify(request)
    db = engine_of(request).reader.db
    return Me(caller.principal, own_person(db, caller.principal.user), "admin" in caller.scopes)


MeDep = Annotated[Me, Depends(me_of)]


def acting_on(request: Request, me: Me, person_id: str) -> Actor:
    """The caller acting on `person_id`'s profile: as that person, or as an admin. 401 signed out, 403 for
    anyone else (whether or not the person exists, so the answer tells nothing), 404 when an admin names
    nobody."""
    user = me.signed_in()
    if me.person_id == person_id:
        return Actor(user, me.person_id, "self")
    if not me.admin:
        raise HTTPException(status_code=403, detail="only the person themselves or an admin may do this")
    if person_by_person_id(engine_of(request).reader.db, person_id) is None:
        raise HTTPException(status_code=404, detail="no such person")
    return Actor(user, me.person_id, "admin")
