"""BEIR-format datasets: loading corpus, queries and qrels with clear errors, and a connector over a corpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import Acl, ConnectorFailure, DocId, Section, SourceDocument, content_version
from connectors.config import SourceConfig

SOURCE = "beir"
CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"

Qrels = dict[str, dict[str, int]]  # query id -> corpus id -> grade


class BeirFormatError(Exception):
    """A BEIR file that cannot be used; the message names the file and, when it applies, the line."""


@dataclass(frozen=True)
class CorpusEntry:
    doc_id: str
    title: str
    text: str


@dataclass
class BeirDataset:
    """The queries of one split that have judgments, and their qrels; the corpus is streamed on demand."""

    root: Path
    split: str
    queries: dict[str, str]
    qrels: Qrels
    unknown_docs: int = 0  # judged corpus ids absent from the corpus: relevant, never retrievable
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def corpus_path(self) -> Path:
        return self.root / CORPUS_FILE


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; any malformed line raises naming file and line."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise BeirFormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BeirFormatError(f"{path}:{lineno}: not UTF-8 text (byte {exc.start})") from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BeirFormatError(
                    f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from exc
            if not isinstance(obj, dict):
                raise BeirFormatError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def _field(path: Path, lineno: int, obj: dict[str, Any], key: str, required: bool) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise BeirFormatError(f"{path}:{lineno}: missing field {key!r}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BeirFormatError(f"{path}:{lineno}: field {key!r} must be a string, got {type(value).__name__}")
    text = str(value)
    if key == "_id" and not text.strip():
        raise BeirFormatError(f"{path}:{lineno}: empty '_id'")
    return text


def iter_corpus(path: Path) -> Iterator[CorpusEntry]:
    """Corpus entries in file order; duplicate ids are an error."""
    seen: set[str] = set()
    for lineno, obj in _json_lines(path):
        doc_id = _field(path, lineno, obj, "_id", required=True)
        if doc_id in seen:
            raise BeirFormatError(f"{path}:{lineno}: duplicate corpus id {doc_id!r}")
        seen.add(doc_id)
        yield CorpusEntry(
            doc_id, _field(path, lineno, obj, "title", False), _field(path, lineno, obj, "text", False)
        )


def corpus_ids(path: Path) -> set[str]:
    return {e.doc_id for e in iter_corpus(path)}


def load_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, obj in _json_lines(path):
        qid = _field(path, lineno, obj, "_id", required=True)
        if qid in queries:
            raise BeirFormatError(f"{path}:{lineno}: duplicate query id {qid!r}")
        queries[qid] = _field(path, lineno, obj, "text", required=True)
    return queries


def load_qrels(path: Path) -> Qrels:
    """`query-id corpus-id score` per line, tab separated, with or without a header line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BeirFormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    qrels: Qrels = {}
    for lineno, raw_line in enumerate(raw.split(b"\n"), 1):
        try:
            line = raw_line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise BeirFormatError(f"{path}:{lineno}: not UTF-8 text (byte {exc.start})") from exc
        if not line:
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3:
            raise BeirFormatError(
                f"{path}:{lineno}: expected 3 tab-separated columns (query-id, corpus-id, score), got {len(parts)}"
            )
        qid, doc_id, score = (p.strip() for p in parts)
        try:
            grade = int(score)
        except ValueError:
            if lineno == 1 and not qrels:  # a header line such as `query-id corpus-id score`
                continue
            raise BeirFormatError(f"{path}:{lineno}: score {score!r} is not an integer") from None
        if not qid or not doc_id:
            raise BeirFormatError(f"{path}:{lineno}: empty query or corpus id")
        qrels.setdefault(qid, {})[doc_id] = grade
    if not qrels:
        raise BeirFormatError(f"{path}: no judgments")
    return qrels


def load_beir(root: Path, split: str = "test") -> BeirDataset:
    """Queries of `split` that have at least one judgment, with their qrels (BEIR's own convention)."""
    if not root.is_dir():
        raise BeirFormatError(f"{root}: not a folder")
    for name in (CORPUS_FILE, QUERIES_FILE):
        if not (root / name).is_file():
            raise BeirFormatError(f"{root / name}: missing")
    qrels_path = root / QRELS_DIR / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (root / QRELS_DIR).glob("*.tsv"))
        raise BeirFormatError(f"{qrels_path}: missing (splits here: {', '.join(available) or 'none'})")
    queries = load_queries(root / QUERIES_FILE)
    qrels = load_qrels(qrels_path)
    unknown = sorted(set(qrels) - set(queries))
    if unknown:
        raise BeirFormatError(
            f"{qrels_path}: {len(unknown)} query ids not in {QUERIES_FILE}, e.g. {', '.join(unknown[:3])}"
        )
    judged = {q: queries[q] for q in sorted(qrels)}
    ids = corpus_ids(root / CORPUS_FILE)
    missing = sum(1 for q in qrels.values() for d in q if d not in ids)
    return BeirDataset(root=root, split=split, queries=judged, qrels=qrels, unknown_docs=missing)


def doc_id_of(corpus_id: str) -> DocId:
    return f"{SOURCE}:{corpus_id}"


def corpus_id_of(doc_id: DocId) -> str:
    return doc_id.partition(":")[2]


class BeirConnector:
    """Each corpus line as a public SourceDocument `beir:<_id>` with its title and one section of text."""

    def __init__(self, corpus_path: Path, name: str = SOURCE):
        self.name = name
        self.corpus_path = corpus_path
        self._cursor: str | None = None

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        for entry in iter_corpus(self.corpus_path):
            if not entry.text.strip() and not entry.title.strip():
                yield ConnectorFailure(
                    source=self.name, doc_id=doc_id_of(entry.doc_id), error="empty document"
                )
                continue
            # A title-only entry still gets a section, so it can be found.
            text = entry.text if entry.text.strip() else entry.title
            yield SourceDocument(
                doc_id=doc_id_of(entry.doc_id),
                source=self.name,
                kind="beir",
                title=entry.title,
                sections=[Section(text=text)],
                version=content_version(f"{entry.title}\x00{text}".encode()),
                acl=Acl(public=True),
            )
        self._cursor = None  # a corpus file has no change feed: every run compares content hashes

    def list_ids(self) -> Iterator[DocId]:
        for entry in iter_corpus(self.corpus_path):
            yield doc_id_of(entry.doc_id)

    @property
    def cursor(self) -> str | None:
        return self._cursor


def source_config(name: str = SOURCE) -> SourceConfig:
    return SourceConfig(name=name, type="beir", acl=Acl(public=True))  # each abstract is public
