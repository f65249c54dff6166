"""People and identity: accounts from every source linked to one person, and contributions stored."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable

from connectors.base import DirectoryPerson, PersonRef, SourceDocument
from index.acl import Principal
from index.store.documents import iso

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_NAME_WORDS = 2  # words a normalised name needs before two accounts are linked by it


def name_key(name: str | None) -> str | None:
    """A name folded for matching: accents, case, punctuation and word order of 'Last, First' ignored."""
    if not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    if "," in text:
        last, _, first = text.partition(",")
        text = f"{first} {last}"
    words = re.findall(r"[a-z0-9]+", text)
    return " ".join(words) or None


def clean_email(value: str | None) -> str | None:
    if value and _EMAIL.match(value.strip()):
        return value.strip().lower()
    return None


DirectoryEntry = DirectoryPerson


class IdentityResolver:
    """Links (source, account) to a person: the directory's mapping, then email, then name, else new."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def person_for(self, source: str, ref: PersonRef) -> int:
        row = self.db.execute(
            "SELECT person FROM accounts WHERE source = ? AND account = ?", (source, ref.account)
        ).fetchone()
        if row:
            return int(row[0])
        person, how = self._match(ref)
        if person is None:
            person, how = self._create(source, ref), "new"
        self.db.execute(
            "INSERT INTO accounts(source, account, person, name, email, linked_by) VALUES (?,?,?,?,?,?)",
            (source, ref.account, person, ref.name, clean_email(ref.email) or clean_email(ref.account), how),
        )
        return person

    def _match(self, ref: PersonRef) -> tuple[int | None, str]:
        email = clean_email(ref.email) or clean_email(ref.account)
        if email:
            row = self.db.execute(
                "SELECT id FROM people WHERE email = ? ORDER BY in_directory DESC, id LIMIT 1", (email,)
            ).fetchone()
            if row:
                return int(row[0]), "email"
            row = self.db.execute(
                "SELECT person FROM accounts WHERE email = ? ORDER BY person LIMIT 1", (email,)
            ).fetchone()
            if row:
                return int(row[0]), "email"
        key = name_key(ref.name) or (None if email else name_key(ref.account))
        if not key:
            return None, ""
        if len(key.split()) >= MIN_NAME_WORDS:
            row = self.db.execute(
                "SELECT id FROM people WHERE name_key = ? ORDER BY in_directory DESC, id LIMIT 1", (key,)
            ).fetchone()
        elif name_key(ref.account) == key:
            # A lone word ("Alex") names many people: it links only accounts with that same handle
            # ("zoe" called Zoe on the wiki and on the forum), never "Alex" to an unrelated "alex_k".
            row = self.db.execute(
                "SELECT p.id FROM people p JOIN accounts a ON a.person = p.id "
                "WHERE p.name_key = ? AND lower(a.account) = ? ORDER BY p.in_directory DESC, p.id LIMIT 1",
                (key, key),
            ).fetchone()
        else:
            row = None
        return (int(row[0]), "name") if row else (None, "")

    def _create(self, source: str, ref: PersonRef) -> int:
        email = clean_email(ref.email) or clean_email(ref.account)
        name = display_name(ref)
        base = name_key(name) or f"{source} {ref.account}"
        person_id = re.sub(r"[^a-z0-9]+", ".", base).strip(".") or f"{source}.{ref.account}"
        suffix = 1
        candidate = person_id
        while self.db.execute("SELECT 1 FROM people WHERE person_id = ?", (candidate,)).fetchone():
            suffix += 1
            candidate = f"{person_id}.{suffix}"
        cur = self.db.execute(
            "INSERT INTO people(person_id, name, email, name_key) VALUES (?, ?, ?, ?)",
            (candidate, name, email, name_key(name)),
        )
        return int(cur.lastrowid or 0)


def display_name(ref: PersonRef) -> str:
    """The name a document gives a person: their name, else their e-mail's local part, else the account."""
    email = clean_email(ref.email) or clean_email(ref.account)
    return ref.name or (email.split("@")[0] if email else ref.account)


def record_contributions(db: sqlite3.Connection, internal_doc: int, doc: SourceDocument) -> int:
    """Replace a document's contributions (each with the name this document gives its person); returns
    how many were stored."""
    resolver = IdentityResolver(db)
    db.execute("DELETE FROM contributions WHERE doc = ?", (internal_doc,))
    rows = []
    for c in doc.contributions:
        if not c.person.account:
            continue
        resolver.person_for(doc.source, c.person)
        rows.append(
            (
                internal_doc,
                doc.source,
                c.person.account,
                c.role.value,
                iso(c.at),
                c.weight,
                c.text,
                display_name(c.person),
            )
        )
    db.executemany(
        "INSERT INTO contributions(doc, source, account, role, at, weight, text, name) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    return len(rows)


def apply_directory(db: sqlite3.Connection, entries: Iterable[DirectoryEntry]) -> int:
    """Upsert directory people, link their declared accounts, and re-link accounts matched loosely before.

    Runs inside the caller's transaction. Returns the number of directory people.
    """
    count = 0
    for e in entries:
        count += 1
        primary = clean_email(e.emails[0]) if e.emails else None
        values = (
            e.name,
            primary,
            e.team,
            e.title,
            e.timezone,
            e.manager,
            int(e.active),
            int(e.mentor_opt_in),
            e.mentor_capacity,
            json.dumps(sorted(e.groups)),
            name_key(e.name),
        )
        row = db.execute("SELECT id FROM people WHERE person_id = ?", (e.person_id,)).fetchone()
        if row:
            person = int(row[0])
            db.execute(
                "UPDATE people SET name=?, email=?, team=?, title=?, timezone=?, manager=?, active=?, "
                "mentor_opt_in=?, mentor_capacity=?, groups=?, name_key=?, in_directory=1 WHERE id=?",
                (*values, person),
            )
        else:
            cur = db.execute(
                "INSERT INTO people(name, email, team, title, timezone, manager, active, mentor_opt_in, "
                "mentor_capacity, groups, name_key, in_directory, person_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,1,?)",
                (*values, e.person_id),
            )
            person = int(cur.lastrowid or 0)
        for source, account in e.accounts:
            db.execute(
                "INSERT INTO accounts(source, account, person, linked_by) VALUES (?, ?, ?, 'directory') "
                "ON CONFLICT(source, account) DO UPDATE SET person = excluded.person, linked_by = 'directory'",
                (source, account, person),
            )
        for email in e.emails:
            if clean_email(email):
                db.execute(
                    "UPDATE accounts SET person = ?, linked_by = 'email' WHERE email = ? AND linked_by != 'directory'",
                    (person, clean_email(email)),
                )
        key = name_key(e.name)
        if key and len(key.split()) >= MIN_NAME_WORDS:
            db.execute(
                "UPDATE accounts SET person = ?, linked_by = 'name' WHERE linked_by IN ('new', 'name') "
                "AND person IN (SELECT id FROM people WHERE name_key = ? AND in_directory = 0)",
                (person, key),
            )
    # People created for an account that now belongs to a directory person are left with nothing.
    db.execute(
        "DELETE FROM people WHERE in_directory = 0 AND id NOT IN (SELECT DISTINCT person FROM accounts)"
    )
    return count


def principal_for(db: sqlite3.Connection, user: str | None, groups: Iterable[str] = ()) -> Principal:
    """A signed-in login as the ACL sees it: the login, its groups, and the source accounts the people
    directory gives the person with that id. Only the directory's own links count: an account matched
    to the person by e-mail or name came from document content, which must never grant access."""
    if not user:
        return Principal.of(None, list(groups))
    rows = db.execute(
        "SELECT a.source, a.account FROM accounts a JOIN people p ON p.id = a.person "
        "WHERE p.person_id = ? AND p.in_directory = 1 AND a.linked_by = 'directory' ORDER BY 1, 2",
        (user,),
    )
    return Principal.of(user, list(groups), [f"{source}:{account}" for source, account in rows])
