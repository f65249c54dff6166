"""Principals are namespaced (issue 14, item 7): a login and a source's account of the same spelling are
one person only when the people directory says so. Real Confluence REST answers from a local server, the
pipeline, the real model, and the app over HTTP behind a trusted proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import DirectoryPerson
from connectors.config import SourceConfig, SourceContext
from connectors.confluence.connector import ConfluenceConnector
from service.app import create_app
from service.engine import Engine
from tests.connectors.test_confluence_api import ANA, BEN, Behaviour, site  # noqa: F401  (site: a fixture)
from tests.helpers import ListDirectory
from tests.service.conftest import proxy_headers, serve, settings_for

ON_CALL = "/documents/eng:103"  # restricted to Ana's and Ben's accounts and group sre, inside staff


@pytest.fixture
def served(site: tuple[str, Behaviour], tmp_path: Path, embedder: Any) -> Iterator[tuple[str, Engine]]:  # noqa: F811
    url, _ = site
    settings = settings_for(tmp_path / "home", trusted_proxies=["127.0.0.1"])
    engine = Engine(settings, embedder=embedder)
    config = SourceConfig.model_validate(
        {"name": "eng", "type": "confluence", "url": url, "space": "ENG", "acl": {"groups": ["staff"]}}
    )
    wiki = ConfluenceConnector.from_config(config, SourceContext(base_dir=Path("."), timeout_s=5.0))
    ana = DirectoryPerson(person_id="ana.alvarez", name="Ana Alvarez", accounts=(("eng", ANA["accountId"]),))
    people = SourceConfig.model_validate({"name": "people", "type": "people"})
    report = engine.pipeline().run([(people, ListDirectory("people", [ana])), (config, wiki)])  # type: ignore[list-item]
    assert report.status == "ok", report.as_dict()
    with serve(create_app(settings, engine=engine)) as base:
        yield base, engine


def test_a_login_is_not_a_source_account_unless_the_directory_says_so(served: tuple[str, Engine]) -> None:
    base, engine = served
    with httpx.Client(base_url=base, timeout=60) as c:
        # logins spelled like the restricted accounts (Ana's e-mail as Confluence shows it, Ben's id)
        for login in (ANA["email"], BEN["accountId"], ANA["accountId"]):
            r = c.get(ON_CALL, headers=proxy_headers(login, "staff"))
            assert r.status_code == 404, login
        # the directory links ana.alvarez to her Confluence account: she may read it, inside staff
        assert c.get(ON_CALL, headers=proxy_headers("ana.alvarez", "staff")).status_code == 200
        assert c.get(ON_CALL, headers=proxy_headers("ana.alvarez", "engineering")).status_code == 404
        # the group the restriction names still works, for staff
        assert c.get(ON_CALL, headers=proxy_headers("someone", "sre,staff")).status_code == 200
    assert engine.principal("ana.alvarez", ["staff"]).principals() == [
        "user:ana.alvarez",
        "group:staff",
        f"account:eng:{ANA['accountId']}",
    ]
    assert engine.principal(ANA["accountId"]).accounts == frozenset()
