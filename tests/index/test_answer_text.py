"""The pure parts of answering: sentence splitting, chunk merging, citation checking (whole and streamed)."""

from __future__ import annotations

from index.answers.passages import Passage, merge_runs
from index.answers.prompt import StreamingCitationFilter, build_messages, check_citations
from index.answers.sentences import keyword_overlap, split_sentences, stems_of


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_wrapped_lines_join_and_sentences_split_at_their_ends() -> None:
    text = (
        "The gateway is `vpn.northwind.example`, listening on\n**UDP port 51820**. Clients use WireGuard.\n"
        "Dr. Smith et al. showed a 4.5:1 ratio, e.g. for body text. It holds well."
    )
    assert texts(text) == [
        "The gateway is vpn.northwind.example, listening on UDP port 51820.",
        "Clients use WireGuard.",
        "Dr. Smith et al. showed a 4.5:1 ratio, e.g. for body text.",
        "It holds well.",
    ]


def test_list_items_and_headings_and_fragments() -> None:
    text = (
        "## Retention\n\n- Nightly backups are kept for 35 days.\n- Weekly ones for a\nyear. Ok.\n\n"
        "# Title only here"
    )
    # a wrapped list item continues on the next line; "Ok." is too short to be evidence
    assert texts(text) == ["Nightly backups are kept for 35 days.", "Weekly ones for a year."]


def test_table_rows_carry_their_column_names() -> None:
    text = (
        "| Severity | Acknowledge within |\n| --- | --- |\n| SEV1 | 5 minutes, day or night |\n"
        "| SEV2 | 15 minutes |\n"
    )
    assert texts(text) == [
        "Severity: SEV1; Acknowledge within: 5 minutes, day or night",
        "Severity: SEV2; Acknowledge within: 15 minutes",
    ]


def test_offsets_point_into_the_text() -> None:
    text = "First sentence here. Second sentence there.\n\nThird one is here."
    for span in split_sentences(text):
        assert span.text.split()[0] in text[span.start : span.end]


def test_hostile_and_empty_text() -> None:
    assert split_sentences("") == []
    assert split_sentences("\n\n|||\n| --- |\n") == []
    huge = "word " * 50_000
    [only] = split_sentences(huge)
    assert len(only.text) <= 600


def test_merge_runs_removes_the_chunk_overlap_and_keeps_sections_apart() -> None:
    a = "Backups run nightly. They are retained for"
    b = "They are retained for 35 days in cold storage."
    c = "Another section starts here."
    runs = merge_runs([(1, 10, "Backups", None, a), (2, 10, "Backups", None, b), (3, 10, "Other", None, c)])
    run_id, merged, start, end = runs[2]
    assert run_id == 1 and merged == "Backups run nightly. They are retained for 35 days in cold storage."
    assert merged[start:end] == b
    assert runs[3][0] == 3 and runs[3][1] == c
    # the same heading in another document is another run
    other = merge_runs([(1, 10, "", None, a), (2, 11, "", None, b)])
    assert other[1][0] != other[2][0]


def test_keyword_overlap_weighs_rare_terms() -> None:
    idf = {"pgbouncer": 3.0, "port": 1.0}
    assert keyword_overlap(stems_of("PgBouncer listens on port 6432."), idf) == 1.0
    assert keyword_overlap(stems_of("The port is 5432."), idf) == 0.25
    assert keyword_overlap(stems_of("anything"), {}) == 0.0


def test_unknown_citations_are_removed_and_reported() -> None:
    checked = check_citations("Kept 35 days [1]. Tested quarterly [7]. Both [1, 9][2]. Range [0].", known=2)
    assert checked.text == "Kept 35 days [1]. Tested quarterly. Both [1][2]. Range."
    assert checked.cited == [1, 2]
    assert checked.removed == [7, 9, 0]
    untouched = check_citations("An array a[i] and [note] stay [2].", known=2)
    assert untouched.text == "An array a[i] and [note] stay [2]." and untouched.removed == []


def test_streaming_filter_never_releases_an_invented_citation() -> None:
    f = StreamingCitationFilter(known=2)
    pieces = ["Kept for 35 days [", "1]. Restores are tested [", "7", "]. Ask [2", "]"]
    released = [f.feed(p) for p in pieces] + [f.flush()]
    joined = "".join(released)
    assert "[7]" not in joined and "7" not in joined
    assert "[1]" in joined and "[2]" in joined
    assert f.removed == [7]
    # an unclosed bracket that is not a citation is released eventually
    g = StreamingCitationFilter(known=1)
    assert g.feed("see [") == "see "
    assert g.feed("x" * 30) == "[" + "x" * 30


def passage(title: str, text: str) -> Passage:
    return Passage(
        1, 1, 0, "hb:x", "hb:x#0", 0, title, None, "hb", "doc", "", None, text, 0.5, text, 0, len(text), 1
    )


def test_prompt_numbers_the_sources() -> None:
    messages = build_messages(
        "How long are backups kept?", [passage("Backups", "Kept 35 days."), passage("Other", "x")]
    )
    assert messages[0].role == "system" and "[1]" in messages[0].content
    assert "[1] Backups\nKept 35 days." in messages[1].content and "[2] Other" in messages[1].content
    assert messages[1].content.rstrip().endswith("Answer with citations:")
