"""Structure-aware chunking: each section (heading path or page) is split on its own, ids `doc_id#n`."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from connectors.base import SourceDocument


@dataclass(frozen=True)
class ChunkingSettings:
    """Sizes in characters; all-MiniLM-L6-v2 reads about 256 word pieces, roughly 1,000 characters."""

    chunk_size: int = 1000
    chunk_overlap: int = 150


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, with the context (title, heading path, page) it was found in."""

    chunk_id: str
    n: int
    text: str
    heading: tuple[str, ...]
    page: int | None
    title: str

    @property
    def heading_text(self) -> str:
        return " > ".join(self.heading)

    def embed_text(self) -> str:
        """What is embedded: the title and heading path give a bare paragraph its context."""
        context = " — ".join(p for p in (self.title, self.heading_text) if p)
        return f"{context}\n{self.text}" if context else self.text


def chunk_document(doc: SourceDocument, settings: ChunkingSettings | None = None) -> list[Chunk]:
    """Split a document into chunks without crossing section (heading or page) boundaries."""
    settings = settings or ChunkingSettings()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        strip_whitespace=True,
    )
    chunks: list[Chunk] = []
    for section in doc.sections:
        text = section.text.strip()
        if not text:
            continue
        pieces = [text] if len(text) <= settings.chunk_size else splitter.split_text(text)
        for piece in pieces:
            piece = piece.strip()
            if not piece:
                continue
            n = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{n}",
                    n=n,
                    text=piece,
                    heading=section.heading,
                    page=section.page,
                    title=doc.title,
                )
            )
    return chunks
