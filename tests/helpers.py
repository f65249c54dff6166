"""Test helpers: an in-memory connector and an embedder wrapper that counts what it embeds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from connectors.base import (
    Acl,
    ConnectorFailure,
    Contribution,
    DirectoryPerson,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
)
from connectors.config import SourceConfig
from connectors.people.connector import PeopleDirectory


class ListConnector:
    """A source whose documents are given in memory; `list_fails` simulates a failed listing."""

    def __init__(
        self, name: str, docs: Sequence[SourceDocument | ConnectorFailure], list_fails: bool = False
    ):
        self.name = name
        self.docs = list(docs)
        self.list_fails = list_fails
        self._cursor: str | None = None

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        yield from self.docs
        self._cursor = datetime.now(UTC).isoformat()

    def list_ids(self) -> Iterator[str]:
        if self.list_fails:
            raise RuntimeError("listing endpoint answered 500")
        for d in self.docs:
            if isinstance(d, SourceDocument):
                yield d.doc_id

    @property
    def cursor(self) -> str | None:
        return self._cursor


def make_doc(
    source: str,
    native: str,
    title: str,
    text: str,
    acl: Acl | None = None,
    authors: Sequence[str] = (),
    kind: str = "doc",
) -> SourceDocument:
    return SourceDocument(
        doc_id=f"{source}:{native}",
        source=source,
        kind=kind,
        title=title,
        url=f"https://intranet.example/{native}",
        sections=[Section(text=p) for p in text.split("\n\n") if p.strip()],
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        version=content_version((title + text).encode()),
        acl=acl or Acl(public=True),
        contributions=[
            Contribution(
                person=PersonRef(account=a, name=a), role=Role.AUTHOR, at=datetime(2026, 1, 1, tzinfo=UTC)
            )
            for a in authors
        ],
    )


def source_config(name: str, **extra: object) -> SourceConfig:
    """A source whose ACL is public unless `acl=` says otherwise: a ceiling that lets each in-memory
    document's own ACL stand (the pipeline narrows every document to its source's ACL)."""
    return SourceConfig.model_validate({"name": name, "type": "files", "acl": {"public": True}, **extra})


class CountingEmbedder:
    """Wraps a real embedder and counts the passages it is asked to embed."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.model_name = inner.model_name
        self.backend = inner.backend
        self.dim = inner.dim
        self.passages = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += len(texts)
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


class ListDirectory(PeopleDirectory):
    """A people directory given in memory instead of read from a file."""

    def __init__(self, name: str, people: Sequence[DirectoryPerson]):
        super().__init__(name, Path(f"<{name} in memory>"))
        self.listed = list(people)

    def people(self) -> Iterator[DirectoryPerson | ConnectorFailure]:
        yield from self.listed
