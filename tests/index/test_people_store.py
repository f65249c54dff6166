"""Identity: accounts linked to one person by the directory, then e-mail, then a full name; else a new person."""

from __future__ import annotations

from pathlib import Path

from connectors.base import DirectoryPerson, PersonRef
from index.store.documents import Store
from index.store.identity import IdentityResolver, apply_directory, name_key


def people_of(store: Store) -> dict[tuple[str, str], tuple[str, str]]:
    rows = store.db.execute(
        "SELECT a.source, a.account, p.person_id, a.linked_by FROM accounts a JOIN people p ON p.id = a.person"
    )
    return {(s, a): (pid, how) for s, a, pid, how in rows}


def test_name_keys_fold_accents_case_and_last_first() -> None:
    assert name_key("Zoë  O'Brien") == name_key("zoe o brien") == name_key("O'Brien, Zoë") == "zoe o brien"
    assert name_key("") is None and name_key("  ...  ") is None


def test_directory_then_email_then_full_name_then_new(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction() as db:
        apply_directory(
            db,
            [
                DirectoryPerson(
                    person_id="chloe.martin",
                    name="Chloé Martin",
                    emails=("chloe@northwind.example",),
                    accounts=(("wiki", "CMartin"),),
                )
            ],
        )
        ids = IdentityResolver(db)
        ids.person_for("wiki", PersonRef(account="CMartin", name="Someone Else"))
        ids.person_for("mail", PersonRef(account="c.m", name="C. M.", email="Chloe@Northwind.example"))
        ids.person_for("forum", PersonRef(account="42", name="Martin, Chloe"))
        ids.person_for("forum", PersonRef(account="43", name="Ben Okafor"))
        ids.person_for("mail", PersonRef(account="ben@x.example", name="Ben Okafor"))
    linked = people_of(store)
    assert linked[("wiki", "CMartin")] == ("chloe.martin", "directory")
    assert linked[("mail", "c.m")] == ("chloe.martin", "email")
    assert linked[("forum", "42")] == ("chloe.martin", "name")
    assert linked[("forum", "43")] == ("ben.okafor", "new")
    assert linked[("mail", "ben@x.example")] == ("ben.okafor", "name")


def test_a_lone_first_name_links_only_the_same_handle(tmp_path: Path) -> None:
    """Public sites are full of "Alex": a single word links two accounts only when the handle is that word too."""
    store = Store(tmp_path)
    with store.transaction() as db:
        ids = IdentityResolver(db)
        a = ids.person_for("ai", PersonRef(account="2067", name="Alex"))
        b = ids.person_for("delving", PersonRef(account="alex", name=None))
        c = ids.person_for("delving", PersonRef(account="olkurbatov", name="Alex"))
        apply_directory(db, [DirectoryPerson(person_id="alex.d", name="Alex")])
    assert len({a, b, c}) == 3
    linked = people_of(store)
    assert {pid for pid, _ in linked.values()} == {"alex", "alex.2", "alex.3"}
    assert all(how == "new" for _, how in linked.values())
    with store.transaction() as db:
        ids = IdentityResolver(db)
        zoe = ids.person_for("forum", PersonRef(account="zoe", name="Zoe"))
        assert ids.person_for("wiki", PersonRef(account="Zoe", name="Zoe")) == zoe
        assert ids.person_for("mail", PersonRef(account="zoe.k", name="Zoe")) != zoe
    assert people_of(store)[("wiki", "Zoe")] == ("zoe", "name")


def test_the_directory_claims_accounts_linked_loosely_before(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction() as db:
        ids = IdentityResolver(db)
        ids.person_for("forum", PersonRef(account="7", name="Priya Raman"))
        ids.person_for("mail", PersonRef(account="priya@old.example", name="P R", email="priya@old.example"))
        apply_directory(
            db,
            [DirectoryPerson(person_id="praman", name="Priya Raman", emails=("priya@old.example",))],
        )
    linked = people_of(store)
    assert linked[("forum", "7")] == ("praman", "name")
    assert linked[("mail", "priya@old.example")] == ("praman", "email")
    orphans = store.db.execute("SELECT COUNT(*) FROM people WHERE person_id != 'praman'").fetchone()[0]
    assert orphans == 0
