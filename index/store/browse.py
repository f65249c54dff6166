"""Reading documents and per-source counts, always through the one permission check (`visible_sql`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from index.acl import Principal, visible_sql
from index.retrieval.text import overlap_length
from index.store.documents import DOC_COLUMNS, Store, StoredDocument, _document
from index.store.visible_people import seen_as

MAX_OVERLAP = 400  # the longest chunk overlap `stitch` looks for


@dataclass(frozen=True)
class DocumentChunk:
    chunk_id: str
    n: int
    heading: str
    page: int | None
    text: str


@dataclass(frozen=True)
class Contributor:
    person_id: str | None
    name: str | None
    role: str
    at: str | None


@dataclass(frozen=True)
class DocumentView:
    """A document as its reader sees it: metadata, chunks in order, and the text stitched back together."""

    document: StoredDocument
    chunks: list[DocumentChunk]
    contributors: list[Contributor]

    @property
    def text(self) -> str:
        return stitch([c.text for c in self.chunks], [c.heading for c in self.chunks])


@dataclass(frozen=True)
class SourceState:
    """A source as one caller may see it. `failures` is for admins only (None for others): a document
    that could not be read has no ACL anyone knows, so its failure must not count for every caller."""

    source: str
    documents: int
    last_run_at: str | None
    last_success_at: str | None
    status: str | None
    failures: int | None
    kinds: dict[str, int]


def stitch(texts: list[str], headings: list[str]) -> str:
    """Chunks back into one text: overlaps removed, a blank line where the section changes."""
    out: list[str] = []
    for i, text in enumerate(texts):
        if i and headings[i] == headings[i - 1]:
            rest = text[overlap_length(texts[i - 1], text, MAX_OVERLAP) :].strip()
            if rest:
                out.append(" " + rest)
            continue
        if i:
            out.append("\n\n")
        if headings[i]:
            out.append(headings[i].split(" > ")[-1] + "\n\n")
        out.append(text)
    return "".join(out).strip()


def visible_document(store: Store, principal: Principal, doc_id: str) -> DocumentView | None:
    """The document if `principal` may see it; None both when it is missing and when it is not visible."""
    acl, params = visible_sql(principal)
    row = store.db.execute(
        f"SELECT {', '.join('d.' + c.strip() for c in DOC_COLUMNS.split(','))} FROM documents d "
        f"WHERE d.doc_id = ? AND {acl}",
        [doc_id, *params],
    ).fetchone()
    if row is None:
        return None
    doc = _document(row)
    chunks = [
        DocumentChunk(r[0], r[1], r[2], r[3], r[4])
        for r in store.db.execute(
            "SELECT chunk_id, n, heading, page, text FROM chunks WHERE doc = ? ORDER BY n", (doc.id,)
        )
    ]
    rows = store.db.execute(
        "SELECT a.person, COALESCE(c.name, c.account), c.role, c.at FROM contributions c "
        "LEFT JOIN accounts a ON a.source = c.source AND a.account = c.account "
        "WHERE c.doc = ? ORDER BY c.at DESC, c.id",
        (doc.id,),
    ).fetchall()
    # each contributor as this viewer sees them (the document is visible, so every one of them is)
    seen = seen_as(store.db, principal, [r[0] for r in rows if r[0] is not None])
    contributors = []
    for person, name, role, at in rows:
        shown = seen.get(person) if person is not None else None
        if shown is not None:
            contributors.append(Contributor(shown.person_id, shown.name, role, at))
        else:
            contributors.append(Contributor(None, name, role, at))
    return DocumentView(doc, chunks, contributors)


def visible_sources(store: Store, principal: Principal, include_empty: bool = False) -> list[SourceState]:
    """Per source: the documents `principal` may see, and the last sync. Sources with nothing visible
    are left out unless `include_empty` (admins), so a restricted source's name and size stay hidden.

    Only admins (`include_empty`) get failure counts and the `partial` status (some documents failed):
    others see `ok` for a source that was read, since the failed documents may be ones they cannot see.
    Sync times are when the run started (`IngestPipeline` records them so), which hidden work cannot move.
    """
    acl, params = visible_sql(principal)
    kinds: dict[str, dict[str, int]] = {}
    for source, kind, count in store.db.execute(
        f"SELECT d.source, d.kind, COUNT(*) FROM documents d WHERE {acl} GROUP BY d.source, d.kind", params
    ):
        kinds.setdefault(source, {})[kind] = int(count)
    counts = {source: sum(by_kind.values()) for source, by_kind in kinds.items()}
    states: dict[str, tuple[str | None, str | None, str | None, int]] = {}
    for name, last_run, last_success, status, report in store.db.execute(
        "SELECT source, last_run_at, last_success_at, status, report FROM sync_state"
    ):
        try:
            failures = len(json.loads(report or "{}").get("failures") or [])
        except (ValueError, AttributeError):
            failures = 0
        states[name] = (last_run, last_success, status, failures)
    names = set(counts) | (set(states) if include_empty else set())
    out = []
    for name in sorted(names):
        last_run, last_success, status, failures = states.get(name, (None, None, None, 0))
        if not include_empty and status == "partial":
            status = "ok"
        out.append(
            SourceState(
                name,
                counts.get(name, 0),
                last_run,
                last_success,
                status,
                failures if include_empty else None,
                kinds.get(name, {}),
            )
        )
    return out


def synced_at(states: list[SourceState]) -> str | None:
    """How fresh a caller's results are: the oldest last successful sync among the sources they see
    (None when one never synced, or they see none). Every value is a run's start time, so neither when
    hidden documents changed nor how long they took to index shows through it."""
    stamps = [s.last_success_at for s in states]
    if not stamps or any(stamp is None for stamp in stamps):
        return None
    return min(stamp for stamp in stamps if stamp is not None)
