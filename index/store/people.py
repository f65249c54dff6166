"""Listing people with their linked accounts and contribution counts (for `whoknows people`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from index.store.documents import Store


@dataclass
class PersonSummary:
    person_id: str
    name: str | None
    email: str | None
    team: str | None
    title: str | None
    active: bool
    in_directory: bool
    accounts: list[dict[str, str]] = field(default_factory=list)
    contributions: dict[str, int] = field(default_factory=dict)  # source -> count
    groups: list[str] = field(default_factory=list)


def list_people(store: Store, unresolved_only: bool = False) -> list[PersonSummary]:
    """Everyone the store knows, directory people first; `unresolved_only`: people no directory entry claims.

    An operator's view of identity resolution: it lists accounts and counts, never document content.
    """
    db = store.db
    where = "WHERE p.in_directory = 0" if unresolved_only else ""
    people = {
        r[0]: PersonSummary(
            person_id=r[1],
            name=r[2],
            email=r[3],
            team=r[4],
            title=r[5],
            active=bool(r[6]),
            in_directory=bool(r[7]),
            groups=json.loads(r[8]),
        )
        for r in db.execute(
            "SELECT p.id, p.person_id, p.name, p.email, p.team, p.title, p.active, p.in_directory, p.groups "
            f"FROM people p {where}"
        )
    }
    for person, source, account, how in db.execute(
        "SELECT person, source, account, linked_by FROM accounts ORDER BY source, account"
    ):
        if person in people:
            people[person].accounts.append({"source": source, "account": account, "linked_by": how})
    for person, source, count in db.execute(
        "SELECT a.person, c.source, COUNT(*) FROM contributions c "
        "JOIN accounts a ON a.source = c.source AND a.account = c.account GROUP BY a.person, c.source"
    ):
        if person in people:
            people[person].contributions[source] = count
    return sorted(
        people.values(), key=lambda p: (not p.in_directory, -sum(p.contributions.values()), p.person_id)
    )
