"""The people directory: SCIM-like JSON and CSV, bad records as failures."""

from __future__ import annotations

import json

import pytest

from connectors.base import ConnectorError, ConnectorFailure, DirectoryPerson
from connectors.config import SourceConfig, SourceContext
from connectors.people import PeopleDirectory


def directory(path):  # type: ignore[no-untyped-def]
    config = SourceConfig.model_validate({"name": "people", "type": "people", "path": path})
    return PeopleDirectory.from_config(config, SourceContext(base_dir=path.parent))


def test_demo_directory(repo_root):
    entries = list(directory(repo_root / "demo" / "people.json").directory_entries())
    people = [e for e in entries if isinstance(e, DirectoryPerson)]
    assert len(people) == len(entries) == 15
    dmitri = next(p for p in people if p.person_id == "dmitri.volkov")
    assert dmitri.active is False
    ana = next(p for p in people if p.person_id == "ana.alvarez")
    assert ("wiki", "AnaAlvarez") in ana.accounts and ana.team == "Platform"


def test_json_bad_records_and_duplicates(tmp_path):
    path = tmp_path / "people.json"
    path.write_text(
        json.dumps(
            {
                "Resources": [
                    {
                        "id": "a",
                        "displayName": "A One",
                        "emails": [{"value": "a@x.example", "primary": True}],
                    },
                    {"displayName": "No Id"},
                    {"id": "a", "displayName": "Again"},
                    "not an object",
                    {
                        "id": "b",
                        "displayName": "B Two",
                        "whoknows": {"mentor": {"opt_in": True, "capacity": 2}},
                    },
                ]
            }
        )
    )
    entries = list(directory(path).directory_entries())
    failures = [e.error for e in entries if isinstance(e, ConnectorFailure)]
    assert [e.person_id for e in entries if isinstance(e, DirectoryPerson)] == ["a", "b"]
    assert len(failures) == 3 and all("people.json record" in f for f in failures)
    assert any("duplicate id 'a'" in f for f in failures)


def test_csv_and_invalid_json(tmp_path):
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "id,display_name,emails,team,title,timezone,manager,active,mentor_opt_in,mentor_capacity,accounts,groups\n"
        "c,Cleo Three,c@x.example;c2@x.example,Data,Engineer,UTC,a,false,yes,1,wiki=Cleo;forum=9,staff;hr\n"
    )
    (person,) = list(directory(csv_path).directory_entries())
    assert isinstance(person, DirectoryPerson)
    assert (
        person.accounts == (("forum", "9"), ("wiki", "Cleo")) and not person.active and person.mentor_opt_in
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConnectorError, match=r"bad\.json: invalid JSON at line 1"):
        list(directory(bad).directory_entries())
