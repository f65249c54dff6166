"""The people directory: SCIM-like JSON and CSV, bad records as failures, unreadable files as errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Connector, ConnectorError, ConnectorFailure, DirectoryPerson
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.people.connector import PeopleDirectory

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def directory(path: Path, **options: Any) -> PeopleDirectory:
    config = SourceConfig.model_validate({"name": "people", "type": "people", "path": path.name, **options})
    return PeopleDirectory.from_config(config, SourceContext(base_dir=path.parent))


def split(items: list[DirectoryPerson | ConnectorFailure]) -> tuple[list[DirectoryPerson], list[str]]:
    return [i for i in items if isinstance(i, DirectoryPerson)], [
        i.error for i in items if isinstance(i, ConnectorFailure)
    ]


def scim(**fields: Any) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], **fields}


def write_json(path: Path, records: Any) -> Path:
    path.write_text(
        json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": records})
    )
    return path


def test_the_demo_directory(repo_root: Path) -> None:
    source = directory(repo_root / "demo" / "people.json")
    assert isinstance(source, Connector)  # it satisfies the protocol, with nothing to load or prune
    assert list(source.load()) == [] and list(source.list_ids()) == [] and source.cursor is None
    people, failures = split(list(source.directory_entries()))
    assert failures == [] and len(people) == 15
    ana = next(p for p in people if p.person_id == "ana.alvarez")
    assert (
        ana.name == "Ana Alvarez"
        and ana.team == "Platform"
        and ana.emails == ("ana.alvarez@northwind.example",)
    )
    assert ("wiki", "AnaAlvarez") in ana.accounts and (
        "mail",
        "ana.alvarez@northwind.example",
    ) in ana.accounts
    assert ana.mentor_opt_in and ana.mentor_capacity == 2 and "staff" in ana.groups
    dmitri = next(p for p in people if p.person_id == "dmitri.volkov")
    assert dmitri.active is False


def test_scim_json_fields_and_fallbacks(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "people.json",
        [
            scim(
                id="ana",
                userName="ana@x.example",
                displayName="Ana Alvarez",
                emails=[{"value": "ana.alt@x.example"}, {"value": "ana@x.example", "primary": True}],
                title="Platform lead",
                active=True,
                timezone="Europe/Berlin",
                **{
                    ENTERPRISE: {
                        "department": "Platform",
                        "manager": {"value": "olivia", "displayName": "Olivia"},
                    }
                },
                whoknows={
                    "accounts": {
                        "wiki": "AnaAlvarez",
                        "forum": 17,
                        "mail": ["ana@x.example", "aa@x.example"],
                    },
                    "mentor": {"opt_in": True, "capacity": 2},
                    "groups": ["staff", "platform"],
                },
                groups=[{"value": "g1", "display": "sre"}],
            ),
            scim(id=7, name={"givenName": "Ben", "familyName": "Okafor"}, active="false"),
        ],
    )
    people, failures = split(list(directory(path).people()))
    assert failures == []
    ana, ben = people
    assert ana == DirectoryPerson(
        person_id="ana",
        name="Ana Alvarez",
        emails=("ana@x.example", "ana.alt@x.example"),  # primary first
        team="Platform",  # the enterprise department when whoknows.team is not given
        title="Platform lead",
        timezone="Europe/Berlin",
        manager="olivia",
        active=True,
        mentor_opt_in=True,
        mentor_capacity=2,
        accounts=(
            ("forum", "17"),
            ("mail", "aa@x.example"),
            ("mail", "ana@x.example"),
            ("wiki", "AnaAlvarez"),
        ),
        groups=("staff", "platform", "sre"),
    )
    assert (ben.person_id, ben.name, ben.active, ben.mentor_opt_in, ben.mentor_capacity) == (
        "7",
        "Ben Okafor",
        False,
        False,
        None,
    )


def test_bad_records_are_failures_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "people.json",
        [
            scim(id="a", displayName="A One", whoknows={"accounts": {"wiki": "Shared"}}),
            scim(displayName="No Id"),
            scim(id="noname"),
            "not an object",
            scim(id="a", displayName="Again"),
            scim(id="c", displayName="C", active="maybe"),
            scim(id="d", displayName="D", whoknows={"mentor": {"capacity": -1}}),
            scim(id="e", displayName="E", emails="e@x.example"),
            scim(id="f", displayName="F", whoknows={"groups": "staff"}),
            scim(id="g", displayName="G", whoknows={"accounts": {"wiki": ["Shared", "Gee"]}}),
        ],
    )
    people, failures = split(list(directory(path).people()))
    assert [(p.person_id, p.accounts) for p in people] == [
        ("a", (("wiki", "Shared"),)),
        ("g", (("wiki", "Gee"),)),
    ]
    assert failures == [
        "people.json record #2: missing 'id'",
        "people.json record #3: missing 'displayName'",
        "people.json record #4: a person is a JSON object, got str",
        "people.json record #5: duplicate id 'a' (first at record #1)",
        "people.json record #6: 'active' must be true or false, got 'maybe'",
        "people.json record #7: mentor capacity must be a whole number of 0 or more, got -1",
        "people.json record #8: 'emails' must be a list",
        "people.json record #9: 'whoknows.groups' must be a list of strings",
        "people.json record #10: account 'Shared' on 'wiki' is 'a''s already",
    ]


def test_csv_directory(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "id,display_name,emails,team,title,timezone,manager,active,mentor_opt_in,mentor_capacity,accounts,groups\n"
        "c,Cleo Three,c@x.example; c2@x.example,Data,Engineer,UTC,a,false,yes,1,wiki=Cleo;forum=9,staff;hr\n"
        'd,"Doe, Dana",,,,,,,,,,\n'
        ",No Id,,,,,,,,,,\n"
        "e,Eve,,,,,,sometimes,,,,\n"
        "f,Fay,,,,,,,,two,,\n"
        "g,Gus,,,,,,,,,wiki,\n"
        "c,Cleo Again,,,,,,,,,,\n"
    )
    people, failures = split(list(directory(path).people()))
    cleo, dana = people
    assert cleo.emails == ("c@x.example", "c2@x.example") and cleo.accounts == (
        ("forum", "9"),
        ("wiki", "Cleo"),
    )
    assert (cleo.active, cleo.mentor_opt_in, cleo.mentor_capacity, cleo.groups) == (
        False,
        True,
        1,
        ("staff", "hr"),
    )
    assert (dana.name, dana.active, dana.team, dana.emails) == ("Doe, Dana", True, None, ())
    assert failures == [
        "people.csv record #3: missing 'id'",
        "people.csv record #4: 'active' must be true or false, got 'sometimes'",
        "people.csv record #5: mentor capacity must be a whole number of 0 or more, got 'two'",
        "people.csv record #6: accounts: 'wiki' is not 'source=account'",
        "people.csv record #7: duplicate id 'c' (first at record #1)",
    ]
    json_named = tmp_path / "export.txt"
    json_named.write_text(path.read_text())
    assert len(split(list(directory(json_named, format="csv").people()))[0]) == 2


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("bad.json", b"{not json", r"bad\.json: invalid JSON at line 1, column 2"),
        ("shape.json", b'{"Resources": {"id": "a"}}', r"shape\.json: expected a SCIM ListResponse"),
        ("latin.json", b'[{"id": "a", "displayName": "Jos\xe9"}]', r"latin\.json: not UTF-8 \(byte 32\)"),
        ("cols.csv", b"name,mail\nA,a@x\n", r"cols\.csv: missing CSV column\(s\) id, display_name"),
    ],
)
def test_unreadable_files_fail_the_source(tmp_path: Path, name: str, content: bytes, error: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConnectorError, match=error):
        list(directory(tmp_path / name).people())


def test_config_errors_and_size_limit(tmp_path: Path) -> None:
    context = SourceContext(base_dir=tmp_path)
    with pytest.raises(ConfigError, match="is not a file"):
        PeopleDirectory.from_config(
            SourceConfig(name="p", type="people", path=tmp_path / "nope.json"), context
        )
    with pytest.raises(ConfigError, match="not 'url'"):
        PeopleDirectory.from_config(
            SourceConfig(name="p", type="people", url="https://scim.example"), context
        )
    path = write_json(tmp_path / "p.json", [scim(id="a", displayName="A")] * 2000)
    with pytest.raises(ConfigError, match="field 'format'"):
        directory(path, format="xml")
    with pytest.raises(ConnectorError, match="over max_file_mb"):
        list(directory(path, max_file_mb=0.01).people())
    people, failures = split(list(directory(path).people()))
    assert len(people) == 1 and len(failures) == 1999  # the same id 2000 times
