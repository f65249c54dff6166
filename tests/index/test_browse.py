"""Stitching chunks back into a document's text."""

from __future__ import annotations

from index.store.browse import stitch


def test_overlap_between_chunks_of_one_section_is_removed() -> None:
    texts = ["Alpha beta gamma delta.", "gamma delta. Epsilon zeta.", "Eta theta."]
    assert stitch(texts, ["", "", "Later"]) == "Alpha beta gamma delta. Epsilon zeta.\n\nLater\n\nEta theta."


def test_chunks_without_overlap_are_joined_with_a_space() -> None:
    assert stitch(["One.", "Two."], ["A > B", "A > B"]) == "B\n\nOne. Two."
