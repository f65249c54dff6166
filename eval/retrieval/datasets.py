"""Small BEIR-format sets built from the shared data at eval time, into the eval folder, never the project.

- `confluence-titles`: each Confluence page's title (space prefix dropped) is a query; the page body,
  indexed without its title, is the one relevant document (a known-item task over 406 real pages).
- `stackexchange-answers`: each answered question's title is a query; the corpus is every answer,
  the question's answers are relevant (grade 2 the accepted one, 1 the others).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

BUILDER_VERSION = "1"


@dataclass(frozen=True)
class BuiltSet:
    """A BEIR-format set: corpus entries (id, title, text), queries (id, text), qrels (qid, doc id, grade)."""

    corpus: list[tuple[str, str, str]]
    queries: list[tuple[str, str]]
    qrels: list[tuple[str, str, int]]


def _clean(text: str) -> str:
    return " ".join(text.split())


def _html_text(markup: str) -> str:
    from bs4 import BeautifulSoup

    return _clean(BeautifulSoup(markup, "lxml").get_text(" "))


def confluence_titles(src: Path, min_body_chars: int = 200) -> BuiltSet:
    """Title -> its own page body, for pages with a unique title and some body text."""
    from bs4 import BeautifulSoup

    pages: list[tuple[str, str, str]] = []
    for path in sorted(src.glob("*.html")):
        soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "lxml")
        title_el, body_el = soup.select_one("#title-text"), soup.select_one("#main-content")
        if title_el is None or body_el is None:
            continue
        title = _clean(title_el.get_text(" "))
        space, sep, rest = title.partition(" : ")
        if sep and space and rest:
            title = rest
        pages.append((path.stem, title, _clean(body_el.get_text(" "))))
    counts: dict[str, int] = {}
    for _, title, _ in pages:
        counts[title.lower()] = counts.get(title.lower(), 0) + 1
    corpus = [(pid, "", body) for pid, _, body in pages if body]
    queries, qrels = [], []
    for pid, title, body in pages:
        if counts[title.lower()] == 1 and len(body) >= min_body_chars:
            queries.append((f"q{pid}", title))
            qrels.append((f"q{pid}", pid, 1))
    return BuiltSet(corpus, queries, qrels)


def stackexchange_answers(src: Path) -> BuiltSet:
    """Question title -> the question's answers; the corpus is every answer of the site."""
    from defusedxml.ElementTree import iterparse

    titles: dict[str, str] = {}
    accepted: dict[str, str] = {}
    answers: list[tuple[str, str, str]] = []  # (answer id, question id, text)
    for _, elem in iterparse(str(src / "Posts.xml")):
        if elem.tag != "row":
            continue
        kind, post_id = elem.get("PostTypeId"), elem.get("Id") or ""
        if kind == "1":
            titles[post_id] = _clean(elem.get("Title") or "")
            if elem.get("AcceptedAnswerId"):
                accepted[post_id] = elem.get("AcceptedAnswerId") or ""
        elif kind == "2" and elem.get("ParentId"):
            text = _html_text(elem.get("Body") or "")
            if text:
                answers.append((post_id, elem.get("ParentId") or "", text))
        elem.clear()
    corpus = [(aid, "", text) for aid, _, text in sorted(answers, key=lambda a: int(a[0]))]
    by_question: dict[str, list[str]] = {}
    for aid, qid, _ in answers:
        by_question.setdefault(qid, []).append(aid)
    queries, qrels = [], []
    for qid in sorted(by_question, key=int):
        if not titles.get(qid):
            continue
        queries.append((qid, titles[qid]))
        for aid in sorted(by_question[qid], key=int):
            qrels.append((qid, aid, 2 if accepted.get(qid) == aid else 1))
    return BuiltSet(corpus, queries, qrels)


@dataclass(frozen=True)
class SetRecipe:
    """How to build one set: the shared-data folder it reads and the function that reads it."""

    name: str
    source: str  # folder under the shared data root
    build: Callable[[Path], BuiltSet]
    description: str


RECIPES: dict[str, SetRecipe] = {
    "confluence-titles": SetRecipe(
        "confluence-titles",
        "confluence_html_export_varlab",
        confluence_titles,
        "Confluence page title -> its page body (body indexed without the title)",
    ),
    "stackexchange-answers": SetRecipe(
        "stackexchange-answers",
        "stackexchange_ai_2016",
        stackexchange_answers,
        "Stack Exchange question title -> the question's answers (accepted = grade 2)",
    ),
}


def _fingerprint(src: Path) -> str:
    h = hashlib.sha256(BUILDER_VERSION.encode())
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(src)}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _write_jsonl(path: Path, rows: Iterable[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_set(recipe: SetRecipe, data_root: Path, out_root: Path) -> Path:
    """The set's folder under `out_root`, (re)built only when the source or the builder changed."""
    src = data_root / recipe.source
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: shared data folder missing")
    target = out_root / recipe.name
    stamp = target / "BUILT"
    fingerprint = _fingerprint(src)
    if stamp.is_file() and stamp.read_text().strip() == fingerprint:
        return target
    built = recipe.build(src)
    tmp = out_root / f".tmp-{recipe.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "qrels").mkdir(parents=True)
    _write_jsonl(tmp / "corpus.jsonl", ({"_id": i, "title": t, "text": x} for i, t, x in built.corpus))
    _write_jsonl(tmp / "queries.jsonl", ({"_id": i, "text": t} for i, t in built.queries))
    with (tmp / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{q}\t{d}\t{g}\n" for q, d, g in built.qrels)
    (tmp / "BUILT").write_text(fingerprint + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
