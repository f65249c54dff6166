"""The mbox connector on the real R-package-devel archive, the perceval edge cases and broken input."""

from __future__ import annotations

import mailbox
from collections import Counter
from pathlib import Path

from connectors.base import ConnectorFailure, Role, SourceDocument
from connectors.config import SourceConfig, SourceContext
from connectors.mbox import MboxConnector, own_words


def connector(path: Path, name: str = "list") -> MboxConnector:
    config = SourceConfig.model_validate({"name": name, "type": "mbox", "path": path})
    return MboxConnector.from_config(config, SourceContext(base_dir=path.parent))


def test_real_mailing_list_threads_and_repliers(shared_data):
    folder = shared_data / "mailing_list_r_package_devel"
    expected_messages = sum(len(mailbox.mbox(f)) for f in sorted(folder.glob("*.mbox")))
    items = list(connector(folder).load())
    docs = [i for i in items if isinstance(i, SourceDocument)]
    assert not [i for i in items if isinstance(i, ConnectorFailure)]
    assert expected_messages == 948
    assert sum(len(d.sections) for d in docs) <= 948 and len(docs) < 948 // 2  # replies joined their threads
    assert (
        150 <= len(docs) <= 200
    )  # 173 thread starters per the manifest; orphans with lost parents add a few
    repliers = Counter(c.person.name for d in docs for c in d.contributions if c.role is Role.ANSWERER)
    top = {name for name, _ in repliers.most_common(8)}
    assert {"Ivan Krylov", "Duncan Murdoch", "Dirk Eddelbuettel", "Uwe Ligges"} <= top
    for d in docs:
        for c in d.contributions:
            assert c.text is None or not any(line.startswith(">") for line in c.text.splitlines())


def test_quotes_signatures_and_attributions_are_not_own_words():
    body = "Thanks, that fixed it.\n\nOn Mon, 1 Jan 2024, Ana wrote:\n> try --clean\n> again\n-- \nBen\n"
    assert own_words(body) == "Thanks, that fixed it."


def test_perceval_edge_cases_parse(shared_data):
    folder = shared_data / "forum_mail_format_fixtures_perceval" / "tests" / "data"
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ("mbox" in p.parts or p.suffix == ".mbox"))
    assert files
    for f in files:
        items = list(connector(f).load())
        assert all(isinstance(i, SourceDocument | ConnectorFailure) for i in items)


def test_broken_input_keeps_the_rest(tmp_path):
    good = (
        "From a@x Mon Jan  1 00:00:00 2024\nFrom: Ana <ana@x.example>\nSubject: Build fails\n"
        "Message-ID: <1@x>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nThe build fails on Windows.\n\n"
        "From b@x Mon Jan  1 00:00:00 2024\nFrom: Ben <ben@x.example>\nSubject: Re: Build fails\n"
        "Message-ID: <2@x>\nIn-Reply-To: <1@x>\nDate: garbage\n\nUse Rtools44.\n> The build fails\n\n"
        "From c@x Mon Jan  1 00:00:00 2024\nFrom\x00: \xff\xfe broken\nSubject: =?bogus?q?x?=\n\n\x00\x01binary\n"
    )
    path = tmp_path / "list.mbox"
    path.write_bytes(good.encode("latin-1"))
    items = list(connector(path).load())
    docs = [i for i in items if isinstance(i, SourceDocument)]
    thread = next(d for d in docs if d.title == "Build fails")
    assert [c.role for c in thread.contributions] == [Role.ASKER, Role.ANSWERER]
    assert thread.contributions[1].text == "Use Rtools44."
    assert thread.contributions[1].person.email == "ben@x.example"
    ids = list(connector(path).list_ids())
    assert thread.doc_id in ids
