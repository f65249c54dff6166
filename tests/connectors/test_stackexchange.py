"""The stackexchange connector on real dumps (counts checked against a plain XML count) and on broken ones."""

from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors._shared.html_text import html_to_text
from connectors.base import Acl, ConnectorError, ConnectorFailure, Role, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.stackexchange.connector import StackExchangeConnector, thread_documents
from connectors.stackexchange.dump import parse_tags, read_dump
from connectors.stackexchange.options import StackExchangeOptions

AI, CONLANG = "stackexchange_ai_2016", "stackexchange_conlang_meta_2020"


def connector(folder: Path, url_base: str | None = None) -> StackExchangeConnector:
    return StackExchangeConnector("se", folder, StackExchangeOptions(url_base=url_base), Acl(public=True))


def split(
    items: list[SourceDocument | ConnectorFailure],
) -> tuple[list[SourceDocument], list[ConnectorFailure]]:
    docs = [i for i in items if isinstance(i, SourceDocument)]
    return docs, [i for i in items if isinstance(i, ConnectorFailure)]


def plain_counts(folder: Path) -> tuple[int, Counter[str], int]:
    """Documents, contributions per role and distinct people, counted straight from the XML."""
    posts = [r.attrib for r in ET.parse(folder / "Posts.xml").getroot()]
    questions = {p["Id"]: p for p in posts if p["PostTypeId"] == "1"}
    answers = {p["Id"]: p for p in posts if p["PostTypeId"] == "2" and p["ParentId"] in questions}
    comments = [c.attrib for c in ET.parse(folder / "Comments.xml").getroot()]

    def account(row: dict[str, str], id_key: str, name_key: str) -> str | None:
        if row.get(id_key):
            return None if row[id_key] == "-1" else row[id_key]
        return f"name:{row[name_key]}" if row.get(name_key) else None

    roles: Counter[str] = Counter()
    people: set[str] = set()
    accepted = {q.get("AcceptedAnswerId") for q in questions.values()}
    for role, rows, keys in (
        ("asker", questions.values(), ("OwnerUserId", "OwnerDisplayName")),
        ("answerer", answers.values(), ("OwnerUserId", "OwnerDisplayName")),
        (
            "accepted_answerer",
            [a for a in answers.values() if a["Id"] in accepted],
            ("OwnerUserId", "OwnerDisplayName"),
        ),
        (
            "commenter",
            [c for c in comments if c["PostId"] in questions or c["PostId"] in answers],
            ("UserId", "UserDisplayName"),
        ),
    ):
        for row in rows:
            who = account(row, *keys)
            if who is not None:
                roles[role] += 1
                people.add(who)
    return len(questions), roles, len(people)


def loaded_counts(docs: list[SourceDocument]) -> tuple[int, Counter[str], int]:
    roles = Counter(c.role.value for d in docs for c in d.contributions)
    return len(docs), roles, len({c.person.account for d in docs for c in d.contributions})


def dump_copy(shared_data: Path, tmp_path: Path, name: str = CONLANG) -> Path:
    """A writable copy of a (read-only) shared dump, to break."""
    target = tmp_path / name
    shutil.copytree(
        shared_data / name, target, ignore=shutil.ignore_patterns("derived"), copy_function=shutil.copyfile
    )
    target.chmod(0o755)
    return target


# --- real dumps ----------------------------------------------------------------------------------


def test_conlang_meta_counts_match_a_plain_xml_count(shared_data: Path) -> None:
    folder = shared_data / CONLANG
    docs, failures = split(list(connector(folder).load()))
    assert failures == []
    expected = (54, Counter(asker=53, answerer=115, accepted_answerer=11, commenter=230), 70)
    assert loaded_counts(docs) == expected  # one question belongs to the Community bot: no asker
    assert plain_counts(folder) == expected


def test_ai_2016_counts_match_a_plain_xml_count(shared_data: Path) -> None:
    folder = shared_data / AI
    started = time.perf_counter()
    source = connector(folder, "https://ai.stackexchange.com")
    docs, failures = split(list(source.load()))
    assert time.perf_counter() - started < 30
    assert failures == []
    expected = (421, Counter(asker=421, answerer=749, accepted_answerer=212, commenter=1165), 387)
    assert loaded_counts(docs) == expected
    assert plain_counts(folder) == expected
    assert sorted(source.list_ids()) == sorted(d.doc_id for d in docs)
    assert source.cursor == "2016-12-11T00:41:30.270000+00:00"


def test_a_thread_document(shared_data: Path) -> None:
    docs, _ = split(list(connector(shared_data / AI, "https://ai.stackexchange.com/").load()))
    doc = next(d for d in docs if d.doc_id == "se:1")
    assert (doc.title, doc.kind, doc.url) == (
        'What is "backprop"?',
        "forum",
        "https://ai.stackexchange.com/questions/1",
    )
    assert doc.tags == ["neural-networks", "definitions"]
    assert doc.created_at == datetime(2016, 8, 2, 15, 39, 14, 947000, tzinfo=UTC)
    assert doc.updated_at == datetime(2016, 9, 19, 0, 42, 44, 87000, tzinfo=UTC)  # the last comment
    assert [s.heading for s in doc.sections] == [
        ("Question by kenorb",),
        ("Question by kenorb", "Comments"),
        ("Accepted answer by Franck Dernoncourt",),
        ("Answer by Dawny33",),
        ("Answer by kenorb",),
    ]
    assert doc.sections[0].text.startswith('What does "backprop" mean?')
    assert "\n\nIs the" in doc.sections[0].text  # paragraphs survive
    people = [(c.role, c.person.account, c.person.name, c.weight) for c in doc.contributions]
    assert (Role.ASKER, "8", "kenorb", 1.0) in people
    assert (Role.ANSWERER, "4", "Franck Dernoncourt", 10.0) in people
    assert (Role.ACCEPTED_ANSWERER, "4", "Franck Dernoncourt", 10.0) in people
    franck = next(c for c in doc.contributions if c.role is Role.ANSWERER and c.person.account == "4")
    assert (
        franck.text
        == '"Backprop" is the same as "backpropagation": it\'s just a shorter way to say it. '
        + ('It is sometimes abbreviated as "BP".')
    )
    assert franck.at == datetime(2016, 8, 2, 15, 40, 24, 820000, tzinfo=UTC)
    assert sum(c.role is Role.COMMENTER for c in doc.contributions) == 3


def test_deleted_users_keep_their_display_name(shared_data: Path) -> None:
    docs, _ = split(list(connector(shared_data / CONLANG).load()))
    doc = next(d for d in docs if d.doc_id == "se:1")
    accepted = next(c for c in doc.contributions if c.role is Role.ACCEPTED_ANSWERER)
    assert (accepted.person.account, accepted.person.name, accepted.weight) == ("name:user23", "user23", 22.0)


def test_code_blocks_are_kept_verbatim() -> None:
    html = "<p>Try:</p>\n<pre><code>for i in range(3):\n    print(i)\n</code></pre>\n"
    html += "<p>Then <code>x</code> &amp; y.</p>"
    assert html_to_text(html) == "Try:\n\nfor i in range(3):\n    print(i)\n\nThen x & y."
    assert html_to_text("<ul><li>a</li><li>b <a href='u'>link</a></li></ul>") == "- a\n- b link"


def test_both_tag_forms() -> None:
    assert parse_tags("<neural-networks><definitions>") == ("neural-networks", "definitions")
    assert parse_tags("|neural-networks|definitions|") == ("neural-networks", "definitions")
    assert parse_tags(None) == parse_tags("") == ()


def test_new_tag_form_in_a_dump(shared_data: Path, tmp_path: Path) -> None:
    folder = dump_copy(shared_data, tmp_path)
    posts = folder / "Posts.xml"
    text = posts.read_text("utf-8")
    posts.write_text(text.replace("&lt;discussion&gt;&lt;on-topic&gt;", "|discussion|on-topic|"), "utf-8")
    docs, _ = split(list(connector(folder).load()))
    assert next(d for d in docs if d.doc_id == "se:1").tags == ["discussion", "on-topic"]


def test_incremental_load_and_version(shared_data: Path, tmp_path: Path) -> None:
    folder = dump_copy(shared_data, tmp_path)
    source = connector(folder)
    first, _ = split(list(source.load()))
    cursor = source.cursor
    assert cursor == "2020-08-25T00:49:56.970000+00:00"
    again, _ = split(list(source.load(cursor)))
    # votes keep only their day, so threads voted on the cursor's day come again; nothing else does
    assert {d.doc_id for d in again} <= {d.doc_id for d in first} and len(again) < 5
    comments = folder / "Comments.xml"
    new_row = (
        '  <row Id="99999" PostId="2" Score="0" Text="A late remark." '
        'CreationDate="2021-01-01T10:00:00.000" UserId="12" />\n'
    )
    comments.write_text(comments.read_text("utf-8").replace("</comments>", new_row + "</comments>"), "utf-8")
    later, failures = split(list(source.load(cursor)))
    assert failures == []
    changed = next(d for d in later if d.doc_id == "se:1")
    before = next(d for d in first if d.doc_id == "se:1")
    assert changed.version != before.version and "A late remark." in changed.text()
    assert source.cursor == "2021-01-01T10:00:00+00:00"


def test_a_score_change_changes_the_version_not_the_text(shared_data: Path, tmp_path: Path) -> None:
    folder = dump_copy(shared_data, tmp_path)
    before = next(d for d in split(list(connector(folder).load()))[0] if d.doc_id == "se:1")
    posts = folder / "Posts.xml"
    text = posts.read_text("utf-8")
    row = '<row Id="2" PostTypeId="2" ParentId="1" CreationDate="2018-02-06T20:25:42.850" Score="22"'
    assert row in text
    posts.write_text(text.replace(row, row.replace('Score="22"', 'Score="23"')), "utf-8")
    after = next(d for d in split(list(connector(folder).load()))[0] if d.doc_id == "se:1")
    assert after.version != before.version
    assert after.content_hash() == before.content_hash()  # no re-embedding for a vote
    assert max(c.weight for c in after.contributions if c.role is Role.ANSWERER) == 23.0


def test_time_split_excludes_everything_after_the_cutoff(shared_data: Path) -> None:
    dump = read_dump(shared_data / AI)
    cutoff = datetime(2016, 9, 21, tzinfo=UTC)
    docs = list(thread_documents(dump, "se", Acl(public=True), before=cutoff))
    asked_before = [q for q in dump.questions.values() if q.created_at < cutoff]
    assert len(docs) == len(asked_before) == 294
    assert all(c.at is not None and c.at < cutoff for d in docs for c in d.contributions)
    assert all(d.updated_at is not None and d.updated_at < cutoff for d in docs)
    late = [
        a for a in dump.answers.values() if a.created_at >= cutoff > dump.questions[a.parent_id].created_at
    ]
    texts = {d.doc_id: d.text() for d in docs}
    assert late and all(html_to_text(a.body_html)[:200] not in texts[f"se:{a.parent_id}"] for a in late)
    # scores at the cutoff come from the votes cast before it: never more than today's up-votes allow
    doc1 = next(d for d in docs if d.doc_id == "se:4")
    now = next(d for d in thread_documents(dump, "se", Acl(public=True), question_ids=[4]))
    answer_weights = lambda d: sorted(c.weight for c in d.contributions if c.role is Role.ANSWERER)  # noqa: E731
    assert answer_weights(doc1) != answer_weights(now)
    full = list(thread_documents(dump, "se", Acl(public=True)))
    assert len(full) == 421


POSTS_ONLY = {  # dump -> (questions, answers, distinct answerers by user id), as in its MANIFEST
    "stackexchange_matheducators_2014": (397, 1507, 302),
    "stackexchange_coffee_2015": (225, 327, 70),
    "stackexchange_augur_2018": (258, 293, 58),
}


@pytest.mark.parametrize("name", sorted(POSTS_ONLY))
def test_posts_only_dumps_load_whole_with_people_known_by_user_id(shared_data: Path, name: str) -> None:
    source = connector(shared_data / name)
    docs, failures = split(list(source.load()))
    assert failures == [] and source.cursor is not None
    questions, answers, answerers = POSTS_ONLY[name]
    assert len(docs) == questions
    answered = [c for d in docs for c in d.contributions if c.role is Role.ANSWERER]
    by_id = {c.person.account: c.person.name for c in answered if c.person.account.isdigit()}
    assert len(answered) == answers and len(by_id) == answerers
    assert sum(name is None for name in by_id.values()) >= answerers - 1  # a post may carry a display name
    for d in docs:
        asker = next((c.person for c in d.contributions if c.role is Role.ASKER), None)
        if asker is not None and asker.name is None:
            assert d.sections[0].heading == (f"Question by user {asker.account}",)
    assert len(list(source.list_ids())) == questions
    # at a cutoff, votes and acceptances cannot be dated without Votes.xml: none is taken from after it
    dump = read_dump(shared_data / name)
    cutoff = sorted(q.created_at for q in dump.questions.values())[len(dump.questions) // 2]
    early = list(thread_documents(dump, "se", Acl(public=True), before=cutoff))
    assert early and all(c.weight == 0.0 for d in early for c in d.contributions if c.role is Role.ANSWERER)
    assert not any(c.role is Role.ACCEPTED_ANSWERER for d in early for c in d.contributions)


def test_from_config(shared_data: Path, tmp_path: Path) -> None:
    config = SourceConfig.model_validate(
        {
            "name": "ai",
            "type": "stackexchange",
            "path": str(shared_data / CONLANG),
            "url_base": "https://x.example",
        }
    )
    built = StackExchangeConnector.from_config(config, SourceContext(base_dir=tmp_path))
    assert next(iter(built.list_ids())) == "ai:1"
    bad = SourceConfig.model_validate(
        {"name": "ai", "type": "stackexchange", "path": str(tmp_path), "urlbase": "x"}
    )
    with pytest.raises(ConfigError, match="urlbase"):
        StackExchangeConnector.from_config(bad, SourceContext(base_dir=tmp_path))
    with pytest.raises(ConfigError, match="path"):
        StackExchangeConnector.from_config(
            SourceConfig.model_validate({"name": "ai", "type": "stackexchange"}),
            SourceContext(base_dir=tmp_path),
        )


# --- bad input -----------------------------------------------------------------------------------


def test_truncated_posts_keep_the_threads_read_before(shared_data: Path, tmp_path: Path) -> None:
    folder = dump_copy(shared_data, tmp_path)
    posts = folder / "Posts.xml"
    data = posts.read_bytes()
    cut = data[: len(data) // 2]
    posts.write_bytes(cut)
    complete_rows = cut.decode("utf-8", "ignore").split("\n")[:-1]  # the last line is cut mid-row
    expected = sum('PostTypeId="1"' in line for line in complete_rows)
    source = connector(folder)
    docs, failures = split(list(source.load()))
    assert len(docs) == expected and 0 < expected < 54
    assert len(failures) == 1
    assert "Posts.xml" in failures[0].error and "not well-formed" in failures[0].error
    assert failures[0].path == str(posts)
    assert source.cursor is None  # nothing read past the break may be skipped next time
    with pytest.raises(ConnectorError, match="incomplete"):
        list(source.list_ids())


def test_missing_users_keeps_accounts_without_names(shared_data: Path, tmp_path: Path) -> None:
    folder = dump_copy(shared_data, tmp_path)
    (folder / "Users.xml").unlink()
    source = connector(folder)
    docs, failures = split(list(source.load()))
    assert len(docs) == 54
    assert failures == [] and source.cursor is not None  # a dump without Users.xml is whole, not broken
    assert read_dump(folder).notes == ["no Users.xml: people are known by their user ids, names unknown"]
    doc = next(d for d in docs if d.doc_id == "se:1")
    asker = next(c for c in doc.contributions if c.role is Role.ASKER)
    assert (asker.person.account, asker.person.name) == ("14", None)
    assert doc.sections[0].heading == ("Question by user 14",)
    assert loaded_counts(docs)[2] == 70


def test_rows_with_missing_fields_are_failures_and_the_rest_is_kept(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = dump_copy(shared_data, tmp_path)
    posts = folder / "Posts.xml"
    text = posts.read_text("utf-8")
    text = text.replace('Title="Are questions asked in conlangs accepted on this site?" ', "")  # question 1
    text = text.replace('<row Id="8" PostTypeId="2" ParentId="3"', '<row Id="8" PostTypeId="2"')  # answer 8
    posts.write_text(text, "utf-8")
    comments = folder / "Comments.xml"
    text = comments.read_text("utf-8")
    text = text.replace('<row Id="2" PostId="3"', '<row PostId="3"')  # a comment without Id
    comments.write_text(text, "utf-8")
    docs, failures = split(list(connector(folder).load()))
    assert len(docs) == 53 and "se:1" not in {d.doc_id for d in docs}
    errors = sorted(f.error for f in failures)
    assert errors == [
        "Comments.xml row #1 (no Id): no Id",
        "Posts.xml row Id=1: question without Title",
        "Posts.xml row Id=8: no ParentId",
    ]
    assert {f.doc_id for f in failures} == {None, "se:1"}


def test_an_entity_bomb_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "bomb"
    folder.mkdir()
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    (folder / "Posts.xml").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE posts [' + "".join(entities) + "]>\n"
        '<posts><row Id="1" PostTypeId="1" CreationDate="2020-01-01T00:00:00" Title="&lol9;" Body="x" /></posts>',
        "utf-8",
    )
    started = time.perf_counter()
    docs, failures = split(list(connector(folder).load()))
    assert time.perf_counter() - started < 5
    assert docs == []
    assert any(f.error.startswith("Posts.xml: refused: the file declares XML entities") for f in failures)


def test_wrong_encoding_is_a_clear_failure(shared_data: Path, tmp_path: Path) -> None:
    folder = dump_copy(shared_data, tmp_path)
    posts = folder / "Posts.xml"
    text = posts.read_text("utf-8-sig")
    posts.write_bytes(text.encode("latin-1", "replace"))  # the declaration still says utf-8
    first_bad = next(i for i, ch in enumerate(text) if ord(ch) > 127)
    whole_lines = text[:first_bad].split("\n")[:-1]
    expected = sum('PostTypeId="1"' in line for line in whole_lines)
    docs, failures = split(list(connector(folder).load()))
    assert len(failures) == 1
    assert failures[0].error.startswith(
        f"Posts.xml: not well-formed XML at line {len(whole_lines) + 1}, column"
    )
    assert len(docs) == expected == 5  # the threads before the first bad byte stay


def test_no_posts_file_fails_the_source(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match=r"no Posts\.xml"):
        list(connector(tmp_path).load())


@pytest.mark.slow  # embeds a few hundred chunks with the real model
def test_through_the_pipeline_and_the_real_model(shared_data: Path, tmp_path: Path, embedder: Any) -> None:
    from index.acl import Principal
    from index.retrieval.hybrid import HybridRetriever
    from index.snapshot.store import SnapshotStore
    from index.store.documents import Store
    from ingest.pipeline import IngestPipeline

    store, snapshots = Store(tmp_path), SnapshotStore(tmp_path)
    pipeline = IngestPipeline(store, snapshots, embedder)
    config = SourceConfig.model_validate({"name": "se", "type": "stackexchange", "acl": {"public": True}})
    source = connector(shared_data / CONLANG)
    first = pipeline.run([(config, source)]).sources[0]
    assert (first.documents_added, first.failures, first.status) == (54, [], "ok")
    again = pipeline.run([(config, source)]).sources[0]
    assert again.chunks_embedded == 0 and again.documents_added == 0
    retriever = HybridRetriever(store, lambda: snapshots.load_current(embedder), embedder)
    hits = retriever.search("may I ask my question in Esperanto or Lojban", Principal.anonymous(), k=3)
    assert "se:1" in [h.doc_id for h in hits]
