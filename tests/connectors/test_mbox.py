"""The mbox connector: the real R-package-devel archive (2024), Perceval's encoding fixtures, and bad input."""

from __future__ import annotations

import mailbox
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Acl, ConnectorFailure, Role, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.mbox.connector import MboxConnector
from connectors.mbox.options import MboxOptions
from connectors.mbox.threads import build_threads, own_words, parse_message, parse_sender

R_DEVEL = "mailing_list_r_package_devel"
PERCEVAL = Path("forum_mail_format_fixtures_perceval") / "tests" / "data"


def split(items: list[Any]) -> tuple[list[SourceDocument], list[ConnectorFailure]]:
    return [i for i in items if isinstance(i, SourceDocument)], [
        i for i in items if isinstance(i, ConnectorFailure)
    ]


def connector(path: Path, **options: Any) -> MboxConnector:
    return MboxConnector("ml", path, MboxOptions(**options), Acl(public=True))


# --- the real archive ------------------------------------------------------------------------------


def plain_counts(folder: Path) -> dict[str, int]:
    """Counted with plain line scanning, no email package: separators, senders and header links."""
    separator = re.compile(r"^From \S.* \d{1,2}:\d{2}:\d{2} \d{4}$")
    messages: list[dict[str, str]] = []
    naive = body_from_lines = 0
    for path in sorted(folder.glob("*.mbox")):
        naive += len(mailbox.mbox(str(path), create=False).keys())
        current: dict[str, str] | None = None
        in_headers = False
        last = ""
        for line in path.read_text("latin-1").split("\n"):
            if separator.match(line):
                current, in_headers = {}, True
                messages.append(current)
            elif line.startswith("From ") and not in_headers:
                body_from_lines += 1
            elif current is not None and in_headers:
                if not line:
                    in_headers = False
                elif line[0] in " \t":
                    current[last] += " " + line.strip()
                else:
                    last, _, value = line.partition(":")
                    last = last.lower()
                    current.setdefault(last, value.strip())

    def ids(value: str) -> list[str]:
        return re.findall(r"<([^<>\s]+)>", value)

    # Threads: connected components of Message-ID / In-Reply-To / References, a tiny union-find.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    present = {ids(m["message-id"])[0] for m in messages}
    for m in messages:
        for other in ids(m.get("in-reply-to", "")) + ids(m.get("references", "")):
            a, b = find(ids(m["message-id"])[0]), find(other)
            if a != b:
                parent[a] = b
    components: dict[str, list[dict[str, str]]] = {}
    for m in messages:
        components.setdefault(find(ids(m["message-id"])[0]), []).append(m)
    unlinked = [m for m in messages if not m.get("in-reply-to") and not m.get("references")]
    senders = {m["from"] for m in messages}
    names = {" ".join(re.sub(r"^.*\((.*)\)\s*$", r"\1", s).lower().split()) for s in senders}
    return {
        "naive": naive,
        "messages": len(messages),
        "body_from_lines": body_from_lines,
        "senders": len(senders),
        "names": len(names),
        "irt_resolvable": sum(1 for m in messages if set(ids(m.get("in-reply-to", ""))[:1]) & present),
        "unlinked": len(unlinked),
        "threads": len(components),
        "threads_without_start": sum(1 for c in components.values() if not any(m in unlinked for m in c)),
    }


def test_r_package_devel_threads_people_and_counts(shared_data: Path) -> None:
    folder = shared_data / R_DEVEL
    expected = {
        "naive": 948,  # MANIFEST's count: mailbox.mbox splits 5 bodies at an unescaped "From " line
        "messages": 943,
        "body_from_lines": 5,
        "senders": 185,  # MANIFEST: distinct From headers
        "names": 183,  # Ivan Krylov writes from two addresses, "Jisca huisman"/"Huisman" differ in case
        "irt_resolvable": 757,  # MANIFEST
        "unlinked": 167,  # MANIFEST's 173 "starters" count the 5 split bodies and one References-only reply
        "threads": 179,
        "threads_without_start": 12,  # replies to 2023 threads whose opening message is not in the archive
    }
    assert plain_counts(folder) == expected
    started = time.perf_counter()
    source = connector(folder, subject_prefix="[R-pkg-devel]")
    docs, failures = split(list(source.load()))
    elapsed = time.perf_counter() - started
    assert elapsed < 20, elapsed
    assert failures == []
    scan = source.scan()
    assert (len(scan.messages), scan.rejoined, scan.duplicates) == (expected["messages"], 5, 0)
    assert len(docs) == expected["threads"]
    roles = Counter(c.role for d in docs for c in d.contributions)
    assert sum(roles.values()) == expected["messages"]  # one contribution per message
    assert roles[Role.ASKER] == expected["unlinked"]
    assert sum(1 for d in docs if not any(c.role == Role.ASKER for c in d.contributions)) == 12
    assert len({c.person.account for d in docs for c in d.contributions}) == expected["names"]
    answers = Counter(c.person.name for d in docs for c in d.contributions if c.role == Role.ANSWERER)
    top = [name for name, _ in answers.most_common(4)]
    assert set(top) == {"Ivan Krylov", "Duncan Murdoch", "Dirk Eddelbuettel", "Uwe Ligges"}
    assert answers["Ivan Krylov"] == max(answers.values())
    assert all(d.kind == "mail" and d.acl.public for d in docs)
    assert sorted(source.list_ids()) == sorted(d.doc_id for d in docs)
    assert source.cursor == "2024-12-13T18:08:27+00:00"
    assert split(list(source.load(source.cursor)))[0] == []
    newer = split(list(source.load("2024-12-01T00:00:00+00:00")))[0]
    assert 0 < len(newer) < 10
    assert all(d.updated_at is not None and d.updated_at.isoformat() > "2024-12-01" for d in newer)


def test_a_real_thread_and_its_quotes(shared_data: Path) -> None:
    source = connector(shared_data / R_DEVEL, subject_prefix="[R-pkg-devel]", url_base="https://x/msg/")
    docs = {d.doc_id: d for d in split(list(source.load()))[0]}
    doc = docs["ml:8235587f-f936-4010-8bde-768eba54384b@statistik.tu-dortmund.de"]
    # The first message of 2024 answers a December thread: no asker, the title loses "[R-pkg-devel]"
    assert doc.title == "CRAN submission struggle"
    assert doc.url == "https://x/msg/8235587f-f936-4010-8bde-768eba54384b@statistik.tu-dortmund.de"
    assert doc.sections[0].heading == ("Uwe Ligges, 2024-01-02 12:59 UTC",)
    uwe = doc.contributions[0]
    assert (uwe.role, uwe.person.account, uwe.person.name, uwe.person.email) == (
        Role.ANSWERER,
        "uwe ligges",
        "Uwe Ligges",
        None,
    )
    assert uwe.text is not None and uwe.text.startswith("No and no:")
    assert uwe.text.endswith("Best,\nUwe Ligges")
    assert "Greg Hunt wrote" not in uwe.text and "Christiaan" not in uwe.text  # quoted, with attribution
    for d in docs.values():
        for c in d.contributions:
            lines = (c.text or "").split("\n")
            assert not any(line.lstrip().startswith(">") for line in lines), d.doc_id
            assert "listinfo/r-package-devel" not in "\n".join(lines[-3:]), d.doc_id
            assert "next part" not in (c.text or "")
    assert sum(len(s.text) for d in docs.values() for s in d.sections) < 0.4 * sum(
        len(m.body) for m in source.scan().messages
    )  # quotes are most of a mailing list's bytes


# --- Perceval's fixtures: encodings, multipart, missing fields -------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "mbox/mbox_complex.mbox",
        "mbox/mbox_iso8859_encoding.mbox",
        "mbox/mbox_multipart.mbox",
        "mbox/mbox_no_fields.mbox",
        "mbox/mbox_single.mbox",
        "mbox/mbox_unixfrom_encoding.mbox",
        "mbox/mbox_unknown_encoding.mbox",
        "pipermail/pipermail_2015_november.mbox",
        "pipermail/pipermail_2016_april.mbox",
        "pipermail/pipermail_2016_march.mbox",
        "hyperkitty/hyperkitty_2016_april.mbox",
        "hyperkitty/hyperkitty_2016_march.mbox",
    ],
)
def test_perceval_fixture_parses(shared_data: Path, name: str) -> None:
    source = connector(shared_data / PERCEVAL / name)
    docs, failures = split(list(source.load()))
    assert failures == []
    assert docs and all(d.sections and d.contributions for d in docs)
    for m in source.scan().messages:
        assert m.body.strip() and m.sender_key and "\ufffd" not in (m.sender_name or "")


def test_perceval_encoding_edge_cases(shared_data: Path) -> None:
    base = shared_data / PERCEVAL / "mbox"
    (m,) = connector(base / "mbox_iso8859_encoding.mbox").scan().messages
    assert m.sender_name == "Lucía Charlie"  # an encoded word that says UTF-8 but holds Latin-1
    assert m.subject == "[ovs-dev] Remittance Advice"
    (m,) = connector(base / "mbox_unknown_encoding.mbox").scan().messages
    assert m.sender_email == "yuancong@example.com" and "refresh the UI" in m.body
    multipart = connector(base / "mbox_multipart.mbox").scan().messages
    assert "Vote summary: 4/0/0" in multipart[0].body and "<html" not in multipart[0].body
    single = connector(base / "mbox_single.mbox").scan().messages[0]
    assert (single.sender_name, single.sender_email) == ("Göran Lastname", "goran@domain.com")
    scan = connector(base / "mbox_no_fields.mbox").scan()
    # 6 messages: 4 copies of one (one without Date), one with an empty Message-Id, one with a bad Date
    assert scan.duplicates == 3 and len(scan.messages) == 3
    generated = [m for m in scan.messages if m.generated_id]
    assert len(generated) == 1 and generated[0].message_id.startswith("gen-")
    bad_date = next(m for m in scan.messages if m.subject.endswith("Invalid date"))
    assert bad_date.date is not None and bad_date.date.isoformat() == "2016-09-21T19:42:07+00:00"
    again = connector(base / "mbox_no_fields.mbox").scan()
    assert [m.message_id for m in again.messages] == [m.message_id for m in scan.messages]  # stable


# --- units ------------------------------------------------------------------------------------------


def test_sender_forms() -> None:
    assert parse_sender("Ana Alvarez <Ana.Alvarez@Example.com>") == (
        "Ana Alvarez",
        "ana.alvarez@example.com",
        "ana.alvarez@example.com",
    )
    assert parse_sender('"Doe, Jane" <jane@x.org>') == ("Doe, Jane", "jane@x.org", "jane@x.org")
    assert parse_sender("goran at domain.com (Göran L)") == (
        "Göran L",
        "goran@domain.com",
        "goran@domain.com",
    )
    obfuscated = "||gge@ @end|ng |rom @t@t|@t|k@tu-dortmund@de (Uwe Ligges)"
    assert parse_sender(obfuscated) == ("Uwe Ligges", None, "uwe ligges")
    assert parse_sender("Ivan  Krylov via R-package-devel <r-package-devel@r-project.org>") == (
        "Ivan Krylov",
        None,
        "ivan krylov",
    )
    assert parse_sender("<<<@@@>>>")[2] and parse_sender("")[2] == "unknown sender"


def test_own_words_strips_quotes_attribution_signature_and_footer() -> None:
    body = (
        "Thanks, that helps.\n\nOn Tue, 2 Jan 2024 at 10:00, Jane Doe <jane@x.org>\nwrote:\n> old text\n"
        "> more\n\nMy answer here.\n\n| not a quote: no attribution above\n\n"
        ">From the start of a line, mboxo-escaped\n"
        "-- \nJohn\nACME\n\n______________________________________________\n"
        "R-package-devel at r-project.org mailing list\nhttps://stat.ethz.ch/mailman/listinfo/r-package-devel\n"
    )
    assert own_words(body) == (
        "Thanks, that helps.\n\nMy answer here.\n\n| not a quote: no attribution above\n\n"
        "From the start of a line, mboxo-escaped"
    )
    dirk = "On 9 May 2024 at 03:20, Sam wrote:\n| quoted\n|\n| more\n\nAnswer.\n\n| later quote\n"
    assert own_words(dirk) == "Answer."
    top_posted = "Sure.\n\nOn Jan 3, 2024, at 1:06 PM, Hadley <h at x.com> wrote:\n\nThe whole original\n"
    assert own_words(top_posted) == "Sure."
    outlook = "Ok.\n\n________________________________\nVan: X <x@y>\nVerzonden: dinsdag\n\nold"
    assert own_words(outlook) == "Ok."
    assert own_words("Hi\n\n[[alternative HTML version deleted]]\n") == "Hi"


def msg(
    mid: str, subject: str, date: str, sender: str = "a@x.org", extra: str = "", body: str = "text"
) -> str:
    mid_line = f"Message-ID: <{mid}>\n" if mid else ""
    return (
        f"From {sender} Mon Jan  1 00:00:00 2024\nFrom: {sender}\nSubject: {subject}\n"
        f"Date: {date}\n{mid_line}{extra}\n{body}\n\n"
    )


def write(path: Path, *messages: str) -> Path:
    path.write_bytes("".join(messages).encode())
    return path


def test_threading_fallbacks(tmp_path: Path) -> None:
    box = write(
        tmp_path / "t.mbox",
        msg("q1", "[L] Topic", "Mon, 1 Jan 2024 10:00:00 +0000", "asker@x.org"),
        msg("r1", "Re: [L] Topic", "Mon, 1 Jan 2024 11:00:00 +0000", "b@x.org"),  # lost its headers
        msg("q2", "[L] Topic", "Mon, 1 Jan 2024 12:00:00 +0000", "c@x.org"),  # same subject, new question
        msg("o1", "Re: Old", "Tue, 2 Jan 2024 10:00:00 +0000", "d@x.org", "In-Reply-To: <gone>\n"),
        msg("o2", "Re: Old", "Tue, 2 Jan 2024 09:00:00 +0000", "e@x.org", "References: <gone> <gone2>\n"),
        msg("r2", "Re: [L] Topic", "Wed, 3 Jan 2024 10:00:00 +0000", "asker@x.org", "In-Reply-To: <r1>\n"),
    )
    source = connector(box, subject_prefix="[L]")
    docs = {d.doc_id: d for d in split(list(source.load()))[0]}
    assert sorted(docs) == ["ml:o2", "ml:q1", "ml:q2"]
    roles = [(c.person.account, c.role) for c in docs["ml:q1"].contributions]
    assert roles == [("asker@x.org", Role.ASKER), ("b@x.org", Role.ANSWERER), ("asker@x.org", Role.COMMENTER)]
    assert docs["ml:q1"].title == "Topic" and docs["ml:q1"].path == ("t",)
    assert [c.role for c in docs["ml:o2"].contributions] == [Role.ANSWERER, Role.ANSWERER]  # no opening
    assert len(build_threads(source.scan().messages)) == 3
    assert [d.doc_id for d in split(list(source.load("2024-01-02T09:30:00+00:00")))[0]] == ["ml:q1", "ml:o2"]
    assert source.cursor == "2024-01-03T10:00:00+00:00"


# --- bad input ---------------------------------------------------------------------------------------


def test_broken_headers_are_read_not_fatal(tmp_path: Path) -> None:
    raw = (
        b"From x Mon Jan  1 00:00:00 2024\nFrom: <<<@@@>>> (=?x-unknown?Q?Jos=E9?=)\nDate: garbage\n"
        b"Subject: =?utf-8?B?!!!notbase64?=\nMessage-ID: <m1@x>\nIn-Reply-To: <<<\n"
        b"Content-Type: multipart/mixed\n\nbody without a boundary\n\n"
        b"From x Mon Jan  1 00:00:00 2024\nFrom: Ren\xe9 <rene@x.org>\nSubject: caf\xc3\xa9 \xff\n"
        b"Message-ID: <m2@x>\nContent-Type: text/plain; charset=no-such-charset\n"
        b"Content-Transfer-Encoding: base64\n\n!!!! not base64 ####\n\n"
        b"From x Mon Jan  1 00:00:00 2024\nFrom: ok@x.org\nMessage-ID: <m3@x>\nSubject: fine\n"
        b"Content-Type: text/html; charset=utf-8\n\n<p>Hello <b>there</b></p><script>x()</script>\n"
    )
    (tmp_path / "b.mbox").write_bytes(raw)
    source = connector(tmp_path / "b.mbox")
    docs, failures = split(list(source.load()))
    assert failures == [] and len(docs) == 3
    first, second, third = source.scan().messages
    assert first.sender_name == "José"  # an unknown charset read as Latin-1
    assert first.date is not None and first.date.year == 2024  # "Date: garbage": the From_ line's date
    assert "body without a boundary" in first.body
    assert second.sender_name == "René"  # raw Latin-1 bytes in a header
    assert second.subject == "café \ufffd"  # raw UTF-8 with one bad byte: kept as UTF-8
    assert third.own_text == "Hello there"


def test_truncated_binary_and_headerless_input(shared_data: Path, tmp_path: Path) -> None:
    real = (shared_data / R_DEVEL / "r-package-devel-2024q4.mbox").read_bytes()
    cut = real[: real.index(b"\nFrom ", 20000) + 300]  # ends inside a message's headers
    (tmp_path / "a_truncated.mbox").write_bytes(cut)
    (tmp_path / "b_garbage.mbox").write_bytes(
        random.Random(7).randbytes(4096).replace(b"\nFrom ", b"\nxxxx ")
    )
    (tmp_path / "c_headerless.mbox").write_bytes(
        b"From x Mon Jan  1 00:00:00 2024\n\x00\x01\x02 binary \xff\xfe\n\n"
        + msg("ok1", "Fine", "Mon, 1 Jan 2024 10:00:00 +0000").encode()
    )
    (tmp_path / "d_empty.mbox").write_bytes(b"")
    source = connector(tmp_path)
    docs, failures = split(list(source.load()))
    errors = sorted(f.error for f in failures)
    assert len(errors) == 2, errors
    assert errors[0].startswith("b_garbage.mbox: no 'From ' separator line")
    assert errors[1].startswith("c_headerless.mbox: message #1: no mail headers")
    assert failures[0].path is not None and failures[0].path.endswith(".mbox")
    kept = [m for m in source.scan().messages if m.file == "a_truncated.mbox"]
    assert len(kept) == cut.count(b"\nFrom ") + 1 - real[: len(cut)].count(b"\nFrom CRAN")
    assert any(d.title == "Fine" for d in docs)
    assert sorted(source.list_ids()) == sorted(d.doc_id for d in docs)  # bad messages are not a bad listing


def test_missing_message_id_gets_a_stable_id(tmp_path: Path) -> None:
    box = write(tmp_path / "m.mbox", msg("", "No id", "Mon, 1 Jan 2024 10:00:00 +0000", body="same words"))
    first = split(list(connector(box).load()))[0][0]
    again = split(list(connector(box).load()))[0][0]
    assert first.doc_id == again.doc_id and first.doc_id.startswith("ml:gen-")
    assert first.version == again.version


def test_odd_ids_duplicates_and_limits(tmp_path: Path) -> None:
    box = write(
        tmp_path / "m.mbox",
        msg("a/b c?d", "Odd id", "Mon, 1 Jan 2024 10:00:00 +0000", body="one"),
        msg("dup@x", "Dup", "Mon, 1 Jan 2024 10:00:00 +0000", body="first body"),
        msg("dup@x", "Dup", "Mon, 1 Jan 2024 10:00:00 +0000", body="first body"),
        msg("dup@x", "Dup 2", "Mon, 1 Jan 2024 11:00:00 +0000", body="another body"),
    )
    source = connector(box)
    docs = split(list(source.load()))[0]
    assert source.scan().duplicates == 1 and len(source.scan().messages) == 3
    odd = next(d for d in docs if d.title == "Odd id")
    assert re.fullmatch(r"ml:[A-Za-z0-9._@+=$-]+~[0-9a-f]{10}", odd.doc_id)
    assert len({d.doc_id for d in docs}) == len(docs)
    docs, failures = split(list(connector(box, max_message_mb=0.00001).load()))
    assert docs == [] and len(failures) == 4 and "over max_message_mb" in failures[0].error
    assert parse_message(b"From: a@b.org\n\nx", "f", 1).message_id.startswith("gen-")


def test_from_config(tmp_path: Path) -> None:
    box = write(tmp_path / "m.mbox", msg("x1", "Hi", "Mon, 1 Jan 2024 10:00:00 +0000"))
    context = SourceContext(base_dir=tmp_path)
    config = SourceConfig.model_validate({"name": "ml", "type": "mbox", "path": "m.mbox", "list_name": "eng"})
    source = MboxConnector.from_config(config, context)
    (doc,) = split(list(source.load()))[0]
    assert doc.path == ("eng",) and doc.acl == Acl()
    with pytest.raises(ConfigError, match="field 'colour'"):
        MboxConnector.from_config(config.model_copy(update={"colour": 1}), context)
    with pytest.raises(ConfigError, match="does not exist"):
        MboxConnector.from_config(SourceConfig(name="ml", type="mbox", path=tmp_path / "nope"), context)
    with pytest.raises(ConfigError, match="give 'path'"):
        MboxConnector.from_config(SourceConfig(name="ml", type="mbox", url="http://x"), context)
    assert box.exists()
